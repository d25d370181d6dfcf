//! `rag completions SHELL` and `rag man`: generated from the clap definitions,
//! so they never disagree with the flags.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use rag::{Error, Result};

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = with_model_names(Cli::command());
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "rag", &mut out);
    write_stdout(&out)
}

/// `--model` takes a catalogue name or a GGUF file; a completion script can
/// offer one kind of word, and the names are what people type. Only the
/// command the script is generated from learns them: parsing still takes files.
fn with_model_names(command: clap::Command) -> clap::Command {
    let names = rag::models::catalogue().names();
    with_model_values(command, &names)
}

fn with_model_values(mut command: clap::Command, names: &[&'static str]) -> clap::Command {
    // `--model`, and `rag models pull|bench NAME`.
    let takes_a_name = |arg: &clap::Arg| {
        arg.get_id() == "model"
            || arg
                .get_value_names()
                .is_some_and(|value_names| value_names.iter().any(|v| v == "NAME"))
    };
    let ids: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| takes_a_name(arg))
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in ids {
        command = command.mut_arg(id, |arg| {
            arg.value_parser(clap::builder::PossibleValuesParser::new(names.to_vec()))
        });
    }
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in subcommands {
        command = command.mut_subcommand(name, |sub| with_model_values(sub, names));
    }
    command
}

pub fn man_page() -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Internal(format!("rendering the manual page: {e}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|_| stdout.flush())
        .map_err(|source| Error::Io {
            action: "writing",
            path: "standard output".into(),
            source,
        })
}
