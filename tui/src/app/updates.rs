//! What the worker reports, applied to the answers it is about.

use super::{AnswerView, App, BackendState, Phase};
use crate::backend::{Reply, Update};

impl App {
    pub(super) fn answer_mut(&mut self, job: u64) -> Option<&mut AnswerView> {
        self.exchanges
            .iter_mut()
            .rev()
            .flat_map(|e| e.answers.iter_mut().rev())
            .find(|a| a.job == job)
    }

    /// A report from the worker about job `job` (0 for the backend itself).
    pub fn handle_update(&mut self, job: u64, update: Update) {
        match update {
            Update::Ready(info) => {
                self.backend = BackendState::Ready(info);
                for exchange in &mut self.exchanges {
                    for answer in &mut exchange.answers {
                        if answer.phase == Phase::Waiting {
                            answer.phase = Phase::Searching;
                        }
                    }
                }
                return;
            }
            Update::LoadFailed(reason) => {
                if let Some(job) = self.in_flight.take() {
                    self.fail(job, format!("the models did not load: {reason}"));
                }
                self.notice(format!("could not load the models: {reason}"), true);
                self.backend = BackendState::Failed(reason);
                return;
            }
            _ => {}
        }
        let finished = matches!(update, Update::Done(_) | Update::Failed(_));
        if finished && self.in_flight == Some(job) {
            self.in_flight = None;
        }
        let Some(answer) = self.answer_mut(job) else {
            return; // cleared, or replaced by a regeneration
        };
        if !answer.phase.is_running() && !finished {
            return;
        }
        match update {
            Update::Retrieved {
                sources,
                refused,
                retrieval_ms,
            } => {
                answer.sources = sources;
                answer.gate_refused = refused;
                answer.stats.retrieval_ms = retrieval_ms;
                answer.phase = Phase::Reading { read: 0, total: 0 };
            }
            Update::Reading { read, total } => answer.phase = Phase::Reading { read, total },
            Update::Sampling { sample, of } => answer.phase = Phase::Sampling { sample, of },
            Update::Draft(text) => answer.text.push_str(&text),
            Update::Chosen { sample, of } => {
                // The chosen text follows as tokens.
                answer.text.clear();
                answer.phase = Phase::Writing;
                if sample > 1 {
                    let text = format!("replaced by a better sample ({sample} of {of})");
                    self.notice(text, false);
                }
            }
            Update::Thinking(text) => {
                answer.thinking.push_str(&text);
                answer.phase = Phase::Thinking;
            }
            Update::Token(text) => {
                answer.text.push_str(&text);
                answer.phase = Phase::Writing;
            }
            Update::Done(reply) => {
                let stopped = reply.stopped;
                finish(answer, reply);
                if stopped && self.quit_armed {
                    self.notice("stopped (Ctrl+C again quits)", false);
                }
            }
            Update::Failed(message) => {
                self.fail(job, message);
            }
            Update::Ready(_) | Update::LoadFailed(_) => {}
        }
    }

    fn fail(&mut self, job: u64, message: String) {
        if let Some(answer) = self.answer_mut(job) {
            answer.phase = Phase::Failed(message.clone());
        }
        self.notice(message, true);
    }

    /// The worker thread ended (it only does on a crash); true the first time.
    pub fn worker_gone(&mut self) -> bool {
        if let Some(job) = self.in_flight.take() {
            self.fail(job, "the answering thread stopped unexpectedly".into());
        }
        if matches!(self.backend, BackendState::Failed(_)) {
            return false;
        }
        self.backend = BackendState::Failed("the answering thread stopped unexpectedly".into());
        true
    }
}

fn finish(answer: &mut AnswerView, reply: Reply) {
    if !(reply.stopped && reply.answer.is_empty()) {
        answer.text = reply.answer;
    }
    answer.refused = reply.refused;
    answer.truncated = reply.truncated;
    answer.gate_refused = reply.gate_refused;
    answer.citations = reply.citations;
    let retrieval_ms = answer.stats.retrieval_ms;
    answer.stats = reply.stats;
    if answer.stats.retrieval_ms == 0.0 {
        answer.stats.retrieval_ms = retrieval_ms;
    }
    answer.phase = if reply.stopped {
        Phase::Stopped
    } else {
        Phase::Done
    };
}
