//! The chat's state and what each key does to it (keys reach it through the
//! table in [`crate::keys`], see [`dispatch`]). Nothing here draws or does
//! I/O: work for the outside world (send a job, stop one, save a file, copy)
//! is queued as [`Action`]s that the event loop, or a test, carries out.

mod dispatch;
mod updates;

use std::path::PathBuf;

use crossterm::event::{Event, KeyEventKind, MouseEventKind};

use crate::backend::{BackendInfo, Cited, Job, Settings, SourceView, Stats};
use crate::commands::{self, SlashCommand, MAX_TEMPERATURE};
use crate::input::{History, Input};
use crate::transcript;

/// Ctrl+R at temperature 0 would sample the same answer again; it samples at this instead.
pub const REGENERATE_TEMPERATURE: f32 = 0.7;
/// Ctrl+T / Ctrl+Shift+T step.
const TEMPERATURE_STEP: f32 = 0.1;
/// Lines per mouse wheel notch.
const WHEEL_LINES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Input,
    Conversation,
    Sources,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popup {
    Help {
        scroll: usize,
    },
    /// The full text of the selected source.
    Passage {
        scroll: usize,
    },
}

/// Where one answer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Waiting,
    Searching,
    Reading { read: usize, total: usize },
    Sampling { sample: usize, of: usize },
    Thinking,
    Writing,
    Done,
    Stopped,
    Failed(String),
}

impl Phase {
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            Phase::Waiting
                | Phase::Searching
                | Phase::Reading { .. }
                | Phase::Sampling { .. }
                | Phase::Thinking
                | Phase::Writing
        )
    }
}

/// One sampled answer to a question (Ctrl+R adds another).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerView {
    pub job: u64,
    pub text: String,
    pub thinking: String,
    pub sources: Vec<SourceView>,
    pub refused: bool,
    pub gate_refused: bool,
    pub citations: Vec<Cited>,
    pub stats: Stats,
    pub phase: Phase,
    pub settings: Settings,
    /// Cut at --max-tokens (the engine closed any code fence it left open).
    pub truncated: bool,
}

impl AnswerView {
    fn new(job: u64, settings: Settings) -> Self {
        AnswerView {
            job,
            text: String::new(),
            thinking: String::new(),
            sources: Vec::new(),
            refused: false,
            gate_refused: false,
            citations: Vec::new(),
            stats: Stats::default(),
            phase: Phase::Waiting,
            settings,
            truncated: false,
        }
    }

