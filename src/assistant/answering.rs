//! From retrieved passages to an answer: the gate, the prompt, sampling,
//! and what is checked of the chosen sample before it is returned.

use std::sync::PoisonError;
use std::time::Instant;

use rag_index::SearchIndex;

use super::candidate::{self, citations_for, Candidate, Shown};
use super::citing::{self, CitationGuide};
use super::prompt::{self, Style, REFUSAL};
use super::{
    fences, grounding, injection, quote, sources, Answer, AnswerTimings, AskOptions, Assistant,
    Event, Refusal, Request, Retrieval, Source, NEAREST_AFTER_REFUSAL,
};
use crate::llm::{start_file, GenerateOptions, Prefilled, StopReason};
use crate::{Error, Result};

/// Shorter shared starts are not worth a file (a base model's prompt
/// begins with its sources).
const MIN_SAVED_START: usize = 32;

/// One question on its way to an answer: what every step after retrieval reads.
struct Asked<'q, 'r> {
    request: Request<'q>,
    retrieval: &'r Retrieval,
    started: Instant,
}

/// The sample [`Assistant::answer`] keeps, of how many, and when its first
/// token reached the user.
struct Sampled {
    best: Candidate,
    samples: usize,
    first_token_at: Option<Instant>,
    /// The source the model named when asked after an answer citing none.
    named: Option<usize>,
}

