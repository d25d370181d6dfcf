//! Text from documents and from the model is untrusted: it never reaches the
//! terminal with its control characters or escape sequences intact. And text
//! is measured in display columns, not bytes or chars: CJK and emoji take two.

use std::borrow::Cow;

use unicode_width::UnicodeWidthStr;

/// Columns a tab stands for once drawn.
const TAB: &str = "    ";

/// Removes ANSI escape sequences (CSI, OSC, and two-byte escapes) and C0/C1
/// control characters other than newline and tab.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: ESC [ params... final byte in @..~
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, APC, PM, SOS: up to BEL or ESC \
                Some(']' | 'P' | '_' | '^' | 'X') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\r' => {}
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{1b}' || is_bidi_control(c)
}

/// Embeddings, overrides and isolates reorder what follows them on screen
/// ("Trojan Source"): text would not read as it is stored.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Text ready to draw: sanitized, tabs expanded (a terminal cell cannot hold one).
pub fn drawable(text: &str) -> String {
    sanitize(text).replace('\t', TAB)
}

/// One line of at most `width` columns, for previews.
pub fn one_line(text: &str, width: usize) -> String {
    let flat: String = sanitize(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    truncate(&flat, width)
}

/// `text` cut to `width` columns, with an ellipsis when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `text` cut from the left to `width` columns: for paths, whose end (the
/// file name and lines) says the most.
pub fn truncate_start(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    if width == 0 {
        return String::new();
    }
    std::iter::once('…').chain(kept.into_iter().rev()).collect()
}

/// A path cut to `width` columns in the middle: its start and its file name
/// (with any `:lines` after it) stay, so both where and what remain readable.
pub fn truncate_middle(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let Some(slash) = text.rfind('/') else {
        return truncate_start(text, width);
    };
    let tail = &text[slash..];
    let tail_width = tail.width();
    // The file name alone (with the ellipsis) takes all the room.
    if tail_width + 2 > width {
        return truncate_start(text, width);
    }
    let mut head = String::new();
    let mut used = 0;
    for c in text[..slash].chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 + tail_width > width {
            break;
        }
        head.push(c);
        used += w;
    }
    format!("{head}…{tail}")
}

/// Word-wraps drawable text to `width` columns; blank lines are kept, words
/// longer than a line (URLs, CJK runs) are broken.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let text = drawable(text);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        if paragraph.trim().is_empty() {
            lines.push(String::new());
            continue;
        }
        let options = textwrap::Options::new(width).break_words(true);
        lines.extend(
            textwrap::wrap(paragraph, options)
                .into_iter()
                .map(|line| line.into_owned()),
        );
    }
    lines
}

/// Drawable text cut into rows of at most `width` columns, as it is: no
/// word wrapping, spaces kept (code, where indentation means something).
pub fn break_at(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = vec![String::new()];
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width && used > 0 {
            rows.push(String::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(c);
        }
        used += w;
    }
    rows
}

/// Where `quote` lies in `text` (both drawable), as the byte range from its
/// first word to its last, searched from line `from_line` (0-based) on. Words
/// are compared without the spaces and line breaks between them, since a
/// quote comes on one line; a quote cut short with an ellipsis may end in
/// the middle of its last word.
pub fn find_quote(text: &str, quote: &str, from_line: usize) -> Option<(usize, usize)> {
    let wanted: Vec<&str> = quote.trim_end_matches('…').split_whitespace().collect();
    let last = wanted.len().checked_sub(1)?;
    let from = match from_line {
        0 => 0,
        n => text
            .match_indices('\n')
            .nth(n - 1)
            .map_or(0, |(i, _)| i + 1),
    };
    let find_from = |from: usize| {
        let words: Vec<(usize, &str)> = words_at(&text[from..])
            .map(|(at, w)| (from + at, w))
            .collect();
        (0..words.len().saturating_sub(last)).find_map(|i| {
            let fits = wanted.iter().enumerate().all(|(j, want)| {
                let word = words[i + j].1;
                word == *want || (j == last && word.starts_with(want))
            });
            let (end_at, end_word) = words[i + last];
            fits.then_some((words[i].0, end_at + end_word.len()))
        })
    };
    // Lines that drifted (a passage joined from two chunks) still find it.
    find_from(from).or_else(|| find_from(0))
}

/// The whitespace-separated words of `text` with their byte offsets.
fn words_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace()
        .map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}

/// [`wrap`], with each row cut into pieces inside (true) and outside (false)
/// the byte range `marked` of `text` (which must be drawable already).
pub fn wrap_marked(
    text: &str,
    width: usize,
    marked: Option<(usize, usize)>,
) -> Vec<Vec<(String, bool)>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut offset = 0;
    for paragraph in text.split('\n') {
        let start = offset;
        offset += paragraph.len() + 1;
        if paragraph.trim().is_empty() {
            rows.push(Vec::new());
            continue;
        }
        let options = textwrap::Options::new(width).break_words(true);
        let mut cursor = 0;
        for row in textwrap::wrap(paragraph, options) {
            let Some(at) = paragraph[cursor..].find(row.as_ref()).map(|at| cursor + at) else {
                rows.push(vec![(row.into_owned(), false)]);
                continue;
            };
            cursor = at + row.len();
            let (row_start, row_end) = (start + at, start + at + row.len());
            let Some((m0, m1)) = marked.filter(|&(m0, m1)| m0 < row_end && m1 > row_start) else {
                rows.push(vec![(row.into_owned(), false)]);
                continue;
            };
            let (m0, m1) = (m0.max(row_start) - row_start, m1.min(row_end) - row_start);
            let pieces = [
                (&row[..m0], false),
                (&row[m0..m1], true),
                (&row[m1..], false),
            ];
            rows.push(
                pieces
                    .into_iter()
                    .filter(|(piece, _)| !piece.is_empty())
                    .map(|(piece, mark)| (piece.to_string(), mark))
                    .collect(),
            );
        }
    }
    rows
}

