//! `rag chat`: the terminal UI (crate `rag-tui`) on top of the one answer engine.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rag::engine::IndexLocation;
use rag::index::{SearchIndex, INDEX_DIR_NAME};
use rag_tui::backend::{Cited, Quote, Stats};
use rag_tui::{App, Backend, BackendInfo, Job, Reply, RunOptions, SourceView, Update, Worker};

use crate::cli::ChatArgs;
use crate::context::{current_dir, Context};
use crate::remedy::report;
use rag::assistant::{Event, Refusal, Request, Source, Turn};
use rag::engine::Settings;
use rag::llm::StopReason;
use rag::session::{Opening, Session};
use rag::{Error, Result};

pub fn run(ctx: &Context, args: &ChatArgs) -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "rag chat needs a terminal; for scripts use `rag ask` or `rag batch`".into(),
        ));
    }
    let options = super::ask_options(ctx, &args.answer)?;
    // A bad model name is said before the index is chosen or built.
    ctx.settings
        .generator_choice(args.answer.model.as_deref())?;
    let index = match open_or_offer(ctx)? {
        Some(index) => index,
        None => return Ok(()),
    };
    ctx.warn_if_out_of_step(&index);
    // Resolving the embedding model may download it and print progress: do
    // that here, before the screen is taken over; the slow loads happen on
    // the worker thread while the UI is already up.
    ctx.embedder(1)?;
    let settings = rag_tui::Settings {
        temperature: options.generate.sampling.temperature,
        k: options.k,
        seed: options.generate.sampling.seed.unwrap_or_else(clock_seed),
        max_tokens: options.generate.max_tokens,
    };
    let engine_settings = ctx.settings.clone();
    // The chat outlives ingests: answers follow the index's newest commit.
    let opening = super::opening(&args.answer, options, true);
    let worker = Worker::spawn(move || load(&engine_settings, index, opening));
    rag_tui::run(
        App::new(settings),
        worker,
        RunOptions {
            mouse: !args.no_mouse,
        },
    )
    .map_err(|source| Error::Io {
        action: "drawing on",
        path: PathBuf::from("the terminal"),
        source,
    })
}

/// A different seed per session, short enough to read off the status bar
/// and pass back with --seed or /seed.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 % 100_000)
}

fn load(
    settings: &Settings,
    index: Box<dyn SearchIndex>,
    opening: Opening,
) -> std::result::Result<ChatBackend, String> {
    let index_label = index.location();
    // Counted once: a server's counts are a round trip each.
    let status = index.status().map_err(|e| report(&e.into()))?;
    let session = Session::with_index(settings, index, opening).map_err(|e| report(&e))?;
    Ok(ChatBackend {
        session,
        index_label,
        files: status.files,
        chunks: status.chunks,
    })
}

/// The index here, else (no --index given) the user's pick: index the current
/// folder, or use the bundled corpus. None when they chose to quit.
fn open_or_offer(ctx: &Context) -> Result<Option<Box<dyn SearchIndex>>> {
    match ctx.open_index() {
        Ok(index) => return Ok(Some(index)),
        Err(Error::Index(rag::index::Error::NotFound(_))) if ctx.settings.index.is_none() => {}
        Err(e) => return Err(e),
    }
    let cwd = current_dir()?;
    let bundled = rag::engine::bundled_corpus().map(|_| rag::engine::bundled_index_dir());
    let stdin = std::io::stdin();
    let choice = offer(
        &mut stdin.lock(),
        &mut std::io::stderr(),
        &cwd,
        bundled.as_deref(),
    )?;
    match choice {
        Choice::IndexHere => {
            let dir = IndexLocation::Folder(cwd.join(INDEX_DIR_NAME));
            super::progress::ingest(ctx, &dir, std::slice::from_ref(&cwd))?;
            Ok(Some(ctx.settings.open_index(&cwd)?))
        }
        Choice::Bundled => {
            rag::engine::bundled_index(&ctx.settings, &super::progress::bundled(ctx)).map(Some)
        }
        Choice::Quit => Ok(None),
    }
}

#[derive(Debug, PartialEq)]
enum Choice {
    IndexHere,
    Bundled,
    Quit,
}

