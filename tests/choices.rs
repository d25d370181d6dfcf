//! Choices stick: the index remembers `--exclude` patterns and what `rag
//! forget` took out of a folder it still covers, so a later ingest (or a
//! running `--watch`) of that folder does not bring them back.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

fn write_tree(ws: &Workspace) {
    fs::create_dir_all(ws.docs().join("old")).unwrap();
    fs::write(
        ws.docs().join("old/a.md"),
        "Saffron narwhal migration notes.\n",
    )
    .unwrap();
    fs::write(ws.docs().join("old/keep.md"), "Cobalt ibex survey.\n").unwrap();
    fs::write(
        ws.docs().join("build.log"),
        "Vermilion axolotl build log.\n",
    )
    .unwrap();
}

#[test]
fn excludes_and_forgotten_folders_stick_until_taken_back() {
    let ws = Workspace::with_wiki();
    write_tree(&ws);
    let found = |query: &str| !ws.result_paths(query, "bm25").is_empty();

    ws.ingest_json(&["--exclude", "*.log"]);
    assert!(!found("vermilion axolotl"));
    assert!(found("saffron narwhal"));
    // Given once, the exclude holds for the next ingest of the folder.
    fs::write(ws.docs().join("later.log"), "Teal okapi log.\n").unwrap();
    ws.ingest_json(&[]);
    assert!(!found("vermilion axolotl") && !found("teal okapi"));

    let forgot = json(&ok(ws.rag().args(["forget", "docs/old", "--json"])));
    assert_eq!(forgot["files"], 2, "{forgot}");
    assert_eq!(forgot["kept_out"], serde_json::json!(["docs/old"]));
    let said =
        String::from_utf8_lossy(&run(ws.rag().args(["forget", "docs/old"])).stderr).to_string();
    assert!(said.contains("nothing under docs/old"), "{said}");
    let again = ws.ingest_json(&[]);
    assert_eq!(again["indexed"], 0, "{again}");
    assert!(
        !found("saffron narwhal"),
        "re-ingesting docs brought back docs/old"
    );

    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["excludes"], serde_json::json!(["*.log"]), "{status}");
    assert_eq!(
        status["forgotten"],
        serde_json::json!(["docs/old"]),
        "{status}"
    );
    let human = ok(ws.rag().arg("status"));
    assert!(human.contains("excludes     *.log"), "{human}");
    assert!(human.contains("forgotten    docs/old"), "{human}");
    let dry = ok(ws.rag().args(["ingest", "docs", "--dry-run"]));
    assert!(!dry.contains("docs/old/") && !dry.contains(".log"), "{dry}");

    // A file inside the forgotten folder, named: back, and it stays through
    // ingests of the folder, while the rest of the forgotten folder stays out.
    ok(ws.rag().args(["ingest", "docs/old/keep.md"]));
    ws.ingest_json(&[]);
    assert!(found("cobalt ibex") && !found("saffron narwhal"));
    // The folder itself, named: all back, nothing remembered of it.
    ok(ws.rag().args(["ingest", "docs/old"]));
    assert!(found("saffron narwhal"));
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["forgotten"], serde_json::json!([]), "{status}");

    // A pattern is dropped by name; an unknown one is an error naming the known.
    let out = run(ws.rag().args(["ingest", "docs", "--drop-exclude", "*.txt"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("it remembers *.log"), "{stderr}");
    ws.ingest_json(&["--drop-exclude", "*.log"]);
    assert!(found("vermilion axolotl") && found("teal okapi"));
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["excludes"], serde_json::json!([]), "{status}");
}

#[test]
fn a_running_watch_does_not_bring_back_a_forgotten_folder() {
    let ws = Workspace::with_wiki();
    write_tree(&ws);
    let watching = ws.watch();
    let found = |query: &str| !ws.result_paths(query, "bm25").is_empty();
    // forget may meet the watch's ingest holding the index: try again.
    wait_until("forget succeeds", &|| {
        run(ws.rag().args(["forget", "docs/old"])).status.success()
    });
    assert!(!found("saffron narwhal"));
    // A change inside the forgotten folder, then one outside it: once the
    // second is in, the watch has ingested after the first.
    fs::write(ws.docs().join("old/a.md"), "Saffron narwhal, revised.\n").unwrap();
    fs::write(ws.docs().join("old/new.md"), "Amber quoll notes.\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    fs::write(ws.docs().join("fresh.md"), "Indigo tapir sighting.\n").unwrap();
    wait_until("a change outside the forgotten folder is ingested", &|| {
        found("indigo tapir")
    });
    assert!(!found("saffron narwhal") && !found("amber quoll"));

    let (status, _) = watching.interrupt();
    assert!(status.success(), "{status:?}");
}
