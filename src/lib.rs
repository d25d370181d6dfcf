//! `rag`: the assistant. The index lives in the `rag-index` crate; this crate
//! owns the models, the commands and (soon) the answer pipeline.

pub mod cli;
pub mod commands;
pub mod context;
pub mod embedding;
mod error;
pub mod llm;
pub mod models;
pub mod terminal;

pub use error::{Error, Result};

use cli::{Cli, Command};

/// Runs one command line; the binary only maps the result to an exit code.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = context::Context::new(&cli);
    match &cli.command {
        Command::Ingest(args) => commands::ingest::run(&ctx, args),
        Command::Search(args) => commands::search::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Generate(args) => commands::generate::run(&ctx, args),
    }
}
