//! What every door of the server shares: the engine session, its queue of
//! answers, the searches beside it, and the request settings held to the
//! flags' limits. The HTTP endpoints and the MCP tools are thin over it.

use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::assistant::{Answer, AskOptions, Turn};
use crate::config::limits;
use crate::results::SearchResponse;
use crate::session::queue::{AnswerJob, AnswerQueue, Progress};
use crate::session::Session;

/// Searches and embeddings running at once; more wait their turn.
const PARALLEL_LOOKUPS: usize = 4;

/// Results of a search that does not say how many.
pub const SEARCH_K: usize = 10;

pub struct Service {
    session: Arc<Session>,
    answers: AnswerQueue,
    lookups: Semaphore,
    started: u64,
}

impl Service {
    /// Starts the answer worker over `session`; `queue` answers may wait.
    pub fn start(session: Session, queue: usize) -> std::io::Result<Self> {
        let session = Arc::new(session);
        Ok(Service {
            answers: AnswerQueue::start(Arc::clone(&session), queue)?,
            session,
            lookups: Semaphore::new(PARALLEL_LOOKUPS),
            started: unix_now(),
        })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// When the service started, in seconds since 1970.
    pub fn started(&self) -> u64 {
        self.started
    }

    /// The answering model's name.
    pub fn model(&self) -> String {
        self.session.model_name()
    }

    /// The embedding model's name without the digest the index records with it.
    pub fn embedding_model(&self) -> String {
        self.session.embedding_model()
    }

    /// The installed models a request may name, the one answering now first.
    pub fn models(&self) -> Vec<String> {
        self.session.installed_models()
    }

    /// Answer options for a request: the server's, changed as it asks.
    pub fn options(&self, overrides: &Overrides) -> Result<AskOptions, ApiError> {
        overrides.apply(self.session.defaults())
    }

    /// Queues an answer; its progress ends with `Done` or `Failed`, and
    /// dropping the receiver stops it.
    pub fn ask(
        &self,
        model: Option<String>,
        question: String,
        history: Vec<Turn>,
        options: AskOptions,
    ) -> Result<UnboundedReceiver<Progress>, ApiError> {
        let question = question.trim().to_string();
        crate::batch::check(&question).map_err(|why| ApiError::param("question", why))?;
        self.answers
            .submit(AnswerJob {
                model,
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
        let mut options = self.session.defaults().search.clone();
        options.k = match k {
            Some(k) => count(k, &limits::SEARCH_K, "k")?,
            None => SEARCH_K,
        };
        if let Some(mode) = mode {
            options.mode = mode
                .parse()
                .map_err(|why: String| ApiError::param("mode", format!("mode: {why}")))?;
        }
        let session = Arc::clone(&self.session);
        self.lookup(move || Ok(session.search(&query, &options)?))
            .await
    }

    /// What `rag status --json` says, with the models and the answers pending.
    pub async fn status(&self) -> Result<serde_json::Value, ApiError> {
        let session = Arc::clone(&self.session);
        let index = self.lookup(move || Ok(session.status()?)).await?;
        let mut value = serde_json::to_value(&index)
            .map_err(|e| ApiError::internal(format!("encoding the status: {e}")))?;
        value["answer_model"] = self.model().into();
        value["embedding_model"] = self.embedding_model().into();
        value["answers_pending"] = self.pending().into();
        value["serving_since"] = self.started.into();
        if let Some(failure) = self.session.reopen_failure() {
            value["reopen_failed"] = failure.into();
        }
        Ok(value)
    }

    /// Vectors of `texts` and the tokens the embedding model read.
    pub async fn embed(&self, texts: Vec<String>) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
        let session = Arc::clone(&self.session);
        self.lookup(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(session.embed(&refs)?)
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

/// The progress of one answer as a stream; dropping it cancels the answer.
pub fn progress_stream(
    receiver: UnboundedReceiver<Progress>,
) -> impl futures_util::Stream<Item = Progress> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|progress| (progress, receiver))
    })
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
