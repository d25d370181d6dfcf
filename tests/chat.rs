//! `rag chat` end to end under tmux: the real binary, the real models and a
//! small ingested folder, driven with keystrokes and read back from the pane.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{models_dir, Workspace};

const FUGUE_QUESTION: &str =
    "In a fugue, what is it called when the subject overlaps itself in different voices?";

/// A tmux server of its own (so a user's sessions are never touched), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, dir: &Path, command: &str) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is needed for the chat end-to-end test (apt-get install tmux)"
        );
        let socket = format!("rag-{name}-{}", std::process::id());
        let tmux = Tmux { socket };
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "36",
            "-c",
            &dir.to_string_lossy(),
            command,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// tmux's newest paste buffer, once there is one (an OSC 52 copy makes it).
    fn wait_for_buffer(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("tmux")
                .args(["-L", &self.socket, "-f", "/dev/null", "show-buffer"])
                .output()
                .expect("tmux runs");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no paste buffer; the pane shows:\n{}",
                self.pane()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn pane(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
    }

    /// Waits until the pane satisfies `ready`; fails with the pane on timeout.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let pane = self.pane();
            if ready(&pane) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the pane shows:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The text the conversation pane shows under its last "rag" line.
fn last_answer(pane: &str) -> String {
    let rows: Vec<&str> = pane
        .lines()
        .map(|line| {
            let inner = line.strip_prefix('│').unwrap_or(line);
            // The conversation is the left pane: cut at its right border.
            inner.split('│').next().unwrap_or("").trim()
        })
        .collect();
    let start = rows
        .iter()
        .rposition(|row| row.starts_with("rag"))
        .expect("an answer header");
    rows[start + 1..]
        .iter()
        .take_while(|row| {
            !row.is_empty() && !row.starts_with("sources:") && !row.starts_with("closest:")
        })
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn answering(pane: &str) -> bool {
    pane.contains("answering…")
}

#[test]
fn chat_answers_regenerates_and_gives_the_terminal_back() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let command = format!(
        "env RAG_MODELS='{}' RAG_OFFLINE=1 RAG_CONFIG='{}' XDG_CACHE_HOME='{}' '{}' chat --max-tokens 40 --seed 7; \
         echo \"rag-exited:$?\"; stty -a | tr ' ' '\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '; echo; sleep 600",
        models_dir().display(),
        common::TEST_CONFIG,
        common::test_cache().display(),
        env!("CARGO_BIN_EXE_rag"),
    );
    let tmux = Tmux::start("chat", ws.path(), &command);
    // What a user inside tmux sets for Ctrl+Y: OSC 52 from programs becomes a
    // paste buffer (and goes on to the outer terminal).
    tmux.run(&["set", "-s", "set-clipboard", "on"]);

    tmux.wait_for("the models to load", |pane| pane.contains("files / "));
    tmux.type_text(FUGUE_QUESTION);
    tmux.keys(&["Enter"]);
    let pane = tmux.wait_for("the answer", |pane| {
        pane.contains("You") && pane.contains("rag") && !answering(pane)
    });
    let first = last_answer(&pane);
    assert!(!first.is_empty(), "no answer text:\n{pane}");
    assert!(pane.contains("docs/fugue.md:"), "no source path:\n{pane}");
    assert!(pane.contains(FUGUE_QUESTION.split(',').next().unwrap_or_default()));

    tmux.keys(&["C-y"]);
    let copied = tmux.wait_for_buffer();
    let first_words: String = first
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        copied
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(&first_words),
        "the copy {copied:?} lacks the answer {first:?}"
    );
    assert!(
        copied.contains("Sources:") && copied.contains("docs/fugue.md:"),
        "{copied}"
    );
    tmux.wait_for("the copy confirmed", |pane| {
        pane.contains("copied the answer and")
    });

    tmux.keys(&["C-r"]);
    let pane = tmux.wait_for("the second answer", |pane| {
        pane.contains("answer 2 of 2") && !answering(pane)
    });
    assert!(!last_answer(&pane).is_empty(), "no second answer:\n{pane}");
    assert!(pane.contains("temp 0.7"), "regenerated at 0.7:\n{pane}");

    // /save into folders that do not exist yet keeps both answers.
    tmux.type_text("/save out/notes/chat.md");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the save", |pane| pane.contains("saved 1 question(s)"));
    let saved = std::fs::read_to_string(ws.path().join("out/notes/chat.md")).expect("saved");
    assert!(
        saved.contains("### Answer 1 of 2 (regenerated; earlier answer)"),
        "{saved}"
    );
    assert!(saved.contains("### Answer 2 of 2 (latest)"), "{saved}");
    assert!(saved.matches("docs/fugue.md:").count() >= 2, "{saved}");

    tmux.type_text("/max-tokens 300");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the new answer limit", |pane| {
        pane.contains("answers up to 300 tokens")
    });
    // Typing while the sources pane has the focus goes to the question.
    tmux.keys(&["Tab", "Tab"]);
    tmux.type_text("why");
    tmux.wait_for("the typing in the question", |pane| pane.contains("› why"));
    // Esc with a conversation to lose asks first.
    tmux.keys(&["Escape"]);
    let pane = tmux.wait_for("Esc to ask", |pane| pane.contains("Esc again to quit"));
    assert!(!pane.contains("rag-exited:"), "one Esc quit:\n{pane}");

    tmux.keys(&["C-d"]);
    let pane = tmux.wait_for("rag to exit", |pane| pane.contains("rag-exited:"));
    assert!(pane.contains("rag-exited:0"), "{pane}");
    // Raw mode is off again (canonical input and echo are back) and the
    // alternate screen is gone.
    assert!(pane.contains("icanon echo"), "terminal left raw:\n{pane}");
    assert!(
        !pane.contains("Conversation"),
        "alternate screen still up:\n{pane}"
    );
    assert_eq!(tmux.run(&["display", "-p", "#{alternate_on}"]).trim(), "0");
}

