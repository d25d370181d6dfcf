//! The app against a scripted backend: streaming, cancel, regenerate, history,
//! follow-ups, resize, slash commands.

mod common;

use std::time::{Duration, Instant};

use common::*;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use rag_tui::app::{Action, App, BackendState, Focus, Phase, Popup, REGENERATE_TEMPERATURE};
use rag_tui::backend::{Backend, BackendInfo, Cited, Job, Reply, Stats, Update};
use rag_tui::{apply_actions, drain_updates, Worker};

/// Answers every question with "Answer to <question> [1]" word by word; with
/// `endless`, keeps writing until stopped. Records the jobs it saw.
struct Scripted {
    endless: bool,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Job>>>,
}

impl Backend for Scripted {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            model: "scripted".into(),
            index: "memory".into(),
            files: 2,
            chunks: 2,
        }
    }

    fn answer(
        &mut self,
        job: &Job,
        stop: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(Update),
    ) -> Result<Reply, String> {
        self.seen.lock().expect("lock").push(job.clone());
        emit(Update::Retrieved {
            sources: paris_sources(),
            refused: false,
            retrieval_ms: 1.0,
        });
        let text = format!("Answer to {} [1]", job.question);
        let mut written = String::new();
        let mut words = text.split(' ').cycle();
        let mut count = 0;
        loop {
            if stop() {
                return Ok(Reply {
                    answer: written.trim().to_string(),
                    refused: false,
                    gate_refused: false,
                    citations: Vec::new(),
                    stats: Stats::default(),
                    stopped: true,
                    truncated: false,
                });
            }
            let word = words.next().unwrap_or("");
            let piece = format!(" {word}");
            written.push_str(&piece);
            emit(Update::Token(piece));
            count += 1;
            if !self.endless && count == text.split(' ').count() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(Reply {
            answer: text,
            refused: false,
            gate_refused: false,
            citations: vec![Cited {
                n: 1,
                inferred: false,
                quote: None,
            }],
            stats: Stats {
                generated_tokens: count,
                decode_tok_s: 50.0,
                ..Stats::default()
            },
            stopped: false,
            truncated: false,
        })
    }
}

fn worker(endless: bool) -> (Worker, std::sync::Arc<std::sync::Mutex<Vec<Job>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let worker = Worker::spawn(move || {
        Ok(Scripted {
            endless,
            seen: recorded,
        })
    });
    (worker, seen)
}

/// Runs the event loop's non-drawing half until `done` or a timeout.
fn pump(app: &mut App, worker: &Worker, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        apply_actions(app, worker, &mut std::io::sink());
        drain_updates(app, worker);
        // Draw as the loop would, at a moderate size.
        render(app, 100, 30);
        if done(app) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; app: {:?}",
            app.exchanges
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn type_and_send(app: &mut App, text: &str) {
    type_text(app, text);
    press(app, KeyCode::Enter);
}

#[test]
fn an_answer_streams_then_finishes() {
    let (worker, _) = worker(false);
    let mut app = App::new(settings());
    type_and_send(&mut app, "Where is Paris?");
    pump(&mut app, &worker, |app| {
        matches!(app.backend, BackendState::Ready(_)) && app.in_flight().is_none()
    });
    let answer = app.exchanges[0].answer();
    assert_eq!(answer.phase, Phase::Done);
    assert_eq!(answer.text, "Answer to Where is Paris? [1]");
    assert_eq!(answer.sources.len(), 2);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("Answer to Where is Paris? [1]"), "{screen}");
    assert!(screen.contains("wiki/geography/france.md:3-9"), "{screen}");
}

#[test]
fn tokens_show_up_before_the_answer_is_done() {
    let mut app = ready_app();
    let job = ask(&mut app, "Where is Paris?");
    app.handle_update(job.id, Update::Token("Paris is".into()));
    assert_eq!(app.exchanges[0].answer().phase, Phase::Writing);
    assert!(render(&mut app, 80, 20).contains("Paris is▍"));
    // Enter while an answer is in progress keeps the new question in the box.
    type_and_send(&mut app, "next?");
    assert!(app.take_actions().is_empty());
    assert_eq!(app.input.text(), "next?");
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
}

