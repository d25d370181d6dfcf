//! The answer pipeline: retrieve -> gate -> pack -> prompt -> generate -> cite.
//! `rag ask`, `rag batch`, `rag eval` and the chat UI all drive this one engine
//! and only differ in how they show its [`Event`]s.

mod answer;
mod candidate;
pub mod citations;
pub mod fences;
pub mod grounding;
pub mod injection;
pub mod prompt;
pub mod quote;
pub mod retrieval;
pub mod sources;

use std::time::Instant;

use rag_index::{Embedder, Hit, Index, SearchOptions};

use crate::embedding::OnnxEmbedder;
use crate::llm::{GenerateOptions, Generator, PenaltyScope, StopReason};
use crate::{Error, Result};

pub use answer::{Answer, AnswerTimings, Citation, Evidence, Gate, Refusal, DEFAULT_MIN_STRENGTH};
pub use prompt::Style;
pub use sources::Source;

use candidate::{citations_for, Candidate, Shown};
use prompt::REFUSAL;

/// Tokens kept free for the instruction, the question and the template's markup.
const PROMPT_OVERHEAD: usize = 256;
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

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            k: 3,
            search: SearchOptions::default(),
            gate: Gate::default(),
            context_tokens: 1000,
            generate: GenerateOptions {
                max_tokens: 96,
                penalty_scope: PenaltyScope::AnswerWords,
                ..GenerateOptions::default()
            },
            samples: 1,
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
    pub hits: Vec<Hit>,
    pub evidence: Evidence,
    pub millis: f64,
}

pub struct Assistant {
    index: Index,
    embedder: OnnxEmbedder,
    generator: Generator,
    model_name: String,
    /// The prompt measured best for this model; None: chosen by its size.
    style: Option<Style>,
}

impl Assistant {
    pub fn new(
        index: Index,
        embedder: OnnxEmbedder,
        generator: Generator,
        model_name: String,
    ) -> Self {
        Assistant {
            index,
            embedder,
            generator,
            model_name,
            style: None,
        }
    }

