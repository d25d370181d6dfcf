//! Slash commands typed in the input box.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum SlashCommand {
    Help,
    Temperature(f32),
    K(usize),
    /// Longest answer, in tokens.
    MaxTokens(usize),
    Seed(u64),
    Clear,
    /// Write the conversation as markdown; `overwrite` for `/save!`.
    Save {
        path: PathBuf,
        overwrite: bool,
    },
    Quit,
}

pub const MAX_TEMPERATURE: f32 = 2.0;
pub const MAX_K: usize = 20;
/// The same bound as `--max-tokens` (rag checks that the two agree).
pub const MAX_ANSWER_TOKENS: usize = 131_072;

/// Parses `/name args`; `Err` says what is wrong in words for the status bar.
pub fn parse(line: &str) -> Result<SlashCommand, String> {
    let line = line.trim();
    let (name, arg) = match line.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (line, ""),
    };
    let needs = |what: &str| format!("{name} needs {what}");
    match name {
        "/help" | "/?" => Ok(SlashCommand::Help),
        "/temp" | "/temperature" => {
            let value: f32 = arg
                .parse()
                .map_err(|_| needs("a temperature, e.g. /temp 0.7"))?;
            if !(0.0..=MAX_TEMPERATURE).contains(&value) {
                return Err(format!(
                    "temperature must be between 0 and {MAX_TEMPERATURE}"
                ));
            }
            Ok(SlashCommand::Temperature(value))
        }
        "/k" => count(arg, MAX_K)
            .map(SlashCommand::K)
            .map_err(|bad| match bad {
                Bad::NotANumber => needs("a number, e.g. /k 5"),
                Bad::OutOfRange => format!("k must be between 1 and {MAX_K}"),
            }),
        "/max-tokens" | "/tokens" => count(arg, MAX_ANSWER_TOKENS)
            .map(SlashCommand::MaxTokens)
            .map_err(|bad| match bad {
                Bad::NotANumber => needs("a number of tokens, e.g. /max-tokens 400"),
                Bad::OutOfRange => {
                    format!("the answer limit must be between 1 and {MAX_ANSWER_TOKENS} tokens")
                }
            }),
        "/seed" => arg
            .parse()
            .map(SlashCommand::Seed)
            .map_err(|_| needs("a number, e.g. /seed 42")),
        "/clear" => Ok(SlashCommand::Clear),
        "/save" | "/save!" => {
            if arg.is_empty() {
                return Err(needs("a file name, e.g. /save notes.md"));
            }
            Ok(SlashCommand::Save {
                path: PathBuf::from(expand_home(arg)),
                overwrite: name == "/save!",
            })
        }
        "/quit" | "/exit" | "/q" => Ok(SlashCommand::Quit),
        _ => Err(format!("unknown command {name}: /help lists them")),
    }
}

/// Why a count was refused.
enum Bad {
    NotANumber,
    OutOfRange,
}

/// A whole number from 1 to `max`.
fn count(arg: &str, max: usize) -> Result<usize, Bad> {
    let value: usize = arg.parse().map_err(|_| Bad::NotANumber)?;
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Bad::OutOfRange)
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.to_string_lossy()),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_explains_mistakes() {
        assert_eq!(parse("/temp 0.7"), Ok(SlashCommand::Temperature(0.7)));
        assert_eq!(parse("  /k 5 "), Ok(SlashCommand::K(5)));
        assert_eq!(parse("/seed 9"), Ok(SlashCommand::Seed(9)));
        assert_eq!(parse("/max-tokens 400"), Ok(SlashCommand::MaxTokens(400)));
        assert_eq!(parse("/tokens 50"), Ok(SlashCommand::MaxTokens(50)));
        assert!(parse("/max-tokens 0").unwrap_err().contains("between 1"));
        assert!(parse("/max-tokens lots")
            .unwrap_err()
            .contains("/max-tokens 400"));
        assert_eq!(
            parse("/save my notes.md"),
            Ok(SlashCommand::Save {
                path: PathBuf::from("my notes.md"),
                overwrite: false
            })
        );
        assert!(matches!(
            parse("/save! a.md"),
            Ok(SlashCommand::Save {
                overwrite: true,
                ..
            })
        ));
        assert_eq!(parse("/help"), Ok(SlashCommand::Help));
        assert_eq!(parse("/clear"), Ok(SlashCommand::Clear));
        assert!(parse("/temp hot").unwrap_err().contains("/temp 0.7"));
        assert!(parse("/temp 5").unwrap_err().contains("between 0 and 2"));
        assert!(parse("/k 0").is_err());
        assert!(parse("/save").is_err());
        assert!(parse("/frobnicate").unwrap_err().contains("/help"));
    }
}
