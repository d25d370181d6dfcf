//! End-to-end: `rag ingest` on real files, then `rag search` and `rag status`.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::*;

#[test]
fn ingest_then_search_finds_the_right_file_in_every_mode() {
    let ws = Workspace::with_wiki();
    let summary = ws.ingest_json(&[]);
    assert_eq!(summary["indexed"], 6, "{summary}");
    assert_eq!(summary["skipped"], 0, "{summary}");
    assert!(summary["chunks_total"].as_u64().unwrap() >= 6);

    for mode in ["hybrid", "bm25", "vector"] {
        let paths = ws.result_paths(
            "subject that recurs in imitation across several voices",
            mode,
        );
        assert_eq!(paths[0], "docs/fugue.md", "mode {mode}: {paths:?}");
    }
    // Meaning, not words: no keyword of this query is in the badger article.
    let paths = ws.result_paths("a striped nocturnal mammal that digs burrows", "vector");
    assert_eq!(paths[0], "docs/european-badger.md", "{paths:?}");

    let response = ws.search("temperature scale where water freezes at zero", "hybrid");
    let top = &response["results"][0];
    assert_eq!(top["path"], "docs/celsius.md");
    assert_eq!(top["rank"], 1);
    assert_eq!(top["line_start"], 1);
    assert!(top["line_end"].as_u64().unwrap() >= 3);
    assert_eq!(top["heading"], "Celsius");
    assert!(top["text"].as_str().unwrap().contains("Celsius"));
    assert!(response["took_ms"].as_f64().unwrap() > 0.0);

    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["files"], 6);
    assert_eq!(status["model_id"], "sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(status["dimension"], 384);
    assert!(status["size_bytes"].as_u64().unwrap() > 0);
    let human = ok(ws.rag().arg("status"));
    assert!(human.contains("files        6"), "{human}");
}

#[test]
fn reingest_touches_only_what_changed() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let generation =
        |ws: &Workspace| json(&ok(ws.rag().args(["status", "--json"])))["generation"].clone();
    let before = generation(&ws);

    let again = ws.ingest_json(&[]);
    assert_eq!(again["indexed"], 0, "{again}");
    assert_eq!(again["unchanged"], 6, "{again}");
    assert_eq!(
        generation(&ws),
        before,
        "nothing changed, nothing committed"
    );

    fs::write(
        ws.docs().join("fugue.md"),
        "# Fugue\n\nA fugue now mentions the zyxwvut quartet of Bach.\n",
    )
    .unwrap();
    fs::remove_file(ws.docs().join("rocket.md")).unwrap();
    fs::write(
        ws.docs().join("teapot.md"),
        "# Teapot\n\nA teapot is a vessel for steeping tea leaves in boiling water.\n",
    )
    .unwrap();
    let summary = ws.ingest_json(&[]);
    assert_eq!(summary["indexed"], 2, "changed + added: {summary}");
    assert_eq!(summary["removed"], 1, "{summary}");
    assert_eq!(summary["unchanged"], 4, "{summary}");
    assert_eq!(summary["files_total"], 6, "{summary}");

    assert_eq!(ws.result_paths("zyxwvut", "bm25")[0], "docs/fugue.md");
    assert_eq!(
        ws.result_paths("vessel for steeping tea", "hybrid")[0],
        "docs/teapot.md"
    );
    for mode in ["bm25", "vector", "hybrid"] {
        let paths = ws.result_paths("rocket engine propellant thrust spacecraft launch", mode);
        assert!(
            !paths.iter().any(|p| p.contains("rocket")),
            "{mode}: {paths:?}"
        );
        // The old version of the changed file is gone too.
        let response = ws.search("contrapuntal polyphonic compositional technique", mode);
        for result in response["results"].as_array().unwrap() {
            assert!(
                !result["text"].as_str().unwrap().contains("contrapuntal"),
                "{mode}: {result}"
            );
        }
    }

    // Ingesting another folder into the same index leaves the first one alone.
    fs::create_dir(ws.path().join("notes")).unwrap();
    fs::write(
        ws.path().join("notes/a.txt"),
        "Notes about gardening and compost heaps.\n",
    )
    .unwrap();
    json(&ok(ws.rag().args(["ingest", "notes", "--json"])));
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["files"], 7);

    let rebuilt = ws.ingest_json(&["--rebuild"]);
    assert_eq!(rebuilt["indexed"], 6, "{rebuilt}");
    assert_eq!(
        rebuilt["files_total"], 6,
        "--rebuild starts over: {rebuilt}"
    );
}

