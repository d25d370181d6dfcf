//! Drawing: the screen is a pure function of [`App`] (and the frame size),
//! except that the conversation view writes back its scroll extent.

mod chat;
mod input;
mod popup;
mod sources;
mod status;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::app::{App, Focus};

/// Below this the layout cannot hold a question, an answer and its sources.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;
/// From this width the sources pane sits beside the conversation, not below it.
const SIDE_BY_SIDE_WIDTH: u16 = 110;

pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return too_small(frame, area);
    }
    let input_rows = input::height(app, area.width);
    let [main, input_area, status_area] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(input_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    let [conversation, sources_area] = if area.width >= SIDE_BY_SIDE_WIDTH {
        Layout::horizontal([Constraint::Percentage(64), Constraint::Percentage(36)]).areas(main)
    } else {
        let sources_rows = (main.height as u32 * 2 / 5).max(4) as u16;
        Layout::vertical([Constraint::Min(3), Constraint::Length(sources_rows)]).areas(main)
    };
    chat::draw(frame, conversation, app);
    sources::draw(frame, sources_area, app);
    input::draw(frame, input_area, app);
    status::draw(frame, status_area, app);
    popup::draw(frame, area, app);
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "window too small ({}x{}): rag chat needs {MIN_WIDTH}x{MIN_HEIGHT}",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(Line::styled(text, theme::warning()))
            .wrap(ratatui::widgets::Wrap { trim: true }),
        area,
    );
}

/// Colours in one place; text over any background stays readable because only
/// foregrounds and modifiers are set (the selection uses reverse video).
mod theme {
    use super::*;

    pub fn user() -> Style {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn assistant() -> Style {
        Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    pub fn citation() -> Style {
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn dim() -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    pub fn refusal() -> Style {
        Style::new()
            .fg(Color::Yellow)
            .add_modifier(Modifier::ITALIC)
    }
    pub fn error() -> Style {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warning() -> Style {
        Style::new().fg(Color::Yellow)
    }
    /// Code from a fenced block in an answer.
    pub fn code() -> Style {
        Style::new().fg(Color::Magenta)
    }
    pub fn code_label() -> Style {
        Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }
    /// The sentence of a source that backs the answer.
    pub fn quote() -> Style {
        Style::new().fg(Color::Yellow)
    }
    pub fn selected() -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn border(focused: bool) -> Style {
        if focused {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
}

fn focused(app: &App, focus: Focus) -> bool {
    app.popup.is_none() && app.focus == focus
}
