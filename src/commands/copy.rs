//! `rag copy-from DIR`: move an index folder to another home (a Milvus
//! collection) without embedding anything again.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::CopyFromArgs;
use crate::context::Context;
use rag::engine::IndexLocation;
use rag::{Error, Result};

pub fn run(ctx: &Context, args: &CopyFromArgs) -> Result<()> {
    let Some(named) = ctx.settings.index.as_deref() else {
        return Err(Error::Usage(
            "rag copy-from needs the destination: --index milvus://HOST:PORT/COLLECTION (or DIR)"
                .into(),
        ));
    };
    let to = IndexLocation::parse(named);
    if to.folder().is_some_and(|dir| same_folder(dir, &args.from)) {
        return Err(Error::Usage(format!(
            "{} is the index being copied; name another destination with --index",
            args.from.display()
        )));
    }
    let bar = (!ctx.quiet && !args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} files  {elapsed} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let summary = rag::engine::copy_index(&ctx.settings, &args.from, &to, &|done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if args.json {
        let mut value = serde_json::to_value(&summary).unwrap_or_default();
        value["index"] = serde_json::Value::String(to.to_string());
        println!("{value}");
    } else if !ctx.quiet {
        eprintln!(
            "copied {} ({}) into {to} in {:.1} s; {} already there",
            super::count(summary.files, "file", "files"),
            super::count(summary.chunks, "chunk", "chunks"),
            summary.seconds,
            super::count(summary.unchanged, "file was", "files were"),
        );
    }
    Ok(())
}

fn same_folder(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
