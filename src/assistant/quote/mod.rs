//! Evidence at the exact line: for each cited source, the sentence (or two
//! adjacent sentences) that backs the answer best, with the lines it sits on,
//! and whether any sentence of any source backs the answer at all.
//!
//! Matching is lexical: the answer's content words (lower-cased, lightly
//! stemmed, numbers and rare words weighted up) found in a sentence, the
//! question's words counting less. On 34 answers of SmolLM2-135M over the
//! bundled corpus (qa-dev's 30 answerable questions and 6 about the guide),
//! this picked the sentence a person would pick for 31 of 33 quotes; the
//! best sentence by MiniLM similarity to the answer (or to question and
//! answer) did for 26, preferring sentences about the same subject over the
//! one that states the answer's fact ("Flavius Josephus was a historian"
//! over "Best known for writing The Jewish War"), and took 90-420 ms per
//! source on this machine. So the embedder is not used.

use std::collections::{HashMap, HashSet};

use super::answer::Citation;
use super::grounding::content_words;
use super::sources::Source;

mod sentences;

use sentences::quote_text;
pub use sentences::{answer_sentences, sentences, Sentence};

/// Below this share of the answer's (weighted) words in the best stretch of
/// any source, no sentence backs the answer. Measured on the answers above
/// and on 8 questions the corpus cannot answer (asked with the gate off): the
/// right answers' best stretch held 0.50-1.0 of their words; the wrong ones
/// the model made up without copying a source sentence 0-0.38, one wrong
/// answer 0.45. Wrong answers that copy a sentence about something else
/// ("the Aurelia Tower is 0.2-10 cm tall", from the moss article) score like
/// right ones: words cannot tell them apart.
pub const MIN_SUPPORT: f32 = 0.45;
/// A number in the answer is the fact most likely to be wrong, so finding it
/// weighs as much as several words.
const NUMBER_WEIGHT: f32 = 3.0;
/// How much the question's words count next to the answer's: enough to
/// choose between sentences that hold a one-word answer equally, too little
/// to let a sentence that only repeats the question win.
const QUESTION_WEIGHT: f32 = 0.3;
/// Two sentences together are quoted only when they back clearly more of
/// the answer than the best one alone.
const PAIR_PENALTY: f32 = 0.15;

/// A word as matching compares it: lower-case, plural and verb endings off.
fn stem(word: &str) -> String {
    if word.chars().any(|c| c.is_ascii_digit()) {
        return word.to_string();
    }
    let n = word.len();
    let strip = |suffix: &str, min: usize| {
        (n >= suffix.len() + min && word.ends_with(suffix)).then(|| &word[..n - suffix.len()])
    };
    if let Some(base) = strip("ies", 2) {
        return format!("{base}y");
    }
    if let Some(base) = strip("ing", 3).or_else(|| strip("ed", 3)) {
        return base.to_string();
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return word.to_string();
    }
    if let Some(base) = ["ches", "shes", "xes", "sses"]
        .iter()
        .find_map(|s| strip(s, 2).map(|b| (b, &s[..s.len() - 2])))
        .map(|(b, keep)| format!("{b}{keep}"))
    {
        return base;
    }
    strip("s", 3).unwrap_or(word).to_string()
}

/// How answers name things rather than what they claim: "It is called a
/// stretto", "The answer is: 226", "This text mentions...".
const SCAFFOLDING: &[&str] = &[
    "called",
    "named",
    "known",
    "answer",
    "text",
    "mentions",
    "mentioned",
];

fn terms(text: &str) -> HashSet<String> {
    content_words(text)
        .iter()
        .filter(|w| !SCAFFOLDING.contains(&w.as_str()))
        .map(|w| stem(w))
        .collect()
}

fn is_number(term: &str) -> bool {
    term.chars().any(|c| c.is_ascii_digit())
}

/// One quotable stretch of a source: a sentence or two adjacent ones.
struct Candidate {
    source: usize,
    first: usize,
    last: usize,
    terms: HashSet<String>,
    /// A pair's two sentences' words (empty for one sentence).
    halves: Vec<HashSet<String>>,
}

/// How a stretch of a source matches one answer sentence (each 0 to 1).
struct Grade {
    /// What picks the quote: the answer's own words count fully, the
    /// question's words (echoed in the answer or not) [`QUESTION_WEIGHT`], so
    /// that a sentence that merely shares the question's words does not win.
    score: f32,
    /// Share of the answer's words, all counted fully: an invented "X wrote
    /// *the title in the question*" must find the title too.
    support: f32,
    /// Share of the answer's words that are not the question's.
    novel: f32,
}

/// What the answer's sentences and the sources' sentences have in common.
pub struct Matcher<'a> {
    sources: &'a [Source],
    sentences: Vec<Vec<Sentence>>,
    candidates: Vec<Candidate>,
    /// Rare words tell sentences apart; a word in every sentence does not.
    weights: HashMap<String, f32>,
    question: HashSet<String>,
}

