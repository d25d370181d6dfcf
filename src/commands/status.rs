//! `rag status`

use std::time::{Duration, UNIX_EPOCH};

use rag_index::extract::human_bytes;

use crate::cli::StatusArgs;
use crate::context::Context;
use crate::terminal::sanitize;
use rag::Result;

pub fn run(ctx: &Context, args: &StatusArgs) -> Result<()> {
    let index = ctx.open_index()?;
    let mut status = index.status()?;
    // Shown as every command shows paths: relative to here when below it.
    status.roots = status
        .roots
        .iter()
        .map(|root| crate::context::display_path(&index, root))
        .collect();
    let answer_model = ctx.settings.generator_name();
    if args.json {
        let mut value = serde_json::to_value(&status).unwrap_or_default();
        value["answer_model"] = serde_json::Value::String(answer_model);
        println!("{value}");
        return Ok(());
    }
    let when = |secs: u64| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    };
    println!("index        {}", status.index_dir);
    if status.backend != "folder" {
        println!("kept by      {}", status.backend);
    }
    println!("files        {}", status.files);
    println!("chunks       {}", status.chunks);
    if status.roots.is_empty() {
        println!(
            "covers       (not recorded: ingested before rag kept it; the next ingest records it)"
        );
    }
    for (i, root) in status.roots.iter().enumerate() {
        let label = if i == 0 { "covers" } else { "" };
        println!(
            "{label:<12} {}",
            sanitize(&rag_index::paths::escape_controls(root))
        );
    }
    println!(
        "left out     {} skipped, {} unsupported, {} generated (last ingest; `rag ingest -v` lists them)",
        status.skipped, status.unsupported, status.generated
    );
    println!(
        "embeds with  {} ({} dimensions)",
        status.model_id, status.dimension
    );
    println!("answers with {answer_model}");
    if status.backend == "folder" {
        println!("size         {}", human_bytes(status.size_bytes));
    }
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
