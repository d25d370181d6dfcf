//! End-to-end: `rag copy-from` moves an index to another home with its
//! stored vectors; the folder-to-folder case runs without any server.

mod common;

use common::*;

#[test]
fn a_copied_index_answers_searches_as_the_original_does() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let copy = ws.path().join("elsewhere/.rag");
    let summary = json(&ok(ws.rag().arg("--index").arg(&copy).args([
        "copy-from",
        ".rag",
        "--json",
    ])));
    assert_eq!(summary["files"], 6, "{summary}");
    assert_eq!(summary["unchanged"], 0, "{summary}");

    let searched = |index: &std::path::Path, query: &str, mode: &str| {
        let found =
            json(&ok(ws.rag().arg("--index").arg(index).args([
                "search", query, "--json", "-k", "3", "--mode", mode,
            ])));
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["line_start"].clone(),
                    r["text"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    for (query, mode) in [
        ("badger setts", "bm25"),
        (
            "temperature scale proposed by a Swedish astronomer",
            "vector",
        ),
        ("which river runs through Belfast", "hybrid"),
    ] {
        let original = searched(&ws.index(), query, mode);
        assert!(!original.is_empty(), "{query}");
        // The copy's root is elsewhere/: the same files, named alike.
        assert_eq!(searched(&copy, query, mode), original, "{query} ({mode})");
    }
    let status = json(&ok(ws
        .rag()
        .arg("--index")
        .arg(&copy)
        .args(["status", "--json"])));
    assert_eq!(status["files"], 6);
    assert_eq!(status["backend"], "folder");

    // Copying again moves nothing: every file is there with the same content.
    let again = json(&ok(ws.rag().arg("--index").arg(&copy).args([
        "copy-from",
        ".rag",
        "--json",
    ])));
    assert_eq!(
        (again["files"].clone(), again["unchanged"].clone()),
        (0.into(), 6.into())
    );
}

#[test]
fn copying_needs_another_destination() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let out = run(ws.rag().args(["copy-from", ".rag"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--index"));
    let out = run(ws.rag().args(["--index", ".rag", "copy-from", ".rag"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is the index being copied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(not(feature = "milvus"))]
#[test]
fn a_milvus_index_without_the_feature_says_how_to_get_it() {
    let out = run(rag().args(["--index", "milvus://127.0.0.1:19530/docs", "status"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without Milvus support"), "{stderr}");
}
