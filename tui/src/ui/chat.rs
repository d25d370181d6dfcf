//! The conversation: questions, answers streaming in, citations highlighted.

use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};
use ratatui::Frame;

use super::{focused, theme};
use crate::app::{AnswerView, App, BackendState, Exchange, Focus, Phase};
use crate::markdown::{self, Block as Part};
use crate::text::{citation_spans, drawable, wrap};

/// Left margin of every line; the selected exchange shows a bar in it.
const GUTTER: usize = 2;
const CURSOR: &str = "▍";

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let block = Block::bordered()
        .title(" Conversation ")
        .border_style(theme::border(focused(app, Focus::Conversation)));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let width = inner.width as usize;
    let (lines, starts) = if app.exchanges.is_empty() {
        (welcome(app), Vec::new())
    } else {
        conversation(app, width.saturating_sub(GUTTER + 1))
    };

    let scroll = &mut app.scroll;
    scroll.viewport = inner.height as usize;
    scroll.total = lines.len();
    if let Some(i) = scroll.reveal.take() {
        if let Some(&start) = starts.get(i) {
            let top = scroll.current_top();
            if start < top || start >= top + scroll.viewport {
                scroll.top = Some(start.min(scroll.max_top()));
            }
        }
    }
    if scroll.top.is_some_and(|top| top >= scroll.max_top()) {
        scroll.top = None;
    }
    let top = scroll.current_top();
    let visible: Vec<Line> = lines.into_iter().skip(top).take(scroll.viewport).collect();
    frame.render_widget(Paragraph::new(visible), inner);

    if scroll.total > scroll.viewport {
        let mut state = ScrollbarState::new(scroll.max_top()).position(top);
        frame.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight),
            area.inner(Margin {
                vertical: 1,
                horizontal: 0,
            }),
            &mut state,
        );
    }
}

fn welcome(app: &App) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::raw(""),
        Line::styled("  Ask a question about your documents.", theme::assistant()),
        Line::raw(""),
        Line::styled(
            "  Answers come from the indexed passages only, with [n] citations;",
            theme::dim(),
        ),
        Line::styled(
            "  the passages appear in the sources pane. Enter sends, ? shows the keys.",
            theme::dim(),
        ),
    ];
    match &app.backend {
        BackendState::Loading => {
            lines.push(Line::raw(""));
            lines.push(Line::styled("  loading the models…", theme::warning()));
        }
        BackendState::Failed(reason) => {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("  could not load the models: {}", drawable(reason)),
                theme::error(),
            ));
        }
        BackendState::Ready(_) => {}
    }
    lines
}

/// All lines of the conversation at `width`, and the first line of each exchange.
fn conversation(app: &App, width: usize) -> (Vec<Line<'static>>, Vec<usize>) {
    let width = width.max(10);
    let marked = (app.focus == Focus::Conversation).then(|| app.selected_exchange());
    let mut lines = Vec::new();
    let mut starts = Vec::new();
    for (i, exchange) in app.exchanges.iter().enumerate() {
        starts.push(lines.len());
        let first = lines.len();
        exchange_lines(&mut lines, exchange, width);
        if marked == Some(Some(i)) {
            for line in &mut lines[first..] {
                line.spans[0] = Span::styled("▌ ", theme::user());
            }
        }
        lines.push(Line::raw(""));
    }
    (lines, starts)
}

fn gutter() -> Span<'static> {
    Span::raw(" ".repeat(GUTTER))
}

fn exchange_lines(lines: &mut Vec<Line<'static>>, exchange: &Exchange, width: usize) {
    lines.push(Line::from(vec![
        gutter(),
        Span::styled("You", theme::user()),
    ]));
    for row in wrap(&exchange.question, width) {
        lines.push(Line::from(vec![gutter(), Span::raw(row)]));
    }
    let answer = exchange.answer();
    let mut header = vec![gutter(), Span::styled("rag", theme::assistant())];
    if exchange.answers.len() > 1 {
        header.push(Span::styled(
            format!(
                "  answer {} of {} (←/→ in the conversation)",
                exchange.shown + 1,
                exchange.answers.len()
            ),
            theme::dim(),
        ));
    }
    header.push(phase_span(answer));
    lines.push(Line::from(header));

    if !answer.thinking.is_empty() {
        for row in wrap(answer.thinking.trim(), width) {
            lines.push(Line::from(vec![gutter(), Span::styled(row, theme::dim())]));
        }
    }
    let text = answer.text.trim_start();
    let mut body: Vec<Line<'static>> = Vec::new();
    if !text.is_empty() {
        for block in markdown::blocks(text) {
            match block {
                Part::Prose(prose) => prose_lines(&mut body, answer, &prose, width),
                Part::Code {
                    language,
                    lines: code,
                    closed,
                } => {
                    // A block still being written has no bottom edge yet.
                    let ended = closed || !answer.phase.is_running();
                    code_lines(&mut body, &language, &code, ended, width);
                }
            }
        }
    }
    if answer.phase == Phase::Writing {
        match body.last_mut() {
            Some(line) => line.spans.push(Span::styled(CURSOR, theme::assistant())),
            None => body.push(Line::from(vec![
                gutter(),
                Span::styled(CURSOR, theme::assistant()),
            ])),
        }
    }
    lines.extend(body);
    if answer.truncated && answer.phase == Phase::Done {
        let limit = answer.settings.max_tokens;
        lines.push(Line::from(vec![
            gutter(),
            Span::styled(
                format!(
                    "… cut at {limit} tokens (/max-tokens {} lets it finish)",
                    limit.saturating_mul(2)
                ),
                theme::warning(),
            ),
        ]));
    }
    if let Some(line) = cited_line(answer, width) {
        lines.push(line);
    }
}

