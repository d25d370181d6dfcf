//! Driving the app as a user would: keys in, worker updates in, screens out.
#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use rag_tui::app::{Action, App};
use rag_tui::backend::{
    BackendInfo, Cited, Job, Quote, Reply, Settings, SourceView, Stats, Update,
};

pub fn settings() -> Settings {
    Settings {
        temperature: 0.0,
        k: 3,
        seed: 42,
        max_tokens: 256,
    }
}

pub fn ready_app() -> App {
    let mut app = App::new(settings());
    app.handle_update(
        0,
        Update::Ready(BackendInfo {
            model: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            index: "/home/me/notes/.rag".into(),
            files: 12,
            chunks: 340,
        }),
    );
    app
}

pub fn press(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

pub fn ctrl(app: &mut App, c: char) {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// Types a question, presses Enter, and returns the job the app submitted.
pub fn ask(app: &mut App, question: &str) -> Job {
    type_text(app, question);
    press(app, KeyCode::Enter);
    submitted(app)
}

/// Asks `question` and answers the job's retrieval with [`paris_sources`].
pub fn ask_with_paris_sources(app: &mut App, question: &str) -> Job {
    let job = ask(app, question);
    app.handle_update(
        job.id,
        Update::Retrieved {
            sources: paris_sources(),
            refused: false,
            retrieval_ms: 5.0,
        },
    );
    job
}

/// The one job among the queued actions.
pub fn submitted(app: &mut App) -> Job {
    let jobs: Vec<Job> = app
        .take_actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Submit(job) => Some(job),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 1, "expected one submitted job, got {jobs:?}");
    jobs.into_iter().next().expect("one job")
}

pub fn source(n: usize, path: &str, heading: &str, text: &str) -> SourceView {
    SourceView {
        n,
        path: path.into(),
        line_start: 3,
        line_end: 9,
        place: None,
        heading: heading.into(),
        score: 1.0 / n as f32,
        text: text.into(),
    }
}

pub fn paris_sources() -> Vec<SourceView> {
    vec![
        source(
            1,
            "wiki/geography/france.md",
            "France > Capital",
            "Paris is the capital and largest city of France, on the Seine.",
        ),
        source(
            2,
            "wiki/geography/seine.md",
            "Seine",
            "The Seine flows through Paris into the English Channel at Le Havre.",
        ),
    ]
}

/// Sends a whole answer for `job` through the app, token by token; it cites
/// source 1 without a quote.
pub fn answer(app: &mut App, job: &Job, sources: Vec<SourceView>, tokens: &[&str]) {
    answer_quoting(app, job, sources, tokens, None);
}

/// [`answer`], with `quote` as the sentence of source 1 that backs it.
pub fn answer_quoting(
    app: &mut App,
    job: &Job,
    sources: Vec<SourceView>,
    tokens: &[&str],
    quote: Option<Quote>,
) {
    app.handle_update(
        job.id,
        Update::Retrieved {
            sources,
            refused: false,
            retrieval_ms: 6.0,
        },
    );
    app.handle_update(
        job.id,
        Update::Reading {
            read: 300,
            total: 300,
        },
    );
    for token in tokens {
        app.handle_update(job.id, Update::Token((*token).into()));
    }
    app.handle_update(
        job.id,
        Update::Done(Reply {
            answer: tokens.concat().trim().to_string(),
            refused: false,
            gate_refused: false,
            citations: vec![Cited {
                n: 1,
                inferred: false,
                quote,
            }],
            stats: Stats {
                retrieval_ms: 6.0,
                first_token_ms: 900.0,
                prefill_tok_s: 350.0,
                decode_tok_s: 71.0,
                total_ms: 1400.0,
                prompt_tokens: 300,
                generated_tokens: 12,
            },
            stopped: false,
            truncated: false,
        }),
    );
}

/// The screen as text, one line per row.
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    let terminal = draw(app, width, height);
    let buffer = terminal.backend().buffer();
    let mut rows = Vec::new();
    for y in 0..buffer.area.height {
        let mut row = String::new();
        let mut skip = 0;
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = cell.symbol();
            skip = unicode_width::UnicodeWidthStr::width(symbol).saturating_sub(1);
            row.push_str(symbol);
        }
        rows.push(row.trim_end().to_string());
    }
    rows.join("\n")
}

pub fn draw(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| rag_tui::ui::draw(frame, app))
        .expect("draw");
    terminal
}

/// The cell where `text` first appears on screen (column, row).
pub fn find(terminal: &Terminal<TestBackend>, text: &str) -> Option<(u16, u16)> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height).find_map(|y| {
        let mut row = String::new();
        let mut columns = Vec::new();
        for x in 0..buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            columns.extend(std::iter::repeat_n(x, symbol.len()));
            row.push_str(symbol);
        }
        row.find(text).map(|at| (columns[at], y))
    })
}
