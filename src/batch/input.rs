//! Reading a file of questions: plain text (one per line), JSONL or CSV.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// One question of a batch, with whatever else its input row carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// From the input's `id`, else the question's line (or row) number.
    pub id: String,
    pub question: String,
    /// Other fields of a JSONL object or CSV row, passed through to the output.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Text,
    Jsonl,
    Csv,
}

impl InputFormat {
    /// By extension: .jsonl/.ndjson/.json, .csv, anything else is text.
    pub fn of(path: &Path) -> Self {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => InputFormat::Jsonl,
            Some("csv") => InputFormat::Csv,
            _ => InputFormat::Text,
        }
    }
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::InvalidInput {
        place: path.display().to_string(),
        reason,
    }
}

/// A file of questions larger than this is refused (`/dev/zero` has no end).
const MAX_QUESTIONS_FILE: usize = 64 << 20;

pub fn read(path: &Path, format: InputFormat) -> Result<Vec<Question>> {
    let io_error = |source| Error::Io {
        action: "cannot read questions from",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let bytes = crate::limited::read_to_limit(file, MAX_QUESTIONS_FILE)
        .map_err(io_error)?
        .ok_or_else(|| {
            invalid(
                path,
                "larger than 64 MiB: split it into several files of questions".into(),
            )
        })?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(path, "not UTF-8 text".into()))?;
    let questions = match format {
        InputFormat::Text => parse_text(&text),
        InputFormat::Jsonl => parse_jsonl(&text, path)?,
        InputFormat::Csv => parse_csv(&text, path)?,
    };
    let mut seen = HashSet::new();
    for q in &questions {
        // Ids are written into reports and matched on resume exactly.
        if q.id.chars().any(char::is_control) {
            return Err(invalid(
                path,
                format!("the id {:?} holds control characters", q.id),
            ));
        }
        if !seen.insert(q.id.as_str()) {
            return Err(invalid(
                path,
                format!(
                    "the id {:?} appears twice; ids must be unique so that a rerun can resume",
                    q.id
                ),
            ));
        }
    }
    Ok(questions)
}

/// One question per line; blank lines and `#` comments are skipped. Ids are line numbers.
pub fn parse_text(text: &str) -> Vec<Question> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .map(|(n, line)| Question {
            id: (n + 1).to_string(),
            question: line.trim().to_string(),
            extra: Map::new(),
        })
        .collect()
}

pub fn parse_jsonl(text: &str, path: &Path) -> Result<Vec<Question>> {
    let mut questions = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| Error::InvalidInput {
            place: format!("{}:{}", path.display(), n + 1),
            reason: format!("{why}; expected {{\"id\": ..., \"question\": \"...\"}}"),
        };
        let value: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let Value::Object(mut extra) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let question = match extra.remove("question") {
            Some(Value::String(q)) => q,
            Some(_) => return Err(bad("\"question\" is not a string".into())),
            None => return Err(bad("no \"question\" field".into())),
        };
        let id = match extra.remove("id") {
            Some(Value::String(id)) => id,
            Some(Value::Null) | None => (n + 1).to_string(),
            Some(other) => other.to_string(),
        };
        questions.push(Question {
            id,
            question,
            extra,
        });
    }
    Ok(questions)
}