/// Prose, word-wrapped, with its citations highlighted.
fn prose_lines(lines: &mut Vec<Line<'static>>, answer: &AnswerView, text: &str, width: usize) {
    let style = if answer.refused {
        theme::refusal()
    } else {
        ratatui::style::Style::new()
    };
    for row in wrap(text, width) {
        let mut spans = vec![gutter()];
        for (piece, is_citation) in citation_spans(&row) {
            let piece_style = if is_citation && !answer.refused {
                theme::citation()
            } else {
                style
            };
            spans.push(Span::styled(piece.to_string(), piece_style));
        }
        lines.push(Line::from(spans));
    }
}

/// A fenced code block in a frame, its language on top; lines are kept as
/// written (indentation included) and only broken where wider than the pane.
fn code_lines(
    lines: &mut Vec<Line<'static>>,
    language: &str,
    code: &[String],
    ended: bool,
    width: usize,
) {
    let language = match drawable(language).trim() {
        "" => "code".to_string(),
        named => crate::text::truncate(named, width.saturating_sub(4)),
    };
    lines.push(Line::from(vec![
        gutter(),
        Span::styled("╭─ ", theme::dim()),
        Span::styled(language, theme::code_label()),
    ]));
    let room = width.saturating_sub(2).max(1);
    for line in code {
        for row in crate::text::break_at(&drawable(line), room) {
            lines.push(Line::from(vec![
                gutter(),
                Span::styled("│ ", theme::dim()),
                Span::styled(row, theme::code()),
            ]));
        }
    }
    if ended {
        lines.push(Line::from(vec![gutter(), Span::styled("╰─", theme::dim())]));
    }
}

fn phase_span(answer: &AnswerView) -> Span<'static> {
    let text = match &answer.phase {
        Phase::Waiting => "  · waiting for the models…".to_string(),
        Phase::Searching => "  · searching…".to_string(),
        Phase::Reading { read, total } if *total > 0 => format!(
            "  · reading {} source(s): {read}/{total} tokens…",
            answer.sources.len()
        ),
        Phase::Reading { .. } => format!("  · reading {} source(s)…", answer.sources.len()),
        Phase::Sampling { sample, of } => {
            format!("  · sampling answer {sample} of {of} (the best supported one is kept)…")
        }
        Phase::Thinking => "  · thinking…".to_string(),
        Phase::Writing | Phase::Done => String::new(),
        Phase::Stopped => "  · stopped".to_string(),
        Phase::Failed(message) => {
            return Span::styled(format!("  · failed: {}", drawable(message)), theme::error())
        }
    };
    Span::styled(text, theme::dim())
}

/// "[1] docs/a.md:4 · [2] …" under a finished answer: where to check it.
fn cited_line(answer: &AnswerView, width: usize) -> Option<Line<'static>> {
    if answer.phase != Phase::Done || answer.citations.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for cited in &answer.citations {
        if let Some(source) = answer.sources.iter().find(|s| s.n == cited.n) {
            // The quote's first line, where an editor would jump to.
            let location = match &cited.quote {
                Some(quote) if source.place.is_none() => {
                    format!("{}:{}", source.path, quote.line_start)
                }
                _ => source.location(),
            };
            parts.push(format!("[{}] {}", source.n, drawable(&location)));
        }
    }
    let label = if answer.citations.iter().all(|c| c.inferred) {
        "closest: "
    } else {
        "sources: "
    };
    let text = crate::text::truncate(&format!("{label}{}", parts.join(" · ")), width);
    // One location alone keeps its file name when cut.
    let text = if parts.len() == 1 {
        format!(
            "{label}{}",
            crate::text::truncate_start(&parts[0], width.saturating_sub(label.len()))
        )
    } else {
        text
    };
    Some(Line::from(vec![gutter(), Span::styled(text, theme::dim())]))
}
