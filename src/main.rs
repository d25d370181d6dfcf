use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rag::cli::Cli::parse();
    match rag::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
