//! Popups over the chat: the keys (from the one key table), and one source's full passage.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::theme;
use crate::app::{App, Popup};
use crate::keys::{Context, BINDINGS};
use crate::text::{drawable, find_quote, wrap, wrap_marked};
use unicode_width::UnicodeWidthStr;

/// The slash commands (the keys come from [`crate::keys::BINDINGS`]).
const COMMANDS: &[(&str, &str)] = &[
    (
        "/temp 0.7",
        "set the temperature (0 = always the likeliest answer)",
    ),
    ("/k 5", "passages retrieved per question"),
    ("/max-tokens 400", "longest answer, in tokens"),
    ("/seed 42", "seed for sampling"),
    (
        "/save notes.md",
        "save the conversation with its sources, every regenerated answer too (/save! replaces)",
    ),
    ("/clear", "start a new conversation"),
    ("/help", "this help"),
    ("/quit", "quit"),
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

/// The key table grouped by where the keys work, then the slash commands.
fn help(frame: &mut Frame, area: Rect, mouse: bool, scroll: usize) -> usize {
    let rows: Vec<(Option<Context>, String, &str)> = BINDINGS
        .iter()
        .map(|b| (Some(b.context), b.label(), b.description))
        .chain(
            COMMANDS
                .iter()
                .map(|(k, what)| (None, k.to_string(), *what)),
        )
        .collect();
    let key_width = rows.iter().map(|(_, k, _)| k.width()).max().unwrap_or(0);
    let rect = centered(area, 96, area.height);
    // Descriptions wrap under their column when the window is narrow.
    let text_width = (rect.width as usize).saturating_sub(key_width + 6).max(10);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut group = None;
    for (context, key, what) in &rows {
        if lines.is_empty() || *context != group {
            group = *context;
            if !lines.is_empty() {
                lines.push(Line::raw(""));
            }
            let title = match context {
                Some(Context::Anywhere) => "Anywhere".to_string(),
                Some(Context::Window) => "In a window (this one, a passage)".to_string(),
                Some(Context::Panes) => "In any pane".to_string(),
                Some(context) => format!("In the {}", context.name()),
                None => "Commands (typed as a question)".to_string(),
            };
            lines.push(Line::styled(format!(" {title}"), theme::user()));
        }
        for (i, row) in wrap(what, text_width).into_iter().enumerate() {
            let key = if i == 0 { key.as_str() } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!(" {key:<key_width$}  "), theme::citation()),
                Span::raw(row),
            ]));
        }
    }
    if mouse {
        lines.push(Line::raw(""));
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
        .title_bottom(Line::styled(
            " Esc closes · ↑↓ PgUp PgDn scroll ",
            theme::dim(),
        ))
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