impl Assistant {
    /// The rest of [`Assistant::ask`] after retrieval (for callers that batch retrieval).
    pub(super) fn answer(
        &self,
        index: &dyn SearchIndex,
        request: Request<'_>,
        retrieval: Retrieval,
        options: &AskOptions,
        started: Instant,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<Answer> {
        let asked = Asked {
            request,
            retrieval: &retrieval,
            started,
        };
        let mut timings = AnswerTimings {
            retrieval_ms: retrieval.millis,
            ..AnswerTimings::default()
        };
        if !options.gate.passes(&retrieval.evidence) || retrieval.hits.is_empty() {
            return Ok(self.refuse(index, &asked, timings, on_event));
        }

        let sources = self.pack(index, &retrieval.to_read(), options)?;
        let keep_going = on_event(Event::Retrieved {
            sources: &sources,
            refused: false,
        });
        if !keep_going {
            return Ok(self.without_model(&asked, sources, timings, false, on_event));
        }
        let (prompt_ids, generate) = self.prompt(request, &sources, options)?;
        // The last prompt's cache gives this one the start they share: the
        // instruction and worked examples, a conversation's earlier turns.
        let earlier = self
            .last_prefill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .or_else(|| self.saved_start());
        let prefilled = self.generator.prefill_after(
            earlier.as_ref(),
            &prompt_ids,
            generate.max_tokens,
            &mut |read, total| on_event(Event::Reading { read, total }),
        )?;
        let Some(prefilled) = prefilled else {
            *self
                .last_prefill
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = earlier;
            return Ok(self.without_model(&asked, sources, timings, false, on_event));
        };
        drop(earlier);
        let run = prefilled.prompt_tokens() - prefilled.reused_tokens();
        timings.prefill_tok_s = run as f64 / prefilled.seconds().max(1e-9);
        timings.cached_prompt_tokens = prefilled.reused_tokens();
        let mut sampled = self.sample(
            &prefilled,
            &generate,
            request.question,
            &sources,
            options,
            on_event,
        );
        if let Ok(sampled) = &mut sampled {
            if Self::cites_nothing(&sampled.best, options) {
                sampled.named = self.source_named(
                    &prefilled,
                    &prompt_ids,
                    &sources,
                    request.question,
                    &sampled.best.answer,
                )?;
            }
        }
        self.save_start(&prefilled, &prompt_ids, options.think);
        let kept = self.generator.kept_for_reuse(prefilled);
        *self
            .last_prefill
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(kept);
        let sampled = sampled?;
        Ok(self.finish(
            &asked,
            sources,
            sampled,
            prompt_ids.len(),
            timings,
            on_event,
        ))
    }

    /// The open-book prompt for `request` over `sources`, and the generation
    /// options that stop where the prompt's format says.
    fn prompt(
        &self,
        request: Request<'_>,
        sources: &[Source],
        options: &AskOptions,
    ) -> Result<(Vec<u32>, GenerateOptions)> {
        let turns = self.recent_turns(request.history, sources, options);
        let style = self.style();
        let (prompt_ids, stop_strings) = prompt::encode_open_book(
            &self.generator,
            style,
            sources,
            turns,
            request.question,
            options.think,
        )?;
        // The caller's stop strings (an API client's) end the answer too.
        let mut generate = options.generate.clone();
        for stop in stop_strings {
            if !generate.stop_strings.contains(&stop) {
                generate.stop_strings.push(stop);
            }
        }
        Ok((prompt_ids, generate))
    }

    /// The style the open-book prompt is worded in for this model.
    fn style(&self) -> Style {
        self.style
            .unwrap_or_else(|| Style::for_parameters(self.generator.config().parameters()))
    }

    /// The prompt start an earlier run saved, where this assistant keeps them.
    fn saved_start(&self) -> Option<Prefilled> {
        let dir = self.saved_starts.as_ref()?;
        self.generator
            .load_start(&start_file(dir, self.generator.path()))
    }

    /// Saves the start of `prefilled` that every open-book prompt shares,
    /// when this prefill had to compute it (no saved or earlier start held
    /// it). Failing to save costs the next run time, never this answer.
    fn save_start(&self, prefilled: &Prefilled, prompt_ids: &[u32], think: bool) {
        let Some(dir) = &self.saved_starts else {
            return;
        };
        let Ok(start) = prompt::fixed_start(&self.generator, self.style(), think, prompt_ids)
        else {
            return;
        };
        if start < MIN_SAVED_START || prefilled.reused_tokens() >= start {
            return;
        }
        let file = start_file(dir, self.generator.path());
        let _ = self.generator.save_start(prefilled, start, &file);
    }

    /// Whether `best` is an answer (not a refusal, not cut short by the
    /// caller) that cites no source.
    fn cites_nothing(best: &Candidate, options: &AskOptions) -> bool {
        best.cited.is_empty()
            && !best.cancelled()
            && !options.think
            && !best.answer.is_empty()
            && !prompt::is_refusal(&best.answer)
    }

    /// The source the model names when asked, after an answer that cites
    /// none, where it would cite: a forward pass over the answer and an
    /// opening bracket from the prompt's cache, and the most likely of the
    /// sources' numbers. Long answers with code end without a citation more
    /// often than short ones; asked, the model still knows where its answer
    /// came from. `None` where the prompt format is not asked or the context
    /// has no room left.
    fn source_named(
        &self,
        prefilled: &Prefilled,
        prompt_ids: &[u32],
        sources: &[Source],
        question: &str,
        answer: &str,
    ) -> Result<Option<usize>> {
        let style = self.style();
        let Some(ids) = prompt::encode_citation_after(&self.generator, style, prompt_ids, answer)?
        else {
            return Ok(None);
        };
        let numbers = citing::number_tokens(self.generator.tokenizer(), sources);
        // With one source there is nothing to choose between.
        if numbers.len() < 2 || ids.len() >= self.generator.config().context_length {
            return Ok(None);
        }
        let Some(after) = self
            .generator
            .prefill_after(Some(prefilled), &ids, 1, &mut |_, _| true)?
        else {
            return Ok(None);
        };
        let logits = after.next_token_logits();
        let likelihood: Vec<(usize, f32)> = numbers
            .into_iter()
            .filter_map(|(n, id)| Some((n, *logits.get(id as usize)?)))
            .collect();
        Ok(candidate::named_source(
            answer,
            question,
            sources,
            &likelihood,
        ))
    }

    /// Samples `options.samples` answers from the prefilled prompt and keeps
    /// the one best grounded in the sources. One sample streams as it comes;
    /// of several, the first streams as a draft and the chosen one follows.
    fn sample(
        &self,
        prefilled: &Prefilled,
        generate: &GenerateOptions,
        question: &str,
        sources: &[Source],
        options: &AskOptions,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<Sampled> {
        let samples = options.samples.max(1);
        let guide =
            CitationGuide::new(self.generator.tokenizer(), question, sources, options.think);
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
                self.generator.continue_guided(
                    prefilled,
                    &sample_options,
                    &mut |so_far, logits| guide.steer(so_far, logits),
                    &mut on_text,
                )?
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
            return Err(Error::Internal("no answer was sampled".into()));
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
        Ok(Sampled {
            best,
            samples,
            first_token_at,
            named: None,
        })
    }

    /// The answer from the chosen sample: withheld if it obeyed an
    /// instruction in a source, its citations with their quotes, timings.
    fn finish(
        &self,
        asked: &Asked<'_, '_>,
        sources: Vec<Source>,
        sampled: Sampled,
        prompt_tokens: usize,
        mut timings: AnswerTimings,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Answer {
        let Sampled {
            mut best,
            samples,
            first_token_at,
            named,
        } = sampled;
        let question = asked.request.question;
        let injected = injection::withhold_if_obeyed(&mut best.answer, question, &sources);
        let refused = injected || prompt::is_refusal(&best.answer);
        let mut citations = if refused {
            Vec::new()
        } else {
            citations_for(&best.answer, question, &best.cited, named, &sources)
        };
        let unsupported = quote::attach(&mut citations, &best.answer, question, &sources, refused);
        for citation in &mut citations {
            if let Some(source) = sources.iter().find(|s| s.n == citation.n) {
                citation.in_file_lines(source);
            }
        }
        let started = asked.started;
        let at = |t: Option<Instant>| t.map(|t| (t - started).as_secs_f64() * 1000.0);
        timings.decode_tok_s = best.generation.timings.decode_tok_s;
        timings.drafted_tokens = best.generation.drafted_tokens;
        timings.accepted_tokens = best.generation.accepted_tokens;
        timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        timings.first_token_ms = at(first_token_at).unwrap_or(timings.total_ms);
        let truncated = !refused && best.generation.stop_reason == StopReason::MaxTokens;
        let mut text = best.answer;
        if let Some(closer) = fences::closer(&text).filter(|_| truncated) {
            text.push_str(&closer);
        }
        let answer = Answer {
            question: question.to_string(),
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
            evidence: asked.retrieval.evidence,
            timings,
            model: self.model_name.clone(),
            prompt_tokens,
            generated_tokens: best.generation.generated_tokens,
            samples,
            stop_reason: Some(best.generation.stop_reason),
        };
        on_event(Event::Done(&answer));
        answer
    }

    fn refuse(
        &self,
        index: &dyn SearchIndex,
        asked: &Asked<'_, '_>,
        timings: AnswerTimings,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Answer {
        let hits = &asked.retrieval.hits;
        let nearest = &hits[..hits.len().min(NEAREST_AFTER_REFUSAL)];
        let sources = self.shown(index, sources::unmerged(nearest));
        on_event(Event::Retrieved {
            sources: &sources,
            refused: true,
        });
        on_event(Event::Token(REFUSAL));
        self.without_model(asked, sources, timings, true, on_event)
    }

    /// An answer the model did not write: a gate refusal, or one stopped
    /// before the model wrote anything.
    fn without_model(
        &self,
        asked: &Asked<'_, '_>,
        sources: Vec<Source>,
        mut timings: AnswerTimings,
        refused: bool,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Answer {
        timings.total_ms = asked.started.elapsed().as_secs_f64() * 1000.0;
        timings.first_token_ms = timings.total_ms;
        let answer = Answer {
            question: asked.request.question.to_string(),
            answer: if refused { REFUSAL } else { "" }.to_string(),
            refused,
            truncated: false,
            refusal: refused.then_some(Refusal::Gate),
            citations: Vec::new(),
            sources,
            thinking: None,
            grounding: 0.0,
            unsupported: false,
            evidence: asked.retrieval.evidence,
            timings,
            model: self.model_name.clone(),
            prompt_tokens: 0,
            generated_tokens: 0,
            samples: 0,
            // The model never ran: its generation was called off before it began
            // (the GUIDE documents this for scripts).
            stop_reason: Some(StopReason::Cancelled),
        };
        on_event(Event::Done(&answer));
        answer
    }
}
