//! `rag ingest PATH...`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rag_index::walk::WalkOptions;
use rag_index::{ingest, IngestEvent, IngestOptions, IngestSummary};

use super::count;
use crate::cli::IngestArgs;
use crate::context::Context;
use crate::terminal::sanitize;
use crate::Result;

pub fn run(ctx: &Context, args: &IngestArgs) -> Result<()> {
    let index_dir = ctx.index_dir_for_writing()?;
    let workers = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let embedder = ctx.embedder(workers)?;
    let options = IngestOptions {
        walk: WalkOptions {
            excludes: args.exclude.clone(),
            max_file_size: args.max_file_size,
            follow_links: args.follow,
        },
        rebuild: args.rebuild,
        checkpoint_every: Duration::from_secs(args.checkpoint_secs),
        pdf_reader: crate::pdf::sandboxed_reader(),
        ..IngestOptions::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    if args.watch {
        super::watch::stop_on_signals(&stop)?;
    }
    let mut options = IngestOptions {
        cancel: Some(Arc::clone(&stop)),
        ..options
    };
    let show_progress = !ctx.quiet && !args.json && std::io::stderr().is_terminal();
    let reporter = Reporter::new(show_progress, ctx.quiet, args.verbose);
    let once = |options: &IngestOptions| -> Result<IngestSummary> {
        let summary = ingest(&index_dir, &args.paths, &embedder, options, &|event| {
            reporter.event(event)
        })?;
        reporter.finish();
        if args.json {
            let mut value = serde_json::to_value(&summary).unwrap_or_default();
            value["index"] = serde_json::Value::String(index_dir.display().to_string());
            println!("{value}");
        } else if !ctx.quiet {
            eprintln!("{}", summary_line(&summary, &index_dir));
        }
        Ok(summary)
    };
    let watch = if args.watch {
        let roots: Vec<PathBuf> = args
            .paths
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        Some(super::watch::Watch::start(&roots, &index_dir)?)
    } else {
        None
    };
    let first = once(&options)?;
    let Some(watch) = watch.filter(|_| !first.interrupted) else {
        return Ok(());
    };
    // Later bursts only add what changed; a rebuild happens once at most.
    options.rebuild = false;
    if !ctx.quiet {
        eprintln!("watching for changes (Ctrl+C to stop)");
    }
    watch.run(&stop, || match once(&options) {
        Ok(_) => Ok(()),
        // Another ingest holds the index, a file vanished mid-read...: the
        // next burst tries again.
        Err(e) => {
            eprintln!("warning: {e}");
            Ok(())
        }
    })
}

/// Ingests `paths` into `index_dir` with the default settings, showing the
/// progress bar on a terminal (for commands that ingest before answering).
pub(crate) fn ingest_with_progress(
    ctx: &Context,
    index_dir: &std::path::Path,
    paths: &[std::path::PathBuf],
) -> Result<IngestSummary> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let embedder = ctx.embedder(workers)?;
    let reporter = Reporter::new(
        !ctx.quiet && std::io::stderr().is_terminal(),
        ctx.quiet,
        false,
    );
    let summary = ingest(
        index_dir,
        paths,
        &embedder,
        &IngestOptions {
            pdf_reader: crate::pdf::sandboxed_reader(),
            ..IngestOptions::default()
        },
        &|event| reporter.event(event),
    )?;
    reporter.finish();
    if !ctx.quiet {
        eprintln!("{}", summary_line(&summary, index_dir));
    }
    Ok(summary)
}

/// A path for one terminal line: every byte kept (escaped), nothing that
/// moves the cursor; relative to the current folder when under it, as every command shows paths.
fn shown(path: &std::path::Path) -> String {
    let shown = crate::context::shown_path(path);
    sanitize(&rag_index::paths::escape_controls(&shown)).into_owned()
}

fn summary_line(s: &IngestSummary, index_dir: &std::path::Path) -> String {
    let rate = if s.embed_seconds > 0.0 {
        format!(", {:.0} chunks/s", s.chunks_added as f64 / s.embed_seconds)
    } else {
        String::new()
    };
    format!(
        "indexed {} ({} unchanged, {} removed, {} skipped, {} unsupported), {} added in {:.1} s{rate}; index {} now holds {}, {}",
        count(s.indexed, "file", "files"),
        s.unchanged,
        s.removed,
        s.skipped,
        s.unsupported,
        count(s.chunks_added, "chunk", "chunks"),
        s.seconds,
        shown(index_dir),
        count(s.files_total, "file", "files"),
        count(s.chunks_total, "chunk", "chunks")
    )
}

/// Turns ingest events into a progress bar on a terminal and warning lines.
struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// List every file left out as unsupported, too.
    verbose: bool,
    chunks: Mutex<(usize, std::time::Instant)>,
}

impl Reporter {
    fn new(show_progress: bool, quiet: bool, verbose: bool) -> Self {
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

    fn event(&self, event: IngestEvent) {
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

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
