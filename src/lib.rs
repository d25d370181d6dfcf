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

/// Runs one command line; the binary only maps the result to an exit code.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        // The child of `pdf::sandboxed_reader`: no config, no models.
        Command::ExtractPdf => return pdf::child_main(),
        // Need nothing but the command-line definitions.
        Command::Completions { shell } => return commands::shell::completions(*shell),
        Command::Man => return commands::shell::man_page(),
        _ => {}
    }
    let ctx = context::Context::new(&cli)?;
    match &cli.command {
        Command::Ingest(args) => commands::ingest::run(&ctx, args),
        Command::Forget(args) => commands::forget::run(&ctx, args),
        Command::Search(args) => commands::search::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Check(args) => commands::check::run(&ctx, args),
        Command::Ask(args) => commands::ask::run(&ctx, args),
        Command::Chat(args) => commands::chat::run(&ctx, args),
        Command::Batch(args) => commands::batch::run(&ctx, args),
        Command::Eval(args) => commands::eval::run(&ctx, args),
        Command::Generate(args) => commands::generate::run(&ctx, args),
        Command::Models(args) => commands::models::run(&ctx, args),
        Command::Config(args) => commands::config::run(&ctx, args),
        Command::ExtractPdf | Command::Completions { .. } | Command::Man => Ok(()),
    }
}
