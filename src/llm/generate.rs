//! The generator: a loaded model with its tokenizer and prompt format, and the
//! loop that turns prompt tokens into streamed text.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::error::{Error, Result};
use super::gguf::Gguf;
use super::lookup::{self, Drafting};
use super::model::{Config, KvCache, Model};
use super::sampler::{Sampler, SamplingOptions};
use super::template::{Message, Prompt, PromptFormat};
use super::tokenizer::{StreamDecoder, Tokenizer};

/// Prompt tokens per forward pass: big enough for the matmuls to run at full
/// speed, small enough that the activations of a long prompt stay modest.
const PREFILL_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingOptions,
    /// Keep going past eos and end-of-turn tokens (for benchmarks).
    pub ignore_eos: bool,
    /// Text that ends the answer (not included in it).
    pub stop_strings: Vec<String>,
    /// Which tokens the repeat penalty counts.
    pub penalty_scope: PenaltyScope,
    /// The most tokens guessed from the prompt (prompt-lookup decoding) and
    /// checked in one pass after each sampled token; 0 decodes one token per
    /// pass. The output is the same either way.
    pub draft_tokens: usize,
}

/// Drafted tokens per pass by default: with the token before them, a pass
/// of at most [`Model::EXACT_ROWS_PER_PASS`] rows.
pub const DRAFT_TOKENS: usize = 8;

/// Which tokens the repeat penalty counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenaltyScope {
    /// The prompt's and the output's, as llama.cpp does: its settings then
    /// mean the same here.
    Everything,
    /// For answers from documents, where repeating the sources' words and
    /// numbers is the point: only the answer's own words, not its digits or
    /// spaces. Counting the prompt turned "226 species" into "17"; counting
    /// digits (SmolLM2 writes a number a digit per token, after a lone space
    /// token) turned "in 1976", after "began in 1492", into "1898", and
    /// "20 to 25" into "20 to 35".
    AnswerWords,
}

impl PenaltyScope {
    /// Whether a generated token with this text counts towards the penalty.
    pub fn counts(self, token: &[u8]) -> bool {
        match self {
            PenaltyScope::Everything => true,
            PenaltyScope::AnswerWords => !token
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_whitespace()),
        }
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampling: SamplingOptions::default(),
            ignore_eos: false,
            stop_strings: Vec::new(),
            penalty_scope: PenaltyScope::Everything,
            draft_tokens: DRAFT_TOKENS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (eos or end-of-turn token).
    EndOfTurn,
    StopString,
    MaxTokens,
    /// The model's context is full.
    ContextFull,
    /// The caller asked to stop.
    Cancelled,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Prompt tokens per second through the model.
    pub prefill_tok_s: f64,
    /// Tokens per second after the first one.
    pub decode_tok_s: f64,
    /// From the start of generation to the first sampled token (includes prefill).
    pub first_token_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    /// Tokens sampled, including a final eos or end-of-turn token.
    pub generated_tokens: usize,
    #[serde(skip)]
    pub token_ids: Vec<u32>,
    pub stop_reason: StopReason,
    pub timings: Timings,
    /// Tokens guessed from the prompt and checked, and of those, the ones
    /// the model chose too (prompt-lookup decoding).
    pub drafted_tokens: usize,
    pub accepted_tokens: usize,
}

/// A prompt already run through the model: its cache and the logits of the next token.
pub struct Prefilled {
    prompt_ids: Vec<u32>,
    cache: KvCache,
    logits: Vec<f32>,
    seconds: f64,
    /// Leading tokens taken from an earlier prompt's cache, not run again.
    reused: usize,
}

impl Prefilled {
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_ids.len()
    }

    /// The scores of the token after the prompt.
    pub fn next_token_logits(&self) -> &[f32] {
        &self.logits
    }

    /// Leading prompt tokens whose cache came from an earlier prompt.
    pub fn reused_tokens(&self) -> usize {
        self.reused
    }

    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// A start read back from disk: its logits are never read, as
    /// [`Generator::prefill_after`] runs the last prompt token again.
    pub(super) fn started(prompt_ids: Vec<u32>, cache: KvCache) -> Self {
        Prefilled {
            prompt_ids,
            cache,
            logits: Vec::new(),
            seconds: 0.0,
            reused: 0,
        }
    }

    pub(super) fn prompt_ids(&self) -> &[u32] {
        &self.prompt_ids
    }

    pub(super) fn cache(&self) -> &KvCache {
        &self.cache
    }
}

