//! `rag ask QUESTION`: one answer from the documents, streamed, with its sources.

use std::io::{IsTerminal, Write};

use crate::cli::AskArgs;
use crate::context::Context;
use crate::terminal::sanitize;
use crate::Outcome;
use rag::assistant::{Answer, Event, Refusal, Request, Source};
use rag::{Error, Result};

/// The question from the command line, or from standard input when it is `-`
/// or missing and stdin is not a terminal (`echo "What is rustfmt?" | rag ask`).
fn question(given: Option<&str>) -> Result<String> {
    let from_stdin = matches!(given, None | Some("-"));
    let question = match given {
        Some(text) if !from_stdin => text.to_string(),
        _ if std::io::stdin().is_terminal() => {
            return Err(Error::Usage(
                "no question: give one as an argument, or pipe it on standard input".into(),
            ))
        }
        _ => {
            let io_error = |source| Error::Io {
                action: "reading the question from",
                path: "standard input".into(),
                source,
            };
            // Room for the longest question in any script, and some blank lines.
            let limit = rag::batch::MAX_QUESTION_CHARS * 4 + 4096;
            let bytes = rag::limited::read_to_limit(std::io::stdin().lock(), limit)
                .map_err(io_error)?
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "the question is too long (over {limit} bytes on standard input; the limit is {} characters)",
                        rag::batch::MAX_QUESTION_CHARS
                    ))
                })?;
            String::from_utf8(bytes).map_err(|_| {
                Error::Usage("the question on standard input is not UTF-8 text".into())
            })?
        }
    };
    let question = question.trim();
    rag::batch::check(question).map_err(Error::Usage)?;
    Ok(question.to_string())
}

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub fn run(ctx: &Context, args: &AskArgs) -> Result<Outcome> {
    let question = question(args.question.as_deref())?;
    let options = super::ask_options(ctx, &args.answer)?;
    let session = super::open_session(ctx, &args.answer, options, false)?;

    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let styled = ctx.colour(terminal);
    let mut out = stdout.lock();
    let mut printer = Printer {
        styled,
        terminal,
        streamed: String::new(),
        show_thinking: args.answer.show_thinking,
        thinking_open: false,
    };
    let json = args.json;
    let answer = session.ask(Request::new(&question), session.defaults(), &mut |event| {
        if json {
            return true;
        }
        printer.event(&mut out, event)
    })?;

    if json {
        let line = serde_json::to_string(&answer)
            .map_err(|e| Error::Internal(format!("encoding JSON: {e}")))?;
        let _ = writeln!(out, "{line}");
        return Ok(outcome(&answer));
    }
    if let Some(closer) = rag::assistant::fences::closer(&printer.streamed) {
        let _ = write!(out, "{closer}");
    }
    let _ = writeln!(out);
    if answer.truncated {
        let (dim, reset) = if styled { (DIM, RESET) } else { ("", "") };
        let _ = writeln!(
            out,
            "{dim}(cut short at the token limit: raise --max-tokens for the rest){reset}"
        );
    }
    print_evidence(&mut out, &answer, styled);
    print_sources(&mut out, &answer, styled);
    let _ = out.flush();
    if !ctx.quiet {
        eprintln!("{}", stats_line(&answer));
    }
    Ok(outcome(&answer))
}

/// A refusal exits 1, as `grep` does when nothing matches.
fn outcome(answer: &Answer) -> Outcome {
    if answer.refused {
        Outcome::Negative
    } else {
        Outcome::Success
    }
}

struct Printer {
    styled: bool,
    /// Model output on a terminal is sanitised, styled or not.
    terminal: bool,
    /// The answer as shown so far, to close a code fence it leaves open.
    streamed: String,
    show_thinking: bool,
    thinking_open: bool,
}

impl Printer {
    /// Shows one event; false when stdout is gone (e.g. `| head`), which stops the model.
    fn event(&mut self, out: &mut impl Write, event: Event<'_>) -> bool {
        let written = match event {
            Event::Thinking(text) if self.show_thinking => {
                let start = if self.thinking_open || !self.styled {
                    ""
                } else {
                    DIM
                };
                self.thinking_open = true;
                write!(out, "{start}{}", self.clean(text))
            }
            Event::Token(text) => {
                let close = if self.thinking_open {
                    self.thinking_open = false;
                    if self.styled {
                        format!("{RESET}\n\n")
                    } else {
                        "\n\n".to_string()
                    }
                } else {
                    String::new()
                };
                self.streamed.push_str(text);
                write!(out, "{close}{}", self.clean(text))
            }
            Event::Thinking(_)
            | Event::Retrieved { .. }
            | Event::Reading { .. }
            | Event::Sampling { .. }
            // Only the chosen sample is printed: a terminal cannot take back a draft.
            | Event::Draft(_)
            | Event::Chosen { .. }
            | Event::Done(_) => Ok(()),
        };
        written.and_then(|_| out.flush()).is_ok()
    }

