//! Every `rag ...` command that README.md and GUIDE.md show parses with
//! today's flags, and every `--flag` they name exists: a guide that names a
//! flag that is not there fails here, not in a user's terminal.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cli::Cli;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

const DOCS: &[&str] = &["README.md", "GUIDE.md"];

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// `rag ...` commands: lines of code blocks and inline code spans.
fn commands(text: &str) -> Vec<(usize, String, bool)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let in_block = line.starts_with("    ") || line.starts_with('\t');
        if in_block && trimmed.starts_with("rag ") {
            found.push((n + 1, trimmed.to_string(), true));
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && (span.starts_with("rag ") || span == "rag") {
                found.push((n + 1, span.to_string(), false));
            }
        }
    }
    found
}

/// The command alone: no pipe, redirection, chaining or comment after it.
fn command_words(command: &str) -> Vec<String> {
    let mut end = command.len();
    for stop in [
        " | ", " > ", " >> ", " 2>", " && ", " ; ", "  #", " # ", " < ",
    ] {
        if let Some(at) = command.find(stop) {
            end = end.min(at);
        }
    }
    shlex::split(&command[..end]).unwrap_or_else(|| panic!("unbalanced quotes: {command}"))
}

fn long_flags(command: &clap::Command, into: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            into.insert(format!("--{long}"));
        }
    }
    for sub in command.get_subcommands() {
        long_flags(sub, into);
    }
}

#[test]
fn every_documented_command_parses() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for doc in DOCS {
        for (line, command, whole) in commands(&read(doc)) {
            checked += 1;
            let words = command_words(&command);
            match Cli::try_parse_from(&words) {
                Ok(_) => {}
                // An inline mention (`rag search` shows more) may leave out
                // what a real run needs; a code block line may not.
                Err(e)
                    if !whole
                        && matches!(
                            e.kind(),
                            ErrorKind::MissingRequiredArgument
                                | ErrorKind::MissingSubcommand
                                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                        ) => {}
                Err(e)
                    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
                Err(e) => failures.push(format!("{doc}:{line}: {command}\n  {}", e.kind())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked > 40,
        "only {checked} commands found: is the extraction broken?"
    );
}

#[test]
fn every_documented_flag_exists() {
    let mut known = BTreeSet::new();
    long_flags(&Cli::command(), &mut known);
    known.insert("--help".into());
    known.insert("--version".into());
    // Flags of the scripts the docs also show.
    for script in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")).unwrap()
    {
        let text = std::fs::read_to_string(script.unwrap().path()).unwrap_or_default();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("--") && word.len() > 2 {
                known.insert(word.to_string());
            }
        }
    }
    let mut unknown = Vec::new();
    for doc in DOCS {
        for (n, line) in read(doc).lines().enumerate() {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 0 {
                    continue;
                }
                for word in span.split_whitespace() {
                    let flag = word.split('=').next().unwrap_or(word);
                    let flag = flag.trim_end_matches([',', '.', ')', ';']);
                    if flag.starts_with("--") && flag.len() > 2 && !known.contains(flag) {
                        unknown.push(format!("{doc}:{}: {flag}", n + 1));
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "flags that do not exist:\n{}",
        unknown.join("\n")
    );
}
