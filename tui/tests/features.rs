//! Copying an answer, saving every regenerated answer, code blocks, drafts
//! of several samples, and the one key table behind dispatch and docs.

mod common;

use base64::Engine as _;
use common::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use rag_tui::app::{Action, Phase};
use rag_tui::backend::{Cited, Quote, Reply, Stats, Update};
use rag_tui::keys::BINDINGS;
use rag_tui::{apply_actions, Worker};
use ratatui::style::Color;

fn idle_worker() -> Worker {
    Worker::spawn(|| -> Result<NoBackend, String> { Err("not needed".into()) })
}

struct NoBackend;

impl rag_tui::Backend for NoBackend {
    fn info(&self) -> rag_tui::BackendInfo {
        rag_tui::BackendInfo::default()
    }
    fn answer(
        &mut self,
        _: &rag_tui::Job,
        _: &dyn Fn() -> bool,
        _: &mut dyn FnMut(Update),
    ) -> Result<Reply, String> {
        Err("not needed".into())
    }
}

fn done(text: &str, truncated: bool) -> Update {
    Update::Done(Reply {
        answer: text.into(),
        refused: false,
        gate_refused: false,
        citations: vec![Cited {
            n: 1,
            inferred: false,
            quote: Some(Quote {
                text: "Paris is the capital and largest city of France.".into(),
                line_start: 5,
                line_end: 5,
            }),
        }],
        stats: Stats {
            generated_tokens: 40,
            decode_tok_s: 60.0,
            ..Stats::default()
        },
        stopped: false,
        truncated,
    })
}

#[test]
fn ctrl_y_copies_the_answer_and_its_sources_as_osc_52() {
    let mut app = ready_app();
    ctrl(&mut app, 'y');
    assert!(app.notice.as_ref().is_some_and(|n| n.error), "nothing yet");
    assert!(app.take_actions().is_empty());

    let job = ask_with_paris_sources(&mut app, "What is the capital of France?");
    app.handle_update(job.id, done("**Paris** is the capital [1].", false));
    ctrl(&mut app, 'y');
    let notice = app.notice.clone().expect("a notice");
    assert_eq!(notice.text, "copied the answer and 2 sources");
    assert!(!notice.error);

    let mut terminal = Vec::new();
    apply_actions(&mut app, &idle_worker(), &mut terminal);
    let written = String::from_utf8(terminal).expect("utf-8");
    let payload = written
        .strip_prefix("\u{1b}]52;c;")
        .and_then(|rest| rest.strip_suffix('\u{7}'))
        .unwrap_or_else(|| panic!("not an OSC 52 sequence: {written:?}"));
    let copied = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .expect("base64");
    let copied = String::from_utf8(copied).expect("utf-8");
    assert_eq!(
        copied,
        "**Paris** is the capital [1].\n\nSources:\n\n\
         - [1] `wiki/geography/france.md:5` France > Capital (cited)\n  \
         > Paris is the capital and largest city of France.\n\
         - [2] `wiki/geography/seine.md:3-9` Seine\n"
    );
}

#[test]
fn save_keeps_every_regenerated_answer_and_makes_missing_folders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = ready_app();
    let first = ask(&mut app, "Where is Paris?");
    answer(
        &mut app,
        &first,
        paris_sources(),
        &["Paris is in France [1]."],
    );
    ctrl(&mut app, 'r');
    let second = submitted(&mut app);
    answer(
        &mut app,
        &second,
        paris_sources(),
        &["Paris lies on the Seine [1]."],
    );

    let path = dir.path().join("new/deeper/chat.md");
    type_text(&mut app, &format!("/save {}", path.display()));
    press(&mut app, KeyCode::Enter);
    apply_actions(&mut app, &idle_worker(), &mut std::io::sink());
    let notice = app.notice.clone().expect("a notice");
    assert!(!notice.error, "{}", notice.text);
    let saved = std::fs::read_to_string(&path).expect("saved into the new folders");
    let earlier = saved
        .find("### Answer 1 of 2 (regenerated; earlier answer)")
        .expect(&saved);
    let latest = saved.find("### Answer 2 of 2 (latest)").expect(&saved);
    assert!(earlier < latest);
    assert!(saved[earlier..latest].contains("Paris is in France [1]."));
    assert!(saved[latest..].contains("Paris lies on the Seine [1]."));
    assert_eq!(saved.matches("Sources:").count(), 2, "{saved}");

    // A folder that cannot be made is an error on the status line.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    type_text(&mut app, &format!("/save {}/chat.md", file.display()));
    press(&mut app, KeyCode::Enter);
    apply_actions(&mut app, &idle_worker(), &mut std::io::sink());
    let notice = app.notice.clone().expect("a notice");
    assert!(notice.error);
    assert!(
        notice.text.contains("cannot create the folder"),
        "{}",
        notice.text
    );
}