    /// Words the open-book prompt as measured for this model (the catalogue
    /// stores it); None leaves the choice to the model's size.
    pub fn with_style(mut self, style: Option<Style>) -> Self {
        self.style = style;
        self
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Finds the passages for a question and measures how strong they are.
    pub fn retrieve(&self, query: &str, options: &AskOptions) -> Result<Retrieval> {
        retrieval::retrieve(&self.index, &self.embedder, Request::new(query), options)
    }

    /// Retrieval for many questions, their embeddings computed in batches.
    pub fn retrieve_many(&self, queries: &[&str], options: &AskOptions) -> Result<Vec<Retrieval>> {
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
                    retrieval::search(&self.index, query, &vector, options, Instant::now())?;
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
        let retrieval = retrieval::retrieve(&self.index, &self.embedder, request, options)?;
        self.answer(request, retrieval, options, started, on_event)
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
            let retrievals: Vec<Result<Retrieval>> = match self.retrieve_many(batch, options) {
                Ok(all) => all.into_iter().map(Ok).collect(),
                // Find out which question fails, and let the others through.
                Err(_) => batch.iter().map(|q| self.retrieve(q, options)).collect(),
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

    /// The rest of [`Assistant::ask`] after retrieval (for callers that batch retrieval).
    pub fn answer(
        &self,
        request: Request<'_>,
        retrieval: Retrieval,
        options: &AskOptions,
        started: Instant,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<Answer> {
        let mut timings = AnswerTimings {
            retrieval_ms: retrieval.millis,
            ..AnswerTimings::default()
        };
        if !options.gate.passes(&retrieval.evidence) || retrieval.hits.is_empty() {
            return Ok(self.refuse(request, &retrieval, timings, started, on_event));
        }

        let sources = self.pack(&retrieval.hits, options)?;
        let keep_going = on_event(Event::Retrieved {
            sources: &sources,
            refused: false,
        });
        if !keep_going {
            return Ok(self.without_model(
                request, sources, &retrieval, timings, started, false, on_event,
            ));
        }
        let turns = self.recent_turns(request.history, &sources, options);
        let style = self
            .style
            .unwrap_or_else(|| Style::for_parameters(self.generator.config().parameters()));
        let (prompt_ids, stop_strings) = prompt::encode_open_book(
            &self.generator,
            style,
            &sources,
            turns,
            request.question,
            options.think,
        )?;
        let generate = GenerateOptions {
            stop_strings,
            ..options.generate.clone()
        };
        let prefilled = self.generator.prefill_with_progress(
            &prompt_ids,
            generate.max_tokens,
            &mut |read, total| on_event(Event::Reading { read, total }),
        )?;
        let Some(prefilled) = prefilled else {
            return Ok(self.without_model(
                request, sources, &retrieval, timings, started, false, on_event,
            ));
        };
        timings.prefill_tok_s = prefilled.prompt_tokens() as f64 / prefilled.seconds().max(1e-9);

        let samples = options.samples.max(1);
        let evidence_words = grounding::vocabulary(sources.iter().map(|s| s.text.as_str()));
        let mut first_token_at = None;
        let mut best: Option<(usize, Candidate)> = None;
        for i in 0..samples {
            let mut sample_options = generate.clone();
            sample_options.sampling.seed = generate
                .sampling
                .seed
                .map(|seed| seed.wrapping_add(i as u64));
            let stream = samples == 1;
            // The first of several samples is shown as a draft, so the wait
            // for the best one is not spent before a blank screen.
            let draft = !stream && i == 0;
            let mut shown = Shown::new(sources.len(), options.think);
            let generation = {
                let mut tokens = 0;
                let mut on_text = |piece: &str| -> bool {
                    if !stream {
                        tokens += 1;
                        let keep_going = on_event(Event::Sampling {
                            sample: i + 1,
                            of: samples,
                            tokens,
                        });
                        if !keep_going || !draft {
                            return keep_going;
                        }
                        return shown.push(piece, &mut |event| match event {
                            Event::Token(text) => on_event(Event::Draft(text)),
                            // The chosen sample's reasoning is in the answer.
                            _ => true,
                        });
                    }
                    shown.push(piece, &mut |event| {
                        if matches!(event, Event::Token(_)) {
                            first_token_at.get_or_insert_with(Instant::now);
                        }
                        on_event(event)
                    })
                };
                self.generator
                    .continue_from(&prefilled, &sample_options, &mut on_text)?
            };
            let rest = shown.citations.finish();
            if !rest.is_empty() && shown.started {
                if stream {
                    on_event(Event::Token(&rest));
                } else if draft {
                    on_event(Event::Draft(&rest));
                }
            }
            let candidate =
                Candidate::new(generation, options.think, sources.len(), &evidence_words);
            let cancelled = candidate.cancelled();
            if best
                .as_ref()
                .is_none_or(|(_, b)| candidate.grounding > b.grounding)
            {
                best = Some((i, candidate));
            }
            if cancelled {
                break;
            }
        }
        let Some((chosen, best)) = best else {
            return Err(Error::Usage("no answer was sampled".into()));
        };
        if samples > 1 {
            first_token_at = Some(Instant::now());
            on_event(Event::Chosen {
                sample: chosen + 1,
                of: samples,
            });
            if !best.answer.is_empty() {
                on_event(Event::Token(&best.answer));
            }
        }

        let mut best = best;
        let injected = injection::withhold_if_obeyed(&mut best.answer, request.question, &sources);
        let refused = injected || prompt::is_refusal(&best.answer);
        let mut citations = if refused {
            Vec::new()
        } else {
            citations_for(&best.answer, &best.cited, &sources)
        };
        let unsupported = quote::attach(
            &mut citations,
            &best.answer,
            request.question,
            &sources,
            refused,
        );
        let at = |t: Option<Instant>| t.map(|t| (t - started).as_secs_f64() * 1000.0);
        timings.decode_tok_s = best.generation.timings.decode_tok_s;
        timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        timings.first_token_ms = at(first_token_at).unwrap_or(timings.total_ms);
        let truncated = !refused && best.generation.stop_reason == StopReason::MaxTokens;
        let mut text = best.answer;
        if let Some(closer) = fences::closer(&text).filter(|_| truncated) {
            text.push_str(&closer);
        }
        let answer = Answer {
            question: request.question.to_string(),
            answer: text,
            refused,
            truncated,
            refusal: if injected {
                Some(Refusal::Injection)
            } else {
                refused.then_some(Refusal::Model)
            },
            citations,
            sources,
            thinking: best.thinking,
            grounding: best.grounding,
            unsupported,
            evidence: retrieval.evidence,
            timings,
            model: self.model_name.clone(),
            prompt_tokens: prompt_ids.len(),
            generated_tokens: best.generation.generated_tokens,
            samples,
            stop_reason: Some(best.generation.stop_reason),
        };
        on_event(Event::Done(&answer));
        Ok(answer)
    }

    fn refuse(
        &self,
        request: Request<'_>,
        retrieval: &Retrieval,
        timings: AnswerTimings,
        started: Instant,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Answer {
        let nearest = &retrieval.hits[..retrieval.hits.len().min(NEAREST_AFTER_REFUSAL)];
        let sources = self.shown(sources::unmerged(nearest));
        on_event(Event::Retrieved {
            sources: &sources,
            refused: true,
        });
        on_event(Event::Token(REFUSAL));
        self.without_model(
            request, sources, retrieval, timings, started, true, on_event,
        )
    }

    /// An answer the model did not write: a gate refusal, or one stopped
    /// before the model wrote anything.
    #[allow(clippy::too_many_arguments)]
    fn without_model(
        &self,
        request: Request<'_>,
        sources: Vec<Source>,
        retrieval: &Retrieval,
        mut timings: AnswerTimings,
        started: Instant,
        refused: bool,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Answer {
        timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        timings.first_token_ms = timings.total_ms;
        let answer = Answer {
            question: request.question.to_string(),
            answer: if refused { REFUSAL } else { "" }.to_string(),
            refused,
            truncated: false,
            refusal: refused.then_some(Refusal::Gate),
            citations: Vec::new(),
            sources,
            thinking: None,
            grounding: 0.0,
            unsupported: false,
            evidence: retrieval.evidence,
            timings,
            model: self.model_name.clone(),
            prompt_tokens: 0,
            generated_tokens: 0,
            samples: 0,
            stop_reason: (!refused).then_some(StopReason::Cancelled),
        };
        on_event(Event::Done(&answer));
        answer
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

    /// Merged, budgeted, numbered sources with paths as the user sees them.
    fn pack(&self, hits: &[Hit], options: &AskOptions) -> Result<Vec<Source>> {
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
        let merged = sources::merge_neighbours(&self.index, hits);
        Ok(self.shown(sources::pack(merged, budget, &count)))
    }

    fn shown(&self, mut sources: Vec<Source>) -> Vec<Source> {
        for source in &mut sources {
            source.path = crate::context::display_path(&self.index, &source.stored_path);
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
