//! `rag check`: verify every index file against the checksum recorded when it
//! was committed, and say what to do about what is found.

use rag::index::{CheckReport, Verdict};

use crate::cli::CheckArgs;
use crate::context::Context;
use std::io::Write;
use std::path::Path;

use crate::Outcome;
use rag::{Error, Result};

pub fn run(ctx: &Context, args: &CheckArgs) -> Result<Outcome> {
    let location = ctx.index_for_reading()?;
    let Some(dir) = location.folder().map(Path::to_path_buf) else {
        return Err(Error::Usage(format!(
            "rag check verifies an index folder's files; {location} is kept by its server"
        )));
    };
    let report = rag::index::check(&dir)?;
    if args.json {
        super::print_all(&format!("{}\n", to_json(&report)))?;
    } else {
        super::print_with(|out| print_human(out, &report))?;
    }
    // Not sound is the command's answer, not a failure to give one: exit 1
    // (2 is kept for errors), with the remedy on stderr.
    let verdict = if report.damaged() {
        let count = report
            .files
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Damaged(_)))
            .count();
        Some(format!(
            "the index at {} is damaged ({})\n  rebuild it from your documents with:  rag ingest --rebuild PATH...",
            dir.display(),
            super::count(count, "file", "files")
        ))
    } else if report.out_of_step() {
        Some(format!(
            "the keyword index at {} is out of step with the last commit (an ingest was interrupted)\n  bring it in step with:  rag ingest PATH...",
            dir.display()
        ))
    } else {
        None
    };
    match verdict {
        Some(problem) => {
            eprintln!("{problem}");
            Ok(Outcome::Negative)
        }
        None => {
            if !ctx.quiet && !args.json {
                eprintln!("the index is sound");
            }
            Ok(Outcome::Success)
        }
    }
}

fn print_human(out: &mut dyn Write, report: &CheckReport) -> std::io::Result<()> {
    match report.generation {
        Some(generation) => writeln!(
            out,
            "index         {} (generation {generation})",
            report.index_dir.display()
        )?,
        None => writeln!(out, "index         {}", report.index_dir.display())?,
    }
    for file in &report.files {
        let (state, note) = match &file.verdict {
            Verdict::Ok => ("ok", String::new()),
            Verdict::NoChecksum => (
                "ok",
                " (no checksum recorded: written by an older version; the next `rag ingest` records one)"
                    .to_string(),
            ),
            Verdict::OutOfStep(reason) => ("out of step", format!(": {reason}")),
            Verdict::Damaged(reason) => ("damaged", format!(": {reason}")),
        };
        writeln!(out, "{state:<13} {}{note}", file.file)?;
    }
    Ok(())
}

fn to_json(report: &CheckReport) -> serde_json::Value {
    let files: Vec<serde_json::Value> = report
        .files
        .iter()
        .map(|file| {
            let (state, problem) = match &file.verdict {
                Verdict::Ok => ("ok", None),
                Verdict::NoChecksum => ("no_checksum", None),
                Verdict::OutOfStep(reason) => ("out_of_step", Some(reason)),
                Verdict::Damaged(reason) => ("damaged", Some(reason)),
            };
            serde_json::json!({"file": file.file, "state": state, "problem": problem})
        })
        .collect();
    serde_json::json!({
        "index": report.index_dir.display().to_string(),
        "generation": report.generation,
        "sound": report.sound(),
        "files": files,
    })
}