#[test]
fn fenced_code_is_drawn_apart_and_a_cut_answer_says_so() {
    let mut app = ready_app();
    let job = ask_with_paris_sources(&mut app, "How do I build it?");
    let text = "Build it with cargo [1]:\n```sh\ncargo build --release\n    --features \"gpu\" --target-dir /tmp/some/long/path/that/is/wider/than/the/pane/by/far/and/further/still/more\n```";
    app.handle_update(job.id, done(text, true));
    let screen = render(&mut app, 100, 24);
    assert_snapshot!(screen);
    assert!(
        screen.contains("cut at 256 tokens (/max-tokens 512 lets it finish)"),
        "{screen}"
    );

    let terminal = draw(&mut app, 100, 24);
    let buffer = terminal.backend().buffer();
    let (x, y) = find(&terminal, "cargo build --release").expect("the code");
    assert_eq!(buffer[(x, y)].fg, Color::Magenta);
    // Indentation inside the fence is kept.
    assert!(find(&terminal, "│     --features").is_some(), "{screen}");
    let (x, y) = find(&terminal, "Build it with").expect("the prose");
    assert_ne!(buffer[(x, y)].fg, Color::Magenta);
}

#[test]
fn several_samples_stream_the_first_then_the_best_replaces_it() {
    let mut app = ready_app();
    let job = ask_with_paris_sources(&mut app, "What is the capital of France?");
    for piece in ["Paris", " is", " big"] {
        app.handle_update(job.id, Update::Sampling { sample: 1, of: 3 });
        app.handle_update(job.id, Update::Draft(piece.into()));
    }
    let screen = render(&mut app, 100, 20);
    assert_snapshot!("several_samples_first_draft", screen);
    assert!(screen.contains("Paris is big"), "{screen}");

    app.handle_update(job.id, Update::Sampling { sample: 2, of: 3 });
    assert!(render(&mut app, 100, 20).contains("Paris is big"));
    app.handle_update(job.id, Update::Chosen { sample: 2, of: 3 });
    app.handle_update(job.id, Update::Token("Paris is the capital [1].".into()));
    let notice = app.notice.clone().expect("a notice");
    assert_eq!(notice.text, "replaced by a better sample (2 of 3)");
    app.handle_update(job.id, done("Paris is the capital [1].", false));
    let answer = &app.exchanges[0].answers[0];
    assert_eq!(answer.text, "Paris is the capital [1].");
    assert_eq!(answer.phase, Phase::Done);
    let screen = render(&mut app, 100, 20);
    assert!(!screen.contains("big"), "{screen}");
    assert!(
        screen.contains("replaced by a better sample (2 of 3)"),
        "{screen}"
    );

    // The first sample chosen: the same text, and nothing to say.
    let job = ask(&mut app, "And its river?");
    app.handle_update(job.id, Update::Sampling { sample: 1, of: 2 });
    app.handle_update(job.id, Update::Draft("The Seine".into()));
    app.handle_update(job.id, Update::Chosen { sample: 1, of: 2 });
    app.handle_update(job.id, Update::Token("The Seine".into()));
    assert!(app.notice.is_none());
    assert_eq!(app.exchanges[1].answers[0].text, "The Seine");
}

/// GUIDE.md's chat key table: (key, where, what it does) per row.
fn guide_key_rows() -> Vec<(String, String, String)> {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../GUIDE.md"))
        .expect("GUIDE.md");
    let chat = guide
        .split("\n## ")
        .find(|section| section.starts_with("Chatting"))
        .expect("a Chatting section");
    let table = chat
        .split("\n\n")
        .find(|block| {
            block
                .trim_start()
                .starts_with("| key | where | what it does |")
        })
        .expect("a | key | where | what it does | table");
    table
        .lines()
        .skip(2)
        .map(|row| {
            let cells: Vec<String> = row
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect();
            assert_eq!(cells.len(), 3, "a row of three cells: {row}");
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

#[test]
fn guide_lists_exactly_the_key_table() {
    let table: Vec<(String, String, String)> = BINDINGS
        .iter()
        .map(|b| {
            (
                b.label(),
                b.context.name().to_string(),
                b.description.to_string(),
            )
        })
        .collect();
    let guide = guide_key_rows();
    for (i, (ours, theirs)) in table.iter().zip(&guide).enumerate() {
        assert_eq!(ours, theirs, "row {} of GUIDE.md's chat key table", i + 1);
    }
    assert_eq!(
        table.len(),
        guide.len(),
        "rows in GUIDE.md's chat key table"
    );
}

#[test]
fn the_help_window_lists_every_binding() {
    let mut app = ready_app();
    press(&mut app, KeyCode::F(1));
    let screen = render(&mut app, 120, 200);
    for binding in BINDINGS {
        assert!(
            screen.contains(&binding.label()),
            "{} missing:\n{screen}",
            binding.label()
        );
    }
    // Every action a key names is one the app carries out: Ctrl+Y copies.
    press(&mut app, KeyCode::Esc);
    let job = ask(&mut app, "Where is Paris?");
    answer(&mut app, &job, paris_sources(), &["Paris [1]."]);
    ctrl(&mut app, 'y');
    assert!(app
        .take_actions()
        .iter()
        .any(|a| matches!(a, Action::Copy { .. })));
}