/// The best stretch of one source for some answer text.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub text: String,
    pub line_start: u32,
    pub line_end: u32,
    /// Weighted share of the answer's words the quote holds (0 to 1).
    pub support: f32,
}

impl<'a> Matcher<'a> {
    pub fn new(sources: &'a [Source], question: &str) -> Self {
        let sentences: Vec<Vec<Sentence>> = sources
            .iter()
            .map(|s| sentences(&s.text, s.line_start))
            .collect();
        let mut candidates = Vec::new();
        let mut df: HashMap<String, f32> = HashMap::new();
        for (si, list) in sentences.iter().enumerate() {
            let source_terms: Vec<HashSet<String>> = list
                .iter()
                .map(|s| terms(&sources[si].text[s.start..s.end]))
                .collect();
            for (i, t) in source_terms.iter().enumerate() {
                for term in t {
                    *df.entry(term.clone()).or_default() += 1.0;
                }
                candidates.push(Candidate {
                    source: si,
                    first: i,
                    last: i,
                    terms: t.clone(),
                    halves: Vec::new(),
                });
                let adjacent = list
                    .get(i + 1)
                    .is_some_and(|next| next.line_start <= list[i].line_end + 1);
                if adjacent {
                    candidates.push(Candidate {
                        source: si,
                        first: i,
                        last: i + 1,
                        terms: t.union(&source_terms[i + 1]).cloned().collect(),
                        halves: vec![t.clone(), source_terms[i + 1].clone()],
                    });
                }
            }
        }
        let total = sentences.iter().map(Vec::len).sum::<usize>() as f32;
        let weights = df
            .into_iter()
            .map(|(term, df)| {
                let w = (1.0 + (total + 1.0) / (df + 1.0)).ln();
                let w = if is_number(&term) {
                    w * NUMBER_WEIGHT
                } else {
                    w
                };
                (term, w)
            })
            .collect();
        Matcher {
            sources,
            sentences,
            candidates,
            weights,
            question: terms(question),
        }
    }

    fn weight(&self, term: &str) -> f32 {
        // A word no source has is as rare as can be.
        let unseen = (2.0 + self.sentences.iter().map(Vec::len).sum::<usize>() as f32).ln();
        let w = self.weights.get(term).copied().unwrap_or(unseen);
        if is_number(term) && !self.weights.contains_key(term) {
            w * NUMBER_WEIGHT
        } else {
            w
        }
    }

    /// How well the words `found` match an answer sentence's words `wanted`.
    fn grade(&self, wanted: &HashSet<String>, found: &HashSet<String>) -> Grade {
        let mut sums = [[0.0f32; 2]; 3];
        for term in wanted.union(&self.question) {
            let w = self.weight(term);
            let echo = self.question.contains(term);
            let present = f32::from(u8::from(found.contains(term)));
            let scale = if echo { QUESTION_WEIGHT } else { 1.0 };
            let mut add = |i: usize, w: f32| {
                sums[i][0] += w * present;
                sums[i][1] += w;
            };
            add(0, w * scale);
            if wanted.contains(term) {
                add(1, w);
                if !echo {
                    add(2, w);
                }
            }
        }
        let share = |[hit, total]: [f32; 2]| if total > 0.0 { hit / total } else { 0.0 };
        Grade {
            score: share(sums[0]),
            support: share(sums[1]),
            novel: share(sums[2]),
        }
    }

    /// The most of any answer sentence that one stretch of any source holds.
    pub fn support(&self, answer: &[String]) -> f32 {
        answer
            .iter()
            .map(|sentence| terms(sentence))
            .filter(|wanted| !wanted.is_empty())
            .flat_map(|wanted| {
                self.candidates
                    .iter()
                    .map(move |c| self.grade(&wanted, &c.terms).support)
                    .collect::<Vec<_>>()
            })
            .fold(0.0, f32::max)
    }

    /// The best stretch of source `n` (or of any source, with None) for the
    /// answer sentences `answer`.
    pub fn best(&self, answer: &[String], n: Option<usize>) -> Option<Quote> {
        let mut best: Option<(f32, f32, &Candidate)> = None;
        for sentence in answer {
            let wanted = terms(sentence);
            if wanted.is_empty() {
                continue;
            }
            for c in &self.candidates {
                if n.is_some_and(|n| self.sources[c.source].n != n) {
                    continue;
                }
                let Grade {
                    mut score,
                    support,
                    novel,
                } = self.grade(&wanted, &c.terms);
                if !c.halves.is_empty() {
                    let alone = c
                        .halves
                        .iter()
                        .map(|h| self.grade(&wanted, h).novel)
                        .fold(0.0, f32::max);
                    // The second sentence must add a real share of what the
                    // answer says beyond the question; the question's own
                    // words ("Flavius Josephus was a historian") do not count.
                    if novel < alone + PAIR_PENALTY {
                        continue;
                    }
                    score -= PAIR_PENALTY;
                }
                if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                    best = Some((score, support, c));
                }
            }
        }
        let (_, support, c) = best?;
        let list = &self.sentences[c.source];
        let (first, last) = (&list[c.first], &list[c.last]);
        Some(Quote {
            text: quote_text(&self.sources[c.source].text[first.start..last.end]),
            line_start: first.line_start,
            line_end: last.line_end,
            support,
        })
    }
}

