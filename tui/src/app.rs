//! The chat's state and what each key does to it. Nothing here draws or does
//! I/O: work for the outside world (send a job, stop one, save a file) is
//! queued as [`Action`]s that the event loop, or a test, carries out.

use std::path::PathBuf;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use crate::backend::{BackendInfo, Cited, Job, Reply, Settings, SourceView, Stats, Update};
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

    pub fn handle_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        self.notice = None;
        let armed = std::mem::take(&mut self.quit_armed);
        match key.code {
            KeyCode::Char('c') if ctrl => return self.interrupt(armed),
            KeyCode::Char('d') if ctrl => return self.exit(),
            KeyCode::Char('r') if ctrl => return self.regenerate(),
            KeyCode::Char('t' | 'T') if ctrl => {
                let step = if shift || key.code == KeyCode::Char('T') {
                    -TEMPERATURE_STEP
                } else {
                    TEMPERATURE_STEP
                };
                return self.set_temperature(self.settings.temperature + step);
            }
            // Ctrl+Shift+T only reaches us from terminals with the kitty
            // keyboard protocol; Alt+T works everywhere.
            KeyCode::Char('t') if key.modifiers.contains(KeyModifiers::ALT) => {
                return self.set_temperature(self.settings.temperature - TEMPERATURE_STEP);
            }
            KeyCode::F(1) => return self.toggle_help(),
            _ => {}
        }
        if let Some(popup) = self.popup {
            return self.popup_key(popup, key);
        }
        match key.code {
            KeyCode::Tab => return self.cycle_focus(true),
            KeyCode::BackTab => return self.cycle_focus(false),
            KeyCode::PageUp => return self.scroll_by(-(self.page() as isize)),
            KeyCode::PageDown => return self.scroll_by(self.page() as isize),
            KeyCode::Esc => {
                if self.focus == Focus::Input {
                    self.exit();
                } else {
                    self.focus = Focus::Input;
                }
                return;
            }
            _ => {}
        }
        match self.focus {
            Focus::Input => self.input_key(key),
            Focus::Conversation => self.conversation_key(key),
            Focus::Sources => self.sources_key(key),
        }
    }

    fn page(&self) -> usize {
        self.scroll.viewport.saturating_sub(2).max(1)
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

    fn popup_key(&mut self, popup: Popup, key: KeyEvent) {
        match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => self.popup = None,
            KeyCode::Char('?') if matches!(popup, Popup::Help { .. }) => self.popup = None,
            KeyCode::Up | KeyCode::Char('k') => self.scroll_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll_by(1),
            KeyCode::PageUp => self.scroll_by(-10),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll_by(10),
            KeyCode::Home => self.popup = Some(with_scroll(popup, 0)),
            _ => {}
        }
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

    fn input_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let newline = key
            .modifiers
            .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter if newline => self.input.newline(),
            KeyCode::Char('j') if ctrl => self.input.newline(),
            KeyCode::Enter => self.send(),
            KeyCode::Char('?') if self.input.is_empty() => self.toggle_help(),
            KeyCode::Char('a') if ctrl => self.input.home(),
            KeyCode::Char('e') if ctrl => self.input.end(),
            KeyCode::Char('u') if ctrl => self.edit(Input::clear),
            KeyCode::Char('w') if ctrl => self.edit(Input::delete_word),
            KeyCode::Char(c) if !ctrl => self.edit(|input| input.insert(c)),
            KeyCode::Backspace => self.edit(Input::backspace),
            KeyCode::Delete => self.edit(Input::delete),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            KeyCode::End => self.input.end(),
            KeyCode::Up => {
                if self.input.is_empty() || self.history.is_browsing() {
                    if let Some(older) = self.history.older() {
                        let older = older.to_string();
                        self.input.set(&older);
                    }
                } else {
                    self.input.up();
                }
            }
            KeyCode::Down => {
                if self.history.is_browsing() {
                    match self.history.newer() {
                        Some(newer) => {
                            let newer = newer.to_string();
                            self.input.set(&newer);
                        }
                        None => self.input.clear(),
                    }
                } else {
                    self.input.down();
                }
            }
            _ => {}
        }
    }

    /// A change to the text: a recalled question being edited is no longer
    /// the history's, so Up/Down must not replace it.
    fn edit(&mut self, change: impl FnOnce(&mut Input)) {
        self.history.stop_browsing();
        change(&mut self.input);
    }

    fn conversation_key(&mut self, key: KeyEvent) {
        let Some(current) = self.selected_exchange() else {
            return;
        };
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.select_exchange(current.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.select_exchange(current + 1),
            KeyCode::Home | KeyCode::Char('g') => self.select_exchange(0),
            KeyCode::End | KeyCode::Char('G') => self.select_exchange(usize::MAX),
            KeyCode::Left | KeyCode::Char('h') => self.show_version(current, -1),
            KeyCode::Right | KeyCode::Char('l') => self.show_version(current, 1),
            KeyCode::Enter => self.focus = Focus::Sources,
            KeyCode::Char('?') => self.toggle_help(),
            _ => {}
        }
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

    fn sources_key(&mut self, key: KeyEvent) {
        let count = self.selected_answer().map_or(0, |a| a.sources.len());
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.source_cursor = self.source_cursor.saturating_sub(1);
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.source_cursor = (self.source_cursor + 1).min(count.saturating_sub(1));
            }
            KeyCode::Enter | KeyCode::Char(' ') if count > 0 => {
                self.popup = Some(Popup::Passage { scroll: 0 });
            }
            KeyCode::Char('?') => self.toggle_help(),
            _ => {}
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

    fn answer_mut(&mut self, job: u64) -> Option<&mut AnswerView> {
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

fn with_scroll(popup: Popup, scroll: usize) -> Popup {
    match popup {
        Popup::Help { .. } => Popup::Help { scroll },
        Popup::Passage { .. } => Popup::Passage { scroll },
    }
}
