//! Everything that can go wrong while loading or running the generator.

use std::path::PathBuf;

/// Errors of the local generator. Each message names the file it is about, so a
/// user pointing `--model` at the wrong thing sees what is wrong with which
/// file; remedies are the caller's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model file not found: {path}")]
    Missing { path: PathBuf },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not a GGUF model file ({reason})")]
    NotGguf { path: PathBuf, reason: String },

    #[error("{path} is a corrupt or truncated GGUF file: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    #[error("{path}: unsupported architecture {arch:?} (supported: {supported})")]
    UnsupportedArchitecture {
        path: PathBuf,
        arch: String,
        supported: &'static str,
    },

    #[error("{path}: {what}")]
    Unsupported { path: PathBuf, what: String },

    #[error("{path}: bad or missing metadata {key}: {reason}")]
    Metadata {
        path: PathBuf,
        key: String,
        reason: String,
    },

    #[error("cannot build the tokenizer: {0}")]
    Tokenizer(String),

    #[error("the prompt is empty")]
    EmptyPrompt,

    /// The caller stopped the work before it finished.
    #[error("cancelled")]
    Cancelled,

    #[error("cannot render the chat template: {0}")]
    Template(String),

    #[error("the prompt and answer need {needed} tokens, but the model's context holds {limit}")]
    ContextFull { needed: usize, limit: usize },

    #[error("token id {0} is outside the model's vocabulary")]
    BadToken(u32),

    #[error("model computation failed: {0}")]
    Compute(candle_core::Error),
}

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Error::Compute(without_backtrace(error))
    }
}

/// `error` without the backtraces candle captures when `RUST_BACKTRACE` is
/// set: they are for candle's developers, and its message prints them whole
/// (dozens of lines of registry paths) inside the user's error.
pub fn without_backtrace(error: candle_core::Error) -> candle_core::Error {
    use candle_core::Error as E;
    match error {
        E::WithBacktrace { inner, .. } => without_backtrace(*inner),
        E::Context { inner, context } => E::Context {
            inner: Box::new(without_backtrace(*inner)),
            context,
        },
        E::WithPath { inner, path } => E::WithPath {
            inner: Box::new(without_backtrace(*inner)),
            path,
        },
        other => other,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
