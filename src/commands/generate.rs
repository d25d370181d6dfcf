//! `rag generate`: the language model alone, no retrieval (like llama.cpp's CLI).

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::GenerateArgs;
use crate::context::Context;
use rag::config::defaults;
use rag::llm::template::base_prompt;
use rag::llm::{GenerateOptions, Message, PenaltyScope, Timings};
use rag::{Error, Result};

#[derive(Serialize)]
struct JsonOutput<'a> {
    text: &'a str,
    prompt_tokens: usize,
    generated_tokens: usize,
    stop_reason: rag::llm::StopReason,
    timings: Timings,
    drafted_tokens: usize,
    accepted_tokens: usize,
}

pub fn run(ctx: &Context, args: &GenerateArgs) -> Result<()> {
    let (sampling, _) = super::sampling_options(ctx, &args.sampling, defaults::FREE_TEMPERATURE)?;
    let text = prompt_text(args)?;
    let generator = ctx.settings.load_generator(args.model.as_deref())?;

    let tokenizer = generator.tokenizer();
    let (prompt_ids, stop_strings) = if args.raw {
        (tokenizer.encode_prompt(&text)?, Vec::new())
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::new("system", system));
        }
        messages.push(Message::new("user", &text));
        let prompt = if args.base {
            base_prompt(&messages)
        } else {
            generator.prompt(&messages)?
        };
        (tokenizer.encode_prompt(&prompt.text)?, prompt.stop_strings)
    };
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        sampling,
        ignore_eos: args.ignore_eos,
        stop_strings,
        penalty_scope: PenaltyScope::Everything,
        draft_tokens: ctx.settings.draft_tokens(&args.sampling.given()).0,
    };

    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    let mut on_text = |piece: &str| -> bool {
        if args.json {
            return true;
        }
        // Model output may contain escape sequences; a terminal must not run them.
        let piece = if terminal {
            crate::terminal::sanitize(piece)
        } else {
            piece.into()
        };
        // A closed pipe (e.g. `| head`) ends the generation instead of wasting the CPU.
        out.write_all(piece.as_bytes())
            .and_then(|_| out.flush())
            .is_ok()
    };
    let generation = generator.generate(&prompt_ids, &options, &mut on_text)?;

    if args.json {
        let json = JsonOutput {
            text: &generation.text,
            prompt_tokens: generation.prompt_tokens,
            generated_tokens: generation.generated_tokens,
            stop_reason: generation.stop_reason,
            timings: generation.timings,
            drafted_tokens: generation.drafted_tokens,
            accepted_tokens: generation.accepted_tokens,
        };
        let line = serde_json::to_string(&json)
            .map_err(|e| Error::Internal(format!("encoding JSON: {e}")))?;
        let _ = writeln!(out, "{line}");
    } else {
        let _ = writeln!(out);
        if !ctx.quiet {
            let t = &generation.timings;
            let drafts = if generation.drafted_tokens > 0 {
                format!(
                    " ({} of {} drafted tokens kept)",
                    generation.accepted_tokens, generation.drafted_tokens
                )
            } else {
                String::new()
            };
            eprintln!(
                "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s{drafts}; first token after {:.0} ms, {:.0} ms in all]",
                generation.prompt_tokens,
                t.prefill_tok_s,
                generation.generated_tokens,
                t.decode_tok_s,
                t.first_token_ms,
                t.total_ms
            );
        }
    }
    Ok(())
}

/// No model's context holds more than this many bytes of prompt.
const MAX_PROMPT_BYTES: usize = 4 << 20;

fn prompt_from(reader: impl std::io::Read, what: &str) -> std::io::Result<String> {
    let invalid = |reason: String| std::io::Error::new(std::io::ErrorKind::InvalidData, reason);
    let bytes = rag::limited::read_to_limit(reader, MAX_PROMPT_BYTES)?.ok_or_else(|| {
        invalid(format!(
            "{what} holds more than 4 MiB: no model reads that much"
        ))
    })?;
    String::from_utf8(bytes).map_err(|_| invalid(format!("{what} is not UTF-8 text")))
}

fn prompt_text(args: &GenerateArgs) -> Result<String> {
    let text = match (&args.prompt, &args.prompt_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let io_error = |source| Error::Io {
                action: "reading the prompt from",
                path: "standard input".into(),
                source,
            };
            prompt_from(std::io::stdin().lock(), "it").map_err(io_error)?
        }
        (None, Some(path)) => std::fs::File::open(path)
            .and_then(|file| prompt_from(file, "the file"))
            .map_err(|source| Error::Io {
                action: "reading the prompt file",
                path: path.clone(),
                source,
            })?,
        (None, None) => return Err(Error::Usage("give a PROMPT or --prompt-file FILE".into())),
    };
    if text.trim().is_empty() {
        return Err(Error::Usage("the prompt is empty".into()));
    }
    Ok(text)
}
