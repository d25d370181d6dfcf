//! The chat's key bindings, in one table: the app dispatches through it, the
//! help window lists it, and a test holds GUIDE.md's key table to it, so a key
//! cannot work one way and be documented another.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. Keys are looked up in this order: `Anywhere`,
/// then `Window` while one is open (it takes every other key), else `Panes`
/// and then the focused pane; within a context, the first matching row wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Anywhere,
    /// A window over the chat (the keys, a passage).
    Window,
    /// Any of the three panes, no window open.
    Panes,
    Input,
    Conversation,
    Sources,
}

impl Context {
    /// As the help window and GUIDE.md name it.
    pub fn name(self) -> &'static str {
        match self {
            Context::Anywhere => "anywhere",
            Context::Window => "window",
            Context::Panes => "panes",
            Context::Input => "question",
            Context::Conversation => "conversation",
            Context::Sources => "sources",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Interrupt,
    Quit,
    Regenerate,
    TemperatureDown,
    TemperatureUp,
    Copy,
    ToggleHelp,
    /// `?`: the help, except while a question is being typed (it is a character then).
    HelpUnlessTyping,
    PageUp,
    PageDown,
    CloseWindow,
    LineUp,
    LineDown,
    Top,
    FocusNext,
    FocusPrevious,
    Back,
    NewLine,
    Send,
    OlderQuestion,
    NewerQuestion,
    CursorLeft,
    CursorRight,
    LineStart,
    LineEnd,
    DeleteBack,
    DeleteForward,
    DeleteWord,
    ClearLine,
    PreviousExchange,
    NextExchange,
    FirstExchange,
    LastExchange,
    EarlierAnswer,
    LaterAnswer,
    ShowSources,
    PreviousSource,
    NextSource,
    OpenPassage,
}

/// A key with the modifiers it needs; others may be held too (Ctrl+Alt+R is
/// still Ctrl+R), which is why stricter rows come before looser ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Chord {
    const fn key(code: KeyCode) -> Chord {
        Chord {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    const fn char(c: char) -> Chord {
        Chord::key(KeyCode::Char(c))
    }

    const fn ctrl(c: char) -> Chord {
        Chord {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    const fn with(code: KeyCode, modifiers: KeyModifiers) -> Chord {
        Chord { code, modifiers }
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        key.code == self.code && key.modifiers.contains(self.modifiers)
    }

    /// "Ctrl+Shift+T", "PgUp", "?": how people write the key.
    pub fn name(&self) -> String {
        let mut name = String::new();
        let m = self.modifiers;
        let uppercase = matches!(self.code, KeyCode::Char(c) if c.is_ascii_uppercase());
        let modified = m.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        if m.contains(KeyModifiers::CONTROL) {
            name.push_str("Ctrl+");
        }
        if m.contains(KeyModifiers::ALT) {
            name.push_str("Alt+");
        }
        if m.contains(KeyModifiers::SHIFT) || (uppercase && modified) {
            name.push_str("Shift+");
        }
        match self.code {
            KeyCode::Char(' ') => name.push_str("Space"),
            KeyCode::Char(c) if modified => name.push(c.to_ascii_uppercase()),
            KeyCode::Char(c) => name.push(c),
            KeyCode::Enter => name.push_str("Enter"),
            KeyCode::Esc => name.push_str("Esc"),
            KeyCode::Tab => name.push_str("Tab"),
            KeyCode::BackTab => name.push_str("Shift+Tab"),
            KeyCode::PageUp => name.push_str("PgUp"),
            KeyCode::PageDown => name.push_str("PgDn"),
            KeyCode::Up => name.push_str("Up"),
            KeyCode::Down => name.push_str("Down"),
            KeyCode::Left => name.push_str("Left"),
            KeyCode::Right => name.push_str("Right"),
            KeyCode::Home => name.push_str("Home"),
            KeyCode::End => name.push_str("End"),
            KeyCode::Backspace => name.push_str("Backspace"),
            KeyCode::Delete => name.push_str("Delete"),
            KeyCode::F(n) => name.push_str(&format!("F{n}")),
            other => name.push_str(&format!("{other:?}")),
        }
        name
    }
}

pub struct Binding {
    pub keys: &'static [Chord],
    pub context: Context,
    pub action: KeyAction,
    pub description: &'static str,
}

impl Binding {
    /// The keys as one label, e.g. "Home, g" (a name two chords share once).
    pub fn label(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for chord in self.keys {
            let name = chord.name();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(", ")
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        self.keys.iter().any(|chord| chord.matches(key))
    }
}

const CTRL_SHIFT: KeyModifiers = KeyModifiers::CONTROL.union(KeyModifiers::SHIFT);

macro_rules! bind {
    ($context:ident, [$($key:expr),+], $action:ident, $description:expr) => {
        Binding {
            keys: &[$($key),+],
            context: Context::$context,
            action: KeyAction::$action,
            description: $description,
        }
    };
}

/// Every key of the chat. Typing a character into the question is not a
/// binding: it is what a key in the question does when no row takes it.
pub static BINDINGS: &[Binding] = &[
    bind!(Anywhere, [Chord::ctrl('c')], Interrupt,
        "stop the answer (even while the model is still reading the sources); clear the question; on an empty line, twice to quit"),
    bind!(Anywhere, [Chord::ctrl('d')], Quit, "quit"),
    bind!(Anywhere, [Chord::ctrl('r')], Regenerate,
        "regenerate the last answer with a new sample (at temperature 0, where every sample is the same, it samples at 0.7); the earlier answers stay"),
    // Before Ctrl+T, which Ctrl+Shift+T also contains. Ctrl+Shift+T only
    // reaches us from terminals that report it (kitty keyboard protocol);
    // Alt+T works everywhere.
    bind!(Anywhere, [Chord::ctrl('T'), Chord::with(KeyCode::Char('t'), CTRL_SHIFT), Chord::with(KeyCode::Char('t'), KeyModifiers::ALT)],
        TemperatureDown, "temperature down by 0.1 for the next answer (Ctrl+Shift+T needs a terminal that reports it)"),
    bind!(Anywhere, [Chord::ctrl('t')], TemperatureUp, "temperature up by 0.1 for the next answer"),
    // Ctrl+Y: free in terminals (raw mode turns off the BSD delayed suspend)
    // and unbound in tmux's root table; "yank" to vi users.
    bind!(Anywhere, [Chord::ctrl('y')], Copy,
        "copy the selected answer and its numbered sources, as markdown, to the clipboard (OSC 52)"),
    bind!(Anywhere, [Chord::key(KeyCode::F(1))], ToggleHelp, "show or hide the keys"),
    bind!(Anywhere, [Chord::char('?')], HelpUnlessTyping, "show or hide the keys (in a question being written, a ?)"),
    bind!(Anywhere, [Chord::key(KeyCode::PageUp)], PageUp, "scroll the conversation, or the open window, up a page (the mouse wheel too)"),
    bind!(Anywhere, [Chord::key(KeyCode::PageDown)], PageDown, "scroll down a page"),
    bind!(Window, [Chord::key(KeyCode::Esc), Chord::key(KeyCode::Enter), Chord::char('q')], CloseWindow, "close the window"),
    bind!(Window, [Chord::key(KeyCode::Up), Chord::char('k')], LineUp, "scroll up a line"),
    bind!(Window, [Chord::key(KeyCode::Down), Chord::char('j')], LineDown, "scroll down a line"),
    bind!(Window, [Chord::char(' ')], PageDown, "scroll down a page"),
    bind!(Window, [Chord::key(KeyCode::Home)], Top, "back to the top"),
    bind!(Panes, [Chord::key(KeyCode::Tab)], FocusNext, "next pane: the question, the conversation, the sources"),
    bind!(Panes, [Chord::key(KeyCode::BackTab)], FocusPrevious, "previous pane"),
    bind!(Panes, [Chord::key(KeyCode::Esc)], Back,
        "back to the question; in the question, quit (twice when a conversation or a question would be lost)"),
    // Before Enter, which the others also contain.
    bind!(Input, [Chord::with(KeyCode::Enter, KeyModifiers::ALT), Chord::with(KeyCode::Enter, KeyModifiers::SHIFT), Chord::ctrl('j')],
        NewLine, "a new line in the question (Shift+Enter only in terminals that report it, such as kitty, WezTerm, foot; Alt+Enter works everywhere)"),
    bind!(Input, [Chord::key(KeyCode::Enter)], Send, "send the question"),
    bind!(Input, [Chord::key(KeyCode::Up)], OlderQuestion, "the question before, when the line is empty (else the line above)"),
    bind!(Input, [Chord::key(KeyCode::Down)], NewerQuestion, "the question after, while going through them (else the line below)"),
    bind!(Input, [Chord::key(KeyCode::Left)], CursorLeft, "cursor left"),
    bind!(Input, [Chord::key(KeyCode::Right)], CursorRight, "cursor right"),
    bind!(Input, [Chord::key(KeyCode::Home), Chord::ctrl('a')], LineStart, "start of the line"),
    bind!(Input, [Chord::key(KeyCode::End), Chord::ctrl('e')], LineEnd, "end of the line"),
    bind!(Input, [Chord::key(KeyCode::Backspace)], DeleteBack, "delete the character before the cursor"),
    bind!(Input, [Chord::key(KeyCode::Delete)], DeleteForward, "delete the character under the cursor"),
    bind!(Input, [Chord::ctrl('w')], DeleteWord, "delete the word before the cursor"),
    bind!(Input, [Chord::ctrl('u')], ClearLine, "clear the question"),
    bind!(Conversation, [Chord::key(KeyCode::Up), Chord::char('k')], PreviousExchange, "the question before: the sources pane follows it"),
    bind!(Conversation, [Chord::key(KeyCode::Down), Chord::char('j')], NextExchange, "the question after"),
    bind!(Conversation, [Chord::key(KeyCode::Home), Chord::char('g')], FirstExchange, "the first question"),
    bind!(Conversation, [Chord::key(KeyCode::End), Chord::char('G')], LastExchange, "the last question"),
    bind!(Conversation, [Chord::key(KeyCode::Left), Chord::char('h')], EarlierAnswer, "an earlier answer to the question (after Ctrl+R)"),
    bind!(Conversation, [Chord::key(KeyCode::Right), Chord::char('l')], LaterAnswer, "a later answer to the question"),
    bind!(Conversation, [Chord::key(KeyCode::Enter)], ShowSources, "go to its sources"),
    bind!(Sources, [Chord::key(KeyCode::Up), Chord::char('k')], PreviousSource, "the passage before"),
    bind!(Sources, [Chord::key(KeyCode::Down), Chord::char('j')], NextSource, "the passage after"),
    bind!(Sources, [Chord::key(KeyCode::Enter), Chord::char(' ')], OpenPassage,
        "read the passage in full, its quoted sentence highlighted, in a window"),
];

/// The first binding of `context` that `key` matches.
pub fn lookup(context: Context, key: &KeyEvent) -> Option<&'static Binding> {
    BINDINGS
        .iter()
        .find(|b| b.context == context && b.matches(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn labels_name_every_chord_once() {
        let label = |action| {
            BINDINGS
                .iter()
                .find(|b| b.action == action)
                .map(Binding::label)
                .unwrap_or_default()
        };
        assert_eq!(label(KeyAction::TemperatureDown), "Ctrl+Shift+T, Alt+T");
        assert_eq!(label(KeyAction::NewLine), "Alt+Enter, Shift+Enter, Ctrl+J");
        assert_eq!(label(KeyAction::LastExchange), "End, G");
        assert_eq!(label(KeyAction::OpenPassage), "Enter, Space");
        assert_eq!(label(KeyAction::FocusPrevious), "Shift+Tab");
    }

    #[test]
    fn stricter_rows_win_over_looser_ones() {
        let found =
            |context, code, modifiers| lookup(context, &key(code, modifiers)).map(|b| b.action);
        let t = KeyCode::Char('t');
        assert_eq!(
            found(Context::Anywhere, t, KeyModifiers::CONTROL),
            Some(KeyAction::TemperatureUp)
        );
        assert_eq!(
            found(Context::Anywhere, t, CTRL_SHIFT),
            Some(KeyAction::TemperatureDown)
        );
        assert_eq!(
            found(Context::Anywhere, KeyCode::Char('T'), CTRL_SHIFT),
            Some(KeyAction::TemperatureDown)
        );
        assert_eq!(
            found(Context::Anywhere, t, KeyModifiers::ALT),
            Some(KeyAction::TemperatureDown)
        );
        assert_eq!(found(Context::Anywhere, t, KeyModifiers::NONE), None);
        assert_eq!(
            found(Context::Input, KeyCode::Enter, KeyModifiers::SHIFT),
            Some(KeyAction::NewLine)
        );
        assert_eq!(
            found(Context::Input, KeyCode::Enter, KeyModifiers::NONE),
            Some(KeyAction::Send)
        );
        assert_eq!(
            found(Context::Input, KeyCode::Char('a'), KeyModifiers::NONE),
            None
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.context != b.context {
                    continue;
                }
                for chord in b.keys {
                    let event = key(chord.code, chord.modifiers);
                    assert!(
                        !a.matches(&event),
                        "{} is taken by {:?} before {:?} in {:?}",
                        chord.name(),
                        a.action,
                        b.action,
                        a.context
                    );
                }
            }
        }
    }
}
