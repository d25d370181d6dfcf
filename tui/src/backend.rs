//! What the chat asks of the engine that answers, and the worker thread that
//! runs it. The UI thread only ever sends a [`Job`] and reads [`Update`]s, so
//! a prefill that takes seconds never stalls a redraw.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;

/// Sampling and retrieval settings for one answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub temperature: f32,
    /// Passages to retrieve.
    pub k: usize,
    pub seed: u64,
    /// Longest answer, in tokens.
    pub max_tokens: usize,
}

/// One question to answer, with the conversation before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: u64,
    pub question: String,
    /// Earlier (question, answer) pairs, oldest first.
    pub history: Vec<(String, String)>,
    pub settings: Settings,
}

/// A numbered passage the answer was given (or, after a refusal, the nearest one).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceView {
    pub n: usize,
    pub path: String,
    /// The file's lines.
    pub line_start: u32,
    pub line_end: u32,
    /// Where in the document the passage is (`slide 7`, `page 3`), for a
    /// document whose lines are not the file's; None for text files.
    pub place: Option<String>,
    pub heading: String,
    pub score: f32,
    pub text: String,
}

impl SourceView {
    /// "path:12-30" or "deck.pptx slide 7", the form citations take.
    pub fn location(&self) -> String {
        match &self.place {
            Some(place) => format!("{} {place}", self.path),
            None => format!("{}:{}-{}", self.path, self.line_start, self.line_end),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cited {
    pub n: usize,
    /// Chosen by overlap because the model cited nothing.
    pub inferred: bool,
    /// The sentence of the source that backs the answer, when one does.
    pub quote: Option<Quote>,
}

/// A sentence (or two) of a source, quoted as evidence for an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The quote on one line, possibly cut short with an ellipsis.
    pub text: String,
    /// Lines of the file it spans, inside its source's `line_start..=line_end`.
    pub line_start: u32,
    pub line_end: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub retrieval_ms: f64,
    pub first_token_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub total_ms: f64,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
}

/// The finished answer: its final text replaces what was streamed (invented
/// citation numbers removed, blanks trimmed).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub answer: String,
    pub refused: bool,
    /// The gate refused: the model was not asked.
    pub gate_refused: bool,
    pub citations: Vec<Cited>,
    pub stats: Stats,
    /// Stopped by the user before the end.
    pub stopped: bool,
    /// Cut at --max-tokens.
    pub truncated: bool,
}

/// What the loaded engine is answering from, for the status bar.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendInfo {
    pub model: String,
    pub index: String,
    pub files: usize,
    pub chunks: usize,
}

/// Progress reports, in order for one job: Retrieved, Reading..., Thinking and
/// Token pieces, then Done or Failed. With several samples, the first one
/// streams as Sampling and Draft pieces, the others as Sampling only, then
/// Chosen and the chosen text as Token pieces.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The models are loaded (sent once, before any job's updates).
    Ready(BackendInfo),
    /// Loading failed; no question can be answered.
    LoadFailed(String),
    Retrieved {
        sources: Vec<SourceView>,
        refused: bool,
        retrieval_ms: f64,
    },
    Reading {
        read: usize,
        total: usize,
    },
    /// Writing sample `sample` of `of`; the best replaces the first when all are done.
    Sampling {
        sample: usize,
        of: usize,
    },
    /// A piece of the first sample, shown while the others are written.
    Draft(String),
    /// Sample `sample` of `of` is the best supported: its text follows as
    /// Token pieces, replacing the draft.
    Chosen {
        sample: usize,
        of: usize,
    },
    Thinking(String),
    Token(String),
    Done(Reply),
    Failed(String),
}

/// The engine behind the chat. `answer` runs on the worker thread; it calls
/// `stop()` often enough to notice a cancel within a moment and reports
/// progress through `emit` (everything but Done and Failed, which the worker
/// sends from its result).
pub trait Backend {
    fn info(&self) -> BackendInfo;
    fn answer(
        &mut self,
        job: &Job,
        stop: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(Update),
    ) -> Result<Reply, String>;
}