    /// Model output may contain escape sequences; a terminal must not run them.
    fn clean(&self, text: &str) -> String {
        if self.terminal {
            sanitize(text).into_owned()
        } else {
            text.to_string()
        }
    }
}

/// Under the answer: a warning when no sentence of the sources backs it, then
/// each citation as `path:line` (an editor can jump there) with its quote.
fn print_evidence(out: &mut impl Write, answer: &Answer, styled: bool) {
    let (dim, reset) = if styled { (DIM, RESET) } else { ("", "") };
    if answer.refusal == Some(Refusal::Injection) {
        // The words have already streamed: say plainly that they are void.
        let _ = writeln!(
            out,
            "\n⚠ withheld: this answer followed an instruction found inside a source, not the documents' content. {}",
            rag::assistant::prompt::REFUSAL
        );
        return;
    }
    if answer.unsupported {
        let _ = writeln!(out, "\n⚠ no sentence in the sources supports this answer");
    }
    if answer.citations.is_empty() {
        return;
    }
    let _ = writeln!(out);
    for citation in &answer.citations {
        let mark = if citation.inferred {
            "  (closest to the answer)"
        } else if citation.asked {
            "  (named by the model when asked after answering)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "[{}] {}{mark}",
            citation.n,
            sanitize(&citation.cited_at)
        );
        if let Some(quote) = &citation.quote {
            let _ = writeln!(out, "    {dim}\"{}\"{reset}", sanitize(quote));
        }
    }
}

fn print_sources(out: &mut impl Write, answer: &Answer, styled: bool) {
    if answer.sources.is_empty() {
        return;
    }
    let title = match answer.refusal {
        Some(Refusal::Gate) => "Nearest passages (not close enough to answer from):",
        _ => "Sources:",
    };
    let (bold, dim, reset) = if styled {
        (BOLD, DIM, RESET)
    } else {
        ("", "", "")
    };
    let _ = writeln!(out, "\n{bold}{title}{reset}");
    for source in &answer.sources {
        let cited = answer.citations.iter().find(|c| c.n == source.n);
        let mark = match cited {
            Some(c) if c.inferred => "  (closest to the answer)",
            Some(c) if c.asked => "  (named by the model)",
            Some(_) => "  (cited)",
            None => "",
        };
        let _ = writeln!(
            out,
            "  [{}] {}  {dim}{}{reset}{mark}",
            source.n,
            location(source),
            sanitize(&source.heading)
        );
        if !source.also_in.is_empty() {
            let copies: Vec<String> = source
                .also_in
                .iter()
                .map(|p| sanitize(&rag::index::paths::escape_controls(p)).into_owned())
                .collect();
            let _ = writeln!(out, "      {dim}also in {}{reset}", copies.join(", "));
        }
    }
}

fn location(source: &Source) -> String {
    sanitize(&source.location()).into_owned()
}

fn stats_line(answer: &Answer) -> String {
    let t = &answer.timings;
    if answer.refusal == Some(Refusal::Gate) {
        return format!(
            "[retrieval {:.0} ms; best similarity {:.2} + keyword match {:.2} = {:.2}, below --min-evidence: the model was not asked]",
            t.retrieval_ms,
            answer.evidence.similarity,
            answer.evidence.keyword_match,
            answer.evidence.strength
        );
    }
    let samples = if answer.samples > 1 {
        format!(", best of {} samples", answer.samples)
    } else {
        String::new()
    };
    let reused = if t.cached_prompt_tokens > 0 {
        format!(" ({} already computed)", t.cached_prompt_tokens)
    } else {
        String::new()
    };
    format!(
        "[retrieval {:.0} ms; {} prompt tokens{reused} at {:.0} tok/s; {} tokens at {:.1} tok/s{samples}; first token after {:.1} s, {:.1} s in all]",
        t.retrieval_ms,
        answer.prompt_tokens,
        t.prefill_tok_s,
        answer.generated_tokens,
        t.decode_tok_s,
        t.first_token_ms / 1000.0,
        t.total_ms / 1000.0
    )
}
