//! How ingest shows itself on a terminal: a progress bar, warning lines, the
//! summary line. Shared by `ingest` and the commands that ingest before they
//! answer (`batch --docs`, `chat` in a folder without an index).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rag::engine::{Bundled, IndexLocation};
use rag_index::{IngestEvent, IngestSummary};

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
    move |step| match step {
        Bundled::Indexing { corpus, index_dir } if !ctx.quiet => eprintln!(
            "no index here or in any parent folder: indexing the bundled corpus {} into {} (once)",
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
            "no index here or in any parent folder: answering from the bundled corpus ({})",
            index_dir.display()
        ),
        _ => {}
    }
}

/// A path for one terminal line: every byte kept (escaped), nothing that
/// moves the cursor; relative to the current folder when under it, as every command shows paths.
fn shown(path: &std::path::Path) -> String {
    let shown = crate::context::shown_path(path);
    sanitize(&rag_index::paths::escape_controls(&shown)).into_owned()
}

pub(crate) fn summary_line(s: &IngestSummary, location: &IndexLocation) -> String {
    let rate = if s.embed_seconds > 0.0 {
        format!(", {:.0} chunks/s", s.chunks_added as f64 / s.embed_seconds)
    } else {
        String::new()
    };
    format!(
        "indexed {} ({} unchanged, {} removed, {} skipped, {} unsupported, {} generated), {} added in {:.1} s{rate}; index {} now holds {}, {}",
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
    chunks: Mutex<(usize, std::time::Instant)>,
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
            chunks: Mutex::new((0, std::time::Instant::now())),
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
            IngestEvent::Skipped { path, reason } => {
                self.warn(format!("warning: skipped {}: {reason}", shown(&path)))
            }
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
            IngestEvent::Planned { to_index, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(to_index as u64);
                    bar.set_position(0);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files  {msg}  ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    if let Ok(mut chunks) = self.chunks.lock() {
                        *chunks = (0, std::time::Instant::now());
                    }
                }
            }
            IngestEvent::Embedded { chunks } => {
                if let (Some(bar), Ok(mut state)) = (&self.bar, self.chunks.lock()) {
                    state.0 += chunks;
                    let secs = state.1.elapsed().as_secs_f64().max(1e-3);
                    bar.set_message(format!(
                        "{} chunks, {:.0} chunks/s",
                        state.0,
                        state.0 as f64 / secs
                    ));
                }
            }
            IngestEvent::FileDone { .. } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
            IngestEvent::Chunked { .. } | IngestEvent::Committed { .. } => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