#[test]
fn ctrl_c_stops_the_answer_and_a_second_quits() {
    let (worker, _) = worker(true);
    let mut app = App::new(settings());
    type_and_send(&mut app, "Tell me everything");
    pump(&mut app, &worker, |app| {
        app.exchanges[0].answer().text.split(' ').count() > 5
    });
    ctrl(&mut app, 'c');
    assert!(!app.quit);
    pump(&mut app, &worker, |app| app.in_flight().is_none());
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("stopped")));
    let answer = app.exchanges[0].answer();
    assert_eq!(answer.phase, Phase::Stopped);
    assert!(answer.text.starts_with("Answer to Tell me everything"));
    assert!(render(&mut app, 100, 30).contains("· stopped"));
    ctrl(&mut app, 'c');
    assert!(app.quit, "a second Ctrl+C quits");
}

#[test]
fn ctrl_c_when_idle_quits_only_when_pressed_twice() {
    let mut app = ready_app();
    ctrl(&mut app, 'c');
    assert!(!app.quit);
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("again")));
    type_text(&mut app, "x");
    press(&mut app, KeyCode::Backspace);
    ctrl(&mut app, 'c');
    assert!(!app.quit, "another key in between disarms it");
    ctrl(&mut app, 'c');
    assert!(app.quit);
}

#[test]
fn a_second_ctrl_c_quits_even_while_the_answer_is_still_stopping() {
    let mut app = ready_app();
    ask(&mut app, "slow question");
    ctrl(&mut app, 'c');
    assert!(!app.quit);
    ctrl(&mut app, 'c');
    assert!(app.quit);
}

#[test]
fn ctrl_c_on_typed_text_clears_it_first() {
    let mut app = ready_app();
    type_text(&mut app, "half a question");
    ctrl(&mut app, 'c');
    assert!(app.input.is_empty());
    assert!(!app.quit);
    press(&mut app, KeyCode::Esc);
    assert!(app.quit);
}

#[test]
fn esc_asks_before_it_loses_a_conversation_or_a_question() {
    let mut app = ready_app();
    let job = ask(&mut app, "Where is Paris?");
    answer(&mut app, &job, paris_sources(), &["Paris [1]."]);
    press(&mut app, KeyCode::Esc);
    assert!(!app.quit, "one Esc lost the conversation");
    let notice = app
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(
        notice.contains("Esc again") && notice.contains("/save"),
        "{notice}"
    );
    press(&mut app, KeyCode::Esc);
    assert!(app.quit);

    let mut app = ready_app();
    type_text(&mut app, "half a question");
    press(&mut app, KeyCode::Esc);
    assert!(!app.quit, "one Esc lost the question being written");
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Esc);
    assert!(!app.quit, "a key between the two Esc disarms the quit");
}

/// An answered question with the focus on its sources.
fn sources_focused() -> App {
    let mut app = ready_app();
    let job = ask(&mut app, "Where is Paris?");
    answer(&mut app, &job, paris_sources(), &["Paris [1]."]);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Sources);
    app
}

#[test]
fn typing_in_another_pane_goes_to_the_question() {
    let mut app = sources_focused();
    type_text(&mut app, "why");
    assert_eq!(app.focus, Focus::Input);
    assert_eq!(app.input.text(), "why");
}

#[test]
fn regenerate_samples_a_new_answer_to_the_same_question() {
    let (worker, seen) = worker(false);
    let mut app = App::new(settings());
    type_and_send(&mut app, "First question");
    pump(&mut app, &worker, |app| {
        app.in_flight().is_none() && !app.exchanges.is_empty()
    });
    type_and_send(&mut app, "Second question");
    pump(&mut app, &worker, |app| {
        app.in_flight().is_none() && app.exchanges.len() == 2
    });
    ctrl(&mut app, 'r');
    pump(&mut app, &worker, |app| app.in_flight().is_none());

    let jobs = seen.lock().expect("lock").clone();
    assert_eq!(jobs.len(), 3);
    let (original, again) = (&jobs[1], &jobs[2]);
    assert_eq!(again.question, "Second question");
    assert_eq!(
        again.history, original.history,
        "same conversation before it"
    );
    assert_ne!(again.settings.seed, original.settings.seed);
    assert_eq!(original.settings.temperature, 0.0);
    assert_eq!(again.settings.temperature, REGENERATE_TEMPERATURE);

    let exchange = &app.exchanges[1];
    assert_eq!(exchange.answers.len(), 2);
    assert_eq!(exchange.shown, 1);
    assert!(render(&mut app, 100, 30).contains("answer 2 of 2"));
    // The earlier answer is still there: Tab to the conversation, Left.
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Conversation);
    press(&mut app, KeyCode::Left);
    assert_eq!(app.exchanges[1].shown, 0);
    assert!(render(&mut app, 100, 30).contains("answer 1 of 2"));
}

