//! `rag eval qa FILE.jsonl`: answers questions with known answers against the
//! current index (ingesting nothing) and reports how well it did.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::assistant::{Answer, Refusal};
use crate::cli::{EvalArgs, EvalCommand, EvalQaArgs};
use crate::context::Context;
use crate::terminal::one_line;
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
struct Question {
    #[serde(default)]
    id: Option<serde_json::Value>,
    question: String,
    #[serde(default)]
    answers: Vec<String>,
    /// Title of the article that holds the answer.
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    unanswerable: bool,
}

impl Question {
    fn answerable(&self) -> bool {
        !self.unanswerable && !self.answers.is_empty()
    }
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    question: String,
    answerable: bool,
    answer: String,
    refused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Refusal>,
    /// An acceptable answer string appears in the answer (answerable questions).
    correct: bool,
    /// The source article is among the citations (answerable questions).
    source_cited: bool,
    /// ... and the model wrote that citation itself (not inferred by rag).
    source_cited_by_model: bool,
    /// The model wrote at least one citation marker itself.
    model_cited: bool,
    /// Words in the answer (answers are not to grow to raise containment).
    answer_words: usize,
    citations: Vec<String>,
    similarity: f32,
    keyword_match: f32,
    total_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    questions: usize,
    answerable: usize,
    unanswerable: usize,
    /// Share of answerable questions whose answer contains an acceptable string.
    answer_accuracy: f64,
    /// Share of answerable questions that cite their source article.
    source_accuracy: f64,
    /// Share of answerable questions whose source article the model cited
    /// itself (the rest of `source_accuracy` was inferred from word overlap).
    source_cited_by_model: f64,
    /// Share of answered questions where the model wrote any citation itself.
    model_citation_rate: f64,
    /// Median words of the answers given (refusals left out).
    median_answer_words: f64,
    /// Share of unanswerable questions refused.
    refusal_rate: f64,
    /// Share of answerable questions refused.
    false_refusal_rate: f64,
    median_latency_ms: f64,
    median_first_token_ms: f64,
    errors: usize,
    model: String,
    index: String,
}

pub fn run(ctx: &Context, args: &EvalArgs) -> Result<()> {
    match &args.command {
        EvalCommand::Qa(qa) => run_qa(ctx, qa),
    }
}

