//! `rag batch` end to end: input formats, output formats, resuming after a
//! kill, error rows and deterministic sampling, on a small ingested folder.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{json, ok, run, Workspace};
use serde_json::Value;

const FUGUE: &str = "In a fugue, what is it called when the subject overlaps itself?";
const BADGER: &str = "What is the conservation status of the European badger?";
const BELFAST: &str = "On which river does Belfast stand?";
const OFF_TOPIC: &str = "What is the top speed of the Tesla Cybertruck?";

fn ingested() -> Workspace {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    ws
}

fn write(ws: &Workspace, name: &str, text: &str) -> std::path::PathBuf {
    let path = ws.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `rag batch` with short answers (the tests check the plumbing, not the prose).
fn batch(ws: &Workspace, questions: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = ws.rag();
    cmd.arg("batch")
        .arg(questions)
        .args(["--max-tokens", "12"])
        .args(extra);
    cmd
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(json)
        .collect()
}

#[test]
fn every_input_format_gives_one_record_per_question_in_order() {
    let ws = ingested();
    let text = write(
        &ws,
        "q.txt",
        &format!("# questions about the wiki\n\n{FUGUE}\n{OFF_TOPIC}\n"),
    );
    let out = ok(&mut batch(&ws, &text, &[]));
    let records: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["id"], "3");
    assert_eq!(records[0]["question"], FUGUE);
    assert_eq!(records[1]["id"], "4");
    assert_eq!(records[1]["refused"], true);
    for record in &records {
        for key in [
            "answer",
            "refused",
            "citations",
            "sources",
            "timings",
            "model",
        ] {
            assert!(!record[key].is_null(), "{key} missing: {record}");
        }
        assert!(record["error"].is_null());
    }

    let jsonl = write(
        &ws,
        "q.jsonl",
        &format!(
            "{}\n{}\n",
            serde_json::json!({"id": "a", "question": FUGUE, "topic": "Arts"}),
            serde_json::json!({"id": 2, "question": BADGER, "answers": ["least concern"]}),
        ),
    );
    let records: Vec<Value> = ok(&mut batch(&ws, &jsonl, &[])).lines().map(json).collect();
    assert_eq!(records[0]["id"], "a");
    assert_eq!(
        records[0]["topic"], "Arts",
        "extra fields are carried through"
    );
    assert_eq!(records[1]["id"], "2");
    assert_eq!(records[1]["answers"][0], "least concern");

    let csv = write(
        &ws,
        "q.csv",
        &format!("id,question,owner\nc1,\"{BELFAST}\",me\nc2,{BADGER},you\n"),
    );
    let out_path = ws.path().join("out.jsonl");
    ok(batch(&ws, &csv, &["-o"]).arg(&out_path));
    let records = lines(&out_path);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["id"], "c1");
    assert_eq!(records[0]["owner"], "me");
    assert_eq!(records[1]["question"], BADGER);
}

#[test]
fn csv_output_quotes_commas_quotes_and_newlines() {
    let ws = ingested();
    let tricky = "Belfast, \"the city\" -\non which river does it stand?";
    let input = write(
        &ws,
        "q.csv",
        &format!("id,question\n1,\"{}\"\n", tricky.replace('"', "\"\"")),
    );
    let out = ws.path().join("out.csv");
    ok(batch(&ws, &input, &["-o"]).arg(&out));
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][column("question")], tricky);
    assert!(!rows[0][column("answer")].is_empty());
    assert!(rows[0][column("sources")].contains("docs/belfast.md:"));
}

#[test]
fn markdown_report_has_each_question_and_a_summary() {
    let ws = ingested();
    // A comment first: the first question is still number 1 (it is line 2).
    let input = write(
        &ws,
        "q.txt",
        &format!("# my questions\n{FUGUE}\n{OFF_TOPIC}\n"),
    );
    let out = ws.path().join("report.md");
    ok(batch(&ws, &input, &["-o"]).arg(&out));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\n# Answers to q.txt\n"), "{text}");
    assert!(text.contains(&format!("## 1. {FUGUE}")), "{text}");
    assert!(text.contains(&format!("## 2. {OFF_TOPIC}")), "{text}");
    assert!(text.contains("docs/fugue.md:"));
    assert!(text.contains("I couldn't find this in your documents."));
    assert!(text.contains("## Summary"));
    assert!(
        text.contains("2 questions: 1 answered, 1 refused, 0 errors"),
        "{text}"
    );

    // A rerun has nothing to do and keeps one summary.
    ok(batch(&ws, &input, &["-o"]).arg(&out));
    let again = std::fs::read_to_string(&out).unwrap();
    assert_eq!(again.matches("## Summary").count(), 1);
    assert_eq!(again.matches("## 1. ").count(), 1);
    assert_eq!(again.matches("# Answers to").count(), 1);
}

