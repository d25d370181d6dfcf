//! `rag`: the assistant. The index lives in the `rag-index` crate; this crate
//! owns the models, the answer pipeline ([`assistant`]) and the commands.

pub mod assistant;
pub mod batch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod embedding;
mod error;
pub mod llm;
pub mod models;
pub mod pdf;
pub mod terminal;

pub use error::{Error, Result};

use cli::{Cli, Command};

/// How a command that ran to its end came out, for the exit status. Scripts
/// test `rag ask` as they test `grep`: 0 answered, 1 not in your documents,
/// 2 an error (a usage error included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: answered, found, sound.
    Success,
    /// Exit 1: the command worked and the answer is no: `ask` refused (the
    /// documents do not hold the answer), `search` found nothing, `check`
    /// found the index damaged or out of step.
    Negative,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Negative => 1,
        }
    }
}

/// The exit status of a command that failed (the same as clap's for a usage error).
pub const ERROR_EXIT_CODE: u8 = 2;

/// Runs one command line; the binary only maps the result to an exit code.
pub fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        // The child of `pdf::sandboxed_reader`: no config, no models.
        Command::ExtractPdf => return pdf::child_main().map(|()| Outcome::Success),
        // Need nothing but the command-line definitions.
        Command::Completions { shell } => {
            return commands::shell::completions(*shell).map(|()| Outcome::Success)
        }
        Command::Man => return commands::shell::man_page().map(|()| Outcome::Success),
        _ => {}
    }
    let ctx = context::Context::new(&cli)?;
    let done = match &cli.command {
        Command::Search(args) => return commands::search::run(&ctx, args),
        Command::Check(args) => return commands::check::run(&ctx, args),
        Command::Ask(args) => return commands::ask::run(&ctx, args),
        Command::Ingest(args) => commands::ingest::run(&ctx, args),
        Command::Forget(args) => commands::forget::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Chat(args) => commands::chat::run(&ctx, args),
        Command::Batch(args) => commands::batch::run(&ctx, args),
        Command::Eval(args) => commands::eval::run(&ctx, args),
        Command::Generate(args) => commands::generate::run(&ctx, args),
        Command::Models(args) => commands::models::run(&ctx, args),
        Command::Config(args) => commands::config::run(&ctx, args),
        Command::ExtractPdf | Command::Completions { .. } | Command::Man => Ok(()),
    };
    done.map(|()| Outcome::Success)
}
