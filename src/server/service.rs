//! What every door of the server shares: the loaded assistant, the queue of
//! answers, the searches beside it, and the request settings held to the
//! flags' limits. The HTTP endpoints and the MCP tools are thin over it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::queue::{AnswerJob, AnswerQueue, Progress};
use crate::assistant::{Answer, AskOptions, Assistant, Turn};
use crate::config::limits;
use crate::engine::Reopener;
use crate::results::SearchResponse;

/// How often the index folder is checked for a newer commit, at most.
const REOPEN_CHECK: Duration = Duration::from_secs(2);

/// Searches and embeddings running at once; more wait their turn.
const PARALLEL_LOOKUPS: usize = 4;

/// Results of a search that does not say how many.
pub const SEARCH_K: usize = 10;

pub struct Service {
    assistant: Arc<Assistant>,
    fresh: Arc<Freshness>,
    answers: AnswerQueue,
    lookups: Semaphore,
    defaults: AskOptions,
    started: u64,
}

impl Service {
    /// Starts the answer worker over `assistant`; `queue` answers may wait.
    /// With a `reopener`, a newer commit of the index is picked up before
    /// the next search or answer.
    pub fn start(
        assistant: Assistant,
        defaults: AskOptions,
        queue: usize,
        reopener: Option<Reopener>,
    ) -> std::io::Result<Self> {
        let assistant = Arc::new(assistant);
        let fresh = Arc::new(Freshness {
            reopener,
            checked: Mutex::new(Instant::now()),
            failure: Mutex::new(None),
        });
        let before_each = {
            let fresh = Arc::clone(&fresh);
            move |assistant: &Assistant| fresh.refresh(assistant)
        };
        Ok(Service {
            answers: AnswerQueue::start(Arc::clone(&assistant), queue, before_each)?,
            fresh,
            assistant,
            lookups: Semaphore::new(PARALLEL_LOOKUPS),
            defaults,
            started: unix_now(),
        })
    }

    pub fn assistant(&self) -> &Arc<Assistant> {
        &self.assistant
    }

    /// When the service started, in seconds since 1970.
    pub fn started(&self) -> u64 {
        self.started
    }

    /// The answering model's name.
    pub fn model(&self) -> &str {
        self.assistant.model_name()
    }

    /// The embedding model's name without the digest the index records with it.
    pub fn embedding_model(&self) -> &str {
        let id = self.assistant.embedding_model();
        id.split_once('@').map_or(id, |(name, _)| name)
    }

    /// Answer options for a request: the server's, changed as it asks.
    pub fn options(&self, overrides: &Overrides) -> Result<AskOptions, ApiError> {
        overrides.apply(&self.defaults)
    }

    /// Queues an answer; its progress ends with `Done` or `Failed`, and
    /// dropping the receiver stops it.
    pub fn ask(
        &self,
        question: String,
        history: Vec<Turn>,
        options: AskOptions,
    ) -> Result<UnboundedReceiver<Progress>, ApiError> {
        let question = question.trim().to_string();
        crate::batch::check(&question).map_err(|why| ApiError::param("question", why))?;
        self.answers
            .submit(AnswerJob {
                question,
                history,
                options,
            })
            .map_err(ApiError::busy)
    }

    /// Answers queued or running.
    pub fn pending(&self) -> usize {
        self.answers.pending()
    }

    /// The index searched as `rag search` does: `k` results (10 if none) in `mode`.
    pub async fn search(
        &self,
        query: String,
        k: Option<u64>,
        mode: Option<&str>,
    ) -> Result<SearchResponse, ApiError> {
        crate::batch::check(&query).map_err(|why| ApiError::param("query", why))?;
        let mut options = self.defaults.search.clone();
        options.k = match k {
            Some(k) => count(k, &limits::SEARCH_K, "k")?,
            None => SEARCH_K,
        };
        if let Some(mode) = mode {
            options.mode = mode
                .parse()
                .map_err(|why: String| ApiError::param("mode", format!("mode: {why}")))?;
        }
        let assistant = Arc::clone(&self.assistant);
        let fresh = Arc::clone(&self.fresh);
        self.lookup(move || {
            fresh.refresh(&assistant);
            let started = Instant::now();
            let hits = assistant.search(&query, &options)?;
            let took_ms = started.elapsed().as_secs_f64() * 1000.0;
            Ok(SearchResponse::new(&query, took_ms, hits, &|path| {
                assistant.display_path(path)
            }))
        })
        .await
    }

    /// What `rag status --json` says, with the models and the answers pending.
    pub async fn status(&self) -> Result<serde_json::Value, ApiError> {
        let assistant = Arc::clone(&self.assistant);
        let fresh = Arc::clone(&self.fresh);
        let index = self
            .lookup(move || {
                fresh.refresh(&assistant);
                Ok(assistant.index().status().map_err(crate::Error::from)?)
            })
            .await?;
        let mut value = serde_json::to_value(&index)
            .map_err(|e| ApiError::internal(format!("encoding the status: {e}")))?;
        value["answer_model"] = self.model().into();
        value["embedding_model"] = self.embedding_model().into();
        value["answers_pending"] = self.pending().into();
        value["serving_since"] = self.started.into();
        if let Some(failure) = self.fresh.failure() {
            value["reopen_failed"] = failure.into();
        }
        Ok(value)
    }