/// Gives each citation the stretch of its source that backs the answer
/// (narrowing its lines to the quote's), and says whether any sentence of any
/// source backs the answer. A refusal, or an answer with no words to check,
/// is never unsupported.
pub fn attach(
    citations: &mut [Citation],
    answer: &str,
    question: &str,
    sources: &[Source],
    refused: bool,
) -> bool {
    let sentences = answer_sentences(answer, sources.len());
    let all: Vec<String> = sentences.iter().map(|(text, _)| text.clone()).collect();
    if refused || all.iter().all(|s| terms(s).is_empty()) {
        return false;
    }
    let matcher = Matcher::new(sources, question);
    for citation in citations.iter_mut() {
        let citing: Vec<String> = sentences
            .iter()
            .filter(|(_, cited)| cited.contains(&citation.n))
            .map(|(text, _)| text.clone())
            .collect();
        let wanted = if citing.is_empty() { &all } else { &citing };
        if let Some(quote) = matcher.best(wanted, Some(citation.n)) {
            if quote.support > 0.0 {
                citation.line_start = quote.line_start;
                citation.line_end = quote.line_end;
                citation.quote = Some(quote.text);
            }
        }
    }
    matcher.support(&all) < MIN_SUPPORT
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::assistant::sources::test_source as source;

    const FUGUE: &str = "A fugue usually has three main sections: an exposition, a development,\nand a final entry. Fugues can also have episodes; a stretto, when the\nfugue's subject overlaps itself in different voices, or a recapitulation.\nThe fugue was popular in the Baroque era.";
    const QUESTION: &str = "In a fugue, what is it called when the subject overlaps itself?";

    #[test]
    fn the_supporting_sentence_wins_among_distractors() {
        let sources = [source(1, 3, FUGUE)];
        let matcher = Matcher::new(&sources, QUESTION);
        let quote = matcher
            .best(&["It is called a stretto.".into()], Some(1))
            .unwrap();
        assert!(
            quote.text.starts_with("Fugues can also have episodes"),
            "{quote:?}"
        );
        assert_eq!((quote.line_start, quote.line_end), (4, 5));
        assert!(quote.support >= MIN_SUPPORT);
    }

    #[test]
    fn numbers_decide_between_similar_sentences() {
        let text = "The backup job connects to port 2222 on the remote host.\nThe web server listens on port 8080 on the same host.\nThe database connects to port 5432 on the remote host.";
        let sources = [source(1, 20, text)];
        let matcher = Matcher::new(&sources, "Which port does the web server use?");
        let quote = matcher
            .best(&["It uses port 5432.".into()], Some(1))
            .unwrap();
        assert_eq!(quote.line_start, 22, "{quote:?}");
        let quote = matcher.best(&["Port 8080.".into()], Some(1)).unwrap();
        assert_eq!(quote.line_start, 21, "{quote:?}");
    }

    #[test]
    fn a_made_up_answer_is_unsupported_and_a_refusal_is_not() {
        let sources = [
            source(1, 3, FUGUE),
            source(2, 1, "Belfast is the capital of Northern Ireland."),
        ];
        let mut citations = vec![Citation::of(&sources[0], false)];
        let backed = attach(
            &mut citations,
            "It is called a stretto [1].",
            QUESTION,
            &sources,
            false,
        );
        assert!(!backed);
        let citation = &citations[0];
        assert_eq!((citation.line_start, citation.line_end), (4, 5));
        assert_eq!(citation.chunk_lines, [3, 6]);
        assert!(citation
            .quote
            .as_deref()
            .is_some_and(|q| q.contains("stretto")));

        let invented = "Mozart invented the canon in Vienna in 1791.";
        assert!(attach(&mut [], invented, QUESTION, &sources, false));
        assert!(!attach(&mut [], invented, QUESTION, &sources, true));
        assert!(!attach(&mut [], "", QUESTION, &sources, false));
    }

    #[test]
    fn stems_match_plurals_and_verb_forms() {
        for (a, b) in [
            ("overlaps", "overlap"),
            ("species", "species"),
            ("voices", "voice"),
            ("churches", "church"),
            ("studies", "study"),
            ("recounted", "recount"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} {b}");
        }
        assert_eq!(stem("2222"), "2222");
    }
}
