//! The `rag` command: parses the command line, calls the engine (the `rag`
//! library) and presents what it returns.

mod cli;
mod commands;
mod context;
#[cfg(test)]
mod docs_check;
mod remedy;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    pin_thread_count();
    let cli = Cli::parse();
    match run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("error: {}", remedy::report(&err));
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

/// candle asks for its thread count before every matmul, and without
/// RAYON_NUM_THREADS it finds it by reading /proc/cpuinfo: ~200 reads per
/// generated token, 7% of decode time. Setting it once (to the cores this
/// process may use) answers that from the environment. Done first thing,
/// while the process has a single thread.
fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
    }
}

/// How a command that ran to its end came out, for the exit status. Scripts
/// test `rag ask` as they test `grep`: 0 answered, 1 not in your documents,
/// 2 an error (a usage error included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exit 0: answered, found, sound.
    Success,
    /// Exit 1: the command worked and the answer is no: `ask` refused (the
    /// documents do not hold the answer), `search` found nothing, `check`
    /// found the index damaged or out of step.
    Negative,
    /// Exit 130, as a shell reports a program Ctrl+C ended: `ingest` stopped
    /// on Ctrl+C after committing what it had done.
    Interrupted,
}

impl Outcome {
    fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Negative => 1,
            Outcome::Interrupted => 130,
        }
    }
}

/// The exit status of a command that failed (the same as clap's for a usage error).
const ERROR_EXIT_CODE: u8 = 2;

/// Runs one command line; the binary only maps the result to an exit code.
fn run(cli: Cli) -> rag::Result<Outcome> {
    match &cli.command {
        // The child of `contained::sandboxed_reader`: no config, no models.
        Command::Extract => return rag::contained::child_main().map(|()| Outcome::Success),
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
        Command::Ingest(args) => return commands::ingest::run(&ctx, args),
        Command::Forget(args) => commands::forget::run(&ctx, args),
        Command::CopyFrom(args) => commands::copy::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Chat(args) => commands::chat::run(&ctx, args),
        Command::Batch(args) => commands::batch::run(&ctx, args),
        Command::Eval(args) => commands::eval::run(&ctx, args),
        Command::Serve(args) => commands::serve::run(&ctx, args),
        Command::Mcp(args) => commands::serve::mcp(&ctx, args),
        Command::Generate(args) => commands::generate::run(&ctx, args),
        Command::Models(args) => commands::models::run(&ctx, args),
        Command::Config(args) => commands::config::run(&ctx, args),
        Command::Extract | Command::Completions { .. } | Command::Man => Ok(()),
    };
    done.map(|()| Outcome::Success)
}
