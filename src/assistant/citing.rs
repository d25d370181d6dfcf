//! Citation numbers as the model writes them. At a marker's number the model
//! picks its most likely among the sources the text it is citing leans on:
//! left free, it cites a passage that only echoes the question's words
//! ("documentation for all of your crate's dependencies") while its sentence
//! copies another's (`--no-deps`), or a source that shares nothing with it.

use crate::llm::Tokenizer;

use super::candidate::leaned_on;
use super::fences;
use super::prompt::ANSWER_MARKER;
use super::sources::Source;

/// Steers the numbers of citation markers while an answer is sampled.
pub(super) struct CitationGuide<'a> {
    question: &'a str,
    sources: &'a [Source],
    /// Each source's number and its token; empty where a number would not be
    /// one token (ten sources or more, or a vocabulary without digits).
    numbers: Vec<(usize, u32)>,
    think: bool,
}

impl<'a> CitationGuide<'a> {
    pub(super) fn new(
        tokenizer: &Tokenizer,
        question: &'a str,
        sources: &'a [Source],
        think: bool,
    ) -> Self {
        let mut numbers = number_tokens(tokenizer, sources);
        if numbers.len() < sources.len() || numbers.iter().any(|&(n, _)| n >= 10) {
            numbers.clear();
        }
        CitationGuide {
            question,
            sources,
            numbers,
            think,
        }
    }

