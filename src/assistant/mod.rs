//! The answer pipeline: retrieve -> gate -> pack -> prompt -> generate -> cite.
//! `rag ask`, `rag batch`, `rag eval` and the chat UI all drive this one engine
//! and only differ in how they show its [`Event`]s.

mod answer;
mod answering;
mod candidate;
pub mod citations;
mod citing;
pub mod fences;
pub mod grounding;
pub mod injection;
pub mod instructions;
pub mod located;
pub mod prompt;
pub mod quote;
pub mod retrieval;
pub mod sources;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use rag_index::{Embedder, Hit, SearchIndex, SearchOptions};

use crate::embedding::OnnxEmbedder;
use crate::llm::{GenerateOptions, Generator, PenaltyScope, Prefilled, SamplingOptions};
use crate::Result;

pub use answer::{Answer, AnswerTimings, Citation, Evidence, Gate, Refusal};
pub use prompt::Style;
pub use sources::Source;

/// Tokens kept free for the instruction, the demonstrations (instructed
/// models), the question and the template's markup.
const PROMPT_OVERHEAD: usize = 512;
/// Questions embedded together when answering many.
const RETRIEVAL_BATCH: usize = 32;
/// Words of the previous answer added to a follow-up's search.
const FOLLOW_UP_ANSWER_WORDS: usize = 40;
/// Template markup around one earlier question and answer.
const TURN_MARKUP: usize = 12;
/// Passages listed after a gate refusal.
const NEAREST_AFTER_REFUSAL: usize = 3;

#[derive(Debug, Clone)]
pub struct AskOptions {
    /// Passages retrieved (before neighbours are merged and the budget applies).
    pub k: usize,
    pub search: SearchOptions,
    pub gate: Gate,
    /// Token budget for the sources in the prompt.
    pub context_tokens: usize,
    pub generate: GenerateOptions,
    /// Answers to sample; the one best supported by the sources is kept.
    pub samples: usize,
    /// Let the model reason before answering.
    pub think: bool,
}

/// The answer defaults, written once: [`AskOptions::default`], the config
/// file and the flags' help all read them.
pub mod defaults {
    /// Passages retrieved for an answer.
    pub const K: usize = 3;
    /// Token budget of the sources in the prompt.
    pub const CONTEXT_TOKENS: usize = 1000;
    /// Longest answer, in tokens: room for the explanation, the example
    /// and the citation of a documentation answer, which run longer than
    /// an encyclopedia fact (the measurement is in the bench notes). A cut
    /// answer says so.
    pub const MAX_TOKENS: usize = 256;
    /// Answers sampled per question (the best supported is kept).
    pub const SAMPLES: usize = 1;
    /// Answers from documents are greedy: the most likely continuation of an
    /// open-book prompt is the most faithful one.
    pub const TEMPERATURE: f32 = 0.0;
    /// The gate refuses below this `similarity + keyword_match`. On qa-dev
    /// over the wiki-vital-10k index, answerable questions scored 0.85-1.6
    /// and unanswerable ones 0.65-0.69; either signal alone overlapped
    /// (similarity 0.48 vs 0.50, keyword match 0.26 vs 0.28). The threshold
    /// sits in the middle of the gap.
    pub const MIN_STRENGTH: f32 = 0.77;
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            k: defaults::K,
            search: SearchOptions::default(),
            gate: Gate::default(),
            context_tokens: defaults::CONTEXT_TOKENS,
            generate: GenerateOptions {
                max_tokens: defaults::MAX_TOKENS,
                sampling: SamplingOptions {
                    temperature: defaults::TEMPERATURE,
                    ..SamplingOptions::default()
                },
                penalty_scope: PenaltyScope::AnswerWords,
                ..GenerateOptions::default()
            },
            samples: defaults::SAMPLES,
            think: false,
        }
    }
}

/// An earlier exchange of a conversation.
#[derive(Debug, Clone)]
pub struct Turn {
    pub question: String,
    pub answer: String,
}

/// A question, with the conversation before it (empty for `ask`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub question: &'a str,
    pub history: &'a [Turn],
}

impl<'a> Request<'a> {
    pub fn new(question: &'a str) -> Self {
        Request {
            question,
            history: &[],
        }
    }

