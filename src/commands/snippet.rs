//! What a search result shows on a terminal: the line of the passage that
//! matches the query best (its number makes `path:line:` an editor can jump
//! to), cut around the first match, with the query's words highlighted.

use crate::terminal::sanitize;

/// Words too common to say where a passage matches.
const COMMON: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "in",
    "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where",
    "which", "who", "why", "with",
];

/// The query's words worth highlighting, lower-cased.
pub fn terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !COMMON.contains(&w.as_str()))
        .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// The passage's line holding the most distinct terms (the first on a tie),
/// as (offset from the passage's first line, the line).
pub fn best_line<'a>(text: &'a str, terms: &[String]) -> (usize, &'a str) {
    let mut best = (0, text.lines().next().unwrap_or(""), 0);
    for (at, line) in text.lines().enumerate() {
        let found = terms
            .iter()
            .filter(|t| !matches(line, t).is_empty())
            .count();
        if found > best.2 {
            best = (at, line, found);
        }
    }
    (best.0, best.1)
}

/// `line` on one line of at most `width` characters around its first match,
/// the terms wrapped in `on`/`off` (escape codes, or nothing).
pub fn render(line: &str, terms: &[String], width: usize, on: &str, off: &str) -> String {
    let clean: String = sanitize(line)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut spans: Vec<(usize, usize)> = terms.iter().flat_map(|t| matches(&clean, t)).collect();
    spans.sort();
    let chars: Vec<(usize, char)> = clean.char_indices().collect();
    let first = spans.first().map_or(0, |s| s.0);
    let first_char = chars.iter().position(|&(b, _)| b >= first).unwrap_or(0);
    let start_char = first_char.saturating_sub(width / 3);
    let end_char = (start_char + width).min(chars.len());
    let start_char = end_char.saturating_sub(width).min(start_char);
    let byte = |c: usize| chars.get(c).map_or(clean.len(), |&(b, _)| b);
    let (from, to) = (byte(start_char), byte(end_char));

    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for &(s, e) in &spans {
        if s < at || e > to {
            continue;
        }
        out.push_str(&clean[at..s]);
        out.push_str(on);
        out.push_str(&clean[s..e]);
        out.push_str(off);
        at = e;
    }
    out.push_str(&clean[at..to]);
    if to < clean.len() {
        out.push('…');
    }
    out
}

/// Byte spans of `term` in `line` as a whole word start, ignoring ASCII case.
fn matches(line: &str, term: &str) -> Vec<(usize, usize)> {
    let hay = line.as_bytes();
    let needle = term.as_bytes();
    let mut found = Vec::new();
    if needle.is_empty() || hay.len() < needle.len() {
        return found;
    }
    let mut at = 0;
    while at + needle.len() <= hay.len() {
        let here = line.is_char_boundary(at) && line.is_char_boundary(at + needle.len());
        let word_start = here
            && !line[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        if word_start && hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            found.push((at, at + needle.len()));
            at += needle.len();
        } else {
            at += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_line_holds_the_most_query_words() {
        let terms = terms("What is the Stretto of a fugue?");
        assert_eq!(terms, ["fugue", "stretto"]);
        let text =
            "Fugue\n\nA fugue has a subject.\nIn a stretto the fugue subject overlaps.\nEnd.";
        assert_eq!(
            best_line(text, &terms),
            (3, "In a stretto the fugue subject overlaps.")
        );
    }

    #[test]
    fn matches_are_marked_and_the_line_cut_around_the_first() {
        let terms = terms("stretto");
        let line = format!("{} a Stretto here {}", "x".repeat(100), "y".repeat(100));
        let shown = render(&line, &terms, 40, "[", "]");
        assert!(shown.contains("[Stretto]"), "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.chars().count() <= 44, "{shown}");
        // Inside a word is no match.
        assert_eq!(render("restretto", &terms, 40, "[", "]"), "restretto");
        assert_eq!(
            render("Ünïcode stretto ✓", &terms, 40, "[", "]"),
            "Ünïcode [stretto] ✓"
        );
    }
}
