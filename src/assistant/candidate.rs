//! One sampled answer as it streams and once it is done: reasoning apart,
//! citations checked, scored against the sources.

use std::collections::HashSet;

use crate::llm::{Generation, StopReason};

use super::answer::Citation;
use super::citations::{self, CitationFilter};
use super::grounding;
use super::prompt::{Piece, ThinkSplitter};
use super::sources::Source;
use super::Event;

/// One sampled answer, cleaned and scored.
pub(super) struct Candidate {
    pub(super) generation: Generation,
    pub(super) thinking: Option<String>,
    pub(super) answer: String,
    pub(super) cited: Vec<usize>,
    pub(super) grounding: f32,
}

impl Candidate {
    pub(super) fn new(
        generation: Generation,
        think: bool,
        sources: usize,
        evidence: &HashSet<String>,
    ) -> Self {
        let (thinking, raw) = if think {
            ThinkSplitter::default().finish(&generation.text)
        } else {
            (None, generation.text.trim().to_string())
        };
        let (answer, cited) = citations::clean(&raw, sources);
        let answer = answer.trim().to_string();
        let grounding = grounding::grounding(&answer, evidence);
        Candidate {
            generation,
            thinking,
            answer,
            cited,
            grounding,
        }
    }

    pub(super) fn cancelled(&self) -> bool {
        self.generation.stop_reason == StopReason::Cancelled
    }
}

/// The model's valid citations; without any, the source it `named` when
/// asked; failing that, the sources the answer's words overlap most (at least
/// half as much as the best one), marked as inferred.
pub(super) fn citations_for(
    answer: &str,
    question: &str,
    cited: &[usize],
    named: Option<usize>,
    sources: &[Source],
) -> Vec<Citation> {
    if !cited.is_empty() {
        return cited
            .iter()
            .filter_map(|&n| sources.iter().find(|s| s.n == n))
            .map(|s| Citation::of(s, false))
            .collect();
    }
    // The model's own answer to "which source?" comes first; the passages
    // the answer's words overlap most follow where they differ from it, as
    // the model's choice is right less often than the overlap.
    let mut citations: Vec<Citation> = named
        .and_then(|n| sources.iter().find(|s| s.n == n))
        .map(|source| Citation {
            asked: true,
            ..Citation::of(source, false)
        })
        .into_iter()
        .collect();
    let inferred: Vec<Citation> = leaned_on(answer, question, sources)
        .into_iter()
        .take(2)
        .filter(|s| Some(s.n) != named)
        .map(|s| Citation::of(s, true))
        .collect();
    citations.extend(inferred);
    citations
}

/// The sources an answer's words lean on, in their order: those whose
/// overlap with the answer is at least half the best one's. Empty when no
/// source shares a content word with it.
pub(super) fn leaned_on<'s>(
    answer: &str,
    question: &str,
    sources: &'s [Source],
) -> Vec<&'s Source> {
    let texts: Vec<&str> = sources.iter().map(|s| s.text.as_str()).collect();
    let overlaps: Vec<(f32, &Source)> = grounding::overlaps(answer, question, &texts)
        .into_iter()
        .zip(sources)
        .collect();
    let best = overlaps.iter().map(|(o, _)| *o).fold(0.0, f32::max);
    if best <= 0.0 {
        return Vec::new();
    }
    overlaps
        .into_iter()
        .filter(|(o, _)| *o >= best * 0.5)
        .map(|(_, s)| s)
        .collect()
}

/// The source the model names when asked: the number it finds most likely
/// (`likelihood` per source number) among the sources the answer leans on,
/// or among all when it leans on none. Asked after an answer it did not
/// cite, the model sometimes names a source that shares nothing with what
/// it wrote (a test's output for an answer about `env::var`).
pub(super) fn named_source(
    answer: &str,
    question: &str,
    sources: &[Source],
    likelihood: &[(usize, f32)],
) -> Option<usize> {
    let leaned: Vec<usize> = leaned_on(answer, question, sources)
        .iter()
        .map(|s| s.n)
        .collect();
    likelihood
        .iter()
        .filter(|(n, _)| leaned.is_empty() || leaned.contains(n))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|&(n, _)| n)
}

