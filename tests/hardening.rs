//! End-to-end: defects found by a hostile user (the third hardening round),
//! each kept fixed by the behaviour a careful user expects.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

/// A workspace with one note, ingested.
fn one_note(text: &str) -> Workspace {
    let ws = Workspace::with_wiki();
    for entry in std::fs::read_dir(ws.docs()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    std::fs::write(ws.docs().join("tea.md"), text).unwrap();
    ws.ingest_json(&[]);
    ws
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let ws = one_note("# Tea\n\nGreen tea is steamed soon after picking.\n");
    for command in ["status", "check"] {
        let mut child = ws
            .rag()
            .arg(command)
            .env_remove("RUST_BACKTRACE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `rag status | head -c 0`: the reader is gone before the first line.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "rag {command}: {stderr}");
        assert!(!stderr.contains("panicked"), "rag {command}: {stderr}");
    }
}

#[test]
fn a_bad_line_in_a_query_batch_is_reported_in_its_place() {
    let ws = one_note("# Tea\n\nGreen tea is steamed soon after picking.\n");
    let mut child = ws
        .rag()
        .args(["search", "--batch", "-", "--mode", "bm25"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = b"tea\nport \xff backup\n".to_vec();
    input.extend("long ".repeat(1000).as_bytes());
    input.extend(b"\ngreen tea\n");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["results"][0]["path"], "docs/tea.md");
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[1]["error"], "the line is not UTF-8 text");
    assert_eq!(lines[2]["line"], 3);
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("the query is too long"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3]["results"][0]["path"], "docs/tea.md");
    // Scripts learn that not every query ran.
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 queries could not be run"), "{stderr}");
}

#[test]
fn endless_inputs_are_refused_in_bounded_memory() {
    let ws = one_note("# Tea\n\nGreen tea is steamed soon after picking.\n");
    let refused = |cmd: &mut std::process::Command, expected: &str| {
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(stderr.contains(expected), "{cmd:?}: {stderr}");
    };
    refused(
        ws.rag().env("RAG_CONFIG", "/dev/zero").arg("status"),
        "larger than 1 MiB: not a config file",
    );
    refused(
        ws.rag().args(["search", "--batch", "/dev/zero"]),
        "longer than 64 MiB",
    );
    let mut child = ws
        .rag()
        .args(["ask", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The program stops reading long before the end: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(&vec![b'a'; 4 << 20]);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the question is too long"), "{stderr}");
}

#[test]
fn empty_paths_in_the_config_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["index", "models", "model"] {
        let config = dir.path().join(format!("{key}.toml"));
        std::fs::write(&config, format!("{key} = \"\"\n")).unwrap();
        let out = run(rag().env("RAG_CONFIG", &config).arg("config"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(&format!("{key} is empty")),
            "{key}: {stderr}"
        );
    }
}

#[cfg(not(feature = "milvus"))]
#[test]
fn copying_from_milvus_without_its_support_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(rag()
        .current_dir(dir.path())
        .args(["copy-from", "milvus://localhost:19530/docs", "--index"])
        .arg(dir.path().join("copy")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without Milvus support"), "{stderr}");
}

#[test]
fn a_damaged_gguf_of_ones_own_is_reported_without_backtraces_or_fetch_advice() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("my-model.gguf");
    let mut header = b"GGUF".to_vec();
    header.extend(3u32.to_le_bytes());
    header.extend((1u64 << 62).to_le_bytes());
    header.extend((1u64 << 62).to_le_bytes());
    std::fs::write(&model, header).unwrap();
    let out = run(rag()
        .env("RUST_BACKTRACE", "1")
        .args(["generate", "hi", "--model"])
        .arg(&model));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("corrupt or truncated GGUF"), "{stderr}");
    assert!(
        !stderr.lines().any(|l| l.trim_start().starts_with("at /")),
        "{stderr}"
    );
    assert!(!stderr.contains("fetch-models"), "{stderr}");
}

#[test]
fn batch_reports_hold_no_terminal_escapes_and_no_formulas() {
    let ws = one_note(
        "# Tea \u{1b}]0;pwned\u{7}\n\nGreen tea is steamed\u{1b}[2J soon after picking \
         \u{1b}]52;c;cHduZWQ=\u{7}so that it does not oxidise.\n",
    );
    let questions = ws.path().join("q.jsonl");
    std::fs::write(
        &questions,
        concat!(
            r#"{"id":"=f1","question":"=HYPERLINK(\"http://evil.example\") How is green tea made?"}"#,
            "\n",
            r#"{"id":"@f2","question":"How is green tea made?","note":"+1+2"}"#,
            "\n"
        ),
    )
    .unwrap();
    for format in ["csv", "md"] {
        let report = ws.path().join(format!("out.{format}"));
        ok(ws
            .rag()
            .args(["batch", "--max-tokens", "16"])
            .arg(&questions)
            .arg("-o")
            .arg(&report));
        let text = std::fs::read_to_string(&report).unwrap();
        assert!(!text.contains(['\u{1b}', '\u{7}']), "{format}: {text:?}");
        if format == "csv" {
            let mut reader = csv::Reader::from_path(&report).unwrap();
            for row in reader.records() {
                for cell in row.unwrap().iter() {
                    assert!(
                        !cell.starts_with(['=', '+', '-', '@']),
                        "a formula cell: {cell}"
                    );
                }
            }
            // Resuming reads the quoted ids back: nothing is asked again.
            let again = run(ws
                .rag()
                .args(["batch", "--max-tokens", "16"])
                .arg(&questions)
                .arg("-o")
                .arg(&report));
            assert!(again.status.success());
            assert_eq!(std::fs::read_to_string(&report).unwrap(), text);
        }
    }
}

/// `rag` as a user whom file permissions apply to: this user, or `nobody`
/// (through `setpriv`) when the tests run as root, who reads everything.
struct Unprivileged {
    dir: tempfile::TempDir,
    as_root: bool,
}

impl Unprivileged {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let id = std::process::Command::new("id").arg("-u").output().unwrap();
        let as_root = String::from_utf8_lossy(&id.stdout).trim() == "0";
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("m");
        if as_root {
            // The binary and the models must be readable by `nobody`: copies
            // (of the two models the embedder needs) outside root's home.
            std::fs::copy(env!("CARGO_BIN_EXE_rag"), dir.path().join("rag")).unwrap();
            std::fs::create_dir_all(&models).unwrap();
            for name in ["all-MiniLM-L6-v2", "onnxruntime"] {
                let copied = std::process::Command::new("cp")
                    .arg("-r")
                    .arg(models_dir().join(name))
                    .arg(&models)
                    .status()
                    .unwrap();
                assert!(copied.success());
            }
            let opened = std::process::Command::new("chmod")
                .args(["-R", "a+rwX"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(opened.success());
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.path().join("config.toml"), "").unwrap();
        Unprivileged { dir, as_root }
    }

    fn rag(&self) -> std::process::Command {
        let mut cmd = if self.as_root {
            let mut cmd = std::process::Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(self.dir.path().join("rag"));
            cmd.env("RAG_MODELS", self.dir.path().join("m"));
            cmd
        } else {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rag"));
            cmd.env("RAG_MODELS", models_dir());
            cmd
        };
        cmd.current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("RAG_OFFLINE", "1")
            .env("RAG_CONFIG", self.dir.path().join("config.toml"))
            .env_remove("RAG_INDEX")
            .args(["--index", "idx"]);
        cmd
    }

    fn files_indexed(&self) -> u64 {
        json(&ok(self.rag().args(["status", "--json"])))["files"]
            .as_u64()
            .unwrap()
    }

    fn set_mode(&self, path: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(path);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn an_unreadable_folder_is_not_an_empty_one() {
    let user = Unprivileged::new();
    let docs = user.dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    for (name, text) in [
        ("n1.md", "note one about the heron"),
        ("n2.md", "note two about the heron"),
        ("sub/n3.md", "note three about the heron"),
    ] {
        std::fs::write(docs.join(name), text).unwrap();
    }
    for path in ["docs", "docs/sub"] {
        user.set_mode(path, 0o777);
    }
    ok(user.rag().args(["ingest", "docs", "-q"]));
    assert_eq!(user.files_indexed(), 3);

    // A subfolder that cannot be read is skipped, and what it held stays.
    user.set_mode("docs/sub", 0o000);
    let out = run(user.rag().args(["ingest", "docs"]));
    user.set_mode("docs/sub", 0o777);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(user.files_indexed(), 3);

    // A root that cannot be read is an error, as a missing one is.
    user.set_mode("docs", 0o000);
    let out = run(user.rag().args(["ingest", "docs"]));
    user.set_mode("docs", 0o777);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("docs"), "{stderr}");
    assert_eq!(user.files_indexed(), 3);
}

#[test]
fn a_read_only_index_can_be_searched_and_checked() {
    let user = Unprivileged::new();
    let docs = user.dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("a.md"), "the ferry leaves from pier 7 every hour").unwrap();
    user.set_mode("docs", 0o777);
    ok(user.rag().args(["ingest", "docs", "-q"]));
    let chmod = |mode: &str| {
        let done = std::process::Command::new("chmod")
            .args(["-R", mode])
            .arg(user.dir.path().join("idx"))
            .status()
            .unwrap();
        assert!(done.success());
    };
    // Another user's index, or one on a read-only mount.
    chmod("a-w");
    let searched: Vec<_> = ["bm25", "hybrid"]
        .iter()
        .map(|mode| {
            run(user
                .rag()
                .args(["search", "ferry", "--json", "--mode", mode]))
        })
        .collect();
    let checked = run(user.rag().arg("check"));
    chmod("u+w");
    for out in searched {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            json(&String::from_utf8_lossy(&out.stdout))["results"][0]["path"],
            "docs/a.md"
        );
    }
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("damaged"), "{stderr}");
}

#[test]
fn an_index_moved_away_from_its_documents_still_knows_them() {
    let ws = one_note("# Heron\n\nnote one about the heron\n");
    std::fs::write(ws.docs().join("n2.md"), "note two about the heron\n").unwrap();
    ws.ingest_json(&[]);
    let first_result = |dir: &std::path::Path, index: &str| {
        let out = ok(rag().current_dir(dir).args([
            "search", "heron", "--json", "--mode", "bm25", "--index", index,
        ]));
        let path = json(&out)["results"][0]["path"]
            .as_str()
            .unwrap()
            .to_string();
        dir.join(path)
    };
    // Moved with its documents (the project renamed), it finds them there.
    let renamed = ws.path().with_extension("renamed");
    std::fs::rename(ws.path(), &renamed).unwrap();
    let found = first_result(&renamed, ".rag");
    std::fs::rename(&renamed, ws.path()).unwrap();
    assert!(found.starts_with(&renamed), "{}", found.display());

    // Moved away from them, its passages still name files that exist...
    std::fs::create_dir_all(ws.path().join("store")).unwrap();
    std::fs::rename(ws.index(), ws.path().join("store/idx")).unwrap();
    assert!(first_result(ws.path(), "store/idx").is_file());
    // ...and ingesting the same documents finds them unchanged: nothing twice.
    let summary = json(&ok(ws.rag().args([
        "ingest",
        "docs",
        "--json",
        "--index",
        "store/idx",
    ])));
    assert_eq!(summary["indexed"], 0, "{summary}");
    let status = json(&ok(ws.rag().args([
        "status",
        "--json",
        "--index",
        "store/idx",
    ])));
    assert_eq!(status["files"], 2, "{status}");
}

#[test]
fn a_cut_embedding_model_is_called_damaged_not_another_model() {
    let ws = one_note("a note about tea\n");
    let models = ws.path().join("m");
    std::fs::create_dir_all(&models).unwrap();
    for name in ["all-MiniLM-L6-v2", "onnxruntime"] {
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(models_dir().join(name))
            .arg(&models)
            .status()
            .unwrap();
        assert!(copied.success());
    }
    let with_copy = || {
        let mut cmd = ws.rag();
        cmd.env("RAG_MODELS", &models);
        cmd
    };
    ok(with_copy().args(["ingest", "docs", "-q", "--rebuild"]));
    let onnx = models.join("all-MiniLM-L6-v2/model.onnx");
    let file = std::fs::OpenOptions::new().write(true).open(&onnx).unwrap();
    file.set_len(1_000_000).unwrap();
    drop(file);
    let out = run(with_copy()
        .args(["search", "tea"])
        .env_remove("RUST_BACKTRACE"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("model.onnx"), "{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(!stderr.contains("--rebuild"), "{stderr}");
}

#[test]
fn a_passage_after_a_hundred_copies_of_another_is_found_by_meaning() {
    let ws = one_note("placeholder\n");
    std::fs::remove_file(ws.docs().join("tea.md")).unwrap();
    for i in 0..100 {
        std::fs::write(
            ws.docs().join(format!("dup{i:05}.txt")),
            "Quarterly report: revenue was flat and costs were stable this period.\n",
        )
        .unwrap();
    }
    let topics = [
        "volcano eruption lava",
        "chess opening gambit",
        "sourdough bread starter",
        "jazz saxophone improvisation",
        "glacier melting arctic",
    ];
    for (i, topic) in topics.iter().enumerate() {
        std::fs::write(
            ws.docs().join(format!("topic{i:02}.txt")),
            format!(
                "This note is about {topic}. It describes {topic} in some detail for reference.\n"
            ),
        )
        .unwrap();
    }
    ws.ingest_json(&[]);
    for (i, topic) in topics.iter().enumerate() {
        let found = ws.result_paths(topic, "vector");
        assert!(
            found.contains(&format!("docs/topic{i:02}.txt")),
            "{topic}: {found:?}"
        );
    }
}
