//! `rag batch QUESTIONS [--docs PATH...] [-o OUT] [--format jsonl|csv|md]`

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::BatchArgs;
use crate::context::Context;
use rag::batch::{self, input, Done, InputFormat, OutputFormat, Question, Record, Sink, Stats};
use rag::{Error, Result};

pub fn run(ctx: &Context, args: &BatchArgs) -> Result<()> {
    let format = args
        .format
        .unwrap_or_else(|| output_format_of(args.output.as_deref()));
    let input_format = args
        .input_format
        .unwrap_or_else(|| InputFormat::of(&args.questions));
    let questions = input::read(&args.questions, input_format)?;
    if questions.is_empty() {
        return Err(Error::InvalidInput {
            place: args.questions.display().to_string(),
            reason: "holds no questions".into(),
        });
    }
    let options = super::ask_options(ctx, &args.answer)?;
    // `-o -` is standard output, as no -o is.
    let output = args.output.as_deref().filter(|p| *p != Path::new("-"));
    let ids: HashSet<&str> = questions.iter().map(|q| q.id.as_str()).collect();
    let mut sink = Sink::open(
        output,
        format,
        extra_columns(&questions),
        &ids,
        args.force,
        &args.questions,
    )?;
    // After the output is locked: a second run fails before any work.
    if !args.docs.is_empty() {
        let location = ctx.index_for_writing()?;
        super::progress::ingest(ctx, &location, &args.docs)?;
    }

    let answered = |q: &Question| {
        sink.done()
            .iter()
            .any(|done| answers(done, q, input_format))
    };
    let pending: Vec<&Question> = questions.iter().filter(|q| !answered(q)).collect();
    let earlier = questions.len() - pending.len();
    if earlier > 0 && !ctx.quiet {
        eprintln!(
            "resuming: {earlier} of {} questions are already answered in {}",
            questions.len(),
            output.map(|p| p.display().to_string()).unwrap_or_default()
        );
    }

    let started = Instant::now();
    if !pending.is_empty() {
        answer_pending(ctx, args, &options, &pending, &mut sink)?;
    }
    sink.finish()?;

    if !ctx.quiet {
        // Records of questions no longer in the file are not this batch's.
        let current: Vec<_> = sink
            .done()
            .iter()
            .filter(|done| questions.iter().any(|q| answers(done, q, input_format)))
            .cloned()
            .collect();
        let stats = Stats::of(&current);
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        let rate = if pending.is_empty() || minutes <= 0.0 {
            String::new()
        } else {
            format!("; {:.1} questions/minute", pending.len() as f64 / minutes)
        };
        eprintln!(
            "{} questions ({} this run): {} answered, {} refused, {} errors; latency median {:.1} s, p95 {:.1} s{rate}",
            current.len(),
            pending.len(),
            stats.answered,
            stats.refused,
            stats.errors,
            stats.median_ms / 1000.0,
            stats.p95_ms / 1000.0
        );
    }
    Ok(())
}

