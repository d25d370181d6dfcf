//! Writing batch results as JSONL, CSV or a Markdown report, one complete
//! record per write, and reading back what an earlier run finished so that a
//! rerun resumes after it. A record cut short by a crash is removed on resume.

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::assistant::located::LinesIn;
use crate::assistant::Answer;
use crate::{Error, Result};

use super::input::Question;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Jsonl,
    Csv,
    Md,
}

/// One question's result.
#[derive(Debug)]
pub struct Record<'a> {
    pub question: &'a Question,
    pub answer: Option<&'a Answer>,
    pub error: Option<String>,
}

/// What the summary needs of each finished record (also read back on resume).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Done {
    pub id: String,
    #[serde(default)]
    pub question: String,
    pub refused: bool,
    pub error: bool,
    pub total_ms: f64,
}

impl Record<'_> {
    pub fn done(&self) -> Done {
        Done {
            id: self.question.id.clone(),
            question: self.question.question.clone(),
            refused: self.answer.is_some_and(|a| a.refused),
            error: self.error.is_some(),
            total_ms: self.answer.map(|a| a.timings.total_ms).unwrap_or(0.0),
        }
    }

    /// The `rag ask --json` object with the id, the input's extra fields and an error field.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("id".into(), Value::String(self.question.id.clone()));
        for (key, value) in &self.question.extra {
            object.insert(key.clone(), value.clone());
        }
        object.insert(
            "question".into(),
            Value::String(self.question.question.clone()),
        );
        match self.answer.map(serde_json::to_value) {
            Some(Ok(Value::Object(answer))) => {
                for (key, value) in answer {
                    if key != "question" {
                        object.insert(key, value);
                    }
                }
            }
            _ => {
                object.insert("answer".into(), Value::String(String::new()));
                object.insert("refused".into(), Value::Bool(false));
                object.insert("citations".into(), Value::Array(Vec::new()));
                object.insert("sources".into(), Value::Array(Vec::new()));
            }
        }
        object.insert(
            "error".into(),
            self.error.clone().map(Value::String).unwrap_or(Value::Null),
        );
        Value::Object(object)
    }
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "question",
    "answer",
    "refused",
    "citations",
    "sources",
    "retrieval_ms",
    "first_token_ms",
    "total_ms",
    "error",
    "quotes",
    "unsupported",
    "grounding",
    "truncated",
];
const MD_RECORD: &str = "<!-- rag-batch ";
const MD_SUMMARY: &str = "<!-- rag-batch-summary -->";
const MD_HEADER: &str = "<!-- rag-batch-report -->";

/// Where records go: a file that may hold an earlier run's records, or stdout.
pub struct Sink {
    format: OutputFormat,
    file: Option<(File, PathBuf)>,
    extra_columns: Vec<String>,
    done: Vec<Done>,
}

impl Sink {
    /// Opens (or creates) `path`, keeping the complete records an earlier run
    /// wrote there and removing a record cut short. `extra_columns` are the
    /// input's extra fields (CSV columns after the fixed ones); `ids` are the
    /// questions' ids, by which a cut-short record is recognised as this
    /// batch's own. With `overwrite`, whatever the file held is discarded.
    ///
    /// The file stays locked while the sink lives, so two runs never
    /// interleave their records; only regular files are accepted.
    pub fn open(
        path: Option<&Path>,
        format: OutputFormat,
        extra_columns: Vec<String>,
        ids: &HashSet<&str>,
        overwrite: bool,
        questions_from: &Path,
    ) -> Result<Self> {
        let mut sink = Sink {
            format,
            file: None,
            extra_columns,
            done: Vec::new(),
        };
        let Some(path) = path else {
            sink.start(questions_from)?;
            return Ok(sink);
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| Error::Io {
                action: "opening",
                path: path.to_path_buf(),
                source,
            })?;
        // Checked on the open handle, not the name: nothing can swap the file
        // in between. A device or FIFO would be read "to resume" forever.
        let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if !is_file {
            return Err(Error::BatchOutput {
                path: path.to_path_buf(),
                reason: "is not a regular file (a device, a FIFO?)".into(),
            });
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::BatchOutputBusy(path.to_path_buf()))
            }
            Err(TryLockError::Error(source)) => {
                return Err(Error::Io {
                    action: "locking",
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        let io = |action: &'static str| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let (keep, done) = if overwrite {
            (0, Vec::new())
        } else {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io("reading"))?;
            let text = String::from_utf8(bytes).map_err(|_| Error::BatchOutput {
                path: path.to_path_buf(),
                reason: "is not a batch output (not UTF-8 text)".into(),
            })?;
            let cut = match format {
                OutputFormat::Jsonl => resume_jsonl(&text),
                OutputFormat::Csv => resume_csv(&text, &sink.csv_header()?, ids),
                OutputFormat::Md => resume_md(&text),
            };
            cut.map_err(|reason| Error::BatchOutput {
                path: path.to_path_buf(),
                reason,
            })?
        };
        file.set_len(keep as u64).map_err(io("truncating"))?;
        file.seek(SeekFrom::End(0)).map_err(io("writing"))?;
        sink.done = done;
        sink.file = Some((file, path.to_path_buf()));
        if keep == 0 {
            sink.start(questions_from)?;
        }
        Ok(sink)
    }

