//! Citation markers in the model's answer: `[2]`, `[1, 3]`, `[1][2]`. Numbers
//! that name a source the model was given are kept; numbers it made up are
//! removed from the text as it streams, so a reader never sees a citation that
//! points nowhere.

/// A marker longer than this is ordinary text in brackets, not a citation.
const MAX_MARKER: usize = 24;

/// Filters streamed answer text: holds back a possible `[...]` marker until it
/// closes, then passes it on with invented numbers removed.
#[derive(Debug)]
pub struct CitationFilter {
    sources: usize,
    pending: String,
    cited: Vec<usize>,
}

impl CitationFilter {
    /// `sources`: how many numbered sources the prompt held (valid numbers are 1..=sources).
    pub fn new(sources: usize) -> Self {
        CitationFilter {
            sources,
            pending: String::new(),
            cited: Vec::new(),
        }
    }

    /// Adds a piece of the answer; returns the text that is now safe to show.
    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::new();
        for c in piece.chars() {
            if self.pending.is_empty() {
                if c == '[' {
                    self.pending.push(c);
                } else {
                    out.push(c);
                }
                continue;
            }
            self.pending.push(c);
            if c == ']' {
                let marker = std::mem::take(&mut self.pending);
                out.push_str(&self.resolve(&marker));
            } else if c == '[' {
                // "[[1]": the first bracket was text.
                let keep = self.pending.len() - 1;
                out.push_str(&self.pending[..keep]);
                self.pending = "[".into();
            } else if !could_be_marker(&self.pending[1..]) || self.pending.len() > MAX_MARKER {
                out.push_str(&std::mem::take(&mut self.pending));
            }
        }
        out
    }

    /// The rest of the text at the end of the answer.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Valid source numbers cited so far, in order of first mention.
    pub fn cited(&self) -> &[usize] {
        &self.cited
    }

    fn resolve(&mut self, marker: &str) -> String {
        let inner = &marker[1..marker.len() - 1];
        let Some(numbers) = parse_marker(inner) else {
            return marker.to_string();
        };
        let valid: Vec<usize> = numbers
            .into_iter()
            .filter(|&n| n >= 1 && n <= self.sources)
            .collect();
        for &n in &valid {
            if !self.cited.contains(&n) {
                self.cited.push(n);
            }
        }
        if valid.is_empty() {
            return String::new();
        }
        let list: Vec<String> = valid.iter().map(usize::to_string).collect();
        format!("[{}]", list.join(", "))
    }
}

/// Whether `partial` (the text after `[`) can still grow into a citation marker.
fn could_be_marker(partial: &str) -> bool {
    partial.chars().all(|c| {
        c.is_ascii_digit() || matches!(c, ',' | ' ' | ';' | '-') || c.is_ascii_alphabetic()
    }) && {
        // Letters only as the word "source"/"sources" at the start.
        let letters: String = partial
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
        let rest = &partial[letters.len()..];
        "sources".starts_with(&letters) && !rest.chars().any(|c| c.is_ascii_alphabetic())
    }
}

/// The numbers of a marker's inside: "2", "1, 3", "1-3", "Source 2"; None when
/// it is not a citation (e.g. "[a]", "[]").
fn parse_marker(inner: &str) -> Option<Vec<usize>> {
    let trimmed = inner.trim();
    let lower = trimmed.to_ascii_lowercase();
    let body = lower
        .strip_prefix("sources")
        .or_else(|| lower.strip_prefix("source"))
        .unwrap_or(&lower)
        .trim();
    if body.is_empty() {
        return None;
    }
    let mut numbers = Vec::new();
    for part in body.split([',', ';']) {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            if b < a || b - a > 10 {
                return None;
            }
            numbers.extend(a..=b);
        } else {
            numbers.push(part.parse().ok()?);
        }
    }
    Some(numbers)
}

/// Removes invented markers from a whole text and lists the valid numbers cited.
pub fn clean(text: &str, sources: usize) -> (String, Vec<usize>) {
    let mut filter = CitationFilter::new(sources);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    (out, filter.cited().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_markers_stay_and_invented_ones_go() {
        let (text, cited) = clean("Stretto [2]. Also [7] and [1, 9].", 3);
        assert_eq!(text, "Stretto [2]. Also  and [1].");
        assert_eq!(cited, vec![2, 1]);
    }

    #[test]
    fn other_brackets_are_text() {
        let (text, cited) = clean("an array [a] or [] or [x, y] or [[1]", 2);
        assert_eq!(text, "an array [a] or [] or [x, y] or [[1]");
        assert_eq!(cited, vec![1]);
    }

    #[test]
    fn source_words_and_ranges() {
        let (text, cited) = clean("see [Source 2] and [1-2]", 2);
        assert_eq!(text, "see [2] and [1, 2]");
        assert_eq!(cited, vec![2, 1]);
    }

    #[test]
    fn markers_split_across_pieces_are_held_back() {
        let mut filter = CitationFilter::new(2);
        assert_eq!(filter.push("Paris ["), "Paris ");
        assert_eq!(filter.push("1"), "");
        assert_eq!(filter.push("]."), "[1].");
        assert_eq!(filter.push(" [5"), " ");
        assert_eq!(filter.push("]"), "");
        assert_eq!(filter.push(" [unclosed"), " [unclosed");
        assert_eq!(filter.push(" [3"), " ");
        assert_eq!(filter.finish(), "[3");
        assert_eq!(filter.cited(), &[1]);
    }

    #[test]
    fn long_brackets_are_released() {
        let (text, cited) = clean("[1 2 3 4 5 6 7 8 9 10 11 12 13]", 20);
        assert_eq!(text, "[1 2 3 4 5 6 7 8 9 10 11 12 13]");
        assert!(cited.is_empty());
    }
}