    pub fn cited(&self, n: usize) -> Option<&Cited> {
        self.citations.iter().find(|c| c.n == n)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub question: String,
    pub answers: Vec<AnswerView>,
    /// Which of `answers` is shown (the newest unless the user browses).
    pub shown: usize,
}

impl Exchange {
    pub fn answer(&self) -> &AnswerView {
        &self.answers[self.shown.min(self.answers.len() - 1)]
    }
}

/// Work for the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Submit(Job),
    Cancel(u64),
    Save {
        path: PathBuf,
        markdown: String,
        overwrite: bool,
    },
    /// Put `markdown` on the clipboard (an OSC 52 escape to the terminal).
    Copy {
        markdown: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BackendState {
    Loading,
    Ready(BackendInfo),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The conversation's scroll position: `top` is the first line shown, None
/// follows the newest text as it streams in. The drawing fills in the sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scroll {
    pub top: Option<usize>,
    pub viewport: usize,
    pub total: usize,
    /// Bring this exchange into view at the next draw.
    pub reveal: Option<usize>,
}

impl Scroll {
    pub fn max_top(&self) -> usize {
        self.total.saturating_sub(self.viewport)
    }

    pub fn current_top(&self) -> usize {
        self.top.unwrap_or(self.max_top()).min(self.max_top())
    }

    fn up(&mut self, lines: usize) {
        self.top = Some(self.current_top().saturating_sub(lines));
    }

    fn down(&mut self, lines: usize) {
        let top = self.current_top() + lines;
        self.top = (top < self.max_top()).then_some(top);
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub exchanges: Vec<Exchange>,
    pub input: Input,
    history: History,
    pub focus: Focus,
    pub popup: Option<Popup>,
    /// The exchange whose sources are shown; None = the newest.
    pub selected: Option<usize>,
    pub source_cursor: usize,
    pub scroll: Scroll,
    /// Settings for the next question (the seed is a base: job n samples with seed + n).
    pub settings: Settings,
    pub backend: BackendState,
    pub notice: Option<Notice>,
    pub mouse: bool,
    pub quit: bool,
    /// The last key was a Ctrl+C that did not quit.
    quit_armed: bool,
    in_flight: Option<u64>,
    next_job: u64,
    actions: Vec<Action>,
}

impl App {
    pub fn new(settings: Settings) -> Self {
        App {
            exchanges: Vec::new(),
            input: Input::new(),
            history: History::default(),
            focus: Focus::Input,
            popup: None,
            selected: None,
            source_cursor: 0,
            scroll: Scroll::default(),
            settings,
            backend: BackendState::Loading,
            notice: None,
            mouse: true,
            quit: false,
            quit_armed: false,
            in_flight: None,
            next_job: 1,
            actions: Vec::new(),
        }
    }

    /// The actions queued since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    pub fn in_flight(&self) -> Option<u64> {
        self.in_flight
    }

    /// The exchange the sources pane shows.
    pub fn selected_exchange(&self) -> Option<usize> {
        match self.selected {
            Some(i) if i < self.exchanges.len() => Some(i),
            _ => self.exchanges.len().checked_sub(1),
        }
    }

    pub fn selected_answer(&self) -> Option<&AnswerView> {
        self.selected_exchange().map(|i| self.exchanges[i].answer())
    }

    pub fn selected_source(&self) -> Option<&SourceView> {
        self.selected_answer()?.sources.get(self.source_cursor)
    }

    /// Any terminal event.
    pub fn handle_event(&mut self, event: &Event) {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.handle_key(*key),
            Event::Paste(text) => {
                self.focus = Focus::Input;
                self.edit(|input| input.paste(text));
            }
            Event::Mouse(mouse) => match mouse.kind {
                MouseEventKind::ScrollUp => self.scroll_by(-(WHEEL_LINES as isize)),
                MouseEventKind::ScrollDown => self.scroll_by(WHEEL_LINES as isize),
                _ => {}
            },
            _ => {}
        }
    }

    fn scroll_by(&mut self, lines: isize) {
        match &mut self.popup {
            Some(Popup::Help { scroll } | Popup::Passage { scroll }) => {
                *scroll = scroll.saturating_add_signed(lines);
            }
            None if lines < 0 => self.scroll.up(lines.unsigned_abs()),
            None => self.scroll.down(lines.unsigned_abs()),
        }
    }

    /// Ctrl+C: stops an answer in progress; otherwise clears the input; on an
    /// empty input, quits if pressed twice in a row (an answer that finishes
    /// just before the first press must not cost the conversation).
    fn interrupt(&mut self, armed: bool) {
        if armed {
            return self.exit();
        }
        if let Some(job) = self.in_flight {
            self.actions.push(Action::Cancel(job));
            self.notice("stopping… (Ctrl+C again quits)", false);
            self.quit_armed = true;
        } else if !self.input.is_empty() {
            self.input.clear();
            self.history.stop_browsing();
        } else {
            self.notice("Ctrl+C again to quit", false);
            self.quit_armed = true;
        }
    }

    fn exit(&mut self) {
        if let Some(job) = self.in_flight {
            self.actions.push(Action::Cancel(job));
        }
        self.quit = true;
    }

    fn toggle_help(&mut self) {
        self.popup = match self.popup {
            Some(Popup::Help { .. }) => None,
            _ => Some(Popup::Help { scroll: 0 }),
        };
    }

    /// Ctrl+Y: the selected answer and its sources, as markdown, to the clipboard.
    fn copy(&mut self) {
        let Some(answer) = self.selected_answer() else {
            return self.notice("nothing to copy yet: ask a question first", true);
        };
        if answer.text.trim().is_empty() {
            return self.notice("nothing to copy yet: the answer has no text", true);
        }
        let markdown = transcript::answer_markdown(answer);
        let text = match answer.sources.len() {
            0 => "copied the answer".to_string(),
            1 => "copied the answer and 1 source".to_string(),
            n => format!("copied the answer and {n} sources"),
        };
        self.actions.push(Action::Copy { markdown });
        self.notice(text, false);
    }

    /// How a copy went (the event loop reports back a failed write).
    pub fn copy_failed(&mut self, message: String) {
        self.notice(message, true);
    }

    fn cycle_focus(&mut self, forward: bool) {
        let order = [Focus::Input, Focus::Conversation, Focus::Sources];
        let at = order.iter().position(|f| *f == self.focus).unwrap_or(0);
        let next = if forward {
            at + 1
        } else {
            at + order.len() - 1
        };
        self.focus = order[next % order.len()];
        if self.focus == Focus::Conversation && self.selected.is_none() {
            self.selected = self.exchanges.len().checked_sub(1);
        }
    }

    /// A change to the text: a recalled question being edited is no longer
    /// the history's, so Up/Down must not replace it.
    fn edit(&mut self, change: impl FnOnce(&mut Input)) {
        self.history.stop_browsing();
        change(&mut self.input);
    }

    fn select_exchange(&mut self, i: usize) {
        let Some(last) = self.exchanges.len().checked_sub(1) else {
            return;
        };
        let i = i.min(last);
        self.selected = Some(i);
        self.source_cursor = 0;
        self.scroll.reveal = Some(i);
    }

    fn show_version(&mut self, exchange: usize, step: isize) {
        let e = &mut self.exchanges[exchange];
        let shown = e.shown.saturating_add_signed(step).min(e.answers.len() - 1);
        if shown != e.shown {
            e.shown = shown;
            self.source_cursor = 0;
        }
    }

    fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
    }