    /// Vectors of `texts` and the tokens the embedding model read.
    pub async fn embed(&self, texts: Vec<String>) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
        let assistant = Arc::clone(&self.assistant);
        self.lookup(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let tokens = refs.iter().map(|t| assistant.embedding_tokens(t)).sum();
            Ok((assistant.embed(&refs)?, tokens))
        })
        .await
    }

    /// Runs `work` off the async threads, one of [`PARALLEL_LOOKUPS`] at a time.
    async fn lookup<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .lookups
            .acquire()
            .await
            .map_err(|_| ApiError::internal("the server is shutting down"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal(format!("the lookup failed unexpectedly: {e}")))?
    }
}

/// Keeps the served index current with the folder's last commit.
struct Freshness {
    reopener: Option<Reopener>,
    checked: Mutex<Instant>,
    /// Why the last reopening failed (the old index goes on serving).
    failure: Mutex<Option<String>>,
}

impl Freshness {
    /// Opens the folder's newer commit, if any, for what comes next. A check
    /// under way elsewhere is not waited for: this request uses the index as it is.
    fn refresh(&self, assistant: &Assistant) {
        let Some(reopener) = &self.reopener else {
            return;
        };
        let Ok(mut checked) = self.checked.try_lock() else {
            return;
        };
        if checked.elapsed() < REOPEN_CHECK {
            return;
        }
        let outcome = reopener.newer();
        *checked = Instant::now();
        let failure = match outcome {
            Ok(Some(index)) => {
                assistant.replace_index(index);
                None
            }
            Ok(None) => None,
            Err(error) => Some(error.to_string()),
        };
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = failure;
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The answer, once the worker is done with it.
pub async fn finished(mut progress: UnboundedReceiver<Progress>) -> Result<Answer, ApiError> {
    while let Some(event) = progress.recv().await {
        match event {
            Progress::Done(answer) => return Ok(*answer),
            Progress::Failed(message) => return Err(ApiError::internal(message)),
            Progress::Retrieved { .. } | Progress::Thinking(_) | Progress::Token(_) => {}
        }
    }
    Err(ApiError::internal(
        "the answer was stopped before it finished",
    ))
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answer settings a request may give, held to the flags' limits.
#[derive(Debug, Default, Deserialize)]
pub struct Overrides {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u64>,
    pub seed: Option<i64>,
    pub k: Option<u64>,
}

impl Overrides {
    fn apply(&self, defaults: &AskOptions) -> Result<AskOptions, ApiError> {
        let mut options = defaults.clone();
        let sampling = &mut options.generate.sampling;
        if let Some(t) = self.temperature {
            sampling.temperature = limits::number(t as f32, &limits::TEMPERATURE)
                .map_err(|why| ApiError::param("temperature", format!("temperature {why}")))?;
        }
        if let Some(p) = self.top_p {
            sampling.top_p = limits::number(p as f32, &limits::TOP_P)
                .map_err(|why| ApiError::param("top_p", format!("top_p {why}")))?;
        }
        if let Some(seed) = self.seed {
            // OpenAI's seeds are signed; the same bits are the same seed.
            sampling.seed = Some(seed as u64);
        }
        if sampling.temperature == 0.0 {
            // Every greedy sample is the same answer.
            options.samples = 1;
        }
        if let Some(n) = self.max_tokens {
            options.generate.max_tokens = count(n, &limits::MAX_TOKENS, "max_tokens")?;
        }
        if let Some(k) = self.k {
            options.k = count(k, &limits::K, "k")?;
        }
        Ok(options)
    }
}

fn count(
    value: u64,
    range: &std::ops::RangeInclusive<usize>,
    param: &'static str,
) -> Result<usize, ApiError> {
    usize::try_from(value)
        .map_err(|_| format!("must be from {} to {}", range.start(), range.end()))
        .and_then(|n| limits::count(n, range))
        .map_err(|why| ApiError::param(param, format!("{param} {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_held_to_the_flags_limits() {
        let defaults = AskOptions::default();
        let bad = |o: Overrides| o.apply(&defaults).unwrap_err().message;
        assert!(bad(Overrides {
            temperature: Some(f64::INFINITY),
            ..Overrides::default()
        })
        .starts_with("temperature must be"));
        assert!(bad(Overrides {
            max_tokens: Some(u64::MAX),
            ..Overrides::default()
        })
        .starts_with("max_tokens must be from 1"));
        assert!(bad(Overrides {
            top_p: Some(0.0),
            ..Overrides::default()
        })
        .starts_with("top_p"));
        let options = Overrides {
            temperature: Some(0.7),
            seed: Some(-1),
            max_tokens: Some(12),
            ..Overrides::default()
        }
        .apply(&defaults)
        .unwrap();
        assert_eq!(options.generate.sampling.seed, Some(u64::MAX));
        assert_eq!(options.generate.max_tokens, 12);
        assert_eq!(options.generate.sampling.temperature, 0.7);
    }
}
