//! Unit tests that drive the index through the [`crate::Embedder`] seam with
//! [`crate::test_embedder::TestEmbedder`]: no model, tiny folders.

mod bm25;
mod html;
mod ingest;
mod search;
mod vectors;
mod walk;
mod writer;

use crate::SearchIndex;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::ingest::ingest as run_ingest;
use crate::test_embedder::TestEmbedder;
use crate::{Embedder, SearchOptions};
use crate::{Hit, Index, IngestEvent, IngestOptions, IngestSummary, Mode, Result};

/// Three small files on three unrelated subjects.
pub(crate) const FUGUE: &str = "# Fugue\n\nA fugue is a contrapuntal composition.\nIts voices imitate a subject in counterpoint.\n";
pub(crate) const GARDEN: &str = "# Garden\n\nTomatoes need sunlight, water and compost.\nThe vegetable garden is watered at dawn.\n";
pub(crate) const KETTLE: &str =
    "Descaling the kettle uses vinegar or citric acid.\nRinse it twice afterwards.\n";

/// A temporary folder holding `docs/` (the files) and `.rag/` (the index),
/// so stored paths read `docs/...`.
pub(crate) struct Fixture {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub index: PathBuf,
    pub docs: PathBuf,
}

impl Fixture {
    /// An empty `docs/`.
    pub fn empty() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let docs = root.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        Fixture {
            index: root.join(crate::INDEX_DIR_NAME),
            root,
            docs,
            _tmp: tmp,
        }
    }

    /// `docs/` with fugue.md, garden.md and kettle.txt.
    pub fn new() -> Self {
        let fixture = Self::empty();
        fixture.write("fugue.md", FUGUE);
        fixture.write("garden.md", GARDEN);
        fixture.write("kettle.txt", KETTLE);
        fixture
    }

    /// Writes `docs/{relative}`, creating folders.
    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.docs.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.docs.join(relative)).unwrap();
    }

    /// Ingests `docs/` with `options`, returning the summary and the events.
    pub fn ingest_with(
        &self,
        embedder: &dyn Embedder,
        options: &IngestOptions,
    ) -> Result<(IngestSummary, Vec<IngestEvent>)> {
        self.ingest_roots(std::slice::from_ref(&self.docs), embedder, options)
    }

    pub fn ingest_roots(
        &self,
        roots: &[PathBuf],
        embedder: &dyn Embedder,
        options: &IngestOptions,
    ) -> Result<(IngestSummary, Vec<IngestEvent>)> {
        let events = Mutex::new(Vec::new());
        let summary = run_ingest(&self.index, roots, embedder, options, &|event| {
            events.lock().unwrap().push(event)
        })?;
        Ok((summary, events.into_inner().unwrap()))
    }

    /// Ingests `docs/` with default options; panics on failure.
    pub fn ingest(&self, embedder: &dyn Embedder) -> IngestSummary {
        self.ingest_with(embedder, &IngestOptions::default())
            .unwrap()
            .0
    }

    /// Opens the index, checking the model of the test embedder.
    pub fn open(&self, embedder: &TestEmbedder) -> Index {
        Index::open(
            &self.index,
            Some((embedder.model_id(), embedder.dimension())),
        )
        .unwrap()
    }
}

pub(crate) fn options(mode: Mode, k: usize) -> SearchOptions {
    SearchOptions {
        k,
        mode,
        ..Default::default()
    }
}

/// Searches, panicking on errors.
pub(crate) fn search(index: &Index, embedder: &TestEmbedder, query: &str, mode: Mode) -> Vec<Hit> {
    index
        .search(query, Some(embedder), &options(mode, 10))
        .unwrap()
}

/// The distinct paths of `hits`, best first.
pub(crate) fn paths(hits: &[Hit]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for hit in hits {
        if !paths.contains(&hit.path) {
            paths.push(hit.path.clone());
        }
    }
    paths
}

/// Stored paths of every indexed file.
pub(crate) fn indexed_files(index: &Index) -> Vec<String> {
    index.manifest().files.keys().cloned().collect()
}
