//! Popups over the chat: the keys, and one source's full passage.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::theme;
use crate::app::{App, Popup};
use crate::text::{drawable, find_quote, wrap, wrap_marked};
use unicode_width::UnicodeWidthStr;

const KEYS: &[(&str, &str)] = &[
    ("Enter", "send the question"),
    ("Alt+Enter, Shift+Enter, Ctrl+J", "new line in the question"),
    ("Up / Down", "earlier questions (on an empty line)"),
    ("Ctrl+R", "regenerate the last answer with a new sample"),
    (
        "Ctrl+T / Ctrl+Shift+T, Alt+T",
        "temperature up / down by 0.1",
    ),
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

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let shown = match app.popup {
        Some(Popup::Help { scroll }) => help(frame, area, app.mouse, scroll),
        Some(Popup::Passage { scroll }) => match passage(frame, area, app, scroll) {
            Some(shown) => shown,
            // The passage is gone (e.g. a new answer replaced the sources).
            None => return app.popup = None,
        },
        None => return,
    };
    // Scrolling past the end stops at the end, so one key press scrolls back.
    if let Some(Popup::Help { scroll } | Popup::Passage { scroll }) = &mut app.popup {
        *scroll = shown;
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

/// `share` tenths of `length`, without overflowing u16.
fn tenths(length: u16, share: u32) -> u16 {
    (length as u32 * share / 10) as u16
}

/// Draws `lines` scrolled in a bordered box; returns the scroll actually used
/// (clamped so the last line is at the bottom at most).
fn scrolled_box(
    frame: &mut Frame,
    rect: Rect,
    block: Block,
    lines: Vec<Line<'static>>,
    scroll: usize,
) -> usize {
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let top = scroll.min(lines.len().saturating_sub(inner.height as usize));
    let visible: Vec<Line> = lines.into_iter().skip(top).collect();
    frame.render_widget(Paragraph::new(visible), inner);
    top
}

fn help(frame: &mut Frame, area: Rect, mouse: bool, scroll: usize) -> usize {
    let key_width = KEYS.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let rect = centered(area, 92, area.height);
    // Descriptions wrap under their column when the window is narrow.
    let text_width = (rect.width as usize).saturating_sub(key_width + 5).max(10);
    let mut lines: Vec<Line<'static>> = Vec::new();
    for (key, what) in KEYS {
        for (i, row) in wrap(what, text_width).into_iter().enumerate() {
            let key = if i == 0 { *key } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!(" {key:<key_width$}  "), theme::citation()),
                Span::raw(row),
            ]));
        }
    }
    if mouse {
        for row in wrap(
            "The mouse scrolls here; hold Shift to select text (or start with --no-mouse).",
            (rect.width as usize).saturating_sub(4),
        ) {
            lines.push(Line::styled(format!(" {row}"), theme::dim()));
        }
    }
    let height = (lines.len() + 2).min(u16::MAX as usize) as u16;
    let rect = centered(area, rect.width, height);
    let block = Block::bordered()
        .title(" Keys ")
        .title_bottom(Line::styled(" Esc closes ", theme::dim()))
        .border_style(theme::border(true));
    scrolled_box(frame, rect, block, lines, scroll)
}

fn passage(frame: &mut Frame, area: Rect, app: &App, scroll: usize) -> Option<usize> {
    let source = app.selected_source()?;
    let rect = centered(area, tenths(area.width, 9), tenths(area.height, 9));
    let width = rect.width.saturating_sub(3) as usize;
    let mut lines = Vec::new();
    if !source.heading.is_empty() {
        for row in wrap(&source.heading, width) {
            lines.push(Line::styled(format!(" {row}"), theme::user()));
        }
        lines.push(Line::raw(""));
    }
    let text = drawable(&source.text);
    let quote = app
        .selected_answer()
        .and_then(|a| a.cited(source.n))
        .and_then(|c| c.quote.as_ref());
    let marked = quote.and_then(|q| {
        let from_line = q.line_start.saturating_sub(source.line_start) as usize;
        find_quote(&text, &drawable(&q.text), from_line)
    });
    for row in wrap_marked(&text, width, marked) {
        // A bar in the margin marks the quote's rows without colours too.
        let margin = if row.iter().any(|(_, quoted)| *quoted) {
            Span::styled("▌", theme::quote())
        } else {
            Span::raw(" ")
        };
        let mut spans = vec![margin];
        spans.extend(row.into_iter().map(|(piece, quoted)| {
            if quoted {
                Span::styled(piece, theme::quote())
            } else {
                Span::raw(piece)
            }
        }));
        lines.push(Line::from(spans));
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
    Some(scrolled_box(frame, rect, block, lines, scroll))
}
