//! Hostile and damaged index files: every command fails with a clear error that
//! names the file (never a panic), `rag check` finds the damage, `rag ingest
//! --rebuild` repairs any of it, and searches during an ingest always see one
//! committed generation.

mod common;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

fn generation(ws: &Workspace) -> u64 {
    let text = fs::read_to_string(ws.index().join("manifest.json")).unwrap();
    json(&text)["generation"].as_u64().unwrap()
}

fn data_file(ws: &Workspace, name: &str) -> PathBuf {
    let g = generation(ws);
    ws.index().join(name.replace('N', &g.to_string()))
}

/// The highest generation named by any data file in the index folder.
fn highest_file_generation(index: &Path) -> u64 {
    fs::read_dir(index)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let rest = name
                .strip_prefix("chunks-")
                .or_else(|| name.strip_prefix("vectors-"))
                .or_else(|| name.strip_prefix("hnsw-"))?
                .to_string();
            rest.split('.').next()?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

fn garble(path: &Path, offset: u64, bytes: &[u8]) {
    let mut file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

fn truncate(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command that must fail cleanly: exit 2, the damaged file named, the remedy given.
fn assert_clear_failure(out: &Output, names: &str, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(
        err.contains(names),
        "{what}: the error should name {names}: {err}"
    );
    assert!(
        err.contains("rag ingest --rebuild"),
        "{what}: the error should give the remedy: {err}"
    );
}

fn bm25_top(ws: &Workspace, query: &str) -> String {
    ws.result_paths(query, "bm25")
        .first()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn damaged_hnsw_files_give_a_clear_error_not_a_panic() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let pristine = ws.path().join("pristine");
    fs::create_dir(&pristine).unwrap();
    let files = ["hnsw-N.hnsw.graph", "hnsw-N.hnsw.data"];
    for name in files {
        let path = data_file(&ws, name);
        fs::copy(&path, pristine.join(path.file_name().unwrap())).unwrap();
    }
    type Damage = (&'static str, fn(&Path));
    let damages: [Damage; 6] = [
        ("emptied", |p| truncate(p, 0)),
        ("cut after 8 bytes", |p| truncate(p, 8)),
        ("cut in half", |p| {
            let len = fs::metadata(p).unwrap().len();
            truncate(p, len / 2)
        }),
        ("garbled at byte 0", |p| garble(p, 0, &[0xff; 8])),
        ("garbled at byte 8", |p| garble(p, 8, &[0xff; 8])),
        ("garbled at byte 60", |p| garble(p, 60, &[0xff; 8])),
    ];
    for name in files {
        let path = data_file(&ws, name);
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (how, damage) in &damages {
            for entry in fs::read_dir(&pristine).unwrap() {
                let entry = entry.unwrap();
                fs::copy(entry.path(), ws.index().join(entry.file_name())).unwrap();
            }
            damage(&path);
            let what = format!("{file_name} {how}");
            for args in [
                &["status"][..],
                &["status", "--json"][..],
                &["search", "Belfast", "--mode", "bm25"][..],
                &["search", "Belfast"][..],
                &["ingest", "docs"][..],
            ] {
                let out = run(ws.rag().args(args));
                assert_clear_failure(&out, &file_name, &format!("{what}, rag {args:?}"));
            }
        }
    }
    let rebuilt = ws.ingest_json(&["--rebuild"]);
    assert_eq!(rebuilt["indexed"], 6, "{rebuilt}");
    assert_eq!(bm25_top(&ws, "Belfast"), "docs/belfast.md");
    assert_eq!(
        ws.result_paths("a striped nocturnal mammal that digs burrows", "vector")[0],
        "docs/european-badger.md"
    );
}

#[test]
fn edited_chunk_text_is_detected_not_served() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let table = data_file(&ws, "chunks-N.bin");
    let mut bytes = Vec::new();
    fs::File::open(&table)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let (from, to) = (b"Belfast".as_slice(), b"Hackbus".as_slice());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the chunk table holds the Belfast text");
    bytes[at..at + from.len()].copy_from_slice(to);
    fs::write(&table, &bytes).unwrap();

    let name = table.file_name().unwrap().to_string_lossy().into_owned();
    for args in [
        &["search", "Belfast", "--mode", "bm25", "--json"][..],
        &["status"][..],
    ] {
        let out = run(ws.rag().args(args));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("Hackbus"), "edited text served: {stdout}");
        assert_clear_failure(&out, &name, &format!("rag {args:?}"));
    }
    // An ingest must not call a damaged index "unchanged".
    let out = run(ws.rag().args(["ingest", "docs", "--json"]));
    assert_clear_failure(&out, &name, "rag ingest");
    let out = run(ws.rag().arg("check"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let rebuilt = ws.ingest_json(&["--rebuild"]);
    assert_eq!(rebuilt["indexed"], 6, "{rebuilt}");
    let hits = ws.search("Belfast", "bm25");
    assert_eq!(hits["results"][0]["path"], "docs/belfast.md");
    assert!(!hits.to_string().contains("Hackbus"), "{hits}");
    ok(ws.rag().arg("check"));
}

#[test]
fn an_old_manifest_without_checksums_opens_and_gets_them_on_the_next_ingest() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let path = ws.index().join("manifest.json");
    let mut manifest = json(&fs::read_to_string(&path).unwrap());
    assert!(
        manifest["checksums"]
            .as_object()
            .is_some_and(|c| c.len() == 4),
        "a commit records the checksums of its four data files: {manifest}"
    );
    manifest.as_object_mut().unwrap().remove("checksums");
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();

    assert_eq!(bm25_top(&ws, "Belfast"), "docs/belfast.md");
    ok(ws.rag().arg("status"));
    let report = ok(ws.rag().arg("check"));
    assert!(report.contains("no checksum"), "{report}");

    let again = ws.ingest_json(&[]);
    assert_eq!(again["unchanged"], 6, "{again}");
    let manifest = json(&fs::read_to_string(&path).unwrap());
    assert_eq!(
        manifest["checksums"].as_object().map(|c| c.len()),
        Some(4),
        "{manifest}"
    );
    let report = ok(ws.rag().arg("check"));
    assert!(!report.contains("no checksum"), "{report}");
}

#[test]
fn rebuild_repairs_any_damage() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    type Damage = (&'static str, fn(&Workspace));
    let damages: [Damage; 11] = [
        ("manifest emptied", |ws| {
            truncate(&ws.index().join("manifest.json"), 0)
        }),
        ("manifest garbled", |ws| {
            fs::write(ws.index().join("manifest.json"), "{\"format_version\": 1, ").unwrap()
        }),
        ("manifest from a future format", |ws| {
            let path = ws.index().join("manifest.json");
            let text = fs::read_to_string(&path).unwrap();
            let text = text.replace("\"format_version\": 1", "\"format_version\": 99");
            fs::write(path, text).unwrap()
        }),
        ("bm25/meta.json garbled", |ws| {
            fs::write(ws.index().join("bm25/meta.json"), "garbage\n").unwrap()
        }),
        ("bm25/meta.json emptied", |ws| {
            truncate(&ws.index().join("bm25/meta.json"), 0)
        }),
        ("a tantivy .term file cut", |ws| {
            for entry in fs::read_dir(ws.index().join("bm25")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "term") {
                    truncate(&path, 10);
                }
            }
        }),
        ("chunk table deleted", |ws| {
            fs::remove_file(data_file(ws, "chunks-N.bin")).unwrap()
        }),
        ("vectors cut", |ws| {
            truncate(&data_file(ws, "vectors-N.f32"), 100)
        }),
        ("graph garbled", |ws| {
            garble(&data_file(ws, "hnsw-N.hnsw.graph"), 8, &[0xff; 8])
        }),
        ("graph data emptied", |ws| {
            truncate(&data_file(ws, "hnsw-N.hnsw.data"), 0)
        }),
        ("lock file garbled", |ws| {
            fs::write(ws.index().join("lock"), "not a lock").unwrap()
        }),
    ];
    for (what, damage) in damages {
        let before = highest_file_generation(&ws.index()).max(generation(&ws));
        damage(&ws);
        let out = run(ws.rag().args(["ingest", "docs", "--rebuild", "--json"]));
        assert!(
            out.status.success(),
            "{what}: --rebuild failed: {}",
            stderr(&out)
        );
        let summary = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(summary["indexed"], 6, "{what}: {summary}");
        assert!(
            generation(&ws) > before,
            "{what}: generation {} reuses a name (files went up to {before})",
            generation(&ws)
        );
        assert_eq!(bm25_top(&ws, "Belfast"), "docs/belfast.md", "{what}");
        assert_eq!(
            ws.result_paths(
                "subject that recurs in imitation across several voices",
                "hybrid"
            )[0],
            "docs/fugue.md",
            "{what}"
        );
        let status = json(&ok(ws.rag().args(["status", "--json"])));
        assert_eq!(status["files"], 6, "{what}: {status}");
        assert_eq!(status["bm25_in_sync"], true, "{what}: {status}");
        let check = run(ws.rag().arg("check"));
        assert!(check.status.success(), "{what}: {}", stderr(&check));
        let again = ws.ingest_json(&[]);
        assert_eq!(again["unchanged"], 6, "{what}: {again}");
    }
    // The writer lock still keeps a second writer out.
    let lock = fs::File::options()
        .write(true)
        .open(ws.index().join("lock"))
        .unwrap();
    lock.try_lock().expect("the test takes the writer lock");
    let out = run(ws.rag().args(["ingest", "docs", "--rebuild"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another process is writing the index at")
            && stderr(&out).contains("wait for the other `rag ingest` to finish"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reports_every_file_and_exits_by_the_verdict() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let report = ok(ws.rag().arg("check"));
    for name in [
        "manifest.json",
        "chunks-N.bin",
        "vectors-N.f32",
        "hnsw-N.hnsw.graph",
        "hnsw-N.hnsw.data",
        "bm25",
    ] {
        let name = name.replace('N', &generation(&ws).to_string());
        assert!(
            report
                .lines()
                .any(|l| l.contains(&name) && l.contains("ok")),
            "{name} not reported ok: {report}"
        );
    }
    let verdict = json(&ok(ws.rag().args(["check", "--json"])));
    assert_eq!(verdict["sound"], true, "{verdict}");
    assert!(verdict["files"].as_array().unwrap().len() >= 6, "{verdict}");

    // Damage that a search would never notice: the tail of the graph's points.
    let data = data_file(&ws, "hnsw-N.hnsw.data");
    let len = fs::metadata(&data).unwrap().len();
    garble(&data, len - 16, &[0x5a; 8]);
    let out = run(ws.rag().arg("check"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    let name = data.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        report
            .lines()
            .any(|l| l.contains(&name) && l.contains("damaged")),
        "{report}"
    );
    assert!(
        stderr(&out).contains("rag ingest --rebuild"),
        "{}",
        stderr(&out)
    );
    let verdict = run(ws.rag().args(["check", "--json"]));
    assert_eq!(verdict.status.code(), Some(1));
    assert_eq!(
        json(&String::from_utf8_lossy(&verdict.stdout))["sound"],
        false
    );
    ws.ingest_json(&["--rebuild"]);
    ok(ws.rag().arg("check"));

    // The keyword index is checked file by file too.
    for entry in fs::read_dir(ws.index().join("bm25")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pos") {
            let len = fs::metadata(&path).unwrap().len();
            garble(&path, len / 2, &[0x5a; 4]);
        }
    }
    let out = run(ws.rag().arg("check"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report
            .lines()
            .any(|l| l.contains(".pos") && l.contains("damaged")),
        "{report}"
    );

    let out = run(ws.rag().args(["check", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2));
    let empty = tempfile::tempdir().unwrap();
    let out = run(rag().current_dir(empty.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no index found"), "{}", stderr(&out));
}

/// Notes whose later versions mention the query word more often, so that the
/// keyword index's newest documents outrank the committed ones.
fn write_notes(docs: &Path, count: usize, round: usize) {
    fs::create_dir_all(docs).unwrap();
    for i in 0..count {
        let body = "zebra ".repeat(1 + round * 3 + i % 5);
        fs::write(
            docs.join(format!("note-{i:03}.md")),
            format!("# Note {i}\n\nRound {round} of note {i} is about {body}crossings.\n"),
        )
        .unwrap();
    }
}

#[test]
fn searches_during_an_ingest_always_see_a_committed_generation() {
    let ws = Workspace::with_wiki();
    let notes = ws.path().join("notes");
    write_notes(&notes, 300, 0);
    ok(ws.rag().args(["ingest", "notes", "-q"]));

    let done = AtomicBool::new(false);
    let failures = std::sync::Mutex::new(Vec::new());
    let searches = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let out = run(ws.rag().args([
                        "search",
                        "zebra crossings",
                        "--mode",
                        "bm25",
                        "--json",
                    ]));
                    searches.fetch_add(1, Ordering::Relaxed);
                    let err = stderr(&out);
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    let results = serde_json::from_str::<serde_json::Value>(stdout.trim())
                        .ok()
                        .and_then(|v| v["results"].as_array().map(|r| r.len()))
                        .unwrap_or(0);
                    if !out.status.success() || results == 0 || err.contains("interrupted") {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{:?} {results} results: {err}", out.status));
                    }
                }
            });
        }
        // The searchers stop even when an ingest fails the test.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&done);
        // Each round rewrites every note; with a one-second checkpoint the
        // ingest commits after most groups of files, several times a round.
        let mut commits = 0;
        for round in 1..=3 {
            write_notes(&notes, 300, round);
            let before = generation(&ws);
            let summary = json(&ok(ws.rag().args([
                "ingest",
                "notes",
                "--json",
                "--checkpoint-secs",
                "1",
            ])));
            assert_eq!(summary["indexed"], 300, "{summary}");
            commits += generation(&ws) - before;
        }
        eprintln!("{commits} commits");
        std::thread::sleep(Duration::from_millis(200));
    });
    let failures = failures.into_inner().unwrap();
    let searches = searches.into_inner();
    eprintln!("{searches} searches during the ingests");
    assert!(searches >= 20, "only {searches} searches ran");
    assert!(
        failures.is_empty(),
        "{} of {searches} searches saw no committed generation: {failures:#?}",
        failures.len()
    );
}
