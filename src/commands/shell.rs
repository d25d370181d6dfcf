//! `rag completions SHELL` and `rag man`: generated from the clap definitions,
//! so they never disagree with the flags.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use rag::{Error, Result};

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "rag", &mut out);
    write_stdout(&out)
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
