//! Keys to actions, through the one table in [`crate::keys`].

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{with_scroll, App, Focus, Popup, TEMPERATURE_STEP};
use crate::input::Input;
use crate::keys::{self, Context, KeyAction};

impl App {
    pub fn handle_key(&mut self, key: KeyEvent) {
        self.notice = None;
        let armed = std::mem::take(&mut self.quit_armed);
        for context in self.contexts() {
            let Some(binding) = keys::lookup(context, &key) else {
                continue;
            };
            if self.perform(binding.action, armed) {
                return;
            }
        }
        // A window takes every key; elsewhere the rest is typing, which goes
        // to the question from whichever pane has the focus.
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if let (None, KeyCode::Char(c), false) = (self.popup, key.code, ctrl) {
            self.focus = Focus::Input;
            self.edit(|input| input.insert(c));
        }
    }

    /// Esc in the question quits, but not at once when that would lose
    /// something: a conversation or a question being written asks first.
    fn escape(&mut self, armed: bool) {
        if armed || (self.exchanges.is_empty() && self.input.is_empty()) {
            return self.exit();
        }
        let lost = if self.exchanges.is_empty() {
            "the question"
        } else {
            "the conversation (/save FILE keeps it)"
        };
        self.notice(format!("Esc again to quit: {lost} will be lost"), false);
        self.quit_armed = true;
    }

    /// Where a key is looked up now, in order.
    fn contexts(&self) -> Vec<Context> {
        if self.popup.is_some() {
            return vec![Context::Anywhere, Context::Window];
        }
        let pane = match self.focus {
            Focus::Input => Context::Input,
            Focus::Conversation => Context::Conversation,
            Focus::Sources => Context::Sources,
        };
        vec![Context::Anywhere, Context::Panes, pane]
    }

    /// Carries out one binding; false when it does not apply here and now
    /// (the key then goes on to the next context, or is typed).
    fn perform(&mut self, action: KeyAction, armed: bool) -> bool {
        match action {
            KeyAction::Interrupt => self.interrupt(armed),
            KeyAction::Quit => self.exit(),
            KeyAction::Regenerate => self.regenerate(),
            KeyAction::TemperatureDown => {
                self.set_temperature(self.settings.temperature - TEMPERATURE_STEP)
            }
            KeyAction::TemperatureUp => {
                self.set_temperature(self.settings.temperature + TEMPERATURE_STEP)
            }
            KeyAction::Copy => self.copy(),
            KeyAction::ToggleHelp => self.toggle_help(),
            KeyAction::HelpUnlessTyping => {
                if self.popup.is_none() && self.focus == Focus::Input && !self.input.is_empty() {
                    return false;
                }
                self.toggle_help();
            }
            KeyAction::PageUp => self.scroll_by(-(self.page_lines() as isize)),
            KeyAction::PageDown => self.scroll_by(self.page_lines() as isize),
            KeyAction::CloseWindow => self.popup = None,
            KeyAction::LineUp => self.scroll_by(-1),
            KeyAction::LineDown => self.scroll_by(1),
            KeyAction::Top => self.popup = self.popup.map(|p| with_scroll(p, 0)),
            KeyAction::FocusNext => self.cycle_focus(true),
            KeyAction::FocusPrevious => self.cycle_focus(false),
            KeyAction::Back => {
                if self.focus == Focus::Input {
                    self.escape(armed);
                } else {
                    self.focus = Focus::Input;
                }
            }
            KeyAction::NewLine => self.input.newline(),
            KeyAction::Send => self.send(),
            KeyAction::OlderQuestion => self.older_question(),
            KeyAction::NewerQuestion => self.newer_question(),
            KeyAction::CursorLeft => self.input.left(),
            KeyAction::CursorRight => self.input.right(),
            KeyAction::LineStart => self.input.home(),
            KeyAction::LineEnd => self.input.end(),
            KeyAction::DeleteBack => self.edit(Input::backspace),
            KeyAction::DeleteForward => self.edit(Input::delete),
            KeyAction::DeleteWord => self.edit(Input::delete_word),
            KeyAction::ClearLine => self.edit(Input::clear),
            KeyAction::PreviousExchange => self.step_exchange(-1),
            KeyAction::NextExchange => self.step_exchange(1),
            KeyAction::FirstExchange => self.select_exchange(0),
            KeyAction::LastExchange => self.select_exchange(usize::MAX),
            KeyAction::EarlierAnswer => self.step_version(-1),
            KeyAction::LaterAnswer => self.step_version(1),
            KeyAction::ShowSources => {
                if !self.exchanges.is_empty() {
                    self.focus = Focus::Sources;
                }
            }
            KeyAction::PreviousSource => {
                self.source_cursor = self.source_cursor.saturating_sub(1);
            }
            KeyAction::NextSource => {
                let count = self.selected_answer().map_or(0, |a| a.sources.len());
                self.source_cursor = (self.source_cursor + 1).min(count.saturating_sub(1));
            }
            KeyAction::OpenPassage => {
                if self
                    .selected_answer()
                    .is_some_and(|a| !a.sources.is_empty())
                {
                    self.popup = Some(Popup::Passage { scroll: 0 });
                }
            }
        }
        true
    }

    /// A page: ten lines in a window, the conversation's height less two outside.
    fn page_lines(&self) -> usize {
        if self.popup.is_some() {
            10
        } else {
            self.scroll.viewport.saturating_sub(2).max(1)
        }
    }

    fn older_question(&mut self) {
        if self.input.is_empty() || self.history.is_browsing() {
            if let Some(older) = self.history.older() {
                let older = older.to_string();
                self.input.set(&older);
            }
        } else {
            self.input.up();
        }
    }

    fn newer_question(&mut self) {
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

    fn step_exchange(&mut self, step: isize) {
        if let Some(current) = self.selected_exchange() {
            self.select_exchange(current.saturating_add_signed(step));
        }
    }

    fn step_version(&mut self, step: isize) {
        if let Some(current) = self.selected_exchange() {
            self.show_version(current, step);
        }
    }
}