    /// What a new output starts with: the CSV header, or the report's title.
    fn start(&mut self, questions_from: &Path) -> Result<()> {
        match self.format {
            OutputFormat::Csv => self.emit(&self.csv_header()?),
            OutputFormat::Md => self.emit(&rag_tui::text::sanitize(&md_header(questions_from))),
            OutputFormat::Jsonl => Ok(()),
        }
    }

    /// Records finished so far, earlier runs included.
    pub fn done(&self) -> &[Done] {
        &self.done
    }

    pub fn write(&mut self, record: &Record<'_>) -> Result<()> {
        // Documents' text reaches these reports (answers, headings, quotes),
        // and reports are read in terminals: escape sequences that clear the
        // screen or write the clipboard are dropped. JSON escapes them itself.
        let text = match self.format {
            OutputFormat::Jsonl => format!("{}\n", record.to_json()),
            OutputFormat::Csv => rag_tui::text::sanitize(&self.csv_row(record)?).into_owned(),
            OutputFormat::Md => {
                rag_tui::text::sanitize(&md_section(record, self.done.len() + 1)).into_owned()
            }
        };
        self.emit(&text)?;
        self.done.push(record.done());
        Ok(())
    }

    /// Ends the output (the Markdown summary table).
    pub fn finish(&mut self) -> Result<()> {
        if self.format == OutputFormat::Md {
            let summary = md_summary(&self.done);
            self.emit(&summary)?;
        }
        Ok(())
    }

