//! Verifying an index folder file by file: the damage a reader would trip
//! over, found before it does, and reported per file rather than as the first
//! error met.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bm25::Bm25;
use crate::index::{load_graph, manifest_moved, wait_for_commit, BM25_DIR};
use crate::manifest::{
    chunk_table_file, parse_chunk_table, vectors_file, Manifest, HNSW_DATA, HNSW_GRAPH,
    MANIFEST_FILE,
};
use crate::vectors::parse_vectors;
use crate::{Error, Result};

/// What was found in one file (or, for `bm25`, the keyword index as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Readable, and identical to what was committed where a checksum says so.
    Ok,
    /// Readable, but no checksum was recorded for it (a manifest written by an
    /// older version); the next commit records one.
    NoChecksum,
    /// Sound but behind or ahead of the manifest, as an interrupted ingest
    /// leaves it; the next ingest brings it in step.
    OutOfStep(String),
    /// Missing, cut short, garbled or contradicting the manifest: only
    /// building the index again from its sources repairs it.
    Damaged(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    /// Relative to the index folder.
    pub file: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub index_dir: PathBuf,
    /// The committed generation, when the manifest could be read.
    pub generation: Option<u64>,
    pub files: Vec<FileCheck>,
}

impl CheckReport {
    pub fn damaged(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.verdict, Verdict::Damaged(_)))
    }

    pub fn out_of_step(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.verdict, Verdict::OutOfStep(_)))
    }

    pub fn sound(&self) -> bool {
        !self.damaged() && !self.out_of_step()
    }

    fn push(&mut self, file: impl Into<String>, verdict: Verdict) {
        self.files.push(FileCheck {
            file: file.into(),
            verdict,
        });
    }
}

/// Checks every file of the index at `dir` against the manifest's record,
/// and that the keyword index opens and agrees with the manifest. Writes
/// nothing. Fails only when there is no index there.
pub fn check(dir: &Path) -> Result<CheckReport> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let started = std::time::Instant::now();
        let report = check_once(dir)?;
        // A writer committing meanwhile can make sound files look missing or
        // the keyword index look ahead: look again at the new generation.
        let Some(generation) = report.generation else {
            return Ok(report);
        };
        let retry = attempts < 4
            && ((report.damaged() && manifest_moved(dir, generation))
                || (report.out_of_step() && wait_for_commit(dir, generation, started)));
        if !retry {
            return Ok(report);
        }
    }
}

fn check_once(dir: &Path) -> Result<CheckReport> {
    if let crate::manifest::Folder::Foreign(found) = crate::manifest::Folder::of(dir)? {
        return Err(Error::NotAnIndex {
            path: dir.to_path_buf(),
            found,
        });
    }
    if !dir.join(MANIFEST_FILE).is_file() {
        return Err(Error::NotFound(dir.to_path_buf()));
    }
    let mut report = CheckReport {
        index_dir: dir.to_path_buf(),
        generation: None,
        files: Vec::new(),
    };
    let manifest = match Manifest::read(dir) {
        Ok(Some(manifest)) => manifest,
        Ok(None) => return Err(Error::NotFound(dir.to_path_buf())),
        Err(e) => {
            report.push(MANIFEST_FILE, Verdict::Damaged(reason(&e)));
            check_bm25(dir, None, &mut report);
            return Ok(report);
        }
    };
    report.generation = Some(manifest.generation);
    report.push(MANIFEST_FILE, Verdict::Ok);
    check_data_files(dir, &manifest, &mut report);
    check_bm25(dir, Some(&manifest), &mut report);
    Ok(report)
}

