//! `/save FILE.md`: the conversation as markdown, each answer with its sources.

use std::fmt::Write;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::app::{AnswerView, App, BackendState, Phase};
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
        // Every answer Ctrl+R sampled is kept, oldest first.
        let count = exchange.answers.len();
        for (i, answer) in exchange.answers.iter().enumerate() {
            if count > 1 {
                let note = if i + 1 < count {
                    " (regenerated; earlier answer)"
                } else {
                    " (latest)"
                };
                let _ = writeln!(out, "### Answer {} of {count}{note}\n", i + 1);
            }
            answer_section(&mut out, answer);
        }
    }
    out
}

/// One answer with its sources, as in a saved conversation.
fn answer_section(out: &mut String, answer: &AnswerView) {
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
    if answer.truncated {
        out.push_str(&format!(
            "_(cut at {} tokens)_\n\n",
            answer.settings.max_tokens
        ));
    }
    match &answer.phase {
        Phase::Stopped => out.push_str("_(stopped)_\n\n"),
        Phase::Failed(message) => {
            let _ = writeln!(out, "_(failed: {})_\n", sanitize(message));
        }
        _ => {}
    }
    if answer.sources.is_empty() {
        return;
    }
    out.push_str(if answer.gate_refused {
        "Nearest passages (not close enough to answer from):\n\n"
    } else {
        "Sources:\n\n"
    });
    sources_list(out, answer, false);
    out.push('\n');
}

/// "- [1] `path:3-9` Heading (cited)", with the quote that backs the answer
/// under it. `jump` puts the quote's own line in the location instead
/// (`path:5`, where an editor can jump to), for text read outside the chat.
fn sources_list(out: &mut String, answer: &AnswerView, jump: bool) {
    for source in &answer.sources {
        let cited = answer.cited(source.n);
        let mark = match cited {
            Some(c) if c.inferred => " (closest to the answer)",
            Some(_) => " (cited)",
            None => "",
        };
        let quote = cited.and_then(|c| c.quote.as_ref());
        let location = match quote {
            Some(quote) if jump => format!("{}:{}", source.path, quote.line_start),
            _ => source.location(),
        };
        let _ = writeln!(
            out,
            "- [{}] `{}` {}{mark}",
            source.n,
            sanitize(&location),
            sanitize(&source.heading)
        );
        match quote {
            Some(quote) if jump => {
                let _ = writeln!(out, "  > {}", sanitize(&quote.text));
            }
            Some(quote) => {
                let _ = writeln!(
                    out,
                    "  > line {}: {}",
                    quote.line_start,
                    sanitize(&quote.text)
                );
            }
            None => {}
        }
    }
}

/// One answer for the clipboard: its markdown text, then its numbered
/// sources (path:lines, and path:line with the quote where one backs it).
pub fn answer_markdown(answer: &AnswerView) -> String {
    let mut out = sanitize(answer.text.trim()).into_owned();
    out.push('\n');
    if answer.truncated {
        out.push_str(&format!(
            "\n_(cut at {} tokens)_\n",
            answer.settings.max_tokens
        ));
    }
    if !answer.sources.is_empty() {
        out.push_str(if answer.gate_refused {
            "\nNearest passages (not close enough to answer from):\n\n"
        } else {
            "\nSources:\n\n"
        });
        sources_list(&mut out, answer, true);
    }
    out
}

/// Writes the transcript; an existing file is kept unless `overwrite`.
pub fn save(path: &Path, markdown: &str, overwrite: bool) -> Result<(), String> {
    // `/save notes/today.md` into a folder that does not exist yet makes it.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create the folder {}: {e}", parent.display()))?;
    }
    // Opening a FIFO for writing blocks until a reader comes: the UI would
    // freeze for good. Only regular files (or none yet) are written.
    if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
        return Err(format!("{} is not a regular file", path.display()));
    }
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

#[cfg(test)]
mod save_tests {
    #[test]
    fn only_regular_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Before the check, this open blocked forever.
        let refused = super::save(&fifo, "# chat\n", true).unwrap_err();
        assert!(refused.contains("not a regular file"), "{refused}");
        let file = dir.path().join("chat.md");
        super::save(&file, "# chat\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(file).unwrap(), "# chat\n");
    }
}
