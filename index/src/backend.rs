//! The index as the rest of rag sees it, whichever engine holds it: the
//! folder ([`crate::Index`] to read, [`crate::IndexWriter`] to write) or a
//! server (Milvus, in the crate `rag-milvus`). Ingest, forget, search, status
//! and the assistant go through these two traits only, so both homes index,
//! rank and gate alike.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::embedder::Embedder;
use crate::manifest::{EmbeddingInfo, FileEntry, LeftOut, Remembered, StoredChunk};
use crate::search::{Hit, Mode, SearchOptions};
use crate::writer::FileUpdate;
use crate::{Error, Result, Status};

/// An index opened for searching.
pub trait SearchIndex: Send + Sync {
    /// Where the index is, as the user named it (a folder, a URL), for messages.
    fn location(&self) -> String;

    /// Searches with a query vector computed by the caller (needed unless the
    /// mode is BM25). Hybrid results are fused by [`crate::search::fuse`] on
    /// every backend, so rankings and the gate's signals agree.
    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<Hit>>;

    /// Searches with the query embedded by `embedder` (needed unless the mode is BM25).
    fn search(
        &self,
        query: &str,
        embedder: Option<&dyn Embedder>,
        options: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let vector = match (options.mode, embedder) {
            (Mode::Bm25, _) => None,
            (_, Some(embedder)) => Some(embedder.embed_query(query).map_err(Error::Embedding)?),
            (_, None) => {
                return Err(Error::Config(
                    "vector and hybrid search need an embedding model".into(),
                ))
            }
        };
        self.search_with_vector(query, vector.as_deref(), options)
    }

    /// The BM25 score a passage holding every word of `query` many times
    /// would approach (k1 = 1.2): a hit's BM25 divided by it is the share of
    /// the query's weight the hit matches, the gate's keyword signal. 0 when
    /// the query has no indexable words.
    fn bm25_ceiling(&self, query: &str) -> Result<f32>;

    /// The chunks of one file (as stored) in line order, for merging neighbours.
    fn chunks_of(&self, path: &str) -> Result<Vec<StoredChunk>>;

    /// Where a stored path is on disk.
    fn resolve(&self, stored: &str) -> PathBuf;

    /// What `rag status` shows.
    fn status(&self) -> Result<Status>;

    /// False after an interrupted ingest left the keyword side behind the last
    /// commit (results stay correct meanwhile); only a folder can be so.
    fn keyword_in_sync(&self) -> bool {
        true
    }
}

/// An index opened for writing: the per-file state an ingest diffs against,
/// and the staged changes it makes. Changes become visible to searches at
/// [`IndexSink::commit`] (a server may show upserted chunks earlier; the
/// file's recorded state, which decides what is re-read, moves only at commit).
pub trait IndexSink {
    /// Where the index is, as the user named it.
    fn location(&self) -> String;

    /// The folder stored paths are relative to; empty for a backend that
    /// stores absolute paths.
    fn root(&self) -> PathBuf;

    /// The index's own folder, which an ingest must never walk into.
    fn own_folder(&self) -> Option<&Path>;

    /// The embedding model the index was built with.
    fn embedding(&self) -> &EmbeddingInfo;

    /// Every indexed file by stored path: content hash, size, title, chunk ids.
    fn files(&self) -> &BTreeMap<String, FileEntry>;

    /// The folders and files ingests were pointed at (stored as paths are).
    fn roots(&self) -> &BTreeSet<String>;

    /// Commits so far (a counter that only grows).
    fn generation(&self) -> u64;

    /// True when the chunker settings changed since the last ingest, so every
    /// file must be chunked again.
    fn rechunk_all(&self) -> bool;

    fn remove_file(&mut self, path: &str);

    /// Replaces a file's chunks (or adds the file).
    fn put_file(&mut self, update: FileUpdate) -> Result<()>;

    /// Records the folders an ingest covered.
    fn add_roots(&mut self, roots: &[String]);

    /// Forgets covered folders under `under` (`rag forget`).
    fn remove_roots(&mut self, under: &str);