/// Splits a line into plain text and citation markers (`[1]`, `[1, 2]`,
/// `[2-3]`), so the markers can be drawn highlighted.
pub fn citation_spans(line: &str) -> Vec<(&str, bool)> {
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            break;
        };
        let inside = &rest[open + 1..close];
        let is_citation = !inside.is_empty()
            && inside.chars().any(|c| c.is_ascii_digit())
            && inside
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ',' | '-' | ' '));
        if is_citation {
            if open > 0 {
                spans.push((&rest[..open], false));
            }
            spans.push((&rest[open..=close], true));
        } else {
            spans.push((&rest[..=close], false));
        }
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        spans.push((rest, false));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escape_sequences_and_controls() {
        assert_eq!(sanitize("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(sanitize("a\u{1b}[31mred\u{1b}[0m b"), "ared b");
        assert_eq!(sanitize("x\u{1b}]0;evil title\u{7}y"), "xy");
        assert_eq!(sanitize("x\u{1b}]8;;http://e\u{1b}\\link"), "xlink");
        assert_eq!(sanitize("bell\u{7} back\u{8}\r\n"), "bell back\n");
        assert_eq!(sanitize("c1\u{9b}2Jz"), "c12Jz");
        assert_eq!(sanitize("東京 🚀"), "東京 🚀");
        assert_eq!(sanitize("admin\u{202e}txt.exe"), "admintxt.exe");
    }

    #[test]
    fn previews_are_one_bounded_line() {
        assert_eq!(one_line("a\n b\t c", 10), "a b c");
        assert_eq!(one_line("abcdefghij", 5), "abcd…");
        assert_eq!(truncate("東京東京", 5), "東京…");
        assert_eq!(
            truncate_start("docs/guide/install.md:1-9", 15),
            "…install.md:1-9"
        );
        assert_eq!(truncate_start("short", 14), "short");
        assert_eq!(
            truncate_middle("docs/guide/deep/install.md:1-9", 22),
            "docs/g…/install.md:1-9"
        );
        assert_eq!(truncate_middle("docs/a.md:1-2", 20), "docs/a.md:1-2");
        assert_eq!(
            truncate_middle("a/very-long-file-name.md:1-2", 12),
            "…name.md:1-2"
        );
    }

    #[test]
    fn wraps_by_display_width() {
        let lines = wrap("東京は日本の首都です", 8);
        assert!(lines.iter().all(|l| l.width() <= 8), "{lines:?}");
        assert_eq!(lines.concat(), "東京は日本の首都です");
        assert_eq!(wrap("one two\n\nthree", 20), vec!["one two", "", "three"]);
        assert_eq!(wrap("a\tb", 20), vec!["a    b"]);
    }

    #[test]
    fn breaks_code_rows_without_reflowing_them() {
        assert_eq!(break_at("    let x = 1;", 8), vec!["    let ", "x = 1;"]);
        assert_eq!(break_at("", 8), vec![""]);
        assert_eq!(break_at("東京東京", 5), vec!["東京", "東京"]);
    }

    #[test]
    fn finds_a_quote_across_line_breaks_and_marks_its_rows() {
        let text = "# Backups\nThe job runs nightly. It connects\nto port 2222 on the host. Done.";
        let (start, end) = find_quote(text, "It connects to port 2222 on the host.", 1).unwrap();
        assert_eq!(&text[start..end], "It connects\nto port 2222 on the host.");
        assert_eq!(
            find_quote(text, "It connects to po…", 0),
            Some((start, start + 19))
        );
        assert_eq!(find_quote(text, "Backups", 1), Some((2, 9)));
        assert_eq!(find_quote(text, "It connects to Paris", 0), None);
        assert_eq!(find_quote(text, "", 0), None);

        let rows = wrap_marked(text, 20, Some((start, end)));
        let marked: Vec<String> = rows
            .iter()
            .flatten()
            .filter(|(_, m)| *m)
            .map(|(t, _)| t.clone())
            .collect();
        assert_eq!(marked, ["It connects", "to port 2222 on the", "host."]);
        let plain: Vec<String> = rows
            .iter()
            .map(|r| r.iter().map(|(t, _)| t.as_str()).collect())
            .collect();
        assert_eq!(plain, wrap(text, 20));
    }

    #[test]
    fn finds_citation_markers() {
        assert_eq!(
            citation_spans("Paris [1] and [2, 3]; see [note]."),
            vec![
                ("Paris ", false),
                ("[1]", true),
                (" and ", false),
                ("[2, 3]", true),
                ("; see [note]", false),
                (".", false)
            ]
        );
        assert_eq!(citation_spans("[1-2]"), vec![("[1-2]", true)]);
        assert_eq!(citation_spans("open [1 end"), vec![("open [1 end", false)]);
    }
}