    /// Enter: a slash command, or a question for the backend.
    fn send(&mut self) {
        let text = self.input.text();
        let question = text.trim();
        if question.is_empty() {
            return;
        }
        if let Some(literal) = question.strip_prefix("//") {
            let question = format!("/{literal}");
            return self.ask(question);
        }
        if question.starts_with('/') {
            let outcome = commands::parse(question);
            self.history.push(question);
            self.input.clear();
            match outcome {
                Ok(command) => self.run_command(command),
                Err(message) => self.notice(message, true),
            }
            return;
        }
        self.ask(question.to_string());
    }

    fn ask(&mut self, question: String) {
        if self.in_flight.is_some() {
            self.notice("still answering: wait, or Ctrl+C to stop it", true);
            return;
        }
        if let BackendState::Failed(reason) = &self.backend {
            let reason = reason.clone();
            self.notice(format!("cannot answer: {reason}"), true);
            return;
        }
        self.history.push(&question);
        self.input.clear();
        self.exchanges.push(Exchange {
            question: question.clone(),
            answers: Vec::new(),
            shown: 0,
        });
        self.selected = None;
        self.source_cursor = 0;
        self.scroll.top = None;
        self.start(self.exchanges.len() - 1, self.settings);
    }

    /// Starts a new answer for exchange `i` with the conversation before it.
    fn start(&mut self, i: usize, settings: Settings) {
        let id = self.next_job;
        self.next_job += 1;
        let settings = Settings {
            seed: settings.seed.wrapping_add(id),
            ..settings
        };
        let history = self.exchanges[..i]
            .iter()
            .filter(|e| e.answer().phase == Phase::Done && !e.answer().refused)
            .map(|e| (e.question.clone(), e.answer().text.clone()))
            .collect();
        let exchange = &mut self.exchanges[i];
        let mut answer = AnswerView::new(id, settings);
        if matches!(self.backend, BackendState::Ready(_)) {
            answer.phase = Phase::Searching;
        }
        exchange.answers.push(answer);
        exchange.shown = exchange.answers.len() - 1;
        self.in_flight = Some(id);
        self.actions.push(Action::Submit(Job {
            id,
            question: exchange.question.clone(),
            history,
            settings,
        }));
    }