/// Turns streamed model text into events: reasoning apart (in `--think` mode),
/// leading blanks dropped, citation markers checked.
pub(super) struct Shown {
    think: Option<ThinkSplitter>,
    pub(super) citations: CitationFilter,
    pub(super) started: bool,
}

impl Shown {
    pub(super) fn new(sources: usize, think: bool) -> Self {
        Shown {
            think: think.then(ThinkSplitter::default),
            citations: CitationFilter::new(sources),
            started: false,
        }
    }

    pub(super) fn push(&mut self, text: &str, emit: &mut dyn FnMut(Event<'_>) -> bool) -> bool {
        let pieces = match &mut self.think {
            Some(splitter) => splitter.push(text),
            None => vec![Piece::Answer(text.to_string())],
        };
        for piece in pieces {
            let keep_going = match piece {
                Piece::Thinking(text) => emit(Event::Thinking(&text)),
                Piece::Answer(text) => {
                    let mut shown = self.citations.push(&text);
                    if !self.started {
                        shown = shown.trim_start().to_string();
                        self.started = !shown.is_empty();
                    }
                    shown.is_empty() || emit(Event::Token(&shown))
                }
            };
            if !keep_going {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::sources::test_source;

    #[test]
    fn the_source_named_when_asked_leads_and_overlap_fills_in() {
        let sources = [
            test_source(1, 1, "Cargo builds the crate with cargo build."),
            test_source(2, 1, "Rc lets a value have several owners in one thread."),
            test_source(3, 1, "Arc is Rc for threads."),
        ];
        let answer = "A value has several owners through Rc in one thread.";
        // Written citations win outright.
        let written = citations_for(answer, "", &[3], Some(1), &sources);
        assert_eq!(written.len(), 1);
        assert!(!written[0].inferred && !written[0].asked && written[0].n == 3);
        // Named when asked: first, then the overlap's that differ from it.
        let named = citations_for(answer, "", &[], Some(1), &sources);
        assert!(named[0].asked && !named[0].inferred && named[0].n == 1);
        assert!(named[1..].iter().all(|c| c.inferred && c.n != 1));
        assert!(named.iter().any(|c| c.n == 2));
        // Named and closest agree: one citation.
        let agree = citations_for(answer, "", &[], Some(2), &sources);
        assert!(agree[0].asked && agree[0].n == 2);
        assert!(agree[1..].iter().all(|c| c.n != 2));
        // Not asked: the overlap alone.
        let inferred = citations_for(answer, "", &[], None, &sources);
        assert!(inferred.iter().all(|c| c.inferred) && inferred[0].n == 2);
    }

    #[test]
    fn the_source_named_is_one_the_answer_leans_on() {
        let sources = [
            test_source(1, 1, "Cargo builds the crate with cargo build."),
            test_source(2, 1, "Rc lets a value have several owners in one thread."),
            test_source(3, 1, "Arc is Rc for threads, with atomic counts."),
        ];
        let answer = "Rc lets a value have several owners in one thread.";
        // The model's two favourites share next to nothing with the answer:
        // the source the answer leans on is named.
        let likelihood = [(1, 9.0), (2, 4.0), (3, 5.0)];
        assert_eq!(named_source(answer, "", &sources, &likelihood), Some(2));
        // Among the sources it leans on, the model's choice stands.
        let both = "Arc is Rc with atomic counts: a value has several owners.";
        assert_eq!(named_source(both, "", &sources, &likelihood), Some(3));
        // An answer that shares no word with any source: the model alone.
        assert_eq!(named_source("Zebras.", "", &sources, &likelihood), Some(1));
        assert_eq!(named_source(answer, "", &sources, &[]), None);
    }
}
