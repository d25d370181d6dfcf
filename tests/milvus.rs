//! End-to-end: the real binary with its index on a Milvus server (a
//! milvus-lite started on a free port for this test binary, stopped by PID
//! when it ends). Ids and order are checked, never raw scores: milvus-lite's
//! BM25 scores differ from a cluster's.
#![cfg(feature = "milvus")]

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;
use rag_milvus::lite::LiteServer;

/// One server for every test here (each test uses its own collection).
fn server() -> &'static LiteServer {
    static SERVER: OnceLock<LiteServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        LiteServer::start().unwrap_or_else(|e| {
            panic!(
                "milvus-lite could not start ({e}); install it with: scripts/milvus-lite install"
            )
        })
    })
}

fn top_paths(ws: &Workspace, index: &str, query: &str, mode: &str) -> Vec<String> {
    let out = run(ws
        .rag()
        .args(["--index", index])
        .args(["search", query, "--json", "-k", "3", "--mode", mode]));
    // 1: nothing found.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = json(&String::from_utf8_lossy(&out.stdout));
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ingest_search_reingest_and_forget_on_milvus() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let url = server().url("wiki_e2e");
    let summary = json(&ok(ws
        .rag()
        .args(["--index", &url, "ingest", "docs", "--json"])));
    assert_eq!(summary["indexed"], 6, "{summary}");

    let status = json(&ok(ws.rag().args(["--index", &url, "status", "--json"])));
    assert_eq!(status["backend"], "milvus", "{status}");
    assert_eq!(status["files"], 6, "{status}");
    let folder = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(
        status["chunks"], folder["chunks"],
        "same chunks as the folder index"
    );

    let folder_index = ws.index();
    let folder_index = folder_index.to_str().unwrap();
    for (query, mode, expected) in [
        ("badger setts", "bm25", "docs/european-badger.md"),
        (
            "temperature scale proposed by a Swedish astronomer",
            "vector",
            "docs/celsius.md",
        ),
        (
            "which river runs through Belfast",
            "hybrid",
            "docs/belfast.md",
        ),
        (
            "counterpoint voices entering one after another",
            "hybrid",
            "docs/fugue.md",
        ),
    ] {
        let on_milvus = top_paths(&ws, &url, query, mode);
        assert_eq!(
            on_milvus.first().map(String::as_str),
            Some(expected),
            "{query} ({mode})"
        );
        let on_folder = top_paths(&ws, folder_index, query, mode);
        assert_eq!(on_milvus[0], on_folder[0], "{query} ({mode})");
    }

    // Nothing changed: nothing is embedded again.
    let again = json(&ok(ws
        .rag()
        .args(["--index", &url, "ingest", "docs", "--json"])));
    assert_eq!(
        (again["indexed"].clone(), again["unchanged"].clone()),
        (0.into(), 6.into())
    );

    // An edited file is replaced, not duplicated.
    std::fs::write(
        ws.docs().join("rocket.md"),
        "# Rocket\n\nA rocket carries its own oxidiser, so it flies where there is no air.\n",
    )
    .unwrap();
    let edited = json(&ok(ws
        .rag()
        .args(["--index", &url, "ingest", "docs", "--json"])));
    assert_eq!(edited["indexed"], 1, "{edited}");
    let hits = json(&ok(ws.rag().args([
        "--index", &url, "search", "oxidiser", "--json", "--mode", "bm25",
    ])));
    let rocket: Vec<_> = hits["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "docs/rocket.md")
        .collect();
    assert_eq!(rocket.len(), 1, "{hits}");

    // A deleted file leaves; a forgotten one too.
    std::fs::remove_file(ws.docs().join("fugue.md")).unwrap();
    let removed = json(&ok(ws
        .rag()
        .args(["--index", &url, "ingest", "docs", "--json"])));
    assert_eq!(removed["removed"], 1, "{removed}");
    assert!(!top_paths(&ws, &url, "fugue counterpoint", "bm25").contains(&"docs/fugue.md".into()));
    ok(ws
        .rag()
        .args(["--index", &url, "forget", "docs/belfast.md"]));
    assert!(!top_paths(&ws, &url, "Belfast", "bm25").contains(&"docs/belfast.md".into()));
    let status = json(&ok(ws.rag().args(["--index", &url, "status", "--json"])));
    assert_eq!(status["files"], 4, "{status}");
    // The server keeps what was forgotten: the folder's next ingest leaves it out.
    assert_eq!(
        status["forgotten"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
    let again = json(&ok(ws
        .rag()
        .args(["--index", &url, "ingest", "docs", "--json"])));
    assert_eq!(again["indexed"], 0, "{again}");
    assert!(!top_paths(&ws, &url, "Belfast", "bm25").contains(&"docs/belfast.md".into()));
}

/// The gate decides alike on both homes: the same questions answered or
/// refused, from the same best source, with the same similarity signal.
#[test]
fn answers_and_refusals_agree_with_the_folder_index() {
    let dir = tempfile::tempdir().unwrap();
    let folder = wikipedia_index(dir.path());
    let url = server().url("wikipedia_gate");
    ok(rag()
        .args(["--index", &url, "-q", "copy-from"])
        .arg(&folder));
    let eval = |index: &str| {
        let report = json(&ok(rag().args(["--index", index, "eval", "qa"]).args([
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/qa-dev.jsonl")
                .to_str()
                .unwrap(),
            "--json",
            "--model",
            "smollm2-135m-instruct",
            "--max-tokens",
            "8",
        ])));
        report["questions"].as_array().unwrap().clone()
    };
    let on_folder = eval(folder.to_str().unwrap());
    let on_milvus = eval(&url);
    assert_eq!(on_folder.len(), on_milvus.len());
    let (mut answered_both, mut same_source) = (0, 0);
    let mut refusals_differ = Vec::new();
    for (f, m) in on_folder.iter().zip(&on_milvus) {
        assert_eq!(f["id"], m["id"]);
        if f["refused"] != m["refused"] {
            refusals_differ.push(format!("{}: {f} / {m}", f["question"]));
        }
        let answered = f["refused"] == false && m["refused"] == false;
        answered_both += usize::from(answered);
        if answered && f["citations"].get(0) == m["citations"].get(0) {
            same_source += 1;
            // The same best passage: the same vectors, so the same similarity.
            let similarity = |row: &serde_json::Value| row["similarity"].as_f64().unwrap();
            assert!(
                (similarity(f) - similarity(m)).abs() < 0.01,
                "{}: similarity {} on the folder, {} on Milvus",
                f["question"],
                similarity(f),
                similarity(m)
            );
        }
    }
    eprintln!("answered on both: {answered_both}, from the same first source: {same_source}");
    assert!(refusals_differ.is_empty(), "{refusals_differ:#?}");
    assert!(answered_both > 0);
    assert!(
        same_source * 10 >= answered_both * 9,
        "{same_source} of {answered_both}"
    );
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let out = run(rag().args([
        "--index",
        &format!("milvus://127.0.0.1:{port}/nothing"),
        "status",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(stderr.contains("RAG_MILVUS_TOKEN"), "the remedy: {stderr}");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn a_missing_collection_says_how_to_make_one() {
    let url = server().url("never_ingested");
    let out = run(rag().args(["--index", &url, "search", "anything"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no index found at"), "{stderr}");
    assert!(stderr.contains("rag ingest"), "{stderr}");
}
