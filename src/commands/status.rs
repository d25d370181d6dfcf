//! `rag status`

use std::time::{Duration, UNIX_EPOCH};

use rag::index::human_bytes;

use crate::cli::StatusArgs;
use crate::context::Context;
use crate::terminal::sanitize;
use rag::Result;

pub fn run(ctx: &Context, args: &StatusArgs) -> Result<()> {
    let index = match ctx.open_index() {
        // A first ingest that has not committed yet: the index is on its way.
        Err(rag::Error::Index(rag::index::Error::NotFound(dir)))
            if rag::index::ingest_running(&dir) =>
        {
            let dir = crate::context::shown_path(&dir);
            if args.json {
                let value = serde_json::json!({ "index_dir": dir, "ingesting": true, "files": 0, "chunks": 0 });
                return super::print_all(&format!("{value}\n"));
            }
            return super::print_all(&format!(
                "index        {}\ningesting    a first ingest is running and has committed nothing yet; its first files appear in a minute or two\n",
                sanitize(&dir)
            ));
        }
        other => other?,
    };
    let mut status = index.status()?;
    // Shown as every command shows paths: relative to here when below it.
    for paths in [&mut status.roots, &mut status.forgotten] {
        *paths = paths
            .iter()
            .map(|path| crate::context::display_path(&index, path))
            .collect();
    }
    let answer_model = ctx.settings.generator_name();
    if args.json {
        let mut value = serde_json::to_value(&status).unwrap_or_default();
        value["answer_model"] = serde_json::Value::String(answer_model);
        return super::print_all(&format!("{value}\n"));
    }
    let when = |secs: u64| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    };
    super::print_with(|out| {
        writeln!(out, "index        {}", status.index_dir)?;
        if status.backend != "folder" {
            writeln!(out, "kept by      {}", status.backend)?;
        }
        if status.ingesting {
            writeln!(
                out,
                "ingesting    an ingest is running: these are its last commit's numbers"
            )?;
        }
        writeln!(out, "files        {}", status.files)?;
        writeln!(out, "chunks       {}", status.chunks)?;
        if status.roots.is_empty() {
            writeln!(
            out,
            "covers       (not recorded: ingested before rag kept it; the next ingest records it)"
        )?;
        }
        for (i, root) in status.roots.iter().enumerate() {
            let label = if i == 0 { "covers" } else { "" };
            writeln!(
                out,
                "{label:<12} {}",
                sanitize(&rag::index::paths::escape_controls(root))
            )?;
        }
        if !status.excludes.is_empty() {
            writeln!(
                out,
                "excludes     {}  (every ingest; `rag ingest --drop-exclude GLOB` stops one)",
                sanitize(&status.excludes.join(", "))
            )?;
        }
        for (i, path) in status.forgotten.iter().enumerate() {
            let label = if i == 0 { "forgotten" } else { "" };
            writeln!(
                out,
                "{label:<12} {}  (left out of ingests until named again)",
                sanitize(&rag::index::paths::escape_controls(path))
            )?;
        }
        writeln!(
        out,
        "left out     {} skipped, {} unsupported, {} generated (last ingest; `rag ingest -v` lists them)",
        status.skipped, status.unsupported, status.generated
    )?;
        writeln!(
            out,
            "embeds with  {} ({} dimensions)",
            status.model_id, status.dimension
        )?;
        writeln!(out, "answers with {answer_model}")?;
        if status.backend == "folder" {
            writeln!(out, "size         {}", human_bytes(status.size_bytes))?;
        }
        writeln!(out, "created      {}", when(status.created_at))?;
        writeln!(out, "last ingest  {}", when(status.last_ingest))?;
        if status.deleted_points > 0 {
            writeln!(
                out,
                "graph        {} points, {} of them deleted (rebuilt automatically past 25%)",
                status.vector_points, status.deleted_points
            )?;
        }
        if !status.bm25_in_sync {
            writeln!(
                out,
                "warning      the keyword index is out of step; run `rag ingest` to repair it"
            )?;
        }
        Ok(())
    })
}
