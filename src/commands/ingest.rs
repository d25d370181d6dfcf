//! `rag ingest PATH...`

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rag::index::walk::{Found, WalkOptions};
use rag::index::{IngestOptions, IngestSummary};

use super::progress::{summary_line, Reporter};
use crate::cli::IngestArgs;
use crate::context::Context;
use crate::Outcome;
use rag::Result;

pub fn run(ctx: &Context, args: &IngestArgs) -> Result<Outcome> {
    let location = ctx.index_for_writing()?;
    if args.dry_run {
        return dry_run(ctx, args, location.folder()).map(|()| Outcome::Success);
    }
    let workers = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let embedder = ctx.embedder(workers)?;
    let options = IngestOptions {
        walk: walk_options(args),
        rebuild: args.rebuild,
        checkpoint_every: Duration::from_secs(args.checkpoint_secs),
        dropped_excludes: args.drop_exclude.clone(),
        contained_reader: rag::contained::sandboxed_reader(),
        ..IngestOptions::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    super::watch::stop_on_signals(&stop)?;
    let mut options = IngestOptions {
        cancel: Some(Arc::clone(&stop)),
        ..options
    };
    let show_progress = !ctx.quiet && !args.json && std::io::stderr().is_terminal();
    let reporter = Reporter::new(show_progress, ctx.quiet, args.verbose);
    announcing_stop(&stop, &reporter, args.watch, || {
        let once = |options: &IngestOptions| -> Result<IngestSummary> {
            let summary = rag::engine::ingest_using(
                &ctx.settings,
                &location,
                &args.paths,
                &embedder,
                options,
                &|event| reporter.event(event),
            )?;
            reporter.finish();
            if args.json {
                let mut value = serde_json::to_value(&summary).unwrap_or_default();
                value["index"] = serde_json::Value::String(location.to_string());
                println!("{value}");
            } else if !ctx.quiet {
                eprintln!("{}", summary_line(&summary, &location));
            }
            Ok(summary)
        };
        let watch = if args.watch {
            let roots: Vec<PathBuf> = args
                .paths
                .iter()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
                .collect();
            Some(super::watch::Watch::start(&roots, location.folder())?)
        } else {
            None
        };
        let first = once(&options)?;
        if first.interrupted {
            return Ok(Outcome::Interrupted);
        }
        let Some(mut watch) = watch else {
            return Ok(Outcome::Success);
        };
        // Later bursts only add what changed; a rebuild happens once at most,
        // and dropped excludes are gone after the first.
        options.rebuild = false;
        options.dropped_excludes.clear();
        if !ctx.quiet {
            eprintln!("watching for changes (Ctrl+C to stop)");
        }
        watch
            .run(&stop, || match once(&options) {
                Ok(_) => Ok(()),
                // Another ingest holds the index, a file vanished mid-read...: the
                // next burst tries again.
                Err(e) => {
                    eprintln!("warning: {}", crate::remedy::report(&e));
                    Ok(())
                }
            })
            .map(|()| Outcome::Success)
    })
}

/// Runs `work`, saying at once when Ctrl+C sets `stop`: the ingest itself
/// stops only between embedding batches, which can be seconds apart.
fn announcing_stop<T>(
    stop: &AtomicBool,
    reporter: &Reporter,
    watching: bool,
    work: impl FnOnce() -> T,
) -> T {
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    reporter.stopping(watching);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let result = work();
        finished.store(true, Ordering::Relaxed);
        result
    })
}

fn walk_options(args: &IngestArgs) -> WalkOptions {
    WalkOptions {
        excludes: args.exclude.clone(),
        max_file_size: args.max_file_size,
        follow_links: args.follow,
        include_generated: args.include_generated,
        ..WalkOptions::default()
    }
}

/// `--dry-run`: the walk ingest would make, one line per file on stdout
/// (`read`, `generated`, `unsupported` or `skipped`, the path, then why),
/// counts on stderr. Whether a file is unchanged since the last ingest is
/// not checked: that needs the index, and reading files' contents.
fn dry_run(ctx: &Context, args: &IngestArgs, index_dir: Option<&Path>) -> Result<()> {
    // What the index remembers (excludes, forgotten paths) applies as in a real ingest.
    let options = match index_dir {
        Some(dir) => rag::index::remember::planned_walk_of_folder(
            dir,
            &args.paths,
            &walk_options(args),
            &args.drop_exclude,
        )?,
        None => walk_options(args),
    };
    let found = rag::index::walk::walk(&args.paths, &options, index_dir.unwrap_or(Path::new("")))?;
    let mut lines = String::new();
    let (mut read, mut bytes, mut generated, mut unsupported, mut skipped) = (0, 0, 0, 0, 0);
    for item in &found {
        let (action, path, why) = match item {
            Found::File { path, kind, size } => {
                read += 1;
                bytes += size;
                (
                    "read",
                    path,
                    format!(
                        "{}, {}",
                        format!("{kind:?}").to_lowercase(),
                        rag::index::human_bytes(*size)
                    ),
                )
            }
            Found::Generated { path, what } => {
                generated += 1;
                ("generated", path, what.to_string())
            }
            Found::Unsupported(path) => {
                unsupported += 1;
                (
                    "unsupported",
                    path,
                    "a format rag does not read".to_string(),
                )
            }
            Found::Skipped { path, reason } => {
                skipped += 1;
                ("skipped", path, crate::remedy::skipped(reason))
            }
        };
        let shown = crate::context::shown_path(path);
        if args.json {
            let line = serde_json::json!({ "action": action, "path": shown, "why": why });
            lines.push_str(&format!("{line}\n"));
        } else {
            lines.push_str(&format!(
                "{action:<11} {}  ({why})\n",
                rag::index::paths::escape_controls(&shown)
            ));
        }
    }
    super::print_all(&lines)?;
    if !ctx.quiet {
        eprintln!(
            "would read {} ({}); would leave out {generated} generated, {unsupported} unsupported, {skipped} skipped (--include-generated reads generated files); nothing was written",
            super::count(read, "file", "files"),
            rag::index::human_bytes(bytes),
        );
    }
    Ok(())
}