fn run_qa(ctx: &Context, args: &EvalQaArgs) -> Result<()> {
    let mut questions = read_questions(&args.file)?;
    if let Some(limit) = args.limit {
        questions.truncate(limit);
    }
    if questions.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no questions",
            args.file.display()
        )));
    }
    let options = super::ask_options(ctx, &args.answer)?;
    let assistant = super::load_assistant(ctx, &args.answer)?;

    let bar = (!ctx.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(questions.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let texts: Vec<&str> = questions.iter().map(|q| q.question.as_str()).collect();
    let seed = options.generate.sampling.seed;
    let mut rows = Vec::with_capacity(questions.len());
    let mut first_tokens = Vec::new();
    assistant.answer_many(&texts, &options, &|_| seed, &mut |i, result| {
        let question = &questions[i];
        let row = match result {
            Ok(answer) => {
                if !answer.refused {
                    first_tokens.push(answer.timings.first_token_ms);
                }
                score(question, &answer, i)
            }
            Err(e) => error_row(question, i, &e),
        };
        if let Some(bar) = &bar {
            bar.inc(1);
        } else if !args.json && !ctx.quiet {
            eprintln!("{}", row_line(&row));
        }
        rows.push(row);
        true
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let report = report(
        &rows,
        first_tokens,
        assistant.model_name(),
        assistant.index().dir(),
    );
    if args.json {
        let value = serde_json::json!({ "report": report, "questions": rows });
        println!("{value}");
    } else {
        if bar.is_some() {
            for row in &rows {
                println!("{}", row_line(row));
            }
        }
        print_report(&report);
    }
    Ok(())
}

fn read_questions(path: &Path) -> Result<Vec<Question>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mut questions = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::Usage(format!("reading {}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let question: Question = serde_json::from_str(&line).map_err(|e| {
            Error::Usage(format!(
                "{}:{}: not a question object ({e}); expected {{\"id\",\"question\",\"answers\",\"source\"}}",
                path.display(),
                n + 1
            ))
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

fn score(question: &Question, answer: &Answer, i: usize) -> Row {
    let text = answer.answer.to_lowercase();
    let answerable = question.answerable();
    let correct = answerable
        && !answer.refused
        && question
            .answers
            .iter()
            .any(|a| !a.trim().is_empty() && text.contains(&a.trim().to_lowercase()));
    let cites_source = |model_written_only: bool| {
        answerable
            && question.source.as_deref().is_some_and(|title| {
                answer
                    .citations
                    .iter()
                    .filter(|c| !(model_written_only && c.inferred))
                    .any(|c| {
                        answer
                            .sources
                            .iter()
                            .find(|s| s.n == c.n)
                            .is_some_and(|s| is_article(&s.heading, &s.path, title))
                    })
            })
    };
    let source_cited = cites_source(false);
    let source_cited_by_model = cites_source(true);
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
        model_cited: answer.citations.iter().any(|c| !c.inferred),
        answer_words: answer.answer.split_whitespace().count(),
        citations: answer
            .citations
            .iter()
            .map(|c| format!("{}:{}-{}", c.path, c.line_start, c.line_end))
            .collect(),
        similarity: answer.evidence.similarity,
        keyword_match: answer.evidence.keyword_match,
        total_ms: answer.timings.total_ms,
        error: None,
    }
}

/// Whether a passage belongs to the article `title`: its heading path starts
/// with the title, or its file is named after it.
fn is_article(heading: &str, path: &str, title: &str) -> bool {
    let top = heading.split(" > ").next().unwrap_or("").trim();
    if top.eq_ignore_ascii_case(title.trim()) {
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

fn error_row(question: &Question, i: usize, error: &Error) -> Row {
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
        model_cited: false,
        answer_words: 0,
        citations: Vec::new(),
        similarity: 0.0,
        keyword_match: 0.0,
        total_ms: 0.0,
        error: Some(error.to_string()),
    }
}

fn report(rows: &[Row], first_tokens: Vec<f64>, model: &str, index: &Path) -> Report {
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
        refusal_rate: share(count(&unanswerable, |r| r.refused), unanswerable.len()),
        false_refusal_rate: share(count(&answerable, |r| r.refused), answerable.len()),
        median_latency_ms: crate::batch::median(
            rows.iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.total_ms)
                .collect(),
        ),
        median_first_token_ms: crate::batch::median(first_tokens),
        errors: rows.iter().filter(|r| r.error.is_some()).count(),
        model: model.to_string(),
        index: index.display().to_string(),
    }
}

fn row_line(row: &Row) -> String {
    let verdict = match (&row.error, row.answerable) {
        (Some(_), _) => "ERROR",
        (None, true) if row.refused => "refused (answerable)",
        (None, true) if row.correct && row.source_cited => "right, cited",
        (None, true) if row.correct => "right, source not cited",
        (None, true) => "wrong",
        (None, false) if row.refused => "refused (right)",
        (None, false) => "answered (should refuse)",
    };
    let said = row.error.as_deref().unwrap_or(&row.answer);
    format!(
        "{:<6} {:<24} {:>6.1} s  {}",
        row.id,
        verdict,
        row.total_ms / 1000.0,
        one_line(said, 90)
    )
}

fn print_report(r: &Report) {
    println!();
    println!(
        "questions        {} ({} answerable, {} not)",
        r.questions, r.answerable, r.unanswerable
    );
    println!("answer accuracy  {:>5.1}%", r.answer_accuracy * 100.0);
    println!(
        "source cited     {:>5.1}%  (by the model itself {:.1}%, the rest inferred)",
        r.source_accuracy * 100.0,
        r.source_cited_by_model * 100.0
    );
    println!(
        "model citations  {:>5.1}%  (answers with a citation the model wrote)",
        r.model_citation_rate * 100.0
    );
    println!(
        "answer words     {:>5.0}    (median)",
        r.median_answer_words
    );
    println!(
        "refusals         {:>5.1}%  (of unanswerable)",
        r.refusal_rate * 100.0
    );
    println!(
        "false refusals   {:>5.1}%  (of answerable)",
        r.false_refusal_rate * 100.0
    );
    println!(
        "median latency   {:>5.1} s  (first token {:.1} s)",
        r.median_latency_ms / 1000.0,
        r.median_first_token_ms / 1000.0
    );
    if r.errors > 0 {
        println!("errors           {}", r.errors);
    }
    println!("model {}, index {}", r.model, r.index);
}