/// Asks which index to build; re-asks on anything else.
fn offer(
    input: &mut impl BufRead,
    out: &mut impl Write,
    cwd: &Path,
    bundled: Option<&Path>,
) -> Result<Choice> {
    let io = |source| Error::Io {
        action: "asking which index to use on",
        path: PathBuf::from("the terminal"),
        source,
    };
    writeln!(out, "No index in {} or any folder above it.", cwd.display()).map_err(io)?;
    writeln!(
        out,
        "  1  index this folder (every supported file below it) into {}",
        cwd.join(INDEX_DIR_NAME).display()
    )
    .map_err(io)?;
    if let Some(dir) = bundled {
        let state = if dir.join(rag::index::MANIFEST_FILE).is_file() {
            "already indexed"
        } else {
            "indexed once"
        };
        writeln!(
            out,
            "  2  chat with the bundled sample corpus ({state} in {})",
            dir.display()
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "  q  quit (or run `rag ingest FOLDER`, or pass --index DIR)"
    )
    .map_err(io)?;
    loop {
        write!(
            out,
            "Choose {}: ",
            if bundled.is_some() {
                "1, 2 or q"
            } else {
                "1 or q"
            }
        )
        .map_err(io)?;
        out.flush().map_err(io)?;
        let mut line = String::new();
        if input.read_line(&mut line).map_err(io)? == 0 {
            return Ok(Choice::Quit);
        }
        match line.trim() {
            "1" => return Ok(Choice::IndexHere),
            "2" if bundled.is_some() => return Ok(Choice::Bundled),
            "q" | "Q" | "quit" => return Ok(Choice::Quit),
            _ => {}
        }
    }
}

struct ChatBackend {
    session: Session,
    index_label: String,
    files: usize,
    chunks: usize,
}

impl Backend for ChatBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            model: self.session.model_name().to_string(),
            index: self.index_label.clone(),
            files: self.files,
            chunks: self.chunks,
        }
    }

    fn answer(
        &mut self,
        job: &Job,
        stop: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(Update),
    ) -> std::result::Result<Reply, String> {
        let mut options = self.session.defaults().clone();
        options.k = job.settings.k.max(1);
        options.generate.max_tokens = job.settings.max_tokens.max(1);
        options.generate.sampling.temperature = job.settings.temperature;
        options.generate.sampling.seed = Some(job.settings.seed);
        if job.settings.temperature == 0.0 {
            options.samples = 1; // every sample would be the same answer
        }
        let history: Vec<Turn> = job
            .history
            .iter()
            .map(|(question, answer)| Turn {
                question: question.clone(),
                answer: answer.clone(),
            })
            .collect();
        let request = Request {
            question: &job.question,
            history: &history,
        };
        let started = Instant::now();
        let answer = self
            .session
            .ask(request, &options, &mut |event| {
                match event {
                    Event::Retrieved { sources, refused } => emit(Update::Retrieved {
                        sources: sources.iter().map(view).collect(),
                        refused,
                        retrieval_ms: started.elapsed().as_secs_f64() * 1000.0,
                    }),
                    Event::Reading { read, total } => emit(Update::Reading { read, total }),
                    Event::Sampling { sample, of, .. } => emit(Update::Sampling { sample, of }),
                    Event::Draft(text) => emit(Update::Draft(text.to_string())),
                    Event::Chosen { sample, of } => emit(Update::Chosen { sample, of }),
                    Event::Thinking(text) => emit(Update::Thinking(text.to_string())),
                    Event::Token(text) => emit(Update::Token(text.to_string())),
                    Event::Done(_) => {}
                }
                !stop()
            })
            .map_err(|e| e.to_string())?;
        let t = answer.timings;
        Ok(Reply {
            refused: answer.refused,
            gate_refused: answer.refusal == Some(Refusal::Gate),
            citations: answer
                .citations
                .iter()
                .map(|c| Cited {
                    n: c.n,
                    inferred: c.inferred,
                    quote: c.quote.as_ref().map(|text| Quote {
                        text: text.clone(),
                        line_start: c.line_start,
                        line_end: c.line_end,
                    }),
                })
                .collect(),
            stats: Stats {
                retrieval_ms: t.retrieval_ms,
                first_token_ms: t.first_token_ms,
                prefill_tok_s: t.prefill_tok_s,
                decode_tok_s: t.decode_tok_s,
                total_ms: t.total_ms,
                prompt_tokens: answer.prompt_tokens,
                generated_tokens: answer.generated_tokens,
            },
            // A gate refusal calls off a generation that never began: not a stop.
            stopped: answer.refusal != Some(Refusal::Gate)
                && answer.stop_reason == Some(StopReason::Cancelled),
            truncated: answer.truncated,
            answer: answer.answer,
        })
    }
}

fn view(source: &Source) -> SourceView {
    SourceView {
        n: source.n,
        path: source.path.clone(),
        line_start: source.file_line(source.line_start),
        line_end: source.file_line(source.line_end),
        place: source.place(),
        heading: source.heading.clone(),
        score: source.score,
        text: source.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(typed: &str, bundled: Option<&Path>) -> (Choice, String) {
        let mut out = Vec::new();
        let choice = offer(
            &mut typed.as_bytes(),
            &mut out,
            Path::new("/home/me/notes"),
            bundled,
        )
        .expect("offer");
        (choice, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn offers_this_folder_or_the_bundled_corpus() {
        let (choice, shown) = ask("1\n", Some(Path::new("/nonexistent/corpus-index")));
        assert_eq!(choice, Choice::IndexHere);
        assert!(shown.contains("/home/me/notes/.rag"), "{shown}");
        assert!(
            shown.contains("bundled sample corpus (indexed once"),
            "{shown}"
        );
        assert_eq!(ask("x\n2\n", Some(Path::new("/b"))).0, Choice::Bundled);
        // Without a bundled corpus, 2 is not an answer.
        let (choice, shown) = ask("2\nq\n", None);
        assert_eq!(choice, Choice::Quit);
        assert!(!shown.contains("bundled"));
        assert_eq!(ask("", None).0, Choice::Quit);
    }
}
