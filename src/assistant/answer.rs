//! What one question produces: the answer, where it comes from, and what it cost.

use serde::Serialize;

use crate::llm::StopReason;

use super::located::{LinesIn, LocationJson};
use super::sources::Source;

/// Retrieval's best evidence for a question, which the gate judges.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Evidence {
    /// Highest cosine similarity between the question and a retrieved passage.
    pub similarity: f32,
    /// Highest BM25 score divided by the score a passage with every query word
    /// would approach (0 to about 1): how much of the question's keywords a
    /// passage matches, comparable across questions and corpora.
    pub keyword_match: f32,
    /// `similarity + keyword_match`: what the gate compares with its threshold.
    pub strength: f32,
}

impl Evidence {
    pub fn new(similarity: f32, keyword_match: f32) -> Self {
        Evidence {
            similarity,
            keyword_match,
            strength: similarity + keyword_match,
        }
    }
}

/// When the evidence is too weak to answer from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gate {
    /// Refuse below this `similarity + keyword_match`.
    pub min_strength: f32,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            min_strength: super::defaults::MIN_STRENGTH,
        }
    }
}

impl Gate {
    /// A strong meaning match or a strong keyword match is enough on its own;
    /// two middling ones together are too.
    pub fn passes(&self, evidence: &Evidence) -> bool {
        evidence.strength >= self.min_strength
    }
}

/// Why no answer was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Retrieval found nothing close enough; the model was not asked.
    Gate,
    /// The model said the sources do not hold the answer.
    Model,
    /// The model's answer repeated words that the sources hold only inside
    /// instructions addressed to it: it obeyed a document instead of reading it.
    Injection,
}

/// A source the answer relies on.
#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub n: usize,
    pub path: String,
    /// The quote's lines when there is a quote, else the passage's.
    pub line_start: u32,
    pub line_end: u32,
    /// The sentence (or two) of the source that backs the answer best; None
    /// when no word of the answer is in the source.
    pub quote: Option<String>,
    /// The whole passage's first and last lines.
    pub chunk_lines: [u32; 2],
    /// True when the model cited nothing and this source was chosen because
    /// the answer's words overlap it most.
    pub inferred: bool,
    /// True when the answer cited nothing and the model named this source
    /// when asked afterwards which one holds its answer.
    pub asked: bool,
    /// What the line numbers count (see [`LinesIn`]); until
    /// [`Citation::in_file_lines`], the lines of the index's text.
    pub lines_in: LinesIn,
    /// Where in the document (page, slide, sheet rows...), when it says more
    /// than lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationJson>,
    /// How the citation is shown: `path:12-14`, `deck.pptx slide 7`.
    pub cited_at: String,
}

impl Citation {
    pub fn of(source: &Source, inferred: bool) -> Self {
        Citation {
            n: source.n,
            path: source.path.clone(),
            line_start: source.line_start,
            line_end: source.line_end,
            quote: None,
            chunk_lines: [source.line_start, source.line_end],
            inferred,
            asked: false,
            lines_in: source.lines_in(),
            location: source.location.clone().map(LocationJson::from),
            cited_at: source.location(),
        }
    }

    /// The citation's whole span: `path:12-14` in a text file, else where
    /// in the document (`deck.pptx slide 7`).
    pub fn span(&self) -> String {
        match self.lines_in {
            LinesIn::File => format!(
                "{}:{}-{}",
                rag_index::paths::escape_controls(&self.path),
                self.line_start,
                self.line_end
            ),
            LinesIn::Text => self.cited_at.clone(),
        }
    }

    /// The citation's lines as the file's, once its quote has been placed
    /// in the source's text: what every front end shows and scripts read.
    /// A quote inside a document is placed on its own divisions (`page 4`
    /// of a passage over pages 3-4).
    pub fn in_file_lines(&mut self, source: &Source) {
        let quoted = (self.quote.as_ref())
            .and(source.location.as_ref())
            .map(|location| location.narrowed(self.line_start, self.line_end));
        self.line_start = source.file_line(self.line_start);
        self.line_end = source.file_line(self.line_end);
        self.chunk_lines = self.chunk_lines.map(|line| source.file_line(line));
        self.cited_at = match (&self.quote, self.lines_in, quoted) {
            (Some(_), LinesIn::File, _) => format!(
                "{}:{}",
                rag_index::paths::escape_controls(&self.path),
                self.line_start
            ),
            (Some(_), LinesIn::Text, Some(location)) => {
                let cited_at = source.location_at(&location);
                self.location = Some(LocationJson::from(location));
                cited_at
            }
            _ => source.location(),
        };
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AnswerTimings {
    pub retrieval_ms: f64,
    /// From the question to the first word of the answer on screen.
    pub first_token_ms: f64,
    /// Prompt tokens run per second (those from the cache not counted).
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    /// Tokens guessed from the prompt and checked in the decode passes, and
    /// of those, the ones the model chose too.
    pub drafted_tokens: usize,
    pub accepted_tokens: usize,
    pub total_ms: f64,
    /// Leading prompt tokens whose cache came from the previous answer's
    /// prompt (the instruction and worked examples, earlier turns).
    pub cached_prompt_tokens: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    pub answer: String,
    pub refused: bool,
    /// The answer reached the token limit (`--max-tokens`) and was cut there;
    /// a code fence it left open has been closed.
    pub truncated: bool,
    /// Why it refused; null when it answered.
    pub refusal: Option<Refusal>,
    pub citations: Vec<Citation>,
    /// The numbered passages the model read (after a gate refusal: the nearest ones).
    pub sources: Vec<Source>,
    /// The reasoning before the answer, in `--think` mode.
    pub thinking: Option<String>,
    /// Share of the answer's words found in the sources, per sentence (0 to 1).
    pub grounding: f32,
    /// No sentence of any source holds enough of the answer's words to back
    /// it (never set on a refusal).
    pub unsupported: bool,
    pub evidence: Evidence,
    pub timings: AnswerTimings,
    pub model: String,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Answers sampled; the best grounded one was kept.
    pub samples: usize,
    pub stop_reason: Option<StopReason>,
}

#[cfg(test)]
mod tests {
    use rag_index::{Location, Place, Unit};

    use super::*;
    use crate::assistant::sources::test_source;

    #[test]
    fn a_quote_in_a_document_is_cited_on_its_own_slide() {
        let slides: Vec<Place> = (1..=2)
            .map(|number| Place {
                line: number * 4 - 3,
                unit: Unit::Slide,
                number,
                name: None,
            })
            .collect();
        let text = "Slide 1: Goals\nMore monkeys.\n\nSlide 2: Budget\nThe grant closes in March.";
        let mut source = test_source(1, 1, text);
        source.path = "deck.pptx".into();
        source.stored_path = "deck.pptx".into();
        source.location = Location::of_lines(&slides, 1, 5);

        let whole = Citation::of(&source, false);
        assert_eq!(whole.cited_at, "deck.pptx slides 1-2");
        let mut quoted = whole.clone();
        quoted.quote = Some("The grant closes in March.".into());
        (quoted.line_start, quoted.line_end) = (5, 5);
        quoted.in_file_lines(&source);
        assert_eq!(quoted.cited_at, "deck.pptx slide 2");
        let location = quoted.location.as_ref().unwrap();
        assert_eq!((location.first, location.last), (2, 2));
        // Without a quote, the citation is the passage's.
        let mut unquoted = whole.clone();
        unquoted.in_file_lines(&source);
        assert_eq!(unquoted.cited_at, "deck.pptx slides 1-2");
    }
}