#[test]
fn a_killed_batch_resumes_without_duplicates_or_half_lines() {
    let ws = ingested();
    let questions = [
        FUGUE,
        BADGER,
        BELFAST,
        OFF_TOPIC,
        FUGUE.replace("fugue", "Fugue").as_str(),
    ]
    .iter()
    .enumerate()
    .map(|(i, q)| serde_json::json!({"id": format!("q{i}"), "question": q}).to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let input = write(&ws, "q.jsonl", &questions);
    let out = ws.path().join("out.jsonl");

    let mut child = batch(&ws, &input, &["-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()) < 1 {
        assert!(Instant::now() < deadline, "no record written");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Simulate a write cut short by the kill.
    let mut text = std::fs::read_to_string(&out).unwrap();
    let before = text.lines().count();
    assert!(before < 5, "the batch finished before it was killed");
    text.push_str("{\"id\":\"q9\",\"answ");
    std::fs::write(&out, text).unwrap();

    let rerun = run(batch(&ws, &input, &["-o"]).arg(&out));
    assert!(rerun.status.success());
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(
        stderr.contains(&format!("resuming: {before} of 5")),
        "{stderr}"
    );
    let records = lines(&out);
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["q0", "q1", "q2", "q3", "q4"]);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 5);
}

#[test]
fn a_bad_question_is_an_error_row_and_the_batch_goes_on() {
    let ws = ingested();
    let huge = "why ".repeat(12_500);
    let input = write(
        &ws,
        "q.jsonl",
        &[
            serde_json::json!({"id": "empty", "question": ""}),
            serde_json::json!({"id": "ok", "question": FUGUE}),
            serde_json::json!({"id": "huge", "question": huge}),
        ]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n"),
    );
    let out = run(&mut batch(&ws, &input, &[]));
    assert!(out.status.success());
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["empty", "ok", "huge"]);
    assert!(records[0]["error"].as_str().unwrap().contains("empty"));
    assert!(records[1]["error"].is_null());
    assert!(records[2]["error"].as_str().unwrap().contains("too long"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 answered, 0 refused, 2 errors"),
        "{stderr}"
    );
}

#[test]
fn a_seeded_batch_gives_the_same_answers_fresh_or_resumed() {
    let ws = ingested();
    let input = write(&ws, "q.txt", &format!("{FUGUE}\n{BADGER}\n{BELFAST}\n"));
    let sampled = ["--temperature", "0.9", "--seed", "42", "-o"];
    let fresh = ws.path().join("fresh.jsonl");
    ok(batch(&ws, &input, &sampled).arg(&fresh));
    let fresh = lines(&fresh);

    // A resumed run: the first record is already there.
    let resumed = ws.path().join("resumed.jsonl");
    std::fs::write(&resumed, format!("{}\n", fresh[0])).unwrap();
    ok(batch(&ws, &input, &sampled).arg(&resumed));
    let resumed = lines(&resumed);
    let answers = |records: &[Value]| -> Vec<String> {
        records
            .iter()
            .map(|r| r["answer"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(answers(&fresh), answers(&resumed));

    // Another seed samples differently somewhere (three answers at temperature 0.9).
    let other = ws.path().join("other.jsonl");
    ok(batch(&ws, &input, &["--temperature", "0.9", "--seed", "7", "-o"]).arg(&other));
    assert_ne!(answers(&fresh), answers(&lines(&other)));
}

#[test]
fn docs_are_ingested_first() {
    let ws = Workspace::with_wiki();
    let input = write(&ws, "q.txt", &format!("{FUGUE}\n"));
    let out = run(batch(&ws, &input, &["--docs"]).arg(ws.docs()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = json(String::from_utf8_lossy(&out.stdout).lines().next().unwrap());
    assert!(record["sources"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("fugue.md"));
    assert!(ws.index().join("manifest.json").is_file());
}

/// `rag batch` on an output it cannot use fails at once (before any model is
/// loaded) with exit 2 and this in its message.
fn refused(ws: &Workspace, questions: &Path, output: &Path, says: &str) {
    let out = run(batch(ws, questions, &["-o"]).arg(output));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

#[test]
fn batch_never_cuts_a_file_it_did_not_write() {
    let ws = Workspace::with_wiki();
    let questions = write(&ws, "one.csv", &format!("id,question\n1,\"{FUGUE}\"\n"));
    for (name, text) in [
        ("notes.txt", "My notes"),
        ("notes.jsonl", "{\"id\":\"1\",\"error\":null}\nMy notes"),
        ("settings.json", "{\"theme\": \"dark\"}"),
        ("report.md", "# My report\n\nkeep this"),
        ("table.csv", "name,phone\nAda,123"),
    ] {
        let path = write(&ws, name, text);
        refused(&ws, &questions, &path, "--force");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}");
    }
}

#[test]
fn batch_output_must_be_a_regular_file_or_stdout() {
    let ws = Workspace::with_wiki();
    let questions = write(&ws, "one.txt", &format!("{FUGUE}\n"));
    refused(
        &ws,
        &questions,
        Path::new("/dev/full"),
        "not a regular file",
    );
    let fifo = ws.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    refused(&ws, &questions, &fifo, "not a regular file");
    refused(&ws, &questions, ws.path(), "opening");
}

#[test]
fn a_second_batch_on_the_same_output_is_refused_while_the_first_runs() {
    let ws = Workspace::with_wiki();
    let questions = write(&ws, "one.txt", &format!("{FUGUE}\n"));
    let out = ws.path().join("out.jsonl");
    // The lock a running `rag batch` holds on its output.
    let held = std::fs::File::create(&out).unwrap();
    held.try_lock().unwrap();
    refused(&ws, &questions, &out, "another rag batch is writing");
    drop(held);
}

#[test]
fn a_csv_with_an_unclosed_quote_is_refused_naming_its_line() {
    let ws = Workspace::with_wiki();
    let questions = write(
        &ws,
        "q.csv",
        &format!("id,question\n1,\"{FUGUE}\n2,{BADGER}\n3,{BELFAST}\n"),
    );
    let out = run(&mut batch(&ws, &questions, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("q.csv:2: a quoted field is never closed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn force_overwrites_and_a_dash_writes_to_stdout() {
    let ws = ingested();
    let questions = write(&ws, "one.txt", &format!("{OFF_TOPIC}\n"));
    let notes = write(&ws, "notes.txt", "My notes");
    ok(batch(&ws, &questions, &["--force", "-o"]).arg(&notes));
    let records = lines(&notes);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["refused"], true);
    let stdout = ok(&mut batch(&ws, &questions, &["-o", "-"]));
    assert_eq!(json(stdout.trim())["refused"], true);
    assert!(!ws.path().join("-").exists());
}

#[test]
fn a_text_batch_resumes_by_the_question_not_its_line() {
    let ws = ingested();
    let output = ws.path().join("out.jsonl");
    let input = write(&ws, "q.txt", &format!("{FUGUE}\n{BADGER}\n"));
    ok(batch(&ws, &input, &["-o"]).arg(&output));
    // A question added at the top moves the others down a line.
    write(&ws, "q.txt", &format!("{BELFAST}\n{FUGUE}\n{BADGER}\n"));
    let out = run(batch(&ws, &input, &["-o"]).arg(&output));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 questions (1 this run)"), "{stderr}");
    let asked: Vec<String> = lines(&output)
        .iter()
        .map(|r| r["question"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(asked, [FUGUE, BADGER, BELFAST], "each asked once");

    // In JSONL the ids are the user's: a question edited under its id is asked again.
    let output = ws.path().join("out2.jsonl");
    let jsonl = |question: &str| format!("{{\"id\":\"q1\",\"question\":{question:?}}}\n");
    let input = write(&ws, "q.jsonl", &jsonl(FUGUE));
    ok(batch(&ws, &input, &["-o"]).arg(&output));
    write(&ws, "q.jsonl", &jsonl(BELFAST));
    ok(batch(&ws, &input, &["-o"]).arg(&output));
    let asked: Vec<Value> = lines(&output)
        .iter()
        .map(|r| r["question"].clone())
        .collect();
    assert_eq!(asked, [FUGUE, BELFAST]);
}