pub fn parse_csv(text: &str, path: &Path) -> Result<Vec<Question>> {
    // The CSV reader ends an unclosed quoted field at the end of the file,
    // silently merging every row after it into one question.
    if let Some(line) = unclosed_quote_line(text) {
        return Err(Error::InvalidInput {
            place: format!("{}:{line}", path.display()),
            reason: "a quoted field is never closed (a \" with no matching \")".into(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid(path, e.to_string()))?
        .clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let question_at = find("question").ok_or_else(|| {
        invalid(
            path,
            "no \"question\" column (the first row must name the columns)".into(),
        )
    })?;
    let id_at = find("id");
    let mut questions = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| invalid(path, e.to_string()))?;
        let mut extra = Map::new();
        for (i, (name, value)) in headers.iter().zip(record.iter()).enumerate() {
            if i != question_at && Some(i) != id_at {
                extra.insert(name.to_string(), Value::String(value.to_string()));
            }
        }
        let id = id_at
            .and_then(|i| record.get(i))
            .filter(|id| !id.trim().is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| (row + 1).to_string());
        questions.push(Question {
            id,
            question: record.get(question_at).unwrap_or("").to_string(),
            extra,
        });
    }
    Ok(questions)
}

/// The line on which a quoted field opens that the file never closes. Quotes
/// open a field only at its start, and `""` inside one is a literal quote, as
/// the CSV reader has them.
fn unclosed_quote_line(text: &str) -> Option<usize> {
    let mut line = 1;
    let mut opened_on = None;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        match opened_on {
            Some(_) if c == '"' => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    opened_on = None;
                }
            }
            Some(_) => {}
            None if c == '"' && at_field_start => opened_on = Some(line),
            None => {}
        }
        at_field_start = opened_on.is_none() && matches!(c, ',' | '\n' | '\r');
    }
    opened_on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_skips_blanks_and_comments_and_numbers_by_line() {
        let q = parse_text("# questions\n\nWhat is a fugue?\n  # not this\nWhere is Belfast?\n");
        assert_eq!(q.len(), 2);
        assert_eq!(
            (q[0].id.as_str(), q[0].question.as_str()),
            ("3", "What is a fugue?")
        );
        assert_eq!(q[1].id, "5");
    }

    #[test]
    fn jsonl_keeps_extra_fields_and_numeric_ids() {
        let q = parse_jsonl(
            "{\"id\": 7, \"question\": \"Q?\", \"topic\": \"Arts\"}\n\n{\"question\": \"R?\"}\n",
            Path::new("q.jsonl"),
        )
        .unwrap();
        assert_eq!(q[0].id, "7");
        assert_eq!(q[0].extra["topic"], "Arts");
        assert_eq!(q[1].id, "3");
        let err = parse_jsonl("{\"id\": 1}\n", Path::new("q.jsonl")).unwrap_err();
        assert!(err.to_string().contains("q.jsonl:1"), "{err}");
    }

    #[test]
    fn csv_reads_quoted_questions_with_commas_and_newlines() {
        let q = parse_csv(
            "id,Question,topic\na1,\"Where, exactly, is \"\"Belfast\"\"?\nOn a river?\",geo\n,Second?,x\n",
            Path::new("q.csv"),
        )
        .unwrap();
        assert_eq!(q[0].id, "a1");
        assert_eq!(
            q[0].question,
            "Where, exactly, is \"Belfast\"?\nOn a river?"
        );
        assert_eq!(q[0].extra["topic"], "geo");
        assert_eq!(q[1].id, "2");
        assert!(parse_csv("id,text\n1,x\n", Path::new("q.csv")).is_err());
    }

    #[test]
    fn csv_with_an_unclosed_quote_is_refused_naming_its_line() {
        let text = "id,question\n1,\"What is x?\n2,What is y?\n3,What is z?\n";
        let err = parse_csv(text, Path::new("q.csv")).unwrap_err().to_string();
        assert!(
            err.starts_with("q.csv:2: a quoted field is never closed"),
            "{err}"
        );
        let fine = "id,question\n1,\"He said \"\"hi\"\", then\nleft\"\n2,It is 5\" long\n";
        assert_eq!(parse_csv(fine, Path::new("q.csv")).unwrap().len(), 2);
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(InputFormat::of(Path::new("a.JSONL")), InputFormat::Jsonl);
        assert_eq!(InputFormat::of(Path::new("a.csv")), InputFormat::Csv);
        assert_eq!(InputFormat::of(Path::new("questions")), InputFormat::Text);
    }
}
