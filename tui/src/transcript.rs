//! `/save FILE.md`: the conversation as markdown, each answer with its sources.

use std::fmt::Write;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::app::{App, BackendState, Phase};
use crate::text::sanitize;

pub fn markdown(app: &App) -> String {
    let mut out = String::from("# rag chat\n\n");
    if let BackendState::Ready(info) = &app.backend {
        let _ = writeln!(
            out,
            "Model `{}`, index `{}` ({} files, {} chunks).\n",
            sanitize(&info.model),
            sanitize(&info.index),
            info.files,
            info.chunks
        );
    }
    for exchange in &app.exchanges {
        let question = sanitize(&exchange.question);
        let _ = writeln!(out, "## {}\n", question.replace('\n', " "));
        if question.contains('\n') {
            let _ = writeln!(out, "> {}\n", question.replace('\n', "\n> "));
        }
        let answer = exchange.answer();
        let text = sanitize(answer.text.trim());
        let _ = writeln!(
            out,
            "{}\n",
            if text.is_empty() {
                "(no answer)"
            } else {
                &text
            }
        );
        match &answer.phase {
            Phase::Stopped => out.push_str("_(stopped)_\n\n"),
            Phase::Failed(message) => {
                let _ = writeln!(out, "_(failed: {})_\n", sanitize(message));
            }
            _ => {}
        }
        if answer.sources.is_empty() {
            continue;
        }
        out.push_str(if answer.gate_refused {
            "Nearest passages (not close enough to answer from):\n\n"
        } else {
            "Sources:\n\n"
        });
        for source in &answer.sources {
            let mark = match answer.cited(source.n) {
                Some(c) if c.inferred => " (closest to the answer)",
                Some(_) => " (cited)",
                None => "",
            };
            let _ = writeln!(
                out,
                "- [{}] `{}` {}{mark}",
                source.n,
                sanitize(&source.location()),
                sanitize(&source.heading)
            );
            if let Some(quote) = answer.cited(source.n).and_then(|c| c.quote.as_ref()) {
                let _ = writeln!(
                    out,
                    "  > line {}: {}",
                    quote.line_start,
                    sanitize(&quote.text)
                );
            }
        }
        out.push('\n');
    }
    out
}

/// Writes the transcript; an existing file is kept unless `overwrite`.
pub fn save(path: &Path, markdown: &str, overwrite: bool) -> Result<(), String> {
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} exists: /save! {} to replace it",
                path.display(),
                path.display()
            )
        } else {
            format!("cannot write {}: {e}", path.display())
        }
    })?;
    file.write_all(markdown.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