/// Answers the questions not yet in the output, writing each record as soon
/// as it is known and in input order (questions that cannot be asked become
/// error rows in their place).
fn answer_pending(
    ctx: &Context,
    args: &BatchArgs,
    options: &rag::assistant::AskOptions,
    pending: &[&Question],
    sink: &mut Sink,
) -> Result<()> {
    let session = super::open_session(ctx, &args.answer, options.clone(), false)?;
    let batch_seed = options.generate.sampling.seed.unwrap_or_else(clock_seed);
    let askable: Vec<(usize, &Question)> = pending
        .iter()
        .enumerate()
        .filter(|(_, q)| batch::check(&q.question).is_ok())
        .map(|(at, q)| (at, *q))
        .collect();
    let texts: Vec<&str> = askable.iter().map(|(_, q)| q.question.as_str()).collect();

    let bar = (!ctx.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(pending.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
    let mut counts = Stats::default();
    let mut time_left = TimeLeft::default();
    let mut written = 0;
    let mut failure = None;
    let mut write = |record: Record<'_>, sink: &mut Sink| -> bool {
        match (&record.error, record.answer) {
            (Some(_), _) => counts.errors += 1,
            (None, Some(a)) if a.refused => counts.refused += 1,
            _ => counts.answered += 1,
        }
        if let Err(e) = sink.write(&record) {
            failure = Some(e);
            return false;
        }
        if let Some(bar) = &bar {
            bar.inc(1);
            let left = bar.length().unwrap_or(0).saturating_sub(bar.position());
            let estimate = match time_left.after_one_more(left, Instant::now()) {
                Some(left) => format!(", about {} left", indicatif::HumanDuration(left)),
                None => String::new(),
            };
            bar.set_message(format!(
                "{} answered, {} refused, {} errors{estimate}",
                counts.answered, counts.refused, counts.errors
            ));
        }
        true
    };
    session.answer_many(
        &texts,
        options,
        &|i| Some(batch::seed_for(batch_seed, &askable[i].1.id)),
        &mut |i, result| {
            let (at, question) = askable[i];
            if !rows_before(pending, at, &mut written, sink, &mut write) {
                return false;
            }
            let (answer, error) = match &result {
                Ok(answer) => (Some(answer), None),
                Err(e) => (None, Some(e.to_string())),
            };
            written = at + 1;
            write(
                Record {
                    question,
                    answer,
                    error,
                },
                sink,
            )
        },
    )?;
    rows_before(pending, pending.len(), &mut written, sink, &mut write);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Writes error rows for the unaskable questions from `*written` up to (not
/// including) position `upto`; false when writing failed.
fn rows_before(
    pending: &[&Question],
    upto: usize,
    written: &mut usize,
    sink: &mut Sink,
    write: &mut dyn FnMut(Record<'_>, &mut Sink) -> bool,
) -> bool {
    while *written < upto {
        let question = pending[*written];
        if let Err(why) = batch::check(&question.question) {
            let record = Record {
                question,
                answer: None,
                error: Some(why),
            };
            if !write(record, sink) {
                return false;
            }
        }
        *written += 1;
    }
    true
}

fn output_format_of(path: Option<&Path>) -> OutputFormat {
    match path
        .and_then(Path::extension)
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("csv") => OutputFormat::Csv,
        Some("md" | "markdown") => OutputFormat::Md,
        _ => OutputFormat::Jsonl,
    }
}

/// The input's extra fields, in order of first appearance.
fn extra_columns(questions: &[Question]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for q in questions {
        for key in q.extra.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    columns
}

/// A seed for runs without --seed: still one per batch, so each question's
/// seed is derived the same way.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Whether the record `done` answers `question`. A text file's ids are line
/// numbers, which move when a line is added above: its questions are known by
/// their words. Other inputs' ids are the user's own, but a record of another
/// question under the same id (the file was edited) does not answer this one;
/// records written before questions were recorded match by id alone.
fn answers(done: &Done, question: &Question, format: InputFormat) -> bool {
    match format {
        InputFormat::Text => done.question == question.question,
        InputFormat::Jsonl | InputFormat::Csv => {
            done.id == question.id
                && (done.question.is_empty() || done.question == question.question)
        }
    }
}

/// The time a batch has left, from the answers written since the first one:
/// the first carries the model's loading and its group's retrieval, which
/// made an estimate from it hours off.
#[derive(Debug, Default)]
struct TimeLeft {
    /// When the first answer was written, and how many have been since.
    since_first: Option<(Instant, u32)>,
}

impl TimeLeft {
    /// One more answer written, `left` to go; none until two are written.
    fn after_one_more(&mut self, left: u64, now: Instant) -> Option<Duration> {
        let Some((first, after)) = &mut self.since_first else {
            self.since_first = Some((now, 0));
            return None;
        };
        *after += 1;
        let each = now.duration_since(*first).as_secs_f64() / f64::from(*after);
        Some(Duration::from_secs_f64(each * left as f64))
    }
}

#[cfg(test)]
mod time_left_tests {
    use super::*;

    #[test]
    fn the_estimate_leaves_out_the_first_answer() {
        let start = Instant::now();
        let mut time_left = TimeLeft::default();
        // The first answer took ten minutes (the model loading): no estimate.
        assert_eq!(time_left.after_one_more(10, start), None);
        assert_eq!(
            time_left.after_one_more(9, start + Duration::from_secs(5)),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            time_left.after_one_more(8, start + Duration::from_secs(20)),
            Some(Duration::from_secs(80))
        );
    }
}