    /// Rules out, where the next token is a citation marker's number, the
    /// numbers of the sources that the text it cites does not lean on.
    /// `so_far` is the model's whole output so far.
    pub(super) fn steer(&self, so_far: &str, logits: &mut [f32]) {
        if self.numbers.len() < 2 {
            return;
        }
        for n in self.ruled_out(so_far) {
            if let Some(&(_, id)) = self.numbers.iter().find(|&&(m, _)| m == n) {
                if let Some(logit) = logits.get_mut(id as usize) {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
    }

    /// The source numbers a marker's next number may not be, given the output so far.
    fn ruled_out(&self, so_far: &str) -> Vec<usize> {
        let answer = if self.think {
            match so_far.find(ANSWER_MARKER) {
                Some(at) => &so_far[at + ANSWER_MARKER.len()..],
                None => return Vec::new(),
            }
        } else {
            so_far
        };
        let Some(marker) = open_marker(answer) else {
            return Vec::new();
        };
        let cited = cited_text(&answer[..marker]);
        let leaned: Vec<usize> = leaned_on(cited, self.question, self.sources)
            .iter()
            .map(|s| s.n)
            .collect();
        if leaned.is_empty() {
            return Vec::new();
        }
        self.sources
            .iter()
            .map(|s| s.n)
            .filter(|n| !leaned.contains(n))
            .collect()
    }
}

/// Each source's number and the token that writes it, where one does.
pub(super) fn number_tokens(tokenizer: &Tokenizer, sources: &[Source]) -> Vec<(usize, u32)> {
    sources
        .iter()
        .filter_map(|s| Some((s.n, tokenizer.token_id(&s.n.to_string())?)))
        .collect()
}

/// Where `answer` ends inside a citation marker waiting for a number (`[`,
/// `[1, `): the byte offset of its bracket. Not in code, and not a bracket
/// right after a word (an index, `vec![`).
fn open_marker(answer: &str) -> Option<usize> {
    // Most tokens follow other text: no search back through the answer.
    if !answer.trim_end().ends_with(['[', ',']) {
        return None;
    }
    let at = answer.rfind('[')?;
    let inside = &answer[at + 1..];
    let waiting = inside.is_empty()
        || inside
            .trim_end()
            .strip_suffix(',')
            .is_some_and(is_number_list);
    if !waiting {
        return None;
    }
    let before = answer[..at].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '!' | '[')) {
        return None;
    }
    let line = &answer[answer[..at].rfind('\n').map_or(0, |n| n + 1)..at];
    let in_code_span = line.matches('`').count() % 2 == 1;
    if in_code_span || fences::closer(&answer[..at]).is_some() {
        return None;
    }
    Some(at)
}

/// The text a marker starting at the end of `before` cites: back to the
/// previous marker, or, where markers follow one another (`[1][`), the text
/// the first of them cites. Markers are left out.
fn cited_text(before: &str) -> &str {
    let mut end = before.trim_end().len();
    // Step back over markers right before this one.
    while let Some(start) = marker_ending_at(&before[..end]) {
        end = before[..start].trim_end().len();
    }
    let text = &before[..end];
    let start = previous_marker_end(text).unwrap_or(0);
    &text[start..]
}

/// The start of a citation marker (`[2]`, `[1, 3]`) that `text` ends with.
fn marker_ending_at(text: &str) -> Option<usize> {
    let inner = text.strip_suffix(']')?;
    let start = inner.rfind('[')?;
    is_number_list(&inner[start + 1..]).then_some(start)
}

/// Whether `text` is a list of numbers: "2", "1, 3".
fn is_number_list(text: &str) -> bool {
    text.split(',').all(|part| {
        let part = part.trim();
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Where the last citation marker in `text` ends.
fn previous_marker_end(text: &str) -> Option<usize> {
    let mut search = text.len();
    while let Some(close) = text[..search].rfind(']') {
        if marker_ending_at(&text[..=close]).is_some() {
            return Some(close + 1);
        }
        search = close;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::sources::test_source;

    #[test]
    fn a_marker_waits_for_a_number_in_prose_only() {
        assert_eq!(open_marker("Use `--no-deps` ["), Some(16));
        assert_eq!(open_marker("Use it [1, "), Some(7));
        assert_eq!(open_marker("Use it [1]["), Some(10));
        assert_eq!(open_marker("Use it [1]"), None);
        assert_eq!(open_marker("Use it [1"), None);
        assert_eq!(open_marker("Index it: `v["), None);
        assert_eq!(open_marker("```rust\nlet a = ["), None);
        assert_eq!(
            open_marker("```rust\nlet a = [1];\n```\nIt is a list ["),
            Some(38)
        );
        assert_eq!(open_marker("args["), None);
        assert_eq!(open_marker("vec!["), None);
        assert_eq!(open_marker("See [the book]"), None);
    }

    #[test]
    fn a_marker_cites_the_text_since_the_last_one() {
        assert_eq!(cited_text("A is B [1]. C is D "), ". C is D");
        assert_eq!(cited_text("A is B [1]"), "A is B");
        assert_eq!(cited_text("A is B [1] [2]"), "A is B");
        assert_eq!(cited_text("No marker yet"), "No marker yet");
        assert_eq!(cited_text("A [see] B [2, 3]. C"), ". C");
    }

    #[test]
    fn numbers_of_sources_the_text_does_not_lean_on_are_ruled_out() {
        let sources = [
            test_source(
                1,
                1,
                "cargo doc options: --no-deps does not build documentation for dependencies.",
            ),
            test_source(
                2,
                1,
                "The doc command builds the documentation for all of your crate's dependencies.",
            ),
            test_source(3, 1, "Rc lets a value have several owners."),
        ];
        let question = "How do I build docs without documentation for all dependencies?";
        let guide = CitationGuide {
            question,
            sources: &sources,
            numbers: vec![(1, 101), (2, 102), (3, 103)],
            think: false,
        };
        let answer = "Pass `--no-deps` to `cargo doc` to skip the dependencies [";
        assert_eq!(guide.ruled_out(answer), vec![2, 3]);
        let mut logits = vec![0.0; 110];
        logits[102] = 5.0;
        guide.steer(answer, &mut logits);
        assert_eq!(logits[102], f32::NEG_INFINITY);
        assert_eq!(logits[103], f32::NEG_INFINITY);
        assert_eq!(logits[101], 0.0);
        // Not at a marker, or text that leans on nothing: left alone.
        assert!(guide.ruled_out("Pass `--no-deps`").is_empty());
        assert!(guide.ruled_out("Zebras [").is_empty());
        // In --think mode, only the answer after the marker is steered.
        let thinking = CitationGuide {
            think: true,
            ..guide
        };
        assert!(thinking.ruled_out(answer).is_empty());
        let after = format!("It is --no-deps.\n{ANSWER_MARKER} {answer}");
        assert_eq!(thinking.ruled_out(&after), vec![2, 3]);
    }
}
