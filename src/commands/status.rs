//! `rag status`

use std::time::{Duration, UNIX_EPOCH};

use rag_index::extract::human_bytes;

use crate::cli::StatusArgs;
use crate::context::Context;
use crate::Result;

pub fn run(ctx: &Context, args: &StatusArgs) -> Result<()> {
    let index = ctx.open_index()?;
    let status = index.status();
    if args.json {
        println!("{}", serde_json::to_string(&status).unwrap_or_default());
        return Ok(());
    }
    let when = |secs: u64| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    };
    println!("index        {}", status.index_dir.display());
    println!("files        {}", status.files);
    println!("chunks       {}", status.chunks);
    println!(
        "model        {} ({} dimensions)",
        status.model_id, status.dimension
    );
    println!("size         {}", human_bytes(status.size_bytes));
    println!("created      {}", when(status.created_at));
    println!("last ingest  {}", when(status.last_ingest));
    if status.deleted_points > 0 {
        println!(
            "graph        {} points, {} of them deleted (rebuilt automatically past 25%)",
            status.vector_points, status.deleted_points
        );
    }
    if !status.bm25_in_sync {
        println!("warning      the keyword index is out of step; run `rag ingest` to repair it");
    }
    Ok(())
}
