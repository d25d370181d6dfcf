//! `rag ingest PATH...`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use rag_index::walk::WalkOptions;
use rag_index::{IngestOptions, IngestSummary};

use super::progress::{summary_line, Reporter};
use crate::cli::IngestArgs;
use crate::context::Context;
use rag::Result;

pub fn run(ctx: &Context, args: &IngestArgs) -> Result<()> {
    let location = ctx.index_for_writing()?;
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
            include_generated: args.include_generated,
        },
        rebuild: args.rebuild,
        checkpoint_every: Duration::from_secs(args.checkpoint_secs),
        pdf_reader: rag::pdf::sandboxed_reader(),
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
    let Some(mut watch) = watch.filter(|_| !first.interrupted) else {
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
            eprintln!("warning: {}", crate::remedy::report(&e));
            Ok(())
        }
    })
}