    /// What the running ingest left out; kept with the next commit.
    fn set_left_out(&mut self, left_out: LeftOut);

    /// The excludes and forgotten paths kept between ingests.
    fn remembered(&self) -> &Remembered;

    /// Replaces them; kept with the next commit (a change alone is worth one).
    fn set_remembered(&mut self, remembered: Remembered);

    /// Makes everything staged durable and visible; false when there was
    /// nothing to commit.
    fn commit(&mut self) -> Result<bool>;

    /// Commits and waits for background work (merges, flushes) to end.
    fn finish(self: Box<Self>) -> Result<bool>;
}

/// What [`copy`] moved.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CopySummary {
    pub files: usize,
    pub chunks: usize,
    /// Already in the destination with the same content (a copy resumed).
    pub unchanged: usize,
    pub seconds: f64,
}

/// Files copied between two commits, so an interrupted copy loses little.
const COPY_COMMIT_EVERY: usize = 2000;

/// Copies every file of a folder index into `to` with its stored vectors (no
/// re-embedding), paths re-stored relative to the destination's root. Files
/// the destination already holds with the same content are left alone, so a
/// copy that was interrupted resumes where it stopped.
pub fn copy(
    from: &crate::Index,
    mut to: Box<dyn IndexSink + '_>,
    on_file: &dyn Fn(usize, usize),
) -> Result<CopySummary> {
    let started = std::time::Instant::now();
    let source = &from.manifest().embedding;
    let target = to.embedding().clone();
    if !crate::same_model(&source.model_id, &target.model_id)
        || source.dimension != target.dimension
    {
        return Err(Error::ModelMismatch {
            path: PathBuf::from(to.location()),
            found: target.model_id,
            found_dim: target.dimension,
            expected: source.model_id.clone(),
            expected_dim: source.dimension,
        });
    }
    let root = to.root();
    let restore = |stored: &str| crate::stored_path(&root, &from.resolve(stored));
    let mut summary = CopySummary::default();
    let total = from.manifest().files.len();
    let mut since_commit = 0;
    for (n, (path, entry)) in from.manifest().files.iter().enumerate() {
        let stored = restore(path);
        if to
            .files()
            .get(&stored)
            .is_some_and(|e| e.hash == entry.hash)
        {
            summary.unchanged += 1;
            on_file(n + 1, total);
            continue;
        }
        let (chunks, vectors) = from.file_rows(path)?;
        summary.files += 1;
        summary.chunks += chunks.len();
        to.put_file(FileUpdate {
            path: stored,
            hash: entry.hash.clone(),
            size: entry.size,
            title: entry.title.clone(),
            chunks,
            vectors,
        })?;
        since_commit += 1;
        if since_commit >= COPY_COMMIT_EVERY {
            to.commit()?;
            since_commit = 0;
        }
        on_file(n + 1, total);
    }
    let roots: Vec<String> = from.manifest().roots.iter().map(|r| restore(r)).collect();
    to.add_roots(&roots);
    to.set_left_out(from.manifest().left_out);
    let remembered = &from.manifest().remembered;
    to.set_remembered(Remembered {
        excludes: remembered.excludes.clone(),
        forgotten: remembered.forgotten.iter().map(|f| restore(f)).collect(),
    });
    to.finish()?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// A boxed index is an index (what callers that choose the backend at run
/// time hold).
impl<T: SearchIndex + ?Sized> SearchIndex for Box<T> {
    fn location(&self) -> String {
        (**self).location()
    }

    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        (**self).search_with_vector(query, vector, options)
    }

    fn bm25_ceiling(&self, query: &str) -> Result<f32> {
        (**self).bm25_ceiling(query)
    }

    fn chunks_of(&self, path: &str) -> Result<Vec<StoredChunk>> {
        (**self).chunks_of(path)
    }

    fn resolve(&self, stored: &str) -> PathBuf {
        (**self).resolve(stored)
    }

    fn status(&self) -> Result<Status> {
        (**self).status()
    }

    fn keyword_in_sync(&self) -> bool {
        (**self).keyword_in_sync()
    }
}