/// How many of the `common` leading tokens an earlier prompt's cache may
/// give a prompt of `len` tokens. A batch of one row runs another matmul
/// kernel than a batch of several, with other rounding; so each row must land
/// in a batch of one exactly when it would in a full prefill (see
/// [`batches`]). And the last token is always run: its logits pick the
/// first answer token.
fn reusable(common: usize, len: usize) -> usize {
    let shared = common.min(len.saturating_sub(1));
    if shared == 0 {
        return 0;
    }
    let fresh_start = shared / PREFILL_BATCH * PREFILL_BATCH;
    let end = (fresh_start + PREFILL_BATCH).min(len);
    if end - fresh_start >= 2 && end - shared < 2 {
        shared - 1
    } else {
        shared
    }
}

/// The prompt positions of each forward pass after the first `shared`: the
/// batches of a full prefill (every `PREFILL_BATCH` tokens), the first one
/// cut where the shared start ends.
fn batches(len: usize, shared: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = shared;
    std::iter::from_fn(move || {
        if start >= len {
            return None;
        }
        let end = ((start / PREFILL_BATCH + 1) * PREFILL_BATCH).min(len);
        let batch = start..end;
        start = end;
        Some(batch)
    })
}

pub struct Generator {
    model: Model,
    tokenizer: Tokenizer,
    format: PromptFormat,
    /// eos and the end-of-turn tokens.
    stop_ids: Vec<u32>,
    /// What drafting costs and gains with this model here, learnt over
    /// the generations.
    drafting: std::sync::Mutex<Drafting>,
    path: PathBuf,
    /// What a prompt's start saved on disk must have been computed with
    /// (`saved_start`); None when the files cannot be told apart.
    identity: Option<String>,
}