#[test]
fn ctrl_r_during_an_answer_stops_it_and_starts_again() {
    let mut app = ready_app();
    let first = ask(&mut app, "Where is Paris?");
    app.handle_update(first.id, Update::Token("Par".into()));
    ctrl(&mut app, 'r');
    let actions = app.take_actions();
    assert_eq!(actions[0], Action::Cancel(first.id));
    let Action::Submit(second) = &actions[1] else {
        panic!("expected a new job, got {actions:?}");
    };
    assert_eq!(second.question, first.question);
    // Late tokens of the stopped answer do not leak into the new one.
    app.handle_update(first.id, Update::Token("is".into()));
    app.handle_update(second.id, Update::Token("Paris".into()));
    assert_eq!(app.exchanges[0].answers[0].text, "Par");
    assert_eq!(app.exchanges[0].answers[1].text, "Paris");
}

#[test]
fn follow_up_questions_carry_the_conversation() {
    let mut app = ready_app();
    let first = ask(&mut app, "Which film won Best Picture in 1998?");
    answer(&mut app, &first, paris_sources(), &["Titanic [1]."]);
    let second = ask(&mut app, "Who directed it?");
    assert_eq!(
        second.history,
        vec![(
            "Which film won Best Picture in 1998?".to_string(),
            "Titanic [1].".to_string()
        )]
    );
}

#[test]
fn up_and_down_browse_earlier_questions() {
    let mut app = ready_app();
    let job = ask(&mut app, "first");
    answer(&mut app, &job, paris_sources(), &["one"]);
    let job = ask(&mut app, "second");
    answer(&mut app, &job, paris_sources(), &["two"]);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.input.text(), "second");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.input.text(), "first");
    press(&mut app, KeyCode::Down);
    assert_eq!(app.input.text(), "second");
    press(&mut app, KeyCode::Down);
    assert!(app.input.is_empty());
}

#[test]
fn alt_enter_and_shift_enter_make_multi_line_questions() {
    let mut app = ready_app();
    type_text(&mut app, "line one");
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    type_text(&mut app, "line two");
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
    type_text(&mut app, "three");
    assert_eq!(app.input.text(), "line one\nline two\nthree");
    // The box grows with the text.
    let screen = render(&mut app, 80, 20);
    assert!(
        screen.contains("› line one") && screen.contains("  three"),
        "{screen}"
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(submitted(&mut app).question, "line one\nline two\nthree");
}

#[test]
fn pasted_text_is_cleaned() {
    let mut app = ready_app();
    app.handle_event(&Event::Paste("evil\u{1b}[2J paste\r\nsecond\rthird".into()));
    assert_eq!(app.input.text(), "evil paste\nsecond\nthird");
}

#[test]
fn a_double_slash_asks_a_question_that_starts_with_a_slash() {
    let mut app = ready_app();
    let job = ask(&mut app, "//etc/hosts: what is it for?");
    assert_eq!(job.question, "/etc/hosts: what is it for?");
}

#[test]
fn editing_a_recalled_question_keeps_the_edit() {
    let mut app = ready_app();
    let job = ask(&mut app, "first");
    answer(&mut app, &job, paris_sources(), &["one"]);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.input.text(), "firs");
}

