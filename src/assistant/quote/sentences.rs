//! Sentences with their lines: a source's text cut where a reader would
//! stop, so that a quote can be pointed at by `path:line`.

use crate::assistant::citations;

/// A quote longer than this (in characters) is cut and ends with an ellipsis.
const MAX_QUOTE_CHARS: usize = 300;

/// A sentence of a source, where it lies in the source's text and on which lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    /// Byte range in the source text.
    pub start: usize,
    pub end: usize,
    pub line_start: u32,
    pub line_end: u32,
}

/// Splits `text` (whose first line is line `first_line` of its file) into
/// sentences. Blank lines, headings, list items, table rows and code lines
/// end a sentence as a full stop does; a sentence may run across line breaks.
pub fn sentences(text: &str, first_line: u32) -> Vec<Sentence> {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of =
        |offset: usize| first_line + line_starts.partition_point(|&s| s <= offset) as u32 - 1;
    let mut out = Vec::new();
    for (start, end) in blocks(text) {
        for (s, e) in split_prose(&text[start..end]) {
            let (s, e) = (start + s, start + e);
            if text[s..e].chars().any(char::is_alphanumeric) {
                out.push(Sentence {
                    start: s,
                    end: e,
                    line_start: line_of(s),
                    line_end: line_of(e.saturating_sub(1).max(s)),
                });
            }
        }
    }
    out
}

/// Byte ranges of the runs of lines that prose sentences may span: a
/// paragraph, one list item with its continuation lines, and each heading,
/// table row or code line on its own.
fn blocks(text: &str) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize)> = None;
    let mut in_fence = false;
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        let content = (
            line_start + (line.len() - trimmed.len()),
            line_start + line.len(),
        );
        let fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        // Indented code, unless it continues a list item.
        let indented = line.len() - trimmed.len() >= 4
            && !open.is_some_and(|(s, _)| is_list_item(text[s..].trim_start()));
        let alone = fence
            || in_fence
            || indented
            || trimmed.starts_with('#')
            || trimmed.starts_with('|')
            || is_code_line(trimmed);
        if trimmed.is_empty() || alone || is_list_item(trimmed) {
            blocks.extend(open.take());
        }
        if fence {
            in_fence = !in_fence;
        } else if trimmed.is_empty() || is_table_rule(trimmed) {
            // Nothing to quote.
        } else if alone {
            blocks.push(content);
        } else {
            open = Some(match open {
                Some((s, _)) => (s, content.1),
                None => content,
            });
        }
    }
    blocks.extend(open);
    blocks
}

fn is_list_item(line: &str) -> bool {
    let bullet = ["- ", "* ", "+ "].iter().any(|b| line.starts_with(b));
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    bullet
        || (digits > 0
            && digits < 4
            && (line[digits..].starts_with(". ") || line[digits..].starts_with(") ")))
}

fn is_table_rule(line: &str) -> bool {
    line.contains("---") && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// Source code among prose: a line opening or closing a block, or a
/// statement (a prose line that wraps after a semicolon has no `=` or call).
fn is_code_line(line: &str) -> bool {
    line.ends_with(['{', '}'])
        || (line.ends_with(';') && line.contains(['=', '(']))
        || line == ")"
        || line == "]"
}

/// Words after which a full stop does not end the sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "st", "no", "fig", "cf", "ca", "c",
    "approx", "jr", "sr", "inc", "ltd", "co", "al", "vol", "pp", "ed", "eds", "u.s", "u.k",
];

/// Sentence ranges inside one block: a full stop, question or exclamation
/// mark (and any closing quote or bracket) followed by a space and then a
/// capital, a digit, an opening quote or bracket, or markdown's code or
/// emphasis marks.
fn split_prose(block: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = block.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if matches!(c, '.' | '!' | '?') {
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']' | '”' | '’' | '*')
            {
                j += 1;
            }
            let mut k = j;
            while k < chars.len() && chars[k].1.is_whitespace() {
                k += 1;
            }
            let next_starts = chars.get(k).is_some_and(|&(_, n)| {
                n.is_uppercase()
                    || n.is_ascii_digit()
                    || matches!(n, '"' | '“' | '(' | '[' | '\'' | '`' | '*' | '_')
            });
            if k > j && next_starts && !(c == '.' && is_abbreviation(&block[start..at])) {
                let end = chars.get(j).map_or(block.len(), |&(o, _)| o);
                ranges.push((start, end));
                start = chars[k].0;
                i = k;
                continue;
            }
        }
        i += 1;
    }
    if start < block.len() {
        ranges.push((start, block.trim_end().len().max(start)));
    }
    ranges
}

/// Whether the word that ends `before` (just before a full stop) is an
/// abbreviation or an initial ("J. S. Bach").
fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    let single_capital = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    single_capital || ABBREVIATIONS.contains(&lower.as_str())
}

/// A sentence as a quote: on one line, without markdown list or heading
/// marks, at most [`MAX_QUOTE_CHARS`] characters.
pub(super) fn quote_text(raw: &str) -> String {
    let one_line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut text = one_line.trim_start_matches(['#', '>', '|']).trim_start();
    for bullet in ["- ", "* ", "+ "] {
        text = text.strip_prefix(bullet).unwrap_or(text);
    }
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_QUOTE_CHARS - 1).collect();
    // End at a word boundary when one is near.
    let cut = match cut.rfind(' ') {
        Some(at) if at > cut.len() * 4 / 5 => &cut[..at],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([' ', ',', ';', ':']))
}

