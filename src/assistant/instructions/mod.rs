//! Instructions hidden in documents, found before the prompt is written.
//!
//! A small model obeys what it reads, however the prompt frames its sources.
//! So text that speaks to the model rather than to a reader (an order about
//! how to answer, a forged chat turn in any template's syntax, a "new rule"
//! for assistants, a request to ignore what came before) is replaced in the
//! prompt by a note that something was removed. The rest of the passage, and
//! the source the user is shown, stay as the document wrote them.
//!
//! The tests are kinds of speech, not phrases of known attacks: who a sentence
//! addresses (an AI, an assistant, "you" about an answer), what it asks for
//! (an answer's words, its ending, its language, a link) and what it claims
//! to be (a system message, a rule that replaces the others). Ordinary prose
//! about AI, rules or answers names those things without ordering a reader.

mod orders;
#[cfg(test)]
mod tests;
mod turns;

use std::borrow::Cow;

/// What the model reads where a source spoke to it.
pub const REMOVED: &str = "[text addressed to AI assistants removed]";

/// A passage's text as the prompt shows it: instruction-like sentences, the
/// sentences that carry on their order, and whole forged conversations (a
/// block or code block with a chat-template token, a role label or a role
/// message) replaced by [`REMOVED`]; invisible characters and image
/// addresses (the model sees no images; an address can carry the answer
/// away) dropped. A sentence wrapped over several lines is judged whole; the
/// lines of a run that held one are joined, every other line is kept as it was.
pub fn neutralised(text: &str) -> Cow<'_, str> {
    let visible = without_images(without_invisible(text));
    let runs = runs(&visible);
    let mut out = String::with_capacity(visible.len());
    let mut changed = false;
    let mut start = 0;
    while start < runs.len() {
        let end = block_end(&runs, start);
        if start > 0 {
            out.push('\n');
        }
        let block = &runs[start..end];
        if block.iter().any(Run::forges_a_turn) {
            out.push_str(REMOVED);
            changed = true;
        } else {
            for (i, run) in block.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                changed |= run.write_neutralised(&mut out);
            }
        }
        start = end;
    }
    if changed {
        Cow::Owned(out)
    } else {
        visible
    }
}

/// Lines read as one: a paragraph's wrapped lines, or one line of a list,
/// table, heading or code block.
struct Run<'a> {
    lines: Vec<&'a str>,
    code: bool,
}

impl Run<'_> {
    /// The run's lines as one, with escape sequences written out in the
    /// text (`\\n`, `\\t`: a forged "end of input") read as spaces.
    fn joined(&self) -> String {
        let trimmed: Vec<&str> = self.lines.iter().map(|line| line.trim()).collect();
        let joined = trimmed.join(" ");
        if joined.contains('\\') {
            joined
                .replace("\\n", " ")
                .replace("\\t", " ")
                .replace("\\r", " ")
        } else {
            joined
        }
    }

    fn is_blank(&self) -> bool {
        self.lines.iter().all(|line| line.trim().is_empty())
    }

    fn is_fence(&self) -> bool {
        self.lines.first().is_some_and(|line| is_fence(line))
    }

    fn forges_a_turn(&self) -> bool {
        let joined = self.joined();
        let lower = normalised(&joined);
        let forges = turns::forges_a_turn(&lower, &Words::of(&lower));
        forges
    }

    /// Writes the run with its instructions removed; true when it had any.
    fn write_neutralised(&self, out: &mut String) -> bool {
        let joined = self.joined();
        let judged: Vec<(Piece<'_>, bool)> = pieces(&joined)
            .map(|piece| {
                let instruction = is_instruction(piece.text);
                (piece, instruction)
            })
            .collect();
        if !judged.iter().any(|(_, instruction)| *instruction) {
            out.push_str(&self.lines.join("\n"));
            return false;
        }
        let mut removed_last = false;
        for (piece, instruction) in judged {
            let removed = instruction || (removed_last && continues_an_order(piece.text));
            if !(removed && removed_last) {
                out.push_str(piece.lead);
                out.push_str(if removed { REMOVED } else { piece.text });
            }
            removed_last = removed;
        }
        true
    }
}

fn is_fence(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("```") || trimmed.starts_with("~~~")
}

