pub mod ask;
pub mod batch;
pub mod chat;
pub mod check;
pub mod config;
pub mod copy;
pub mod eval;
pub mod forget;
pub mod generate;
pub mod ingest;
pub mod models;
mod progress;
pub mod search;
pub mod serve;
pub mod shell;
mod snippet;
pub mod status;
mod watch;

use rag::assistant::AskOptions;
use rag::config::AnswerConfig;
use rag::engine::{AnswerFlags, Setting};
use rag::llm::SamplingOptions;
use rag::session::{Opening, Session};

use crate::cli::{AnswerArgs, SamplingArgs};
use crate::context::{current_dir, shown_path, Context};
use rag::Result;

impl SamplingArgs {
    /// The sampling flags given, as the config file's settings spell them.
    pub fn given(&self) -> AnswerConfig {
        AnswerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            draft_tokens: self.draft_tokens,
            ..AnswerConfig::default()
        }
    }
}

impl AnswerArgs {
    pub fn flags(&self) -> AnswerFlags {
        AnswerFlags {
            given: AnswerConfig {
                k: self.k,
                context_tokens: self.context_tokens,
                max_tokens: self.max_tokens,
                samples: self.samples,
                min_evidence: self.min_evidence,
                ..self.sampling.given()
            },
            seed: self.sampling.seed,
            think: self.think,
        }
    }
}

/// The sampling options of `generate` and the model benchmark.
pub(crate) fn sampling_options(
    ctx: &Context,
    args: &SamplingArgs,
    default_temperature: f32,
) -> Result<(SamplingOptions, Vec<Setting>)> {
    ctx.settings
        .sampling(&args.given(), args.seed, default_temperature, false)
}

/// The answer options of `ask`, `chat`, `batch` and `eval`: flags, then the
/// config file, then the defaults.
pub(crate) fn ask_options(ctx: &Context, args: &AnswerArgs) -> Result<AskOptions> {
    Ok(ctx.settings.answer(&args.flags())?.0)
}

/// The engine session of every answering command: the model `args` name,
/// answering with `defaults` unless told otherwise, naming files as this
/// command line shows them.
pub(crate) fn open_session(
    ctx: &Context,
    args: &AnswerArgs,
    defaults: AskOptions,
    keep_current: bool,
) -> Result<Session> {
    let session = Session::open(
        &ctx.settings,
        &current_dir()?,
        opening(args, defaults, keep_current),
        &progress::bundled(ctx),
    )?;
    ctx.warn_if_out_of_step(session.index().as_ref());
    Ok(session)
}

/// How this command line opens a session.
pub(crate) fn opening(args: &AnswerArgs, defaults: AskOptions, keep_current: bool) -> Opening {
    Opening {
        model: args.model.clone(),
        defaults,
        show_path: Some(std::sync::Arc::new(shown_path)),
        keep_current,
    }
}

/// "1 file", "2 files".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Writes `text` to standard output; see [`print_with`].
pub(crate) fn print_all(text: &str) -> Result<()> {
    print_with(|out| out.write_all(text.as_bytes()))
}

/// Writes to standard output with `write`. A reader that stops early (`rag
/// status | head -1`, `| grep -q`) has what it wanted: a closed pipe is not an
/// error.
pub(crate) fn print_with(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(source) => Err(stdout_error(source)),
        Ok(()) => Ok(()),
    }
}

pub(crate) fn stdout_error(source: std::io::Error) -> rag::Error {
    rag::Error::Io {
        action: "writing results to",
        path: std::path::PathBuf::from("standard output"),
        source,
    }
}
