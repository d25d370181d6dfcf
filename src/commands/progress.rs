//! How ingest shows itself on a terminal: a progress bar, warning lines, the
//! summary line. Shared by `ingest` and the commands that ingest before they
//! answer (`batch --docs`, `chat` in a folder without an index).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rag::engine::{Bundled, IndexLocation};
use rag::index::{IngestEvent, IngestSummary};

use super::count;
use crate::context::Context;
use crate::terminal::sanitize;
use rag::Result;

/// Ingests `paths` into `index_dir` as the engine does by default, showing
/// the progress bar on a terminal and the summary line unless quiet.
pub(crate) fn ingest(
    ctx: &Context,
    location: &IndexLocation,
    paths: &[PathBuf],
) -> Result<IngestSummary> {
    let reporter = Reporter::new(
        !ctx.quiet && std::io::stderr().is_terminal(),
        ctx.quiet,
        false,
    );
    let summary = rag::engine::ingest(&ctx.settings, location, paths, &|event| {
        reporter.event(event)
    })?;
    reporter.finish();
    if !ctx.quiet {
        eprintln!("{}", summary_line(&summary, location));
    }
    Ok(summary)
}

/// Tells the user (unless quiet) what answering from the bundled corpus
/// does, with a progress bar while it is indexed the first time.
pub(crate) fn bundled(ctx: &Context) -> impl Fn(Bundled) + Sync + '_ {
    let progress = Reporter::new(
        !ctx.quiet && std::io::stderr().is_terminal(),
        ctx.quiet,
        false,
    );
    move |step| {
        match step {
        Bundled::Indexing { corpus, index_dir } if !ctx.quiet => eprintln!(
            "no index here or in any parent folder: indexing the bundled corpus {} into {} (once; `rag ingest FOLDER` makes your own)",
            corpus.display(),
            index_dir.display()
        ),
        Bundled::Ingest(event) => progress.event(event),
        Bundled::Indexed { summary, index_dir } => {
            progress.finish();
            if !ctx.quiet {
                let location = IndexLocation::Folder(index_dir.to_path_buf());
                eprintln!("{}", summary_line(summary, &location));
            }
        }
        Bundled::Using { index_dir } if !ctx.quiet => eprintln!(
            "no index here or in any parent folder: using the bundled corpus ({}); `rag ingest FOLDER` makes your own",
            index_dir.display()
        ),
        _ => {}
    }
    }
}

/// A path for one terminal line: every byte kept (escaped), nothing that
/// moves the cursor; relative to the current folder when under it, as every command shows paths.
fn shown(path: &std::path::Path) -> String {
    let shown = crate::context::shown_path(path);
    sanitize(&rag::index::paths::escape_controls(&shown)).into_owned()
}

pub(crate) fn summary_line(s: &IngestSummary, location: &IndexLocation) -> String {
    let rate = if s.embed_seconds > 0.0 {
        format!(", {:.0} chunks/s", s.chunks_added as f64 / s.embed_seconds)
    } else {
        String::new()
    };
    let (stopped, rest) = if s.interrupted {
        (
            "stopped: ",
            "; the files not yet indexed are read by the next `rag ingest`",
        )
    } else {
        ("", "")
    };
    format!(
        "{stopped}indexed {} ({} unchanged, {} removed, {} skipped, {} unsupported, {} generated), {} added in {:.1} s{rate}; index {} now holds {}, {}{rest}",
        count(s.indexed, "file", "files"),
        s.unchanged,
        s.removed,
        s.skipped,
        s.unsupported,
        s.generated,
        count(s.chunks_added, "chunk", "chunks"),
        s.seconds,
        shown_location(location),
        count(s.files_total, "file", "files"),
        count(s.chunks_total, "chunk", "chunks")
    )
}

/// An index as messages name it: a folder as paths are shown, a URL as given.
pub(crate) fn shown_location(location: &IndexLocation) -> String {
    match location {
        IndexLocation::Folder(dir) => shown(dir),
        IndexLocation::Milvus(url) => url.clone(),
    }
}

/// Turns ingest events into a progress bar on a terminal and warning lines.
pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// List every file left out as unsupported, too.
    verbose: bool,
    work: Mutex<Work>,
}

/// Before any file is chunked, a guess of the bytes a passage takes on disk.
const PRIOR_BYTES_PER_CHUNK: u64 = 2000;
/// Weight of the newest rate sample in the smoothed rate.
const RATE_SMOOTHING: f64 = 0.3;
/// Samples of the rate are taken at most this often.
const RATE_SAMPLE: Duration = Duration::from_secs(2);

/// How far an ingest is, in passages: the unit of work (embedding) is the
/// chunk, not the file, as one large file can hold a thousand small files'
/// chunks. Files not yet chunked are expected to hold as many chunks per byte
/// as those chunked so far.
#[derive(Debug)]
struct Work {
    planned_bytes: u64,
    planned_files: usize,
    chunked_bytes: u64,
    chunked_chunks: usize,
    embedded: usize,
    files_done: usize,
    /// Chunks per second, smoothed; none until the first sample.
    rate: Option<f64>,
    last_sample: (Instant, usize),
}

impl Work {
    fn new(planned_files: usize, planned_bytes: u64, now: Instant) -> Self {
        Work {
            planned_bytes,
            planned_files,
            chunked_bytes: 0,
            chunked_chunks: 0,
            embedded: 0,
            files_done: 0,
            rate: None,
            last_sample: (now, 0),
        }
    }

