//! One model, one answer at a time: a worker thread runs a session's answers,
//! and requests wait for it in a bounded queue. A request whose client has gone
//! (its receiver dropped) is skipped if still waiting, and stopped at the next
//! event if running: prefill reports progress in steps, so that is well under
//! a second on this engine.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::Session;
use crate::assistant::{Answer, AskOptions, Event, Request, Source, Turn};

/// What a running answer reports, owned so it can cross to the request's task.
#[derive(Debug)]
pub enum Progress {
    Retrieved { sources: Vec<Source>, refused: bool },
    Thinking(String),
    Token(String),
    Done(Box<Answer>),
    Failed(String),
}

/// One question to answer.
pub struct AnswerJob {
    /// The installed model to answer with; None: the one answering now.
    pub model: Option<String>,
    pub question: String,
    pub history: Vec<Turn>,
    pub options: AskOptions,
}

struct Queued {
    job: AnswerJob,
    progress: UnboundedSender<Progress>,
}

/// The queue is full: try again after about this many seconds.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    pub retry_after_s: u64,
}

/// The handle requests use to queue answers for the worker.
pub struct AnswerQueue {
    jobs: SyncSender<Queued>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Queued and not yet started, plus the one running.
    pending: AtomicUsize,
    /// How long the last answer took, for Retry-After.
    last_answer_ms: AtomicU64,
}

impl AnswerQueue {
    /// Starts the worker answering from `session`; up to `waiting` requests
    /// wait behind the running one.
    pub fn start(session: Arc<Session>, waiting: usize) -> std::io::Result<Self> {
        let (jobs, receiver) = sync_channel(waiting);
        let shared = Arc::new(Shared::default());
        let worker_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("rag-answers".into())
            .spawn(move || work(&session, &receiver, &worker_shared))?;
        Ok(AnswerQueue { jobs, shared })
    }

    /// Queues `job`; its progress arrives on the receiver, ending with
    /// `Done` or `Failed`. Dropping the receiver cancels the job.
    pub fn submit(&self, job: AnswerJob) -> Result<UnboundedReceiver<Progress>, Busy> {
        let (progress, receiver) = unbounded_channel();
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        match self.jobs.try_send(Queued { job, progress }) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let pending = self.shared.pending.fetch_sub(1, Ordering::SeqCst);
                let each_ms = self.shared.last_answer_ms.load(Ordering::Relaxed).max(1000);
                Err(Busy {
                    retry_after_s: (pending as u64 * each_ms).div_ceil(1000).clamp(1, 600),
                })
            }
        }
    }

    /// Answers queued or running.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }
}

fn work(session: &Session, jobs: &Receiver<Queued>, shared: &Shared) {
    for Queued { job, progress } in jobs.iter() {
        if !progress.is_closed() {
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| answer(session, &job, &progress)));
            let last = match outcome {
                Ok(Ok(answer)) => Progress::Done(Box::new(answer)),
                Ok(Err(error)) => Progress::Failed(error.to_string()),
                Err(panic) => Progress::Failed(panic_message(panic.as_ref())),
            };
            let _ = progress.send(last);
            shared
                .last_answer_ms
                .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        shared.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

fn answer(
    session: &Session,
    job: &AnswerJob,
    progress: &UnboundedSender<Progress>,
) -> crate::Result<Answer> {
    if let Some(model) = &job.model {
        session.switch_model(model)?;
    }
    let request = Request {
        question: &job.question,
        history: &job.history,
    };
    session.ask(request, &job.options, &mut |event| {
        let sent = match event {
            Event::Retrieved { sources, refused } => Some(Progress::Retrieved {
                sources: sources.to_vec(),
                refused,
            }),
            Event::Thinking(text) => Some(Progress::Thinking(text.to_string())),
            Event::Token(text) => Some(Progress::Token(text.to_string())),
            // The final answer goes out once, after `ask` returns.
            Event::Reading { .. }
            | Event::Sampling { .. }
            | Event::Draft(_)
            | Event::Chosen { .. }
            | Event::Done(_) => None,
        };
        match sent {
            Some(progress_event) => progress.send(progress_event).is_ok(),
            None => !progress.is_closed(),
        }
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    format!("the answer failed unexpectedly: {what}")
}