    /// Writes one whole record at once and makes it durable, so that a crash
    /// loses at most the record in progress.
    fn emit(&mut self, text: &str) -> Result<()> {
        match &mut self.file {
            Some((file, path)) => file
                .write_all(text.as_bytes())
                .and_then(|_| file.sync_data())
                .map_err(|source| Error::Io {
                    action: "writing",
                    path: path.clone(),
                    source,
                }),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|_| out.flush())
                    .map_err(|source| Error::Io {
                        action: "writing",
                        path: PathBuf::from("standard output"),
                        source,
                    })
            }
        }
    }

    fn csv_header(&self) -> Result<String> {
        let mut columns: Vec<&str> = CSV_COLUMNS.to_vec();
        columns.extend(self.extra_columns.iter().map(String::as_str));
        csv_line(&columns)
    }

    fn csv_row(&self, record: &Record<'_>) -> Result<String> {
        let answer = record.answer;
        let number =
            |f: fn(&Answer) -> f64| answer.map(|a| format!("{:.1}", f(a))).unwrap_or_default();
        let citations = answer
            .map(|a| {
                a.citations
                    .iter()
                    .map(|c| {
                        let inferred = if c.inferred {
                            " (inferred)"
                        } else if c.asked {
                            " (named when asked)"
                        } else {
                            ""
                        };
                        format!("{}{inferred}", c.span())
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let quotes = answer
            .map(|a| {
                a.citations
                    .iter()
                    .filter_map(|c| {
                        let quote = c.quote.as_ref()?;
                        Some(format!("[{}] {} \"{quote}\"", c.n, c.cited_at))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let sources = answer
            .map(|a| {
                a.sources
                    .iter()
                    .map(|s| format!("[{}] {} ({:.3})", s.n, s.location(), s.score))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let mut fields = vec![
            record.question.id.clone(),
            record.question.question.clone(),
            answer.map(|a| a.answer.clone()).unwrap_or_default(),
            answer.is_some_and(|a| a.refused).to_string(),
            citations,
            sources,
            number(|a| a.timings.retrieval_ms),
            number(|a| a.timings.first_token_ms),
            number(|a| a.timings.total_ms),
            record.error.clone().unwrap_or_default(),
            quotes,
            answer.is_some_and(|a| a.unsupported).to_string(),
            answer
                .map(|a| format!("{:.2}", a.grounding))
                .unwrap_or_default(),
            answer.is_some_and(|a| a.truncated).to_string(),
        ];
        for column in &self.extra_columns {
            fields.push(match record.question.extra.get(column) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            });
        }
        csv_line(&fields)
    }
}

fn csv_line<S: AsRef<str>>(fields: &[S]) -> Result<String> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(fields.iter().map(|f| formula_safe(f.as_ref()).into_owned()))
        .map_err(|e| Error::Internal(format!("CSV record into memory: {e}")))?;
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Internal(format!("CSV record into memory: {e}")))?;
    // Every field is a Rust string: the record is UTF-8.
    String::from_utf8(bytes).map_err(|e| Error::Internal(format!("CSV record: {e}")))
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's
/// list for CSV injection).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell a spreadsheet shows as text: one that starts as a formula gets a
/// leading `'`, as does one that starts with `'`s and a formula character, so
/// that [`from_formula_safe`] gives every value back exactly. Numbers
/// (`-1.5`) are left as they are.
fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if needs_quote(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn needs_quote(cell: &str) -> bool {
    let unquoted = cell.trim_start_matches('\'');
    unquoted.starts_with(FORMULA_STARTS) && unquoted.parse::<f64>().is_err()
}

/// A cell's value as written before [`formula_safe`].
fn from_formula_safe(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(value) if needs_quote(value) => value,
        _ => cell,
    }
}

/// Complete lines are records. A last line without its newline is a record
/// cut short only if it starts as every record does and is not whole JSON of
/// something else: anything else in the file is not ours to cut.
fn resume_jsonl(text: &str) -> Result<(usize, Vec<Done>), String> {
    let keep = text.rfind('\n').map_or(0, |at| at + 1);
    let tail = &text[keep..];
    let torn = tail.is_empty()
        || ((tail == "{" || tail.starts_with("{\""))
            && serde_json::from_str::<Value>(tail).map_or(true, |value| value["id"].is_string()));
    if !torn {
        return Err("ends with text that is not a batch record".into());
    }
    let mut done = Vec::new();
    for (n, line) in text[..keep].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|_| format!("has a line that is not a batch record (line {})", n + 1))?;
        let id = match &value["id"] {
            Value::String(id) => id.clone(),
            _ => return Err(format!("has a record without an id (line {})", n + 1)),
        };
        done.push(Done {
            id,
            question: value["question"].as_str().unwrap_or("").to_string(),
            refused: value["refused"].as_bool().unwrap_or(false),
            error: !value["error"].is_null(),
            total_ms: value["timings"]["total_ms"].as_f64().unwrap_or(0.0),
        });
    }
    Ok((keep, done))
}

/// Records up to the last one that parses with the right number of fields and
/// ends with a newline; the header must be the one this run would write. What
/// follows may only be one row cut short, starting with a question's id.
fn resume_csv(text: &str, header: &str, ids: &HashSet<&str>) -> Result<(usize, Vec<Done>), String> {
    if header.starts_with(text) {
        // Empty, or a header cut short.
        return Ok((0, Vec::new()));
    }
    if !text.starts_with(header) {
        return Err("has other columns than this batch writes".into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let columns = reader
        .headers()
        .map_err(|_| "is not CSV".to_string())?
        .clone();
    let at = |name: &str| columns.iter().position(|c| c == name);
    let (id, question, refused, error, total) = (
        at("id"),
        at("question"),
        at("refused"),
        at("error"),
        at("total_ms"),
    );
    let mut rows: Vec<(usize, Done)> = Vec::new();
    let mut keep = header.len();
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte() as usize;
        match reader.read_record(&mut record) {
            Ok(true) => {
                let end = reader.position().byte() as usize;
                let field = |i: Option<usize>| {
                    from_formula_safe(i.and_then(|i| record.get(i)).unwrap_or(""))
                };
                rows.push((
                    start,
                    Done {
                        id: field(id).to_string(),
                        question: field(question).to_string(),
                        refused: field(refused) == "true",
                        error: !field(error).is_empty(),
                        total_ms: field(total).parse().unwrap_or(0.0),
                    },
                ));
                keep = end;
            }
            Ok(false) | Err(_) => break,
        }
    }
    // The last record is whole only if its newline made it to the disk.
    if !text[..keep].ends_with('\n') {
        if let Some((start, _)) = rows.pop() {
            keep = start;
        }
    }
    let tail = &text[keep..];
    if !tail.is_empty() && !is_torn_csv_row(tail, ids) {
        return Err("ends with rows this batch did not write".into());
    }
    Ok((keep, rows.into_iter().map(|(_, done)| done).collect()))
}

/// One row at most, whose first field is (the start of) a question's id.
fn is_torn_csv_row(tail: &str, ids: &HashSet<&str>) -> bool {
    let rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(tail.as_bytes())
        .records()
        .count();
    rows <= 1
        && ids.iter().any(|id| {
            csv_line(&[*id]).is_ok_and(|line| {
                let start = format!("{},", line.trim_end_matches('\n'));
                tail.starts_with(&start) || start.starts_with(tail)
            })
        })
}

/// Sections end with a marker line that holds the record's summary. After the
/// last marker may come only a section cut short (it starts with a question's
/// heading) or an old summary; anything else is not ours to cut. The report's
/// title is kept with the first section (a report of none is begun again).
fn resume_md(text: &str) -> Result<(usize, Vec<Done>), String> {
    let mut done = Vec::new();
    let mut keep = 0;
    let mut offset = 0;
    let mut after_marker = false;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if after_marker && line == "\n" {
            // The blank line that ends a section belongs to it.
            keep = offset;
        }
        after_marker = false;
        let Some(json) = line
            .strip_prefix(MD_RECORD)
            .and_then(|rest| rest.trim_end().strip_suffix("-->"))
        else {
            continue;
        };
        if !line.ends_with('\n') {
            break;
        }
        let record: Done = serde_json::from_str(json.trim())
            .map_err(|_| "has a damaged rag-batch marker".to_string())?;
        done.push(record);
        keep = offset;
        after_marker = true;
    }
    let tail = &text[keep..];
    let ours = |start: &str| tail.starts_with(start) || start.starts_with(tail);
    let numbered_heading = tail.strip_prefix("## ").is_some_and(|rest| {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        digits > 0 && (rest[digits..].starts_with(". ") || rest.len() < digits + 2)
    });
    let recognised = tail.is_empty()
        || ours(MD_SUMMARY)
        || ours(MD_HEADER)
        || "## ".starts_with(tail)
        || numbered_heading;
    if !recognised {
        return Err(if keep == 0 {
            "is not a rag batch report".into()
        } else {
            "ends with text this batch did not write".into()
        });
    }
    Ok((keep, done))
}

fn md_header(questions_from: &Path) -> String {
    let name = questions_from.file_name().map_or_else(
        || questions_from.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!(
        "{MD_HEADER}\n# Answers to {}\n\nEach answer lists the passages it was given; \
         a summary table ends the report.\n\n",
        one_line(&name)
    )
}

/// One question's section, numbered by its place in the report. Ids the
/// input gave (not line or row numbers) are shown under the heading.
fn md_section(record: &Record<'_>, number: usize) -> String {
    let q = record.question;
    let mut text = format!("## {number}. {}\n\n", one_line(&q.question));
    if q.id.parse::<u64>().is_err() {
        text.push_str(&format!("_id {}_\n\n", one_line(&q.id)));
    }
    match (record.answer, &record.error) {
        (_, Some(error)) => text.push_str(&format!("**Error:** {}\n\n", one_line(error))),
        (Some(answer), None) => {
            text.push_str(answer.answer.trim());
            text.push_str("\n\n");
            if answer.truncated {
                text.push_str("_(cut short at the token limit)_\n\n");
            }
            if answer.unsupported {
                text.push_str("⚠ no sentence in the sources supports this answer\n\n");
            }
            if !answer.sources.is_empty() {
                text.push_str(if answer.refused && answer.prompt_tokens == 0 {
                    "Nearest passages:\n\n"
                } else {
                    "Sources:\n\n"
                });
                for source in &answer.sources {
                    let cited = answer.citations.iter().find(|c| c.n == source.n);
                    text.push_str(&format!(
                        "- [{}] `{}` {}{}\n",
                        source.n,
                        source.location(),
                        one_line(&source.heading),
                        match cited {
                            Some(c) if c.inferred =>
                                " (closest to the answer; not cited by the model)",
                            Some(c) if c.asked =>
                                " (named by the model when asked; not cited in its answer)",
                            Some(_) => " (cited)",
                            None => "",
                        }
                    ));
                    if let Some(c) = cited {
                        if let Some(quote) = &c.quote {
                            // Indented under its item; `line N` is where the quote starts.
                            let at = match c.lines_in {
                                LinesIn::File => format!("line {}: ", c.line_start),
                                LinesIn::Text => String::new(),
                            };
                            text.push_str(&format!("  > {at}{}\n", one_line(quote)));
                        }
                    }
                }
                text.push('\n');
            }
        }
        (None, None) => {}
    }
    let marker = serde_json::to_string(&record.done()).unwrap_or_else(|_| "{}".into());
    text.push_str(&format!("{MD_RECORD}{marker} -->\n\n"));
    text
}

fn md_summary(done: &[Done]) -> String {
    let mut text = format!(
        "{MD_SUMMARY}\n## Summary\n\n| id | question | result | seconds |\n|---|---|---|---|\n"
    );
    for d in done {
        let result = if d.error {
            "error"
        } else if d.refused {
            "refused"
        } else {
            "answered"
        };
        text.push_str(&format!(
            "| {} | {} | {result} | {:.1} |\n",
            table_cell(&d.id),
            table_cell(&d.question),
            d.total_ms / 1000.0
        ));
    }
    let stats = super::Stats::of(done);
    text.push_str(&format!(
        "\n{} questions: {} answered, {} refused, {} errors; latency median {:.1} s, p95 {:.1} s.\n",
        done.len(),
        stats.answered,
        stats.refused,
        stats.errors,
        stats.median_ms / 1000.0,
        stats.p95_ms / 1000.0
    ));
    text
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn table_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(id: &str, text: &str) -> Question {
        Question {
            id: id.into(),
            question: text.into(),
            extra: Map::new(),
        }
    }

    #[test]
    fn csv_rows_quote_commas_quotes_and_newlines() {
        let q = question("1", "Is \"this\", here,\na question?");
        let record = Record {
            question: &q,
            answer: None,
            error: Some("bad, \"very\"".into()),
        };
        let sink = Sink {
            format: OutputFormat::Csv,
            file: None,
            extra_columns: vec![],
            done: vec![],
        };
        let row = sink.csv_row(&record).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes());
        let parsed = reader.records().next().unwrap().unwrap();
        assert_eq!(&parsed[1], "Is \"this\", here,\na question?");
        assert_eq!(&parsed[9], "bad, \"very\"");
        assert_eq!(parsed.len(), CSV_COLUMNS.len());
    }

    #[test]
    fn a_cut_jsonl_line_is_dropped_on_resume() {
        let text = "{\"id\":\"1\",\"refused\":false,\"error\":null}\n{\"id\":\"2\",\"ans";
        let (keep, done) = resume_jsonl(text).unwrap();
        assert_eq!(keep, text.find('\n').unwrap() + 1);
        assert_eq!(done.len(), 1);
        assert!(resume_jsonl("nonsense\n").is_err());
    }

    #[test]
    fn jsonl_resume_cuts_only_its_own_torn_record() {
        assert!(resume_jsonl("My notes").is_err());
        assert!(resume_jsonl("{\"id\":\"1\",\"error\":null}\nMy notes").is_err());
        assert!(resume_jsonl("{\"settings\": true}").is_err());
        let (keep, done) = resume_jsonl("{\"answer\":\"The Jew").unwrap();
        assert_eq!((keep, done.len()), (0, 0));
        // Whole but for its newline: written by us, redone.
        let (keep, _) = resume_jsonl("{\"id\":\"1\",\"error\":null}").unwrap();
        assert_eq!(keep, 0);
    }

    #[test]
    fn a_cut_csv_row_is_dropped_on_resume() {
        let header = csv_line(CSV_COLUMNS).unwrap();
        let row = |id: &str| {
            csv_line(&[
                id, "q,\n?", "a", "false", "", "", "1", "2", "3", "", "", "false", "0.50", "false",
            ])
            .unwrap()
        };
        let whole = format!("{header}{}{}", row("1"), row("2"));
        let ids: HashSet<&str> = ["1", "2"].into();
        let (keep, done) = resume_csv(&whole, &header, &ids).unwrap();
        assert_eq!((keep, done.len()), (whole.len(), 2));
        let second = header.len() + row("1").len();
        for cut in [
            whole.len() - 1,
            whole.len() - 5,
            whole.len() - 12,
            second + 1,
        ] {
            let (keep, done) = resume_csv(&whole[..cut], &header, &ids).unwrap();
            assert_eq!(done.len(), 1, "cut at {cut}");
            assert_eq!(keep, second);
        }
        assert!(resume_csv("a,b\n", &header, &ids).is_err());
        assert_eq!(resume_csv(&header[..5], &header, &ids).unwrap().0, 0);
        let foreign = format!("{header}{}my own line", row("1"));
        assert!(resume_csv(&foreign, &header, &ids).is_err());
        let unknown = format!("{header}{}", &row("9")[..6]);
        assert!(resume_csv(&unknown, &header, &ids).is_err());
    }

    #[test]
    fn markdown_resumes_after_the_last_whole_section() {
        let q1 = question("1", "First?");
        let q2 = question("2", "Second?");
        let section = |q, number| {
            md_section(
                &Record {
                    question: q,
                    answer: None,
                    error: Some("x".into()),
                },
                number,
            )
        };
        let header = md_header(Path::new("/q/questions.txt"));
        assert!(header.contains("# Answers to questions.txt"), "{header}");
        let first = format!("{header}{}", section(&q1, 1));
        let text = format!("{first}{}{}", section(&q2, 2), md_summary(&[]));
        assert!(text.contains("## 1. First?") && text.contains("## 2. Second?"));
        let (keep, done) = resume_md(&text).unwrap();
        assert_eq!(done.len(), 2);
        assert!(text[..keep].ends_with("-->\n\n"));
        let cut = &text[..first.len() + 10];
        let (keep, done) = resume_md(cut).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(keep, first.len());
        // A report cut in its title, or before its first section ended, begins again.
        assert_eq!(resume_md(&header[..30]).unwrap().0, 0);
        assert_eq!(resume_md(&first[..header.len() + 5]).unwrap().0, 0);
        assert!(resume_md("# My notes\n\nkeep me").is_err());
        assert!(resume_md("## My notes\n\nkeep me").is_err());
        assert!(resume_md(&format!("{first}\nkeep me")).is_err());
    }

    #[test]
    fn cells_that_read_as_formulas_are_quoted_and_read_back_exactly() {
        for value in [
            "=1+1", "@SUM(1)", "+1+2", "-x", "'=x", "''=x", "plain", "-1.5", "'quoted",
        ] {
            let written = formula_safe(value);
            assert!(
                !needs_quote(&written) || written.starts_with('\''),
                "{value}"
            );
            assert_eq!(from_formula_safe(&written), value);
        }
        assert_eq!(formula_safe("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(formula_safe("-1.5"), "-1.5");
        assert_eq!(formula_safe("plain"), "plain");
    }
}