    /// The question with the words of the exchange before it, the answer
    /// included: after "Who wrote Hamlet?", "where was he born?" needs
    /// "Shakespeare", which only the answer holds (over the wiki-vital-10k
    /// index the Shakespeare article ranks 2nd with the answer's words and
    /// outside the top 3 without). A question with history is searched both
    /// with this and alone ([`retrieval::retrieve`]).
    pub fn retrieval_query(&self) -> String {
        let question = self.question.trim();
        let Some(previous) = self.history.last() else {
            return question.to_string();
        };
        let answer: Vec<&str> = previous
            .answer
            .split_whitespace()
            .take(FOLLOW_UP_ANSWER_WORDS)
            .collect();
        format!(
            "{} {} {question}",
            previous.question.trim(),
            answer.join(" ")
        )
    }
}

/// Progress of one answer, in order: Retrieved, Reading, then Thinking/Token
/// pieces, then Done. Returning false from the callback at any of them stops
/// the answer (Done still comes, with what there is so far).
#[derive(Debug)]
pub enum Event<'a> {
    Retrieved {
        sources: &'a [Source],
        /// The gate refused: these are the nearest passages, not read by the model.
        refused: bool,
    },
    /// The model is reading the prompt: `read` of `total` tokens so far.
    Reading {
        read: usize,
        total: usize,
    },
    /// With several samples, each piece of sample `sample` (of `of`) as it is
    /// written. The first sample also streams as [`Event::Draft`]; the best
    /// comes as [`Event::Chosen`] and Token pieces once all are written.
    Sampling {
        sample: usize,
        of: usize,
        tokens: usize,
    },
    /// A piece of the first of several samples (citations checked), to show
    /// while the others are written; the chosen answer replaces it.
    Draft(&'a str),
    /// Sample `sample` of `of` is the best supported; its text follows as
    /// Token pieces (the same text as the draft when `sample` is 1).
    Chosen {
        sample: usize,
        of: usize,
    },
    /// Reasoning text in `--think` mode.
    Thinking(&'a str),
    /// A piece of the answer, citations already checked.
    Token(&'a str),
    Done(&'a Answer),
}

/// Retrieval's result for one question.
#[derive(Debug, Clone)]
pub struct Retrieval {
    /// The best passages, best first.
    pub hits: Vec<Hit>,
    /// Passages of the same files from the next ranks, read with them.
    pub more: Vec<Hit>,
    pub evidence: Evidence,
    pub millis: f64,
}

impl Retrieval {
    /// What the model reads: each passage of `hits` followed by those of
    /// `more` from its file (a file's passages together, the best file first).
    pub fn to_read(&self) -> Vec<Hit> {
        let mut read: Vec<Hit> = Vec::with_capacity(self.hits.len() + self.more.len());
        for (i, hit) in self.hits.iter().enumerate() {
            read.push(hit.clone());
            if self.hits[..i].iter().all(|h| h.path != hit.path) {
                read.extend(self.more.iter().filter(|h| h.path == hit.path).cloned());
            }
        }
        read
    }
}

pub struct Assistant {
    /// Swapped whole when a newer commit is opened; each answer keeps the
    /// one it started with.
    index: RwLock<Arc<dyn SearchIndex>>,
    /// The last prompt, prefilled: the next one starts from what they share.
    last_prefill: Mutex<Option<Prefilled>>,
    /// Shared with the assistant that answers with another model after a switch.
    embedder: Arc<OnnxEmbedder>,
    generator: Generator,
    model_name: String,
    /// The prompt measured best for this model; None: chosen by its size.
    style: Option<Style>,
    /// How a source's file is named in answers (the caller's choice:
    /// relative to a folder, a URL...); absolute by default.
    show_path: PathDisplay,
    /// Where the prompt's start is kept between runs, prefilled; None: not kept.
    saved_starts: Option<std::path::PathBuf>,
}

/// Names a source's file for the user, from its absolute path.
pub type PathDisplay = Arc<dyn Fn(&std::path::Path) -> String + Send + Sync>;

impl Assistant {
    pub fn new(
        index: Box<dyn SearchIndex>,
        embedder: OnnxEmbedder,
        generator: Generator,
        model_name: String,
    ) -> Self {
        Assistant {
            index: RwLock::new(Arc::from(index)),
            last_prefill: Mutex::new(None),
            embedder: Arc::new(embedder),
            generator,
            model_name,
            style: None,
            show_path: Arc::new(rag_index::paths::encode),
            saved_starts: None,
        }
    }

    /// Keeps the start every open-book prompt shares, prefilled, in `dir`
    /// between runs, so that a one-shot question does not run it again.
    pub fn with_saved_starts(mut self, dir: std::path::PathBuf) -> Self {
        self.saved_starts = Some(dir);
        self
    }

    /// Words the open-book prompt as measured for this model (the catalogue
    /// stores it); None leaves the choice to the model's size.
    pub fn with_style(mut self, style: Option<Style>) -> Self {
        self.style = style;
        self
    }

    /// Names sources' files with `show_path` instead of their absolute path.
    pub fn with_path_display(mut self, show_path: PathDisplay) -> Self {
        self.show_path = show_path;
        self
    }

    /// This assistant answering with another model: the same index, embedder
    /// and naming of files, and none of this one's prompt cache.
    pub fn with_generator(
        &self,
        generator: Generator,
        model_name: String,
        style: Option<Style>,
    ) -> Self {
        Assistant {
            index: RwLock::new(self.index()),
            last_prefill: Mutex::new(None),
            embedder: Arc::clone(&self.embedder),
            generator,
            model_name,
            style,
            show_path: Arc::clone(&self.show_path),
            saved_starts: self.saved_starts.clone(),
        }
    }

    /// The index answers come from now.
    pub fn index(&self) -> Arc<dyn SearchIndex> {
        Arc::clone(&self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Answers from `index` from now on (answers under way finish with theirs).
    pub fn replace_index(&self, index: Box<dyn SearchIndex>) {
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = Arc::from(index);
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The embedding model's name, as the index records it.
    pub fn embedding_model(&self) -> &str {
        self.embedder.model_id()
    }

    /// Vectors of `texts` from the index's embedding model.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embedder
            .embed(texts)
            .map_err(|reason| retrieval::embedding_error("the input", reason))
    }

    /// Tokens the embedding model reads of `text` (before its own cut).
    pub fn embedding_tokens(&self, text: &str) -> usize {
        self.embedder
            .tokenizer()
            .encode(text, false)
            .map_or(0, |encoding| encoding.len())
    }

    /// Searches the index as `rag search` does: the query embedded unless the
    /// mode is keywords only.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<Hit>> {
        let embedder = match options.mode {
            rag_index::Mode::Bm25 => None,
            _ => Some(self.embedder.as_ref() as &dyn Embedder),
        };
        Ok(self.index().search(query, embedder, options)?)
    }

    /// A stored path as this assistant shows sources' paths.
    pub fn display_path(&self, stored: &str) -> String {
        (self.show_path)(&self.index().resolve(stored))
    }

    /// Finds the passages for a question and measures how strong they are.
    pub fn retrieve(&self, query: &str, options: &AskOptions) -> Result<Retrieval> {
        retrieval::retrieve(
            self.index().as_ref(),
            self.embedder.as_ref(),
            Request::new(query),
            options,
        )
    }

    /// Retrieval for many questions, their embeddings computed in batches.
    pub fn retrieve_many(&self, queries: &[&str], options: &AskOptions) -> Result<Vec<Retrieval>> {
        self.retrieve_many_from(self.index().as_ref(), queries, options)
    }

    fn retrieve_many_from(
        &self,
        index: &dyn SearchIndex,
        queries: &[&str],
        options: &AskOptions,
    ) -> Result<Vec<Retrieval>> {
        let started = Instant::now();
        let vectors = self
            .embedder
            .embed(queries)
            .map_err(|reason| retrieval::embedding_error("the questions", reason))?;
        let embed_share = started.elapsed().as_secs_f64() / queries.len().max(1) as f64;
        queries
            .iter()
            .zip(vectors)
            .map(|(query, vector)| {
                let mut retrieval =
                    retrieval::search(index, query, &vector, options, Instant::now())?;
                retrieval.millis += embed_share * 1000.0;
                Ok(retrieval)
            })
            .collect()
    }

    /// Answers one question, reporting progress to `on_event`; returning false
    /// from it stops the generation (the answer so far is returned).
    pub fn ask(
        &self,
        request: Request<'_>,
        options: &AskOptions,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<Answer> {
        let started = Instant::now();
        let index = self.index();
        let retrieval =
            retrieval::retrieve(index.as_ref(), self.embedder.as_ref(), request, options)?;
        self.answer(
            index.as_ref(),
            request,
            retrieval,
            options,
            started,
            on_event,
        )
    }

    /// Answers many questions in order: their retrieval is batched (questions
    /// embedded together), then each is answered without streaming.
    /// `seed_for(i)` gives question i its own sampling seed; `on_answer`
    /// returns false to stop. One question's failure is handed over as its
    /// result, not raised.
    pub fn answer_many(
        &self,
        questions: &[&str],
        options: &AskOptions,
        seed_for: &dyn Fn(usize) -> Option<u64>,
        on_answer: &mut dyn FnMut(usize, Result<Answer>) -> bool,
    ) -> Result<()> {
        for (batch_no, batch) in questions.chunks(RETRIEVAL_BATCH).enumerate() {
            let index = self.index();
            let index = index.as_ref();
            let retrievals: Vec<Result<Retrieval>> = match self
                .retrieve_many_from(index, batch, options)
            {
                Ok(all) => all.into_iter().map(Ok).collect(),
                // Find out which question fails, and let the others through.
                Err(_) => batch
                    .iter()
                    .map(|q| {
                        retrieval::retrieve(index, self.embedder.as_ref(), Request::new(q), options)
                    })
                    .collect(),
            };
            for (offset, (question, retrieval)) in batch.iter().zip(retrievals).enumerate() {
                let i = batch_no * RETRIEVAL_BATCH + offset;
                let mut question_options = options.clone();
                question_options.generate.sampling.seed = seed_for(i);
                let result = retrieval.and_then(|retrieval| {
                    let now = Instant::now();
                    let started = now
                        .checked_sub(std::time::Duration::from_secs_f64(
                            retrieval.millis / 1000.0,
                        ))
                        .unwrap_or(now);
                    self.answer(
                        index,
                        Request::new(question),
                        retrieval,
                        &question_options,
                        started,
                        &mut |_| true,
                    )
                });
                if !on_answer(i, result) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The latest turns of a conversation that fit beside the sources: at most
    /// half the sources' budget, and never more than the context has left.
    fn recent_turns<'h>(
        &self,
        history: &'h [Turn],
        sources: &[Source],
        options: &AskOptions,
    ) -> &'h [Turn] {
        let tokenizer = self.generator.tokenizer();
        let count = |text: &str| {
            tokenizer
                .encode_literal(text)
                .map(|ids| ids.len())
                .unwrap_or(text.len())
        };
        let context = self.generator.config().context_length;
        let used: usize = sources.iter().map(|s| count(&s.text) + 16).sum();
        let left = context.saturating_sub(options.generate.max_tokens + PROMPT_OVERHEAD + used);
        let mut budget = (options.context_tokens / 2).min(left);
        let mut keep = 0;
        for turn in history.iter().rev() {
            let cost = count(&turn.question) + count(&turn.answer) + TURN_MARKUP;
            if cost > budget {
                break;
            }
            budget -= cost;
            keep += 1;
        }
        &history[history.len() - keep..]
    }

    /// Merged, budgeted, numbered sources with paths as the caller shows them.
    fn pack(
        &self,
        index: &dyn SearchIndex,
        hits: &[Hit],
        options: &AskOptions,
    ) -> Result<Vec<Source>> {
        let context = self.generator.config().context_length;
        let room = context.saturating_sub(options.generate.max_tokens + PROMPT_OVERHEAD);
        let budget = options.context_tokens.min(room).max(1);
        let tokenizer = self.generator.tokenizer();
        let count = |text: &str| {
            tokenizer
                .encode_literal(text)
                .map(|ids| ids.len())
                .unwrap_or(text.len())
        };
        let merged = sources::merge_neighbours(index, &sources::relevant(hits))?;
        Ok(self.shown(index, sources::pack(merged, budget, &count)))
    }

    fn shown(&self, index: &dyn SearchIndex, mut sources: Vec<Source>) -> Vec<Source> {
        for source in &mut sources {
            source.path = (self.show_path)(&index.resolve(&source.stored_path));
            for copy in &mut source.also_in {
                *copy = (self.show_path)(&index.resolve(copy));
            }
        }
        sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_search_with_the_previous_exchange() {
        assert_eq!(
            Request::new(" Who wrote Hamlet? ").retrieval_query(),
            "Who wrote Hamlet?"
        );
        let history = [Turn {
            question: "Who wrote Hamlet?".into(),
            answer: "William Shakespeare [1].".into(),
        }];
        let request = Request {
            question: "Where was he born?",
            history: &history,
        };
        assert_eq!(
            request.retrieval_query(),
            "Who wrote Hamlet? William Shakespeare [1]. Where was he born?"
        );
    }
}