#[test]
fn popups_scroll_no_further_than_their_end() {
    let mut app = ready_app();
    press(&mut app, KeyCode::Char('?'));
    for _ in 0..50 {
        press(&mut app, KeyCode::PageDown);
    }
    render(&mut app, 100, 20);
    let Some(Popup::Help { scroll }) = app.popup else {
        panic!("help is open");
    };
    press(&mut app, KeyCode::Up);
    render(&mut app, 100, 20);
    assert_eq!(app.popup, Some(Popup::Help { scroll: scroll - 1 }));
    // Narrow windows wrap the descriptions instead of cutting them.
    press(&mut app, KeyCode::Home);
    let screen = render(&mut app, 60, 40);
    assert!(screen.contains("regenerate the last"), "{screen}");
    assert!(screen.contains("sample"), "{screen}");
}

#[test]
fn two_quick_cancels_stop_both_jobs() {
    let (worker, _) = worker(true);
    let mut app = App::new(settings());
    type_and_send(&mut app, "first");
    apply_actions(&mut app, &worker, &mut std::io::sink());
    // Regenerate at once: stops job 1, starts job 2; then stop job 2 too.
    ctrl(&mut app, 'r');
    apply_actions(&mut app, &worker, &mut std::io::sink());
    ctrl(&mut app, 'c');
    pump(&mut app, &worker, |app| {
        app.in_flight().is_none()
            && app.exchanges[0]
                .answers
                .iter()
                .all(|a| a.phase == Phase::Stopped)
    });
}

#[test]
fn nothing_stays_in_flight_when_the_models_fail() {
    let worker = Worker::spawn(|| -> Result<Scripted, String> { Err("broken model".into()) });
    let mut app = App::new(settings());
    pump(&mut app, &worker, |app| {
        matches!(app.backend, BackendState::Failed(_))
    });
    ctrl(&mut app, 'r');
    type_and_send(&mut app, "anyone?");
    assert!(app.take_actions().is_empty());
    assert_eq!(app.in_flight(), None);
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("broken model")));
}

#[test]
fn resizing_never_panics_and_keeps_following_the_answer() {
    let mut app = ready_app();
    let job = ask(&mut app, "Where is Paris?");
    let long: Vec<String> = (0..200).map(|i| format!(" word{i}")).collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    answer(&mut app, &job, paris_sources(), &long);
    for (w, h) in [
        (120, 40),
        (60, 15),
        (59, 15),
        (60, 14),
        (1, 1),
        (0, 0),
        (200, 60),
        (61, 16),
    ] {
        let screen = render(&mut app, w, h);
        if w >= 60 && h >= 15 {
            assert!(
                screen.contains("word199"),
                "{w}x{h} does not follow the end:\n{screen}"
            );
        } else {
            assert!(w == 0 || h == 0 || screen.contains("window too small") || w < 20);
        }
    }
    // Scrolled up a page, the end is out of view.
    render(&mut app, 80, 20);
    press(&mut app, KeyCode::PageUp);
    let screen = render(&mut app, 80, 20);
    assert!(!screen.contains("word199"));
    app.handle_event(&Event::Mouse(crossterm::event::MouseEvent {
        kind: crossterm::event::MouseEventKind::ScrollDown,
        column: 1,
        row: 1,
        modifiers: KeyModifiers::NONE,
    }));
    for _ in 0..20 {
        press(&mut app, KeyCode::PageDown);
    }
    assert!(render(&mut app, 80, 20).contains("word199"));
    assert_eq!(app.scroll.top, None, "back to following the end");
}

#[test]
fn sources_pane_opens_a_passage() {
    let mut app = sources_focused();
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.popup, Some(Popup::Passage { scroll: 0 }));
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("[2] wiki/geography/seine.md:3-9"),
        "{screen}"
    );
    assert!(screen.contains("English Channel at Le Havre"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.popup, None);
    assert!(!app.quit, "Esc closes the popup before it quits");
}