    fn expected_chunks(&self) -> usize {
        let unchunked = self.planned_bytes.saturating_sub(self.chunked_bytes);
        let rest = if self.chunked_bytes == 0 || self.chunked_chunks == 0 {
            unchunked / PRIOR_BYTES_PER_CHUNK
        } else {
            (unchunked as f64 * self.chunked_chunks as f64 / self.chunked_bytes as f64) as u64
        };
        (self.chunked_chunks + rest as usize).max(self.embedded)
    }

    fn embedded(&mut self, chunks: usize, now: Instant) {
        self.embedded += chunks;
        let (at, then) = self.last_sample;
        let elapsed = now.duration_since(at);
        if elapsed >= RATE_SAMPLE {
            let sample = (self.embedded - then) as f64 / elapsed.as_secs_f64();
            self.rate = Some(match self.rate {
                Some(rate) => rate + RATE_SMOOTHING * (sample - rate),
                None => sample,
            });
            self.last_sample = (now, self.embedded);
        }
    }

    fn eta(&self) -> Option<Duration> {
        let rate = self.rate.filter(|r| *r > 0.0)?;
        let left = self.expected_chunks().saturating_sub(self.embedded);
        Some(Duration::from_secs_f64(left as f64 / rate))
    }

    fn message(&self) -> String {
        let mut text = format!("{}/{} files", self.files_done, self.planned_files);
        if let Some(rate) = self.rate {
            text.push_str(&format!(", {rate:.0} chunks/s"));
        }
        match self.eta() {
            Some(eta) => text.push_str(&format!(", about {} left", indicatif::HumanDuration(eta))),
            None => text.push_str(", measuring the speed"),
        }
        text
    }
}

impl Reporter {
    pub(crate) fn new(show_progress: bool, quiet: bool, verbose: bool) -> Self {
        let bar = show_progress.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_message("looking for files");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Reporter {
            bar,
            quiet,
            verbose,
            work: Mutex::new(Work::new(0, 0, Instant::now())),
        }
    }

    fn warn(&self, line: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn event(&self, event: IngestEvent) {
        match event {
            IngestEvent::Skipped { path, reason } => self.warn(format!(
                "warning: skipped {}: {}",
                shown(&path),
                crate::remedy::skipped(&reason)
            )),
            IngestEvent::Unsupported { path } => {
                if self.verbose {
                    self.warn(format!(
                        "left out {}: not a format rag reads (no text)",
                        shown(&path)
                    ));
                }
            }
            IngestEvent::Generated { path, what } => {
                if self.verbose {
                    self.warn(format!(
                        "left out {}: {what}, generated for a browser or a tool (--include-generated reads it)",
                        shown(&path)
                    ));
                }
            }
            IngestEvent::Planned {
                to_index, bytes, ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} chunks (expected)  {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                self.update(|work| *work = Work::new(to_index, bytes, Instant::now()));
            }
            IngestEvent::Chunked { chunks, bytes, .. } => self.update(|work| {
                work.chunked_chunks += chunks;
                work.chunked_bytes += bytes;
            }),
            IngestEvent::Embedded { chunks } => {
                self.update(|work| work.embedded(chunks, Instant::now()))
            }
            IngestEvent::FileDone { .. } => self.update(|work| work.files_done += 1),
            IngestEvent::Committed { .. } => {}
        }
    }

    /// Changes the work done and redraws the bar from it.
    fn update(&self, change: impl FnOnce(&mut Work)) {
        let Ok(mut work) = self.work.lock() else {
            return;
        };
        change(&mut work);
        if let Some(bar) = &self.bar {
            bar.set_length(work.expected_chunks() as u64);
            bar.set_position(work.embedded as u64);
            bar.set_message(work.message());
        }
    }

    /// Ctrl+C was pressed: said at once, as the ingest may need seconds to
    /// reach a point where it can stop.
    pub(crate) fn stopping(&self, watching: bool) {
        let next = if watching {
            ""
        } else {
            "; the next `rag ingest` picks up the rest"
        };
        self.warn(format!(
            "stopping: the files embedded so far are committed (Ctrl+C again quits at once){next}"
        ));
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_counted_in_chunks_and_its_rate_smoothed() {
        let start = Instant::now();
        let mut work = Work::new(10, 100_000, start);
        assert_eq!(
            work.expected_chunks(),
            50,
            "the prior before any file is chunked"
        );
        assert_eq!(work.eta(), None);
        // The first files make 1 chunk per 500 bytes: the rest will too.
        work.chunked_bytes = 10_000;
        work.chunked_chunks = 20;
        assert_eq!(work.expected_chunks(), 200);
        work.embedded(20, start + Duration::from_secs(2));
        assert_eq!(work.rate, Some(10.0));
        assert_eq!(work.eta(), Some(Duration::from_secs(18)));
        // One slow sample moves the rate, and the estimate, only part way.
        work.embedded(2, start + Duration::from_secs(4));
        let rate = work.rate.unwrap_or_default();
        assert!(rate > 5.0 && rate < 10.0, "{rate}");
        // Samples closer together than RATE_SAMPLE do not move it at all.
        work.embedded(50, start + Duration::from_secs(5));
        assert_eq!(work.rate, Some(rate));
        assert!(work.message().contains("left"), "{}", work.message());
    }
}
