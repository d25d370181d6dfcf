//! The input box: the question being typed, wrapped, with the cursor.

use ratatui::layout::{Alignment, Position, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{focused, theme};
use crate::app::{App, Focus};
use unicode_width::UnicodeWidthStr;

/// Rows of text the box grows to before it scrolls.
const MAX_ROWS: u16 = 6;
const PROMPT: &str = "› ";

/// The box's height for the current text, borders included.
pub fn height(app: &App, width: u16) -> u16 {
    let (rows, _) = app.input.layout(text_width(width));
    (rows.len() as u16).clamp(1, MAX_ROWS) + 2
}

fn text_width(width: u16) -> usize {
    (width as usize).saturating_sub(2 + PROMPT.width())
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let has_focus = focused(app, Focus::Input);
    let title = if app.in_flight().is_some() {
        " Ask · answering… Ctrl+C stops "
    } else {
        " Ask "
    };
    let block = Block::bordered()
        .title(title)
        .title_bottom(
            Line::styled(" Enter sends · Alt+Enter new line · ? keys ", theme::dim())
                .alignment(Alignment::Right),
        )
        .border_style(theme::border(has_focus));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if inner.height == 0 {
        return;
    }
    let (rows, (cursor_row, cursor_col)) = app.input.layout(text_width(area.width));
    let visible = inner.height as usize;
    let first = (cursor_row + 1).saturating_sub(visible);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, row)| {
            let prompt = if i == 0 { PROMPT } else { "  " };
            Line::from(format!("{prompt}{row}"))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    if has_focus {
        let x = inner
            .x
            .saturating_add((PROMPT.width() + cursor_col).min(u16::MAX as usize) as u16);
        let y = inner.y + (cursor_row - first) as u16;
        frame.set_cursor_position(Position::new(x.min(inner.right().saturating_sub(1)), y));
    }
}