    /// Ctrl+R: another sample of the last answer (stopping the current one first).
    fn regenerate(&mut self) {
        if let BackendState::Failed(reason) = &self.backend {
            let reason = reason.clone();
            return self.notice(format!("cannot answer: {reason}"), true);
        }
        let Some(last) = self.exchanges.len().checked_sub(1) else {
            self.notice("nothing to regenerate yet: ask a question first", true);
            return;
        };
        if let Some(job) = self.in_flight.take() {
            self.actions.push(Action::Cancel(job));
            if let Some(answer) = self.answer_mut(job) {
                answer.phase = Phase::Stopped;
            }
        }
        let mut settings = self.settings;
        if settings.temperature == 0.0 {
            settings.temperature = REGENERATE_TEMPERATURE;
            self.notice(
                format!("resampling at temperature {REGENERATE_TEMPERATURE} (at 0 every sample is the same answer)"),
                false,
            );
        }
        self.selected = None;
        self.source_cursor = 0;
        self.scroll.top = None;
        self.popup = None;
        self.start(last, settings);
    }

    /// Sets the temperature (rounded to 0.01, so steps of 0.1 do not drift).
    fn set_temperature(&mut self, value: f32) {
        let value = (value.clamp(0.0, MAX_TEMPERATURE) * 100.0).round() / 100.0;
        self.settings.temperature = value;
        self.notice(format!("temperature {value} for the next answer"), false);
    }

    fn run_command(&mut self, command: SlashCommand) {
        match command {
            SlashCommand::Help => self.popup = Some(Popup::Help { scroll: 0 }),
            SlashCommand::Temperature(value) => self.set_temperature(value),
            SlashCommand::K(k) => {
                self.settings.k = k;
                self.notice(format!("{k} passages per question from now on"), false);
            }
            SlashCommand::MaxTokens(max_tokens) => {
                self.settings.max_tokens = max_tokens;
                self.notice(
                    format!("answers up to {max_tokens} tokens from now on"),
                    false,
                );
            }
            SlashCommand::Seed(seed) => {
                self.settings.seed = seed;
                self.notice(format!("seed {seed}"), false);
            }
            SlashCommand::Clear => {
                if let Some(job) = self.in_flight.take() {
                    self.actions.push(Action::Cancel(job));
                }
                self.exchanges.clear();
                self.popup = None;
                self.selected = None;
                self.source_cursor = 0;
                self.scroll = Scroll::default();
                self.notice("conversation cleared", false);
            }
            SlashCommand::Save { path, overwrite } => {
                if self.exchanges.is_empty() {
                    return self.notice("nothing to save yet", true);
                }
                let markdown = transcript::markdown(self);
                self.actions.push(Action::Save {
                    path,
                    markdown,
                    overwrite,
                });
            }
            SlashCommand::Quit => self.exit(),
        }
    }

    /// How a save went (the event loop reports back).
    pub fn saved(&mut self, path: &std::path::Path, result: Result<(), String>) {
        match result {
            Ok(()) => self.notice(
                format!(
                    "saved {} question(s) to {}",
                    self.exchanges.len(),
                    path.display()
                ),
                false,
            ),
            Err(message) => self.notice(message, true),
        }
    }
}

fn with_scroll(popup: Popup, scroll: usize) -> Popup {
    match popup {
        Popup::Help { .. } => Popup::Help { scroll },
        Popup::Passage { .. } => Popup::Passage { scroll },
    }
}