/// What [`Worker::try_next`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Update(u64, Update),
    Nothing,
    /// The thread has ended (it only does after a panic).
    WorkerGone,
}

/// The worker thread and the two ends of its channels.
pub struct Worker {
    jobs: Option<Sender<Job>>,
    updates: Receiver<(u64, Update)>,
    /// Jobs up to this id are stopped: ids only grow and the app only ever
    /// stops its newest job, so two quick cancels cannot un-cancel the first.
    /// Jobs are numbered from 1, so 0 stops nothing.
    cancel: Arc<AtomicU64>,
}

impl Worker {
    /// Starts the thread, which first builds its backend with `load` (model
    /// loading happens there too, so the screen is up at once), then answers
    /// jobs in order until the Worker is dropped.
    pub fn spawn<B, L>(load: L) -> Worker
    where
        B: Backend,
        L: FnOnce() -> Result<B, String> + Send + 'static,
    {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (update_tx, update_rx) = mpsc::channel();
        let cancel = Arc::new(AtomicU64::new(0));
        let cancel_seen = Arc::clone(&cancel);
        // If the thread cannot start, its channel ends are dropped and the
        // app sees a disconnected worker, which it reports on screen.
        let _ = thread::Builder::new()
            .name("rag-chat-worker".into())
            .spawn(move || serve(load, &job_rx, &update_tx, &cancel_seen));
        Worker {
            jobs: Some(job_tx),
            updates: update_rx,
            cancel,
        }
    }

    /// Queues a job; false when the worker is gone.
    pub fn submit(&self, job: Job) -> bool {
        self.jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok())
    }

    /// Asks the worker to stop job `id` (in progress or still queued).
    pub fn cancel(&self, id: u64) {
        self.cancel.fetch_max(id, Ordering::SeqCst);
    }

    /// The next update, if one is waiting.
    pub fn try_next(&self) -> Received {
        match self.updates.try_recv() {
            Ok((job, update)) => Received::Update(job, update),
            Err(TryRecvError::Empty) => Received::Nothing,
            Err(TryRecvError::Disconnected) => Received::WorkerGone,
        }
    }

    /// Waits for the next update (tests and scripted runs).
    pub fn next_blocking(&self) -> Option<(u64, Update)> {
        self.updates.recv().ok()
    }
}

fn serve<B, L>(load: L, jobs: &Receiver<Job>, updates: &Sender<(u64, Update)>, cancel: &AtomicU64)
where
    B: Backend,
    L: FnOnce() -> Result<B, String>,
{
    let mut backend = match catch_unwind(AssertUnwindSafe(load)) {
        Ok(Ok(backend)) => backend,
        Ok(Err(message)) => {
            let _ = updates.send((0, Update::LoadFailed(message)));
            return;
        }
        Err(panic) => {
            let _ = updates.send((0, Update::LoadFailed(panic_message(&panic))));
            return;
        }
    };
    if updates.send((0, Update::Ready(backend.info()))).is_err() {
        return;
    }
    for job in jobs.iter() {
        let id = job.id;
        let stop = || cancel.load(Ordering::SeqCst) >= id;
        let mut emit = |update: Update| {
            let _ = updates.send((id, update));
        };
        // A bug in the engine must not take the UI down with it: the panic
        // becomes this answer's error and the next question is still served.
        let answered = catch_unwind(AssertUnwindSafe(|| backend.answer(&job, &stop, &mut emit)));
        let last = match answered {
            Ok(Ok(reply)) => Update::Done(reply),
            Ok(Err(message)) => Update::Failed(message),
            Err(panic) => Update::Failed(format!("internal error: {}", panic_message(&panic))),
        };
        if updates.send((id, last)).is_err() {
            return;
        }
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the answering thread panicked".into())
}
