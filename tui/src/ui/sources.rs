//! The sources pane: the numbered passages behind the selected answer.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, HighlightSpacing, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::{focused, theme};
use crate::app::{App, Focus};
use crate::text::{drawable, one_line, truncate_middle};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let has_focus = focused(app, Focus::Sources);
    let answer = app.selected_answer();
    let title = match (answer, app.selected_exchange()) {
        (Some(a), _) if a.gate_refused => " Nearest passages (too far to answer from) ".to_string(),
        (Some(_), Some(i)) if app.exchanges.len() > 1 => format!(" Sources of question {} ", i + 1),
        _ => " Sources ".to_string(),
    };
    let mut block = Block::bordered()
        .title(title)
        .border_style(theme::border(has_focus));
    if has_focus {
        block = block.title_bottom(Line::styled(" Enter opens · ↑↓ moves ", theme::dim()));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let Some(answer) = answer.filter(|a| !a.sources.is_empty()) else {
        let hint = if app.exchanges.is_empty() {
            "The passages an answer draws on appear here (Tab to move here, Enter to read one)."
        } else {
            "No passages yet."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(hint, theme::dim())).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    };

    // One column for the selection mark.
    let width = inner.width.saturating_sub(1) as usize;
    // Three lines per passage when they fit, fewer in a short pane.
    let rows_each = (inner.height as usize / answer.sources.len()).clamp(1, 3);
    let items: Vec<ListItem> = answer
        .sources
        .iter()
        .map(|source| {
            let number = format!("[{}] ", source.n);
            let (mark, mark_style) = match answer.cited(source.n) {
                Some(c) if c.inferred => ("  closest", theme::warning()),
                Some(_) => ("  cited", theme::assistant()),
                None => ("", theme::dim()),
            };
            let score = format!("  {:.2}", source.score);
            let room = width.saturating_sub(number.len() + score.len() + mark.len());
            let indent = " ".repeat(number.len());
            let text_room = width.saturating_sub(indent.len());
            let mut lines = vec![Line::from(vec![
                Span::styled(number.clone(), theme::citation()),
                Span::raw(truncate_middle(&drawable(&source.location()), room)),
                Span::styled(score, theme::dim()),
                Span::styled(mark, mark_style),
            ])];
            if rows_each >= 2 {
                lines.push(Line::from(vec![
                    Span::raw(indent.clone()),
                    Span::styled(one_line(&source.heading, text_room), theme::user()),
                ]));
            }
            if rows_each >= 3 {
                // A cited passage shows the sentence that backs the answer,
                // with its line, instead of its opening words.
                let quote = answer.cited(source.n).and_then(|c| c.quote.as_ref());
                lines.push(match quote {
                    Some(quote) => {
                        // A document's text lines are not the file's: no line to show.
                        let line = match source.place {
                            None => format!("{}: ", quote.line_start),
                            Some(_) => String::new(),
                        };
                        let room = text_room.saturating_sub(line.len());
                        Line::from(vec![
                            Span::raw(indent.clone()),
                            Span::styled(line, theme::dim()),
                            Span::styled(one_line(&quote.text, room), theme::quote()),
                        ])
                    }
                    None => Line::from(vec![
                        Span::raw(indent.clone()),
                        Span::styled(one_line(&source.text, text_room), theme::dim()),
                    ]),
                });
            }
            ListItem::new(lines)
        })
        .collect();
    let mut list = List::new(items).highlight_spacing(HighlightSpacing::Always);
    if has_focus {
        list = list
            .highlight_style(theme::selected())
            .highlight_symbol("▸");
    }
    let mut state =
        ListState::default().with_selected(Some(app.source_cursor.min(answer.sources.len() - 1)));
    frame.render_stateful_widget(list, inner, &mut state);
}
