//! `rag eval qa FILE.jsonl`: answers questions with known answers against the
//! current index (ingesting nothing) and reports how well it did.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use rag::eval::{error_row, read_questions, report, score, Report, Row};

use crate::cli::{EvalArgs, EvalCommand, EvalQaArgs};
use crate::context::Context;
use crate::terminal::one_line;
use rag::{Error, Result};

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
        return Err(Error::InvalidInput {
            place: args.file.display().to_string(),
            reason: "holds no questions".into(),
        });
    }
    let options = super::ask_options(ctx, &args.answer)?;
    let session = super::open_session(ctx, &args.answer, options.clone(), false)?;

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
    session.answer_many(&texts, &options, &|_| seed, &mut |i, result| {
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
        &session.model_name(),
        session.index().location(),
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
        "source cited     {:>5.1}%  (by the model itself {:.1}%, {:.1}% of them named when asked after the answer; the rest inferred)",
        r.source_accuracy * 100.0,
        r.source_cited_by_model * 100.0,
        r.source_named_when_asked * 100.0
    );
    println!(
        "model citations  {:>5.1}%  (answers with a citation the model wrote)",
        r.model_citation_rate * 100.0
    );
    println!(
        "answer words     {:>5.0}    (median; {} cut at the token limit)",
        r.median_answer_words, r.truncated
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
        "median latency   {:>5.1} s  (first token {:.1} s, after {:.0} prompt tokens)",
        r.median_latency_ms / 1000.0,
        r.median_first_token_ms / 1000.0,
        r.median_prompt_tokens
    );
    println!("decode           {:>5.1} tok/s", r.decode_tok_s);
    if r.errors > 0 {
        println!("errors           {}", r.errors);
    }
    println!("model {}, index {}", r.model, r.index);
}