/// A text's runs, in order; joined with newlines they give the text back.
fn runs(text: &str) -> Vec<Run<'_>> {
    let mut runs: Vec<Run<'_>> = Vec::new();
    let mut in_code = false;
    let mut open = false;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        let fence = is_fence(line);
        let labelled = trimmed
            .split_once(':')
            .is_some_and(|(label, _)| !label.is_empty() && label.split_whitespace().count() <= 3);
        let block = fence
            || in_code
            || labelled
            || trimmed.is_empty()
            || trimmed.starts_with(['#', '-', '*', '+', '>', '|', '<'])
            || trimmed
                .split_once(['.', ')'])
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        match runs.last_mut() {
            Some(run) if open && !block => run.lines.push(line),
            _ => runs.push(Run {
                lines: vec![line],
                code: in_code || fence,
            }),
        }
        // A paragraph's next line continues it; a block line stands alone
        // unless it opens a paragraph-like item (a list item wraps too).
        open = !trimmed.is_empty()
            && !in_code
            && !fence
            && !labelled
            && !trimmed.starts_with(['|', '#']);
        if fence {
            in_code = !in_code;
        }
    }
    runs
}

/// Where the block that starts at run `start` ends: a fenced code block
/// with its fences, a paragraph (the runs up to a blank line), or a blank line.
fn block_end(runs: &[Run<'_>], start: usize) -> usize {
    let first = &runs[start];
    if first.is_blank() && !first.code {
        return start + 1;
    }
    if first.is_fence() {
        let close = runs[start + 1..]
            .iter()
            .position(Run::is_fence)
            .map_or(runs.len(), |at| start + 1 + at + 1);
        return close;
    }
    let mut end = start + 1;
    while end < runs.len() && !runs[end].is_blank() && !runs[end].is_fence() {
        end += 1;
    }
    end
}

/// Whether a sentence that follows an order carries it on: another order
/// ("Then stop.", "It must be ..."), the words to say in quotes or alone
/// ("Only X. X."), or more about the answer to give.
fn continues_an_order(sentence: &str) -> bool {
    let lower = normalised(sentence);
    let words = Words::of(&lower);
    let trimmed = lower.trim_start();
    words.0.len() <= 3
        || trimmed.starts_with(['"', '\'', '“', '«', '‘'])
        || orders::is_directive(&words)
        || orders::starts_imperative(&lower)
        || words.starts_with(&[
            "then", "and", "also", "only", "stop", "it", "its", "first", "next", "finally",
        ])
        || words.has(orders::ANSWERS)
}

/// Whether a sentence or line speaks to the model: a forged turn or role, an
/// attempt to set aside the model's instructions, a rule for its answers, or
/// an order to it about what to say.
pub fn is_instruction(sentence: &str) -> bool {
    let lower = normalised(sentence);
    speaks_to_the_model(&lower) || unleet(&lower).is_some_and(|plain| speaks_to_the_model(&plain))
}

/// A sentence lower-cased with its curly apostrophes straightened and
/// escape sequences written out in it (`\\n`, `\\t`) read as spaces.
fn normalised(sentence: &str) -> String {
    sentence
        .to_lowercase()
        .replace(['’', '‘'], "'")
        .replace("\\n", " ")
        .replace("\\t", " ")
        .replace("\\r", " ")
}

/// Leetspeak read as letters ("1GN0R3 4B0V3" is "ignore above"), when the
/// sentence has words that mix digits into letters; `None` otherwise.
fn unleet(lower: &str) -> Option<String> {
    let mixed = lower.split_whitespace().filter(|word| {
        word.chars().any(|c| c.is_ascii_digit()) && word.chars().any(|c| c.is_alphabetic())
    });
    if mixed.count() < 2 {
        return None;
    }
    Some(
        lower
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' => 'a',
                '5' => 's',
                '7' => 't',
                '@' => 'a',
                '$' => 's',
                other => other,
            })
            .collect(),
    )
}

fn speaks_to_the_model(lower: &str) -> bool {
    let words = Words::of(lower);
    turns::forges_a_turn(lower, &words)
        || turns::sets_aside_instructions(lower, &words)
        || orders::declares_a_rule(lower, &words)
        || orders::orders_an_answer(lower, &words)
        || orders::dictates_the_words(lower, &words)
        || turns::reframes_the_conversation(lower, &words)
        || turns::hides_an_order(&words)
        || turns::speaks_another_language(lower)
}