#[test]
fn slash_commands_change_settings_and_save() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = ready_app();
    type_and_send(&mut app, "/temp 0.7");
    assert_eq!(app.settings.temperature, 0.7);
    type_and_send(&mut app, "/k 5");
    assert_eq!(app.settings.k, 5);
    type_and_send(&mut app, "/max-tokens 400");
    assert_eq!(app.settings.max_tokens, 400);
    ctrl(&mut app, 't');
    assert!((app.settings.temperature - 0.8).abs() < 1e-6);
    app.handle_key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::ALT));
    assert!((app.settings.temperature - 0.7).abs() < 1e-6);
    ctrl(&mut app, 't');
    app.handle_key(KeyEvent::new(
        KeyCode::Char('T'),
        KeyModifiers::CONTROL | KeyModifiers::SHIFT,
    ));
    assert!((app.settings.temperature - 0.7).abs() < 1e-6);
    type_and_send(&mut app, "/temp 9");
    assert!(app.notice.as_ref().is_some_and(|n| n.error));

    let job = ask(&mut app, "Where is Paris?");
    assert_eq!(job.settings.k, 5);
    assert_eq!(job.settings.max_tokens, 400);
    assert_eq!(job.settings.temperature, 0.7);
    answer(
        &mut app,
        &job,
        paris_sources(),
        &["Paris is the capital [1]."],
    );

    let path = dir.path().join("chat.md");
    type_and_send(&mut app, &format!("/save {}", path.display()));
    let (worker, _) = worker(false);
    apply_actions(&mut app, &worker, &mut std::io::sink());
    let saved = std::fs::read_to_string(&path).expect("saved transcript");
    assert!(saved.contains("## Where is Paris?"), "{saved}");
    assert!(saved.contains("Paris is the capital [1]."));
    assert!(saved.contains("- [1] `wiki/geography/france.md:3-9` France > Capital (cited)"));
    // A second save does not clobber the file without /save!.
    type_and_send(&mut app, &format!("/save {}", path.display()));
    apply_actions(&mut app, &worker, &mut std::io::sink());
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("/save!")));
    type_and_send(&mut app, &format!("/save! {}", path.display()));
    apply_actions(&mut app, &worker, &mut std::io::sink());
    assert!(app.notice.as_ref().is_some_and(|n| !n.error));

    type_and_send(&mut app, "/clear");
    assert!(app.exchanges.is_empty());
    type_and_send(&mut app, "/nonsense");
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("/help")));
}

#[test]
fn a_backend_that_fails_to_load_says_why() {
    let worker =
        Worker::spawn(|| -> Result<Scripted, String> { Err("no model at /x.gguf".into()) });
    let mut app = App::new(settings());
    type_and_send(&mut app, "Where is Paris?");
    pump(&mut app, &worker, |app| {
        matches!(app.backend, BackendState::Failed(_))
    });
    assert!(matches!(app.exchanges[0].answer().phase, Phase::Failed(_)));
    assert!(render(&mut app, 100, 30).contains("no model at /x.gguf"));
    type_and_send(&mut app, "again?");
    assert!(app.take_actions().is_empty());
}

/// Panics on a question containing "boom", answers others.
struct Fragile;

impl Backend for Fragile {
    fn info(&self) -> BackendInfo {
        BackendInfo::default()
    }

    fn answer(
        &mut self,
        job: &Job,
        _stop: &dyn Fn() -> bool,
        _emit: &mut dyn FnMut(Update),
    ) -> Result<Reply, String> {
        assert!(
            !job.question.contains("boom"),
            "engine bug on {}",
            job.question
        );
        Ok(Reply {
            answer: "fine".into(),
            refused: false,
            gate_refused: false,
            citations: Vec::new(),
            stats: Stats::default(),
            stopped: false,
            truncated: false,
        })
    }
}

#[test]
fn a_panicking_engine_fails_one_answer_not_the_chat() {
    let worker = Worker::spawn(|| Ok(Fragile));
    let mut app = App::new(settings());
    type_and_send(&mut app, "boom");
    pump(&mut app, &worker, |app| {
        app.in_flight().is_none() && app.exchanges.len() == 1
    });
    let Phase::Failed(message) = &app.exchanges[0].answer().phase else {
        panic!("expected a failure: {:?}", app.exchanges[0]);
    };
    assert!(message.contains("engine bug on boom"), "{message}");
    type_and_send(&mut app, "still there?");
    pump(&mut app, &worker, |app| {
        app.in_flight().is_none() && app.exchanges.len() == 2
    });
    assert_eq!(app.exchanges[1].answer().text, "fine");
}
