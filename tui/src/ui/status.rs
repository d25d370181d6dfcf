//! The status bar: what is answering, from what, how fast, and with which settings.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::theme;
use crate::app::{App, BackendState, Phase};
use crate::text::{drawable, truncate};

/// From this width the bar also shows k and the help key.
const WIDE: usize = 90;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let width = area.width as usize;
    let right = settings(app, width >= WIDE);
    let left_room = width.saturating_sub(right.width() + 1);
    let (left, left_style) = match &app.notice {
        Some(notice) => (
            drawable(&notice.text),
            if notice.error {
                theme::error()
            } else {
                theme::warning()
            },
        ),
        None => (describe(app, left_room), theme::dim()),
    };
    let left = truncate(&left, left_room);
    let gap = width.saturating_sub(left.width() + right.width());
    let line = Line::from(vec![
        Span::styled(left, left_style),
        Span::raw(" ".repeat(gap)),
        Span::styled(right, theme::dim()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

/// Model and index, then the numbers of the selected answer; when they do not
/// all fit, the model name goes first, then the index size.
fn describe(app: &App, room: usize) -> String {
    let mut backend = Vec::new();
    match &app.backend {
        BackendState::Loading => backend.push("loading the models…".to_string()),
        BackendState::Failed(_) => backend.push("models not loaded".to_string()),
        BackendState::Ready(info) => {
            let model = drawable(&info.model);
            backend.push(model.trim_end_matches(".gguf").to_string());
            backend.push(format!("{} files / {} chunks", info.files, info.chunks));
        }
    }
    let mut numbers = Vec::new();
    if let Some(answer) = app.selected_answer() {
        let stats = &answer.stats;
        if stats.retrieval_ms > 0.0 {
            numbers.push(format!("retrieval {:.0} ms", stats.retrieval_ms));
        }
        if answer.phase == Phase::Done && stats.generated_tokens > 0 {
            numbers.push(format!(
                "first token {:.1} s",
                stats.first_token_ms / 1000.0
            ));
            numbers.push(format!("{:.0} tok/s", stats.decode_tok_s));
        }
    }
    loop {
        let text = backend
            .iter()
            .chain(numbers.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join(" · ");
        if text.width() <= room || backend.is_empty() || numbers.is_empty() {
            return text;
        }
        backend.remove(0);
    }
}

fn settings(app: &App, wide: bool) -> String {
    let (temperature, seed) = match app.selected_answer() {
        Some(answer) => (answer.settings.temperature, answer.settings.seed),
        None => (app.settings.temperature, app.settings.seed),
    };
    let mut text = format!("temp {temperature:.1}");
    if (temperature - app.settings.temperature).abs() > f32::EPSILON {
        text.push_str(&format!(" (next {:.1})", app.settings.temperature));
    }
    text.push_str(&format!(" · seed {seed}"));
    if wide {
        text.push_str(&format!(" · k {} · ? help", app.settings.k));
    }
    text
}