#[test]
fn bad_files_are_skipped_with_one_warning_each() {
    let ws = Workspace::with_wiki();
    let docs = ws.docs();
    fs::write(
        docs.join("binary.txt"),
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0",
    )
    .unwrap();
    fs::write(docs.join("latin1.txt"), b"caf\xe9 cr\xe8me br\xfbl\xe9e\n").unwrap();
    fs::write(docs.join("empty.md"), b"").unwrap();
    fs::write(docs.join("huge.txt"), "word ".repeat(2000)).unwrap();
    fs::write(
        docs.join("broken.pdf"),
        b"%PDF-1.7\n1 0 obj << /Type /Catalog",
    )
    .unwrap();
    symlink(docs.join("does-not-exist.md"), docs.join("dangling.md")).unwrap();
    fs::create_dir(docs.join("loop")).unwrap();
    symlink(&docs, docs.join("loop/back")).unwrap();
    fs::write(docs.join("picture.png"), b"\x89PNG\r\n").unwrap();
    fs::write(
        docs.join("good.pdf"),
        tiny_pdf("Zanzibar cloves and nutmeg"),
    )
    .unwrap();

    let out = run(ws
        .rag()
        .args(["ingest", "docs", "--json", "--max-file-size", "5KB"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    let bad = [
        ("binary.txt", "binary"),
        ("latin1.txt", "UTF-8"),
        ("empty.md", "empty"),
        ("huge.txt", "limit"),
        ("broken.pdf", "PDF"),
        ("dangling.md", "cannot read"),
        ("back", "loop"),
    ];
    for (name, why) in bad {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "one warning for {name}:\n{stderr}");
        assert!(lines[0].starts_with("warning: skipped"), "{}", lines[0]);
        assert!(lines[0].contains(why), "{name}: {}", lines[0]);
    }
    assert_eq!(summary["skipped"], bad.len(), "{summary}\n{stderr}");
    assert_eq!(summary["unsupported"], 1, "the png: {summary}");
    assert_eq!(
        summary["indexed"], 7,
        "6 articles + the good PDF: {summary}"
    );

    let response = ws.search("Zanzibar cloves", "bm25");
    let top = &response["results"][0];
    assert_eq!(top["path"], "docs/good.pdf");
    assert_eq!(top["page"], 1);
}

#[test]
fn ignore_files_exclude_globs_and_hidden_files_are_respected() {
    let ws = Workspace::with_wiki();
    let docs = ws.docs();
    fs::write(docs.join(".gitignore"), "secret.md\n").unwrap();
    fs::write(
        docs.join("secret.md"),
        "# Secret\n\nquuxplover in the gitignored file\n",
    )
    .unwrap();
    fs::create_dir(docs.join("drafts")).unwrap();
    fs::write(docs.join(".ragignore"), "drafts/\n").unwrap();
    fs::write(docs.join("drafts/d.md"), "quuxplover in a draft\n").unwrap();
    fs::write(docs.join(".hidden.md"), "quuxplover hidden\n").unwrap();
    fs::create_dir(docs.join("build")).unwrap();
    fs::write(docs.join("build/out.txt"), "quuxplover build output\n").unwrap();
    fs::write(docs.join("kept.md"), "quuxplover kept\n").unwrap();

    let summary = ws.ingest_json(&["--exclude", "build/**"]);
    assert_eq!(summary["indexed"], 7, "{summary}");
    let paths = ws.result_paths("quuxplover", "bm25");
    assert_eq!(paths, vec!["docs/kept.md"]);
}

#[test]
fn a_second_writer_gets_a_clear_error() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let lock = fs::File::options()
        .write(true)
        .open(ws.index().join("lock"))
        .unwrap();
    lock.try_lock().expect("the test takes the writer lock");
    let out = run(ws.rag().args(["ingest", "docs"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another `rag ingest` is writing"),
        "{stderr}"
    );
    // Readers are not blocked by a writer.
    assert_eq!(ws.result_paths("Belfast", "bm25")[0], "docs/belfast.md");
    drop(lock);
    ws.ingest_json(&[]);
}

#[test]
fn an_index_from_another_embedding_model_is_refused() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let manifest = ws.index().join("manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(
            "sentence-transformers/all-MiniLM-L6-v2",
            "BAAI/bge-small-en-v1.5",
        ),
    )
    .unwrap();
    for args in [&["search", "fugue"][..], &["ingest", "docs"][..]] {
        let out = run(ws.rag().args(args));
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("BAAI/bge-small-en-v1.5"), "{stderr}");
        assert!(stderr.contains("--rebuild"), "{stderr}");
    }
    let rebuilt = ws.ingest_json(&["--rebuild"]);
    assert_eq!(rebuilt["indexed"], 6);
}

#[test]
fn missing_models_say_what_to_run() {
    let ws = Workspace::with_wiki();
    let out = run(ws
        .rag()
        .env("RAG_MODELS", ws.path().join("no-models"))
        .args(["ingest", "docs"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.onnx"), "{stderr}");
    assert!(stderr.contains("scripts/fetch-models"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!ws.index().join("manifest.json").exists());
}

#[test]
fn search_without_an_index_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(rag().current_dir(dir.path()).args(["search", "anything"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no index found"), "{stderr}");
    assert!(stderr.contains("rag ingest"), "{stderr}");
}
