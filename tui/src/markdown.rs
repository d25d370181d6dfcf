//! Just enough markdown for the conversation: code fences. Code is drawn as
//! it was written (no reflow), apart from the prose around it.

/// A run of an answer: prose to wrap, or the lines of a fenced code block.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Prose(String),
    Code {
        /// The info string after the opening fence ("rust", "sh"), may be empty.
        language: String,
        lines: Vec<String>,
        /// The closing fence has come (while streaming it may not have yet).
        closed: bool,
    },
}

/// Splits `text` at its code fences, by the rules the engine closes them by
/// (src/assistant/fences.rs): a line starting with three or more backticks
/// or tildes opens a block; the same character, at least as many, and
/// nothing after them closes it.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut prose: Vec<&str> = Vec::new();
    let mut open: Option<(char, usize, String, Vec<String>)> = None;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        let fence = trimmed
            .chars()
            .next()
            .filter(|c| matches!(c, '`' | '~'))
            .map(|marker| (marker, trimmed.chars().take_while(|&c| c == marker).count()))
            .filter(|&(_, run)| run >= 3);
        let closes = match (&open, fence) {
            (Some((marker, run, _, _)), Some((m, n))) => {
                m == *marker && n >= *run && trimmed[n..].trim().is_empty()
            }
            _ => false,
        };
        if closes {
            if let Some((_, _, language, lines)) = open.take() {
                blocks.push(Block::Code {
                    language,
                    lines,
                    closed: true,
                });
            }
        } else if let Some((_, _, _, lines)) = &mut open {
            lines.push(line.to_string());
        } else if let Some((marker, run)) = fence {
            if !prose.is_empty() {
                blocks.push(Block::Prose(prose.join("\n")));
                prose.clear();
            }
            // The fence character is ASCII: `run` counts bytes too.
            let language = trimmed[run..].trim().to_string();
            open = Some((marker, run, language, Vec::new()));
        } else {
            prose.push(line);
        }
    }
    if let Some((_, _, language, lines)) = open {
        blocks.push(Block::Code {
            language,
            lines,
            closed: false,
        });
    } else if !prose.is_empty() {
        blocks.push(Block::Prose(prose.join("\n")));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(language: &str, lines: &[&str], closed: bool) -> Block {
        Block::Code {
            language: language.into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            closed,
        }
    }

    #[test]
    fn splits_prose_and_fenced_code() {
        let text = "Run it [1]:\n```sh\ncargo build --release\n  ./run\n```\nThen done.";
        assert_eq!(
            blocks(text),
            vec![
                Block::Prose("Run it [1]:".into()),
                code("sh", &["cargo build --release", "  ./run"], true),
                Block::Prose("Then done.".into()),
            ]
        );
        // Still streaming: the block runs to the end.
        assert_eq!(
            blocks("x\n~~~~\na\n```\n"),
            vec![Block::Prose("x".into()), code("", &["a", "```", ""], false)]
        );
        assert_eq!(
            blocks("inline ``` is prose"),
            vec![Block::Prose("inline ``` is prose".into())]
        );
        assert_eq!(blocks(""), vec![Block::Prose(String::new())]);
    }
}