/// The answer's sentences with the source numbers each cites; a marker that
/// opens a sentence ("... stretto. [1] It ...") belongs to the one before.
pub fn answer_sentences(answer: &str, sources: usize) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (start, end) in blocks(answer).into_iter().flat_map(|(s, e)| {
        split_prose(&answer[s..e])
            .into_iter()
            .map(move |(a, b)| (s + a, s + b))
    }) {
        let raw = &answer[start..end];
        let lead = leading_markers(raw);
        let (lead_text, rest) = raw.split_at(lead);
        let (_, lead_cited) = citations::clean(lead_text, sources);
        if let Some(previous) = out.last_mut() {
            previous.1.extend(lead_cited);
        }
        let (text, cited) = citations::clean(rest, sources);
        let text = strip_markers(&text);
        if !text.trim().is_empty() {
            out.push((text, cited));
        }
    }
    out
}

/// Length of the `[n]` markers (and spaces) that open `text`.
fn leading_markers(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let spaces = rest.len() - rest.trim_start().len();
        let rest = &rest[spaces..];
        match rest.strip_prefix('[').and_then(|r| r.find(']')) {
            Some(close)
                if rest[1..=close]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
            {
                at += spaces + close + 2;
            }
            _ => return at,
        }
    }
}

/// The text without its `[n]` markers, for matching.
fn strip_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let len = leading_markers(after);
        if len == 0 {
            out.push('[');
            rest = &after[1..];
        } else {
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, first line, last line) of each sentence.
    fn split(text: &str, first_line: u32) -> Vec<(String, u32, u32)> {
        sentences(text, first_line)
            .into_iter()
            .map(|s| (quote_text(&text[s.start..s.end]), s.line_start, s.line_end))
            .collect()
    }

    #[test]
    fn sentences_run_across_line_breaks_and_keep_their_lines() {
        let text = "The Jewish War recounts\nthe revolt of 66-73 CE. It was written\nin Greek. J. S. Bach, e.g. here, is one.\n\nA new paragraph; it goes on;\nand ends here!";
        assert_eq!(
            split(text, 10),
            [
                (
                    "The Jewish War recounts the revolt of 66-73 CE.".into(),
                    10,
                    11
                ),
                ("It was written in Greek.".into(), 11, 12),
                ("J. S. Bach, e.g. here, is one.".into(), 12, 12),
                ("A new paragraph; it goes on; and ends here!".into(), 14, 15),
            ]
        );
    }

    #[test]
    fn headings_list_items_tables_and_code_are_sentences_of_their_own() {
        let text = "# Backups\nThe job runs nightly\n- it connects to port 2222\n  on the remote host\n- it keeps 7 copies\n1. first step\n| a | b |\n|---|---|\n```\nlet port = 2222;\nrun(port)\n```\nfn main() {\n}\nDone.\n\n    .rag/lock    the writer lock\n    .rag/bm25/   the keyword index";
        assert_eq!(
            split(text, 1),
            [
                ("Backups".into(), 1, 1),
                ("The job runs nightly".into(), 2, 2),
                ("it connects to port 2222 on the remote host".into(), 3, 4),
                ("it keeps 7 copies".into(), 5, 5),
                ("1. first step".into(), 6, 6),
                ("a | b |".into(), 7, 7),
                ("let port = 2222;".into(), 10, 10),
                ("run(port)".into(), 11, 11),
                ("fn main() {".into(), 13, 13),
                ("}".into(), 14, 14),
                ("Done.".into(), 15, 15),
                (".rag/lock the writer lock".into(), 17, 17),
                (".rag/bm25/ the keyword index".into(), 18, 18),
            ]
            .into_iter()
            .filter(|(t, _, _): &(String, u32, u32)| t.chars().any(char::is_alphanumeric))
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn code_spans_and_emphasis_can_open_a_sentence() {
        let text = "The index is a folder named `.rag/`. `rag ingest` uses it. *Note* this.";
        let found: Vec<String> = split(text, 1).into_iter().map(|(t, _, _)| t).collect();
        assert_eq!(
            found,
            [
                "The index is a folder named `.rag/`.",
                "`rag ingest` uses it.",
                "*Note* this."
            ]
        );
        // Not after an abbreviation or an initial, nor before a lower-case word.
        assert_eq!(split("See e.g. Bach. and J. S. Bach here.", 1).len(), 1);
    }

    #[test]
    fn long_quotes_are_cut_with_an_ellipsis() {
        let long = "word ".repeat(100);
        let quote = quote_text(&long);
        assert!(quote.chars().count() <= MAX_QUOTE_CHARS, "{quote}");
        assert!(quote.ends_with('…'));
        assert_eq!(quote_text("  - a list\n  item "), "a list item");
    }

    #[test]
    fn answer_markers_belong_to_their_sentence() {
        let sentences = answer_sentences("Stretto [1]. It overlaps. [2] Then [9] more.", 2);
        assert_eq!(
            sentences,
            [
                ("Stretto .".to_string(), vec![1]),
                ("It overlaps.".to_string(), vec![2]),
                ("Then  more.".to_string(), vec![]),
            ]
        );
    }
}