impl Generator {
    /// Loads a GGUF model.
    pub fn load(path: &Path) -> Result<Self> {
        let mut gguf = Gguf::open(path)?;
        // Check the architecture before the tokenizer: it is the likelier problem
        // with a user's file, and the clearer message.
        Config::from_gguf(&gguf)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let format = PromptFormat::from_gguf(&gguf, &tokenizer)?;
        let model = Model::load(&mut gguf)?;
        if tokenizer.vocab_size() > model.config().vocab {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "the tokenizer has {} tokens but the model only {}",
                    tokenizer.vocab_size(),
                    model.config().vocab
                ),
            });
        }
        let stop_ids = tokenizer.end_of_generation_ids();
        Ok(Generator {
            model,
            tokenizer,
            format,
            stop_ids,
            drafting: Default::default(),
            path: path.to_path_buf(),
            identity: super::saved_start::identity(path),
        })
    }

    /// The GGUF file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    pub(super) fn model(&self) -> &Model {
        &self.model
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn format(&self) -> &PromptFormat {
        &self.format
    }

    pub fn config(&self) -> &Config {
        self.model.config()
    }

    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Renders messages with the model's chat template (or the base-model format).
    pub fn prompt(&self, messages: &[Message]) -> Result<Prompt> {
        self.format.render(messages)
    }

    /// Samples up to `options.max_tokens` tokens after `prompt_ids`, handing each
    /// piece of finished text to `on_text` as soon as it is known; `on_text`
    /// returns false to stop early.
    pub fn generate(
        &self,
        prompt_ids: &[u32],
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation> {
        let prefilled = self.prefill(prompt_ids, options.max_tokens)?;
        self.continue_from(&prefilled, options, on_text)
    }

    /// Runs the prompt through the model once, leaving room in the cache for
    /// `max_tokens` more; [`Generator::continue_from`] can then sample several
    /// answers from it without paying for the prompt again.
    pub fn prefill(&self, prompt_ids: &[u32], max_tokens: usize) -> Result<Prefilled> {
        let prefilled = self.prefill_with_progress(prompt_ids, max_tokens, &mut |_, _| true)?;
        prefilled.ok_or(Error::Cancelled)
    }

    /// [`Generator::prefill`], reporting `(tokens read, prompt tokens)` after each
    /// layer of each batch; returning false stops it there (`None`): a long
    /// prompt takes seconds, and a user who changed their mind should not wait
    /// for it.
    pub fn prefill_with_progress(
        &self,
        prompt_ids: &[u32],
        max_tokens: usize,
        on_progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Prefilled>> {
        self.prefill_after(None, prompt_ids, max_tokens, on_progress)
    }

    /// `prefilled` as kept for a later [`Generator::prefill_after`]: its cache
    /// cut to the prompt, without the room for an answer (which, with a large
    /// `--max-tokens`, can be most of the model's context).
    pub fn kept_for_reuse(&self, prefilled: Prefilled) -> Prefilled {
        let len = prefilled.cache.len();
        Prefilled {
            cache: self.model.cache_from(&prefilled.cache, len, len),
            ..prefilled
        }
    }

    /// [`Generator::prefill_with_progress`], starting from the cache of
    /// `earlier` for the leading tokens the two prompts share (the system
    /// message and worked examples every open-book prompt begins with, the
    /// turns of a conversation): only the rest is run through the model.
    /// Each position's keys and values depend only on the tokens up to it,
    /// and each row runs the kernel it would in a full prefill ([`reusable`]),
    /// so the result is the one a full prefill gives, bit for bit.
    pub fn prefill_after(
        &self,
        earlier: Option<&Prefilled>,
        prompt_ids: &[u32],
        max_tokens: usize,
        on_progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Prefilled>> {
        let start = Instant::now();
        let context = self.model.config().context_length;
        if prompt_ids.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        if prompt_ids.len() >= context {
            return Err(Error::ContextFull {
                needed: prompt_ids.len() + 1,
                limit: context,
            });
        }
        let capacity = prompt_ids.len().saturating_add(max_tokens.max(1));
        let shared = earlier.map_or(0, |earlier| {
            let common = earlier
                .prompt_ids
                .iter()
                .zip(prompt_ids)
                .take_while(|(a, b)| a == b)
                .count();
            reusable(common, prompt_ids.len())
        });
        let mut cache = match earlier {
            Some(earlier) if shared > 0 => self.model.cache_from(&earlier.cache, shared, capacity),
            _ => self.model.new_cache(capacity),
        };
        let mut logits = Vec::new();
        let mut read = shared;
        for batch in batches(prompt_ids.len(), shared) {
            let batch = &prompt_ids[batch];
            // Progress within the batch by layers: a stop is seen within one.
            let mut layer_progress = |done: usize, layers: usize| {
                on_progress(read + batch.len() * done / layers, prompt_ids.len())
            };
            match self
                .model
                .forward_until(batch, &mut cache, &mut layer_progress)?
            {
                Some(last) => logits = last,
                None => return Ok(None),
            }
            read += batch.len();
        }
        Ok(Some(Prefilled {
            prompt_ids: prompt_ids.to_vec(),
            cache,
            logits,
            seconds: start.elapsed().as_secs_f64(),
            reused: shared,
        }))
    }

    /// Samples an answer after a prefilled prompt (which stays as it was).
    /// Timings count the prefill as if it had just run.
    pub fn continue_from(
        &self,
        prefilled: &Prefilled,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation> {
        self.continue_guided(prefilled, options, &mut |_, _| {}, on_text)
    }

    /// [`Generator::continue_from`], with `guide` shown the text so far and
    /// the next token's logits before each token is sampled, to rule tokens
    /// out (a logit of minus infinity) where the text's format allows only
    /// some. Drafted tokens are checked against the guided choice.
    pub fn continue_guided(
        &self,
        prefilled: &Prefilled,
        options: &GenerateOptions,
        guide: &mut dyn FnMut(&str, &mut [f32]),
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation> {
        let prompt_ids = prefilled.prompt_ids.as_slice();
        let mut cache = prefilled.cache.clone();
        let prefill_secs = prefilled.seconds;
        let now = Instant::now();
        let start = now
            .checked_sub(std::time::Duration::from_secs_f64(prefill_secs))
            .unwrap_or(now);
        let mut sampler = Sampler::new(options.sampling.clone());
        // What the repeat penalty counts.
        let mut history = match options.penalty_scope {
            PenaltyScope::Everything => prompt_ids.to_vec(),
            PenaltyScope::AnswerWords => Vec::new(),
        };
        // Where drafts are looked up: the prompt and the answer so far.
        let mut context = prompt_ids.to_vec();
        let mut generated = Vec::new();
        let mut stream = StreamDecoder::default();
        let mut text = Text::new(&options.stop_strings);
        // Everything decoded so far, stop strings included, for the guide.
        let mut decoded = String::new();
        let mut first_token_at = None;
        let mut last_token_at = start;
        let mut stop_reason = StopReason::MaxTokens;
        // The logits after the last pass's rows, and the drafted tokens that
        // were fed after the first: row i + 1 holds only if the token sampled
        // from row i is `drafted[i]`.
        let mut rows = vec![prefilled.logits.clone()];
        let mut drafted: Vec<u32> = Vec::new();
        let mut drafted_after_run = 0;
        let (mut drafted_tokens, mut accepted_tokens) = (0, 0);
        // A copy: generations running side by side each learn from their own.
        let mut drafting = self
            .drafting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();

        'decode: while generated.len() < options.max_tokens {
            let mut row = 0;
            let id = loop {
                guide(&decoded, &mut rows[row]);
                let id = sampler.sample(&rows[row], &history);
                last_token_at = Instant::now();
                first_token_at.get_or_insert(last_token_at);
                generated.push(id);
                context.push(id);
                let drafted_right = drafted.get(row) == Some(&id);
                accepted_tokens += usize::from(drafted_right);
                if options.penalty_scope.counts(self.tokenizer.token_bytes(id)) {
                    history.push(id);
                }
                if !options.ignore_eos && self.stop_ids.contains(&id) {
                    stop_reason = StopReason::EndOfTurn;
                    break 'decode;
                }
                let piece = stream.push(&self.tokenizer, id);
                decoded.push_str(&piece);
                let (ready, stopped) = text.push(&piece);
                if !ready.is_empty() && !on_text(&ready) {
                    stop_reason = StopReason::Cancelled;
                    break 'decode;
                }
                if stopped {
                    stop_reason = StopReason::StopString;
                    break 'decode;
                }
                if generated.len() == options.max_tokens {
                    break 'decode;
                }
                if !drafted_right {
                    break id;
                }
                row += 1;
            };
            if !drafted.is_empty() {
                drafting.judged(drafted_after_run, drafted.len(), row);
            }
            // The rows after the first wrong draft were never decoded.
            cache.truncate(cache.len() - (drafted.len() - row));
            if cache.len() >= cache.capacity() {
                stop_reason = StopReason::ContextFull;
                break;
            }
            // Each row of the next pass samples one token, within both limits.
            let room = (options.max_tokens - generated.len()).min(cache.capacity() - cache.len());
            let limit = options
                .draft_tokens
                .min(Model::EXACT_ROWS_PER_PASS - 1)
                .min(room - 1);
            let draft = lookup::draft(&context, limit);
            drafted = draft.tokens[..drafting.worth(&draft)].to_vec();
            drafted_after_run = draft.run;
            drafted_tokens += drafted.len();
            let pass_started = Instant::now();
            rows = if drafted.is_empty() {
                vec![self.model.forward(&[id], &mut cache)?]
            } else {
                let mut fed = Vec::with_capacity(drafted.len() + 1);
                fed.push(id);
                fed.extend(&drafted);
                self.model.forward_each(&fed, &mut cache)?
            };
            drafting.timed(rows.len(), pass_started.elapsed().as_secs_f64());
        }
        *self
            .drafting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = drafting;
        if matches!(
            stop_reason,
            StopReason::MaxTokens | StopReason::EndOfTurn | StopReason::ContextFull
        ) {
            let (rest, _) = text.push(&stream.finish());
            let rest = rest + &text.flush();
            if !rest.is_empty() {
                on_text(&rest);
            }
        }

        let total = start.elapsed().as_secs_f64();
        let first = first_token_at.map(|t| (t - start).as_secs_f64());
        let decode_secs = first.map(|f| (last_token_at - start).as_secs_f64() - f);
        let per_sec = |n: usize, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        Ok(Generation {
            text: text.into_text(),
            prompt_tokens: prompt_ids.len(),
            generated_tokens: generated.len(),
            token_ids: generated.clone(),
            stop_reason,
            timings: Timings {
                prefill_tok_s: per_sec(prompt_ids.len(), prefill_secs),
                decode_tok_s: per_sec(
                    generated.len().saturating_sub(1),
                    decode_secs.unwrap_or(0.0),
                ),
                first_token_ms: first.unwrap_or(total) * 1000.0,
                total_ms: total * 1000.0,
            },
            drafted_tokens,
            accepted_tokens,
        })
    }
}

/// The answer text so far, holding back whatever could be the start of a stop
/// string, so that a stop string never reaches the screen.
struct Text<'a> {
    stops: &'a [String],
    text: String,
    emitted: usize,
}

impl<'a> Text<'a> {
    fn new(stops: &'a [String]) -> Self {
        Text {
            stops,
            text: String::new(),
            emitted: 0,
        }
    }

    /// Adds a piece; returns the text now safe to show, and whether a stop
    /// string appeared. Stop strings count from the first visible character:
    /// a base model often opens its answer with a newline, and a newline that
    /// ends an answer must not end it before it starts.
    fn push(&mut self, piece: &str) -> (String, bool) {
        self.text.push_str(piece);
        let start = self.text.len() - self.text.trim_start().len();
        let found = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.text[start..].find(s.as_str()).map(|at| start + at))
            .min();
        if let Some(at) = found {
            self.text.truncate(at);
            return (self.flush(), true);
        }
        // Hold back the longest tail that is the start of some stop string.
        let held = self
            .stops
            .iter()
            .flat_map(|s| {
                (1..s.len())
                    .rev()
                    .filter(move |&n| s.is_char_boundary(n))
                    .map(move |n| &s[..n])
            })
            .filter(|prefix| self.text.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let safe = (self.text.len() - held).max(self.emitted);
        let ready = self.text[self.emitted..safe].to_string();
        self.emitted = safe;
        (ready, false)
    }

    /// Everything not yet shown.
    fn flush(&mut self) -> String {
        let rest = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        rest
    }

    fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_reused_start_keeps_each_row_in_a_batch_of_the_same_kind() {
        let b = PREFILL_BATCH;
        // The last token always runs, with another to keep it company.
        assert_eq!(reusable(10, 10), 8);
        assert_eq!(reusable(9, 10), 8);
        assert_eq!(reusable(8, 10), 8);
        assert_eq!(reusable(0, 10), 0);
        assert_eq!(reusable(1, 2), 0);
        // A full prefill ends with one row alone: so does this one.
        assert_eq!(reusable(b, b + 1), b);
        // A batch boundary one row after the shared start: one row back.
        assert_eq!(reusable(b - 1, 3 * b), b - 2);
        assert_eq!(reusable(b + 7, 3 * b), b + 7);
        let spans: Vec<_> = batches(2 * b + 5, b - 3).collect();
        assert_eq!(spans, [b - 3..b, b..2 * b, 2 * b..2 * b + 5]);
        assert_eq!(batches(5, 0).collect::<Vec<_>>(), vec![0..5_usize]);
    }
    use super::*;

    #[test]
    fn stop_strings_count_once_the_answer_has_begun() {
        let stops = vec!["\n".to_string()];
        let mut text = Text::new(&stops);
        assert_eq!(text.push("\n"), ("\n".to_string(), false));
        assert_eq!(text.push(" Paris"), (" Paris".to_string(), false));
        assert_eq!(text.push(".\nQuestion"), (".".to_string(), true));
        assert_eq!(text.into_text(), "\n Paris.");
    }

    #[test]
    fn answers_may_repeat_digits_and_spaces_but_not_words() {
        for token in ["7", "19", " ", "\n"] {
            assert!(
                !PenaltyScope::AnswerWords.counts(token.as_bytes()),
                "{token:?}"
            );
            assert!(
                PenaltyScope::Everything.counts(token.as_bytes()),
                "{token:?}"
            );
        }
        for token in [" the", "Paris", " 1st", ","] {
            assert!(
                PenaltyScope::AnswerWords.counts(token.as_bytes()),
                "{token:?}"
            );
        }
    }

    #[test]
    fn stop_strings_are_held_back_and_cut() {
        let stops = vec!["\nQuestion:".to_string()];
        let mut t = Text::new(&stops);
        assert_eq!(t.push("Paris."), ("Paris.".to_string(), false));
        assert_eq!(t.push("\nQues"), (String::new(), false));
        assert_eq!(t.push("tion: what"), (String::new(), true));
        assert_eq!(t.into_text(), "Paris.");
    }

    #[test]
    fn a_false_start_is_released() {
        let stops = vec!["\nQuestion:".to_string()];
        let mut t = Text::new(&stops);
        assert_eq!(t.push("a\nQu"), ("a".to_string(), false));
        assert_eq!(t.push("ite"), ("\nQuite".to_string(), false));
        assert_eq!(t.flush(), "");
    }

    #[test]
    fn no_stop_strings_means_no_holding() {
        let mut t = Text::new(&[]);
        assert_eq!(t.push("x\n"), ("x\n".to_string(), false));
    }
}