/// Format characters a reader never sees: zero-width spaces, word joiners,
/// direction overrides, and the Unicode tags that smuggle ASCII text.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Zero-width joiners shape emoji and Indic and Persian words; between two
/// Latin letters they only hide a word from a filter ("ign\u{200D}ore").
fn is_hiding_joiner(before: Option<char>, c: char, after: Option<char>) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
        && before.is_some_and(|b| b.is_ascii_alphabetic())
        && after.is_some_and(|a| a.is_ascii_alphabetic())
}

/// Markdown images as their alt text: `![a chart](https://x/?q=...)` is "a chart".
fn without_images(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.contains("![") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(at) = rest.find("![") {
        out.push_str(&rest[..at]);
        let image = &rest[at + 2..];
        let parsed = image.find("](").and_then(|alt_end| {
            let url = &image[alt_end + 2..];
            url.find(')')
                .map(|url_end| (&image[..alt_end], alt_end + 2 + url_end + 1))
        });
        match parsed {
            Some((alt, len)) if !alt.contains('\n') => {
                out.push_str(alt);
                rest = &image[len..];
            }
            _ => {
                out.push_str("![");
                rest = image;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn without_invisible(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_invisible(c) || matches!(c, '\u{200C}' | '\u{200D}'))
    {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let hidden = |i: usize| {
        is_invisible(chars[i])
            || is_hiding_joiner(
                i.checked_sub(1).map(|b| chars[b]),
                chars[i],
                chars.get(i + 1).copied(),
            )
    };
    if !(0..chars.len()).any(hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        (0..chars.len())
            .filter(|&i| !hidden(i))
            .map(|i| chars[i])
            .collect(),
    )
}

/// A sentence of a line and the spacing before it.
struct Piece<'a> {
    lead: &'a str,
    text: &'a str,
}

/// A line's sentences, each with its closing punctuation; concatenating
/// `lead` and `text` of every piece gives the line back.
fn pieces(line: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = line;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let body = rest.trim_start();
        let lead = &rest[..rest.len() - body.len()];
        let end = sentence_end(body);
        let (text, after) = body.split_at(end);
        rest = after;
        Some(Piece { lead, text })
    })
}

/// Where the first sentence of `text` ends: after `.`, `!` or `?` (and any
/// closing quotes or brackets) followed by a space, else at the end.
/// A table's cells are pieces of their own: `|` is a piece by itself.
fn sentence_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    if bytes.first() == Some(&b'|') {
        return 1;
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'|' => return i,
            b'.' | b'!' | b'?' => {
                let mut j = i + 1;
                while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')' | b']' | b'*') {
                    j += 1;
                }
                // "... platform one!" and says": a quote goes on in lower case.
                let next = text[j..].trim_start_matches(' ').chars().next();
                if j < bytes.len() && bytes[j] == b' ' && !next.is_some_and(char::is_lowercase) {
                    return j;
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    text.len()
}

/// A sentence's lower-cased words, letters and digits only.
struct Words<'a>(Vec<&'a str>);

impl<'a> Words<'a> {
    fn of(lower: &'a str) -> Self {
        Words(
            lower
                .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '_'))
                .map(|w| w.trim_matches('\''))
                .map(|w| w.strip_suffix("'s").unwrap_or(w))
                .filter(|w| !w.is_empty())
                .collect(),
        )
    }

    fn has(&self, any: &[&str]) -> bool {
        self.0.iter().any(|w| any.contains(w))
    }

    /// Whether a word of `first` is followed, within `gap` words, by a word of `then`.
    fn has_then(&self, first: &[&str], gap: usize, then: &[&str]) -> bool {
        self.0.iter().enumerate().any(|(i, w)| {
            first.contains(w)
                && self.0[i + 1..]
                    .iter()
                    .take(gap + 1)
                    .any(|next| then.contains(next))
        })
    }

    /// Whether consecutive words match each list in turn.
    fn has_sequence(&self, lists: &[&[&str]]) -> bool {
        self.0.windows(lists.len()).any(|window| {
            window
                .iter()
                .zip(lists)
                .all(|(word, list)| list.contains(word))
        })
    }

    fn starts_with(&self, any: &[&str]) -> bool {
        self.0.first().is_some_and(|w| any.contains(w))
    }
}
