//! Scoring answers against questions with known answers (`rag eval qa`):
//! right or wrong, the right source cited (by the model or inferred),
//! refused when it should be, and the report over a whole file.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::assistant::{Answer, Citation, Refusal};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
pub struct Question {
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    pub question: String,
    #[serde(default)]
    pub answers: Vec<String>,
    /// Title of the article that holds the answer, or its file's path.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub unanswerable: bool,
}

impl Question {
    fn answerable(&self) -> bool {
        !self.unanswerable && !self.answers.is_empty()
    }
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub question: String,
    pub answerable: bool,
    pub answer: String,
    pub refused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// An acceptable answer string appears in the answer (answerable questions).
    pub correct: bool,
    /// The source article is among the citations (answerable questions).
    pub source_cited: bool,
    /// ... and the model gave that citation itself (not inferred by rag):
    /// written in the answer, or named when asked after an answer that cited
    /// nothing.
    pub source_cited_by_model: bool,
    /// ... only named when asked.
    pub source_named_when_asked: bool,
    /// The model wrote at least one citation marker in its answer.
    pub model_cited: bool,
    /// Words in the answer (answers are not to grow to raise containment).
    pub answer_words: usize,
    /// Tokens of the prompt (instructions, sources, question): what the
    /// first token waits for.
    pub prompt_tokens: usize,
    /// Tokens the model generated, and whether it was cut at the token limit
    /// (what the default limit is measured from).
    pub generated_tokens: usize,
    pub truncated: bool,
    /// Tokens per second after the first (0 for refusals).
    pub decode_tok_s: f64,
    pub citations: Vec<String>,
    pub similarity: f32,
    pub keyword_match: f32,
    pub total_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub questions: usize,
    pub answerable: usize,
    pub unanswerable: usize,
    /// Share of answerable questions whose answer contains an acceptable string.
    pub answer_accuracy: f64,
    /// Share of answerable questions that cite their source article.
    pub source_accuracy: f64,
    /// Share of answerable questions whose source article the model cited
    /// itself (the rest of `source_accuracy` was inferred from word overlap).
    pub source_cited_by_model: f64,
    /// The part of `source_cited_by_model` the model named when asked after an
    /// answer that cited nothing.
    pub source_named_when_asked: f64,
    /// Share of answered questions where the model wrote any citation itself.
    pub model_citation_rate: f64,
    /// Median words of the answers given (refusals left out).
    pub median_answer_words: f64,
    /// Answers cut at the token limit (refusals left out).
    pub truncated: usize,
    /// Share of unanswerable questions refused.
    pub refusal_rate: f64,
    /// Share of answerable questions refused.
    pub false_refusal_rate: f64,
    pub median_latency_ms: f64,
    pub median_first_token_ms: f64,
    /// Median prompt tokens of the answers the model wrote (refusals left out).
    pub median_prompt_tokens: f64,
    /// Every answer's tokens after its first over the time they took.
    pub decode_tok_s: f64,
    pub errors: usize,
    pub model: String,
    pub index: String,
}

pub fn read_questions(path: &Path) -> Result<Vec<Question>> {
    let io = |source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut questions = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let question: Question = serde_json::from_str(&line).map_err(|e| Error::InvalidInput {
            place: format!("{}:{}", path.display(), n + 1),
            reason: format!(
                "not a question object ({e}); expected {{\"id\",\"question\",\"answers\",\"source\"}}"
            ),
        })?;
        questions.push(question);
    }
    Ok(questions)
}

fn id_of(question: &Question, i: usize) -> String {
    match &question.id {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => (i + 1).to_string(),
    }
}

pub fn score(question: &Question, answer: &Answer, i: usize) -> Row {
    let text = answer.answer.to_lowercase();
    let answerable = question.answerable();
    let correct = answerable
        && !answer.refused
        && question
            .answers
            .iter()
            .any(|a| !a.trim().is_empty() && text.contains(&a.trim().to_lowercase()));
    let cites_source = |keep: fn(&Citation) -> bool| {
        answerable
            && question.source.as_deref().is_some_and(|title| {
                answer.citations.iter().filter(|c| keep(c)).any(|c| {
                    answer
                        .sources
                        .iter()
                        .find(|s| s.n == c.n)
                        .is_some_and(|s| is_article(&s.heading, &s.path, title))
                })
            })
    };
    let source_cited = cites_source(|_| true);
    let source_cited_by_model = cites_source(|c| !c.inferred);
    let source_named_when_asked = cites_source(|c| c.asked);
    Row {
        id: id_of(question, i),
        question: question.question.clone(),
        answerable,
        answer: answer.answer.clone(),
        refused: answer.refused,
        refusal: answer.refusal,
        correct,
        source_cited,
        source_cited_by_model,
        source_named_when_asked,
        model_cited: answer.citations.iter().any(|c| !c.inferred && !c.asked),
        answer_words: answer.answer.split_whitespace().count(),
        prompt_tokens: answer.prompt_tokens,
        generated_tokens: answer.generated_tokens,
        truncated: answer.truncated,
        decode_tok_s: answer.timings.decode_tok_s,
        citations: answer.citations.iter().map(|c| c.span()).collect(),
        similarity: answer.evidence.similarity,
        keyword_match: answer.evidence.keyword_match,
        total_ms: answer.timings.total_ms,
        error: None,
    }
}