#[test]
fn with_no_index_chat_offers_to_index_this_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        Path::new(common::FIXTURES).join("wiki/fugue.md"),
        dir.path().join("fugue.md"),
    )
    .expect("copy a document");
    let data = tempfile::tempdir().expect("temp data dir");
    let command = format!(
        "env RAG_MODELS='{}' RAG_OFFLINE=1 RAG_CONFIG='{}' XDG_CACHE_HOME='{}' XDG_DATA_HOME='{}' '{}' chat; echo \"rag-exited:$?\"; sleep 600",
        models_dir().display(),
        common::TEST_CONFIG,
        common::test_cache().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_rag"),
    );
    let tmux = Tmux::start("offer", dir.path(), &command);
    tmux.wait_for("the offer", |pane| pane.contains("Choose"));
    let pane = tmux.pane();
    assert!(pane.contains("index this folder"), "{pane}");
    tmux.keys(&["1", "Enter"]);
    tmux.wait_for("the chat over the new index", |pane| {
        pane.contains("1 files / ")
    });
    assert!(dir.path().join(".rag").is_dir());
    tmux.keys(&["Escape"]);
    let pane = tmux.wait_for("rag to exit", |pane| pane.contains("rag-exited:"));
    assert!(pane.contains("rag-exited:0"), "{pane}");
}

#[test]
fn with_samples_the_first_streams_before_the_best_is_chosen() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let command = format!(
        "env RAG_MODELS='{}' RAG_OFFLINE=1 RAG_CONFIG='{}' XDG_CACHE_HOME='{}' '{}' chat --samples 3 --temperature 0.9 --max-tokens 96 --seed 3; sleep 600",
        models_dir().display(),
        common::TEST_CONFIG,
        common::test_cache().display(),
        env!("CARGO_BIN_EXE_rag"),
    );
    let tmux = Tmux::start("samples", ws.path(), &command);
    tmux.wait_for("the models to load", |pane| pane.contains("files / "));
    tmux.type_text(FUGUE_QUESTION);
    tmux.keys(&["Enter"]);
    // While a later sample is written, the first one is already on screen.
    let pane = tmux.wait_for("a later sample", |pane| {
        pane.contains("sampling answer 2 of 3") || pane.contains("sampling answer 3 of 3")
    });
    assert!(!last_answer(&pane).is_empty(), "no draft:\n{pane}");
    let pane = tmux.wait_for("the chosen answer", |pane| !answering(pane));
    assert!(!last_answer(&pane).is_empty(), "no answer:\n{pane}");
    assert!(!pane.contains("sampling answer"), "{pane}");
}