fn check_data_files(dir: &Path, manifest: &Manifest, report: &mut CheckReport) {
    let sound = |name: &str| match manifest.checksums.contains_key(name) {
        true => Verdict::Ok,
        false => Verdict::NoChecksum,
    };
    if manifest.generation > 0 {
        let name = chunk_table_file(manifest.generation);
        let verdict = match manifest
            .read_data_file(dir, &name)
            .and_then(|bytes| parse_chunk_table(&dir.join(&name), &bytes, manifest.format_version))
        {
            Ok(chunks) if chunks.len() == manifest.chunk_count => sound(&name),
            Ok(chunks) => Verdict::Damaged(format!(
                "it has {} chunks, the manifest says {}",
                chunks.len(),
                manifest.chunk_count
            )),
            Err(e) => Verdict::Damaged(reason(&e)),
        };
        report.push(&name, verdict);

        let name = vectors_file(manifest.generation);
        let verdict = match manifest.read_data_file(dir, &name).and_then(|bytes| {
            parse_vectors(
                &dir.join(&name),
                &bytes,
                manifest.embedding.dimension,
                manifest.chunk_count,
            )
        }) {
            Ok(_) => sound(&name),
            Err(e) => Verdict::Damaged(reason(&e)),
        };
        report.push(&name, verdict);
    }
    let Some(basename) = &manifest.hnsw else {
        return;
    };
    let graph = format!("{basename}.{HNSW_GRAPH}");
    let data = format!("{basename}.{HNSW_DATA}");
    let mut verdicts = [&graph, &data].map(|name| match manifest.read_data_file(dir, name) {
        Ok(_) => sound(name),
        Err(e) => Verdict::Damaged(reason(&e)),
    });
    // Only files that passed their checksums reach the HNSW loader.
    if verdicts.iter().all(|v| !matches!(v, Verdict::Damaged(_))) {
        match load_graph(dir, manifest, basename) {
            Ok(loaded) if loaded.points() >= manifest.chunk_count => {}
            Ok(loaded) => {
                verdicts[0] = Verdict::Damaged(format!(
                    "it has {} points for {} chunks",
                    loaded.points(),
                    manifest.chunk_count
                ))
            }
            Err(e) => {
                let at = usize::from(error_path(&e).is_some_and(|p| p.ends_with(&data)));
                verdicts[at] = Verdict::Damaged(reason(&e));
            }
        }
    }
    let [graph_verdict, data_verdict] = verdicts;
    report.push(graph, graph_verdict);
    report.push(data, data_verdict);
}

fn check_bm25(dir: &Path, manifest: Option<&Manifest>, report: &mut CheckReport) {
    let bm25_dir = dir.join(BM25_DIR);
    // Opening creates an empty keyword index where none is: look first, so a
    // check never writes.
    if !bm25_dir.join("meta.json").is_file() {
        report.push(
            BM25_DIR,
            Verdict::Damaged("the keyword index is missing".into()),
        );
        return;
    }
    let bm25 = match Bm25::open_or_create(&bm25_dir) {
        Ok(bm25) => bm25,
        Err(e) => {
            let file = error_path(&e)
                .and_then(|p| p.strip_prefix(dir).ok())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| BM25_DIR.to_string());
            report.push(file, Verdict::Damaged(reason(&e)));
            return;
        }
    };
    match bm25.verify_files() {
        Ok(files) => {
            for (file, problem) in files {
                let verdict = problem.map_or(Verdict::Ok, Verdict::Damaged);
                report.push(format!("{BM25_DIR}/{}", file.display()), verdict);
            }
        }
        Err(e) => report.push(BM25_DIR, Verdict::Damaged(reason(&e))),
    }
    let Some(manifest) = manifest else {
        return;
    };
    let found = bm25.committed_generation().unwrap_or(0);
    let docs = bm25.num_docs();
    let verdict = if found > manifest.generation {
        Verdict::OutOfStep(format!(
            "the keyword index holds generation {found}, the manifest {} (an ingest was interrupted)",
            manifest.generation
        ))
    } else if found < manifest.generation {
        Verdict::Damaged(format!(
            "the keyword index holds generation {found}, older than the manifest's {}",
            manifest.generation
        ))
    } else if docs != manifest.chunk_count as u64 {
        Verdict::Damaged(format!(
            "the keyword index holds {docs} chunks, the manifest {}",
            manifest.chunk_count
        ))
    } else {
        Verdict::Ok
    };
    report.push(BM25_DIR, verdict);
}

/// An error's cause without the path it names (the report names the file).
fn reason(error: &Error) -> String {
    match error {
        Error::Corrupt { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn error_path(error: &Error) -> Option<&Path> {
    match error {
        Error::Corrupt { path, .. } | Error::Io { path, .. } => Some(path),
        _ => None,
    }
}
