//! `rag forget PATH...`: drop folders or files from the index (the files on
//! disk stay), without rebuilding the rest.

use crate::cli::ForgetArgs;
use crate::context::Context;
use rag::Result;

pub fn run(ctx: &Context, args: &ForgetArgs) -> Result<()> {
    let location = ctx.index_for_reading()?;
    let summary = rag::engine::forget(&ctx.settings, &location, &args.paths)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    } else if !ctx.quiet {
        eprintln!(
            "forgot {} ({}); the files themselves are untouched",
            super::count(summary.files, "file", "files"),
            super::count(summary.chunks, "chunk", "chunks"),
        );
        if !summary.kept_out.is_empty() {
            let (them, one) = if summary.kept_out.len() == 1 {
                ("it", "it")
            } else {
                ("them", "one of them")
            };
            eprintln!(
                "later ingests of the folder around {them} leave {them} out, until `rag ingest` names {one} again"
            );
        }
    }
    Ok(())
}
