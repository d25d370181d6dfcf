//! `kill -9` during ingest, at several random points: the last committed index
//! must stay usable, and a rerun must complete.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A folder large enough that an ingest takes a few seconds.
fn corpus_copy(to: &Path) -> usize {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/wikipedia");
    let mut count = 0;
    for topic in std::fs::read_dir(&source).unwrap() {
        let topic = topic.unwrap().path();
        if !topic.is_dir() {
            continue;
        }
        let target = to.join(topic.file_name().unwrap());
        std::fs::create_dir_all(&target).unwrap();
        for file in std::fs::read_dir(&topic).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, target.join(file.file_name().unwrap())).unwrap();
            count += 1;
        }
    }
    count
}

/// Deterministic pseudo-random delays; the seed is printed, and read back from
/// `RAG_CRASH_SEED`, so a failure can be replayed.
fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            100 + (state >> 33) % max_ms
        })
        .collect()
}

/// The committed index's generation, if there is one.
fn generation(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(".rag/manifest.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["generation"].as_u64()
}

#[test]
fn kill_9_during_ingest_leaves_a_usable_index() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    let files = corpus_copy(&docs);
    assert!(files > 200);
    let seed = match std::env::var("RAG_CRASH_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("RAG_CRASH_SEED={text:?} is not a whole number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("kill test seed {seed} (replay with RAG_CRASH_SEED={seed})");
    let ingest = |checkpoint_secs: &str| {
        let mut cmd = rag();
        cmd.current_dir(dir.path()).args([
            "ingest",
            "docs",
            "-q",
            "--checkpoint-secs",
            checkpoint_secs,
        ]);
        cmd
    };

    let mut committed_files = 0;
    let mut searched_rounds = 0;
    for (round, delay) in delays(seed, 6, 3000).into_iter().enumerate() {
        // Commit after every group of files, so kills land inside commits too.
        let before = generation(dir.path());
        let mut child = ingest("0").spawn().unwrap();
        if round > 0 && before.is_none() {
            // The first commit takes longer than most delays (model load, a
            // group of 64 files embedded): without one, every round would
            // end before the search checks below. Round 0 may still be
            // killed before it; from round 1 on there is an index to check.
            let deadline = Instant::now() + Duration::from_secs(120);
            while generation(dir.path()) == before
                && child.try_wait().unwrap().is_none()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        std::thread::sleep(Duration::from_millis(delay));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("round {round}: killed after {delay} ms (finished first: {finished})");

        if !dir.path().join(".rag/manifest.json").exists() {
            // Killed before the first commit: fine, unless an earlier round
            // had committed (the index vanished).
            assert_eq!(
                committed_files, 0,
                "round {round} (seed {seed}): the manifest is gone after {committed_files} files were committed"
            );
            continue;
        }
        let status = json(&ok(rag()
            .current_dir(dir.path())
            .args(["status", "--json"])));
        let now = status["files"].as_u64().unwrap();
        assert!(
            now >= committed_files,
            "round {round} (seed {seed}): committed work was lost: {now} < {committed_files}"
        );
        committed_files = now;
        if now == 0 {
            continue;
        }
        // A committed file must be findable by its title on every side.
        let manifest =
            json(&std::fs::read_to_string(dir.path().join(".rag/manifest.json")).unwrap());
        let committed = manifest["files"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        let text = std::fs::read_to_string(dir.path().join(&committed)).unwrap();
        let title = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .to_string();
        for mode in ["hybrid", "bm25", "vector"] {
            let response = json(&ok(rag()
                .current_dir(dir.path())
                .args(["search", &title, "--json", "-k", "10", "--mode", mode])));
            let found = response["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["path"] == committed.as_str());
            assert!(
                found,
                "{mode} after round {round} (seed {seed}): {committed} not found by {title:?}: {response}"
            );
        }
        searched_rounds += 1;
    }
    // Round 0 may be killed before any commit; round 1 waits for one if so.
    assert!(
        searched_rounds >= 5,
        "only {searched_rounds} of 6 rounds searched a committed index (seed {seed})"
    );

    let started = Instant::now();
    let out = ok(ingest("60").arg("--json"));
    let summary = json(&out);
    eprintln!("rerun took {:?}: {summary}", started.elapsed());
    assert_eq!(summary["files_total"].as_u64().unwrap() as usize, files);
    let status = json(&ok(rag()
        .current_dir(dir.path())
        .args(["status", "--json"])));
    assert_eq!(status["files"].as_u64().unwrap() as usize, files);
    assert_eq!(status["bm25_in_sync"], true);
    let paths: Vec<String> = json(&ok(rag().current_dir(dir.path()).args([
        "search",
        "Fugue voices subject imitation",
        "--json",
        "-k",
        "3",
    ])))["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("fugue.md")), "{paths:?}");
    // No data files of dead generations are left behind.
    let data_files = std::fs::read_dir(dir.path().join(".rag"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("chunks-")
        })
        .count();
    assert!(data_files <= 2, "{data_files} chunk tables left");
}
