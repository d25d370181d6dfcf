//! Snapshot tests of whole screens (ratatui's TestBackend + insta).

mod common;

use common::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use rag_tui::backend::{Quote, Update};
use ratatui::style::Color;

#[test]
fn empty_chat() {
    let mut app = ready_app();
    assert_snapshot!(render(&mut app, 100, 24));
}

#[test]
fn loading_models() {
    let mut app = rag_tui::App::new(settings());
    assert_snapshot!(render(&mut app, 80, 16));
}

#[test]
fn answer_streaming_with_citations() {
    let mut app = ready_app();
    let job = ask(&mut app, "What is the capital of France?");
    app.handle_update(
        job.id,
        Update::Retrieved {
            sources: paris_sources(),
            refused: false,
            retrieval_ms: 6.0,
        },
    );
    for token in ["Paris", " is", " the", " capital", " [1]", " and", " lies"] {
        app.handle_update(job.id, Update::Token(token.into()));
    }
    let screen = render(&mut app, 100, 24);
    assert_snapshot!(screen);

    // The citation is drawn highlighted, the rest of the answer is not.
    let terminal = draw(&mut app, 100, 24);
    let buffer = terminal.backend().buffer();
    let row = (0..24)
        .find(|&y| {
            (0..100)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                .contains("Paris is the capital [1]")
        })
        .expect("answer row");
    let line: String = (0..100)
        .map(|x| buffer[(x, row)].symbol().to_string())
        .collect();
    let at = line.find("[1]").expect("citation") as u16;
    assert_eq!(buffer[(at, row)].fg, Color::Yellow);
    assert_ne!(buffer[(at - 3, row)].fg, Color::Yellow);
}

#[test]
fn finished_answer_and_the_sources_pane() {
    let mut app = ready_app();
    let job = ask(&mut app, "What is the capital of France?");
    answer(
        &mut app,
        &job,
        paris_sources(),
        &["Paris is the capital of France [1]."],
    );
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Down);
    assert_snapshot!(render(&mut app, 120, 24));
}

#[test]
fn the_quote_that_backs_the_answer_is_highlighted() {
    let mut app = ready_app();
    let job = ask(&mut app, "Which river flows through Paris?");
    let mut sources = paris_sources();
    sources[0].text = "# France\n\nFrance is a country in Europe. Its capital is Paris.\nThe Seine flows through\nParis and out to sea.\nLyon lies on the Rhône.".into();
    answer_quoting(
        &mut app,
        &job,
        sources,
        &["The Seine [1]."],
        Some(Quote {
            text: "The Seine flows through Paris and out to sea.".into(),
            line_start: 6,
            line_end: 7,
        }),
    );
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    let list = render(&mut app, 120, 24);
    assert_snapshot!("the_quote_that_backs_the_answer_is_highlighted_list", list);
    let terminal = draw(&mut app, 120, 24);
    let (x, y) = find(&terminal, "6: The Seine flows").expect("the quote in the pane");
    let buffer = terminal.backend().buffer();
    assert_eq!(buffer[(x + 3, y)].fg, Color::Yellow);
    assert_ne!(buffer[(x, y)].fg, Color::Yellow);

    press(&mut app, KeyCode::Enter);
    let passage = render(&mut app, 120, 24);
    assert_snapshot!(
        "the_quote_that_backs_the_answer_is_highlighted_passage",
        passage
    );
    // The quoted sentence is drawn highlighted across its two lines; the
    // sentences around it are not.
    let terminal = draw(&mut app, 120, 24);
    let buffer = terminal.backend().buffer();
    for (text, quoted) in [
        ("The Seine flows through", true),
        ("Paris and out to sea.", true),
        ("Its capital is Paris.", false),
        ("Lyon lies", false),
    ] {
        let (x, y) = find(&terminal, text).expect(text);
        assert_eq!(buffer[(x, y)].fg == Color::Yellow, quoted, "{text}");
    }
}

#[test]
fn narrow_window_stacks_the_sources_below() {
    let mut app = ready_app();
    let job = ask(&mut app, "What is the capital of France?");
    answer(
        &mut app,
        &job,
        paris_sources(),
        &["Paris is the capital of France [1]."],
    );
    assert_snapshot!(render(&mut app, 60, 15));
}

#[test]
fn help_popup() {
    let mut app = ready_app();
    press(&mut app, KeyCode::Char('?'));
    assert_snapshot!(render(&mut app, 100, 30));
}

#[test]
fn tiny_terminal_says_so() {
    let mut app = ready_app();
    assert_snapshot!(render(&mut app, 50, 10));
}

#[test]
fn escape_sequences_and_wide_characters() {
    let mut app = ready_app();
    let job = ask(&mut app, "東京について教えて 🚀");
    let hostile = source(
        1,
        "notes/\u{1b}]0;pwned\u{7}tokyo.md",
        "東京 \u{1b}[31mred\u{1b}[0m",
        "東京は日本の首都です。\u{1b}[2J\u{1b}[H人口は約1400万人。🚀 Tab\there.\u{7}\nNext line.",
    );
    answer(
        &mut app,
        &job,
        vec![hostile],
        &["東京は日本の首都です [1]。\u{1b}[5m🚀"],
    );
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    let list = render(&mut app, 100, 24);
    assert!(!list.contains('\u{1b}') && !list.contains('\u{7}'));
    assert_snapshot!("escape_sequences_and_wide_characters_list", list);
    press(&mut app, KeyCode::Enter);
    let passage = render(&mut app, 100, 24);
    assert!(!passage.contains('\u{1b}'));
    assert!(passage.contains("人口は約1400万人。🚀 Tab    here."));
    assert_snapshot!("escape_sequences_and_wide_characters_passage", passage);
}
