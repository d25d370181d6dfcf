//! Popups over the chat: the keys, and one source's full passage.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::theme;
use crate::app::{App, Popup};
use crate::text::{drawable, wrap};

const KEYS: &[(&str, &str)] = &[
    ("Enter", "send the question"),
    ("Alt+Enter, Shift+Enter, Ctrl+J", "new line in the question"),
    ("Up / Down", "earlier questions (on an empty line)"),
    ("Ctrl+R", "regenerate the last answer with a new sample"),
    ("Ctrl+T / Ctrl+Shift+T", "temperature up / down by 0.1"),
    ("Ctrl+C", "stop the answer; clear the line; twice: quit"),
    ("Esc, Ctrl+D", "quit"),
    ("Tab / Shift+Tab", "focus: question, conversation, sources"),
    ("PgUp / PgDn, wheel", "scroll the conversation"),
    (
        "conversation: ↑↓ ←→",
        "pick a question / one of its answers",
    ),
    ("sources: ↑↓ Enter", "pick a passage / read it in full"),
    ("Ctrl+W, Ctrl+U", "delete a word / the line"),
    (
        "/temp 0.7",
        "set the temperature (0 = always the likeliest answer)",
    ),
    ("/k 5", "passages retrieved per question"),
    ("/seed 42", "seed for sampling"),
    (
        "/save notes.md",
        "save the conversation with its sources (/save! replaces)",
    ),
    ("/clear", "start a new conversation"),
    ("/help, ?, F1", "this help"),
];

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    match app.popup {
        Some(Popup::Help { scroll }) => help(frame, area, app, scroll),
        Some(Popup::Passage { scroll }) => passage(frame, area, app, scroll),
        None => {}
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// Draws `lines` scrolled in a bordered box, clamping the scroll to the end.
fn scrolled_box(
    frame: &mut Frame,
    rect: Rect,
    block: Block,
    lines: Vec<Line<'static>>,
    scroll: usize,
) {
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let top = scroll.min(lines.len().saturating_sub(inner.height as usize));
    let visible: Vec<Line> = lines.into_iter().skip(top).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

fn help(frame: &mut Frame, area: Rect, app: &App, scroll: usize) {
    let key_width = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line<'static>> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:<key_width$}  "), theme::citation()),
                Span::raw(*what),
            ])
        })
        .collect();
    if app.mouse {
        lines.push(Line::styled(
            " The mouse scrolls here; hold Shift to select text (or start with --no-mouse).",
            theme::dim(),
        ));
    }
    let rect = centered(area, 92, lines.len() as u16 + 2);
    let block = Block::bordered()
        .title(" Keys ")
        .title_bottom(Line::styled(" Esc closes ", theme::dim()))
        .border_style(theme::border(true));
    scrolled_box(frame, rect, block, lines, scroll);
}

fn passage(frame: &mut Frame, area: Rect, app: &App, scroll: usize) {
    let Some(source) = app.selected_source() else {
        return;
    };
    let rect = centered(area, area.width * 9 / 10, area.height * 9 / 10);
    let width = rect.width.saturating_sub(3) as usize;
    let mut lines = Vec::new();
    if !source.heading.is_empty() {
        for row in wrap(&source.heading, width) {
            lines.push(Line::styled(format!(" {row}"), theme::user()));
        }
        lines.push(Line::raw(""));
    }
    for row in wrap(&source.text, width) {
        lines.push(Line::raw(format!(" {row}")));
    }
    let title = format!(" [{}] {} ", source.n, drawable(&source.location()));
    let block = Block::bordered()
        .title(Line::styled(
            crate::text::truncate(&title, width),
            theme::citation(),
        ))
        .title_bottom(Line::styled(
            " Esc closes · ↑↓ PgUp PgDn scroll ",
            theme::dim(),
        ))
        .border_style(theme::border(true));
    scrolled_box(frame, rect, block, lines, scroll);
}