/// Whether a passage belongs to the article `title`: its heading path starts
/// with the title, or its file is named after it. A source written as a path
/// (`book/ch03-01-variables.html`) is the file at the end of that path.
fn is_article(heading: &str, path: &str, title: &str) -> bool {
    let title = title.trim();
    // Titles hold slashes too ("HIV/AIDS"): a path that does not match is
    // still tried as a title.
    let unix_path = path.replace('\\', "/");
    if unix_path == title || unix_path.ends_with(&format!("/{}", title.trim_start_matches('/'))) {
        return true;
    }
    let top = heading.split(" > ").next().unwrap_or("").trim();
    if top.eq_ignore_ascii_case(title) {
        return true;
    }
    let stem = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    stem == slug(title)
}

fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

pub fn error_row(question: &Question, i: usize, error: &Error) -> Row {
    Row {
        id: id_of(question, i),
        question: question.question.clone(),
        answerable: question.answerable(),
        answer: String::new(),
        refused: false,
        refusal: None,
        correct: false,
        source_cited: false,
        source_cited_by_model: false,
        source_named_when_asked: false,
        model_cited: false,
        answer_words: 0,
        prompt_tokens: 0,
        generated_tokens: 0,
        truncated: false,
        decode_tok_s: 0.0,
        citations: Vec::new(),
        similarity: 0.0,
        keyword_match: 0.0,
        total_ms: 0.0,
        error: Some(error.to_string()),
    }
}

pub fn report(rows: &[Row], first_tokens: Vec<f64>, model: &str, index: String) -> Report {
    let answerable: Vec<&Row> = rows.iter().filter(|r| r.answerable).collect();
    let unanswerable: Vec<&Row> = rows.iter().filter(|r| !r.answerable).collect();
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let count = |rows: &[&Row], f: fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
    Report {
        questions: rows.len(),
        answerable: answerable.len(),
        unanswerable: unanswerable.len(),
        answer_accuracy: share(count(&answerable, |r| r.correct), answerable.len()),
        source_accuracy: share(count(&answerable, |r| r.source_cited), answerable.len()),
        source_cited_by_model: share(
            count(&answerable, |r| r.source_cited_by_model),
            answerable.len(),
        ),
        source_named_when_asked: share(
            count(&answerable, |r| r.source_named_when_asked),
            answerable.len(),
        ),
        model_citation_rate: {
            let answered: Vec<&Row> = rows
                .iter()
                .filter(|r| !r.refused && r.error.is_none())
                .collect();
            share(count(&answered, |r| r.model_cited), answered.len())
        },
        median_answer_words: crate::batch::median(
            rows.iter()
                .filter(|r| !r.refused && r.error.is_none())
                .map(|r| r.answer_words as f64)
                .collect(),
        ),
        truncated: rows
            .iter()
            .filter(|r| !r.refused && r.error.is_none() && r.truncated)
            .count(),
        refusal_rate: share(count(&unanswerable, |r| r.refused), unanswerable.len()),
        false_refusal_rate: share(count(&answerable, |r| r.refused), answerable.len()),
        median_latency_ms: crate::batch::median(
            rows.iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.total_ms)
                .collect(),
        ),
        median_first_token_ms: crate::batch::median(first_tokens),
        median_prompt_tokens: crate::batch::median(
            rows.iter()
                .filter(|r| r.prompt_tokens > 0)
                .map(|r| r.prompt_tokens as f64)
                .collect(),
        ),
        decode_tok_s: decode_rate(rows),
        errors: rows.iter().filter(|r| r.error.is_some()).count(),
        model: model.to_string(),
        index,
    }
}

/// Tokens after the first of every answer over their decode seconds.
fn decode_rate(rows: &[Row]) -> f64 {
    let (tokens, seconds) = rows
        .iter()
        .filter(|r| r.decode_tok_s > 0.0 && r.generated_tokens > 1)
        .map(|r| {
            let tokens = (r.generated_tokens - 1) as f64;
            (tokens, tokens / r.decode_tok_s)
        })
        .fold((0.0, 0.0), |(t, s), (dt, ds)| (t + dt, s + ds));
    if seconds > 0.0 {
        tokens / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::is_article;

    #[test]
    fn sources_are_titles_or_paths() {
        assert!(is_article("Fugue > Structure", "wiki/Arts/x.md", "Fugue"));
        assert!(is_article("", "wiki/Arts/fugue.md", "Fugue"));
        assert!(is_article("HIV/AIDS", "wiki/hiv-aids.md", "HIV/AIDS"));
        assert!(is_article("", "wiki/hiv-aids.md", "HIV/AIDS"));
        let page = "cargo/reference/specifying-dependencies.html";
        let shown = "/usr/share/doc/rust/html/cargo/reference/specifying-dependencies.html";
        assert!(is_article("Specifying Dependencies", shown, page));
        assert!(is_article("", page, page));
        assert!(!is_article("", "/html/cargo/print.html", page));
        assert!(!is_article(
            "",
            "/html/xcargo/reference/specifying-dependencies.html",
            page
        ));
    }
}
