//! The single writer of an index folder: stages file additions and removals and
//! commits them as a new generation.
//!
//! Commit order makes a crash at any point harmless: the new generation's chunk
//! table, vectors and graph are written under new names, then the keyword index
//! commits (its payload names the generation), and only then is the manifest
//! renamed into place. Until that rename, readers see the previous generation;
//! a keyword index that got ahead is detected by its payload and rebuilt.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bm25::{Bm25, Bm25Doc, Bm25Writer};
use crate::chunk::{Chunk, ChunkerConfig};
use crate::error::IoContext;
use crate::index::{check_model, load_graph, rows_with_vectors, BM25_DIR};
use crate::manifest::{
    chunk_table_file, generation_of, highest_generation_on_disk, hnsw_basename, parse_chunk_table,
    unix_now, vectors_file, write_chunk_table, EmbeddingInfo, FileEntry, Manifest, StoredChunk,
    FORMAT_VERSION,
};
use crate::vectors::{parse_vectors, write_vectors, VectorIndex};
use crate::{Error, Result};

const LOCK_FILE: &str = "lock";
/// Readers take the lock shared for an instant to ask whether a writer is at
/// work ([`writer_active`]); a writer starting just then waits this long.
const LOCK_PATIENCE: Duration = Duration::from_millis(500);
/// Rebuild the graph from the raw vectors once this share of its points are deleted.
const MAX_DELETED_SHARE: f32 = 0.25;

pub struct IndexWriter {
    dir: PathBuf,
    /// What relative paths are stored against (see [`crate::index::files_root`]).
    root: PathBuf,
    _lock: File,
    manifest: Manifest,
    chunks: Vec<StoredChunk>,
    /// Row-aligned with `chunks`.
    vectors: Vec<f32>,
    removed: HashSet<u64>,
    graph: VectorIndex,
    /// Chunks with ids from here on are not in the graph yet.
    graph_next_id: u64,
    bm25_writer: Bm25Writer,
    dirty: bool,
    rechunk_all: bool,
}

/// A file's content, chunked and embedded, ready to replace its previous version.
pub struct FileUpdate {
    pub path: String,
    pub hash: String,
    pub size: u64,
    pub title: String,
    pub chunks: Vec<Chunk>,
    pub vectors: Vec<Vec<f32>>,
}

impl FileUpdate {
    /// Fails unless there is one vector of `dimension` numbers per chunk.
    pub fn check(&self, dimension: usize) -> Result<()> {
        if self.vectors.len() != self.chunks.len()
            || self.vectors.iter().any(|v| v.len() != dimension)
        {
            return Err(Error::Embedding(format!(
                "{}: got {} vectors for {} chunks (dimension {dimension} expected)",
                self.path,
                self.vectors.len(),
                self.chunks.len()
            )));
        }
        Ok(())
    }
}

impl IndexWriter {
    /// Opens (or creates) the index at `dir` for writing. Fails with
    /// [`Error::Locked`] while another writer holds it. With `rebuild`, nothing
    /// of the old index is read beyond what is safely readable (the generation
    /// counter, so no file name is reused), and a keyword index that cannot be
    /// opened is deleted: a rebuild must work from any damage.
    pub fn open(
        dir: &Path,
        embedding: EmbeddingInfo,
        chunker: ChunkerConfig,
        rebuild: bool,
    ) -> Result<Self> {
        crate::manifest::claim_folder(dir)?;
        let lock = take_lock(dir)?;

        let bm25_dir = dir.join(BM25_DIR);
        let dimension = embedding.dimension;
        let (manifest, chunks, vectors, graph, rechunk_all, bm25) = if rebuild {
            let bm25 = match Bm25::open_or_create(&bm25_dir) {
                Ok(bm25) => bm25,
                Err(_) => {
                    Bm25::wipe(&bm25_dir)?;
                    Bm25::open_or_create(&bm25_dir)?
                }
            };
            let old = Manifest::read(dir).ok().flatten();
            let mut manifest = Manifest::new(embedding, chunker);
            // Generations keep counting so no file name is ever reused.
            manifest.generation = highest_generation_on_disk(dir)
                .max(bm25.committed_generation().unwrap_or(0))
                .max(old.as_ref().map_or(0, |old| old.generation));
            manifest.next_chunk_id = old.map_or(0, |old| old.next_chunk_id);
            let graph = VectorIndex::new(dimension, 0);
            (manifest, Vec::new(), Vec::new(), graph, false, bm25)
        } else {
            let old = Manifest::read(dir)?;
            let bm25 = Bm25::open_or_create(&bm25_dir)?;
            match old {
                Some(old) => {
                    check_model(dir, &old, Some((&embedding.model_id, dimension)))?;
                    let (chunks, vectors) = read_generation(dir, &old)?;
                    let graph = match &old.hnsw {
                        Some(basename) => load_graph(dir, &old, basename)?,
                        None => VectorIndex::new(dimension, chunks.len()),
                    };
                    graph.restore_copies(rows_with_vectors(&chunks, &vectors, dimension));
                    let rechunk_all = old.chunker != chunker;
                    let mut manifest = old;
                    manifest.chunker = chunker;
                    (manifest, chunks, vectors, graph, rechunk_all, bm25)
                }
                None => {
                    let manifest = Manifest::new(embedding, chunker);
                    let graph = VectorIndex::new(dimension, 0);
                    (manifest, Vec::new(), Vec::new(), graph, false, bm25)
                }
            }
        };
        let bm25_writer = bm25.writer()?;

        // A manifest from before checksums were recorded gets them at the next commit.
        let mut dirty = rebuild || !manifest.has_checksums();
        let bm25_generation = bm25.committed_generation().unwrap_or(0);
        if rebuild || bm25_generation != manifest.generation {
            // Crash between the two commits, or a fresh start: the chunk table is the truth.
            bm25_writer.delete_all()?;
            for stored in &chunks {
                bm25_writer.add(bm25_doc(stored, &stored.chunk.embedding_text()))?;
            }
            dirty = true;
        }
        let graph_next_id = manifest.next_chunk_id;
        let root = crate::index::files_root(dir, &manifest);
        let writer = IndexWriter {
            dir: dir.to_path_buf(),
            root,
            _lock: lock,
            manifest,
            chunks,
            vectors,
            removed: HashSet::new(),
            graph,
            graph_next_id,
            bm25_writer,
            dirty,
            rechunk_all,
        };
        writer.remove_stale_files(true);
        Ok(writer)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// True when the chunker settings changed since the last ingest, so every
    /// file must be chunked again.
    pub fn rechunk_all(&self) -> bool {
        self.rechunk_all
    }

    pub fn has_changes(&self) -> bool {
        self.dirty
    }

    /// Records the folders an ingest covered; a new one is a change to commit.
    pub fn add_roots(&mut self, roots: &[String]) {
        for root in roots {
            if self.manifest.roots.insert(root.clone()) {
                self.dirty = true;
            }
        }
    }

    /// Forgets covered folders (`rag forget`).
    pub fn remove_roots(&mut self, under: &str) {
        let before = self.manifest.roots.len();
        self.manifest
            .roots
            .retain(|root| !crate::ingest::is_under(root, under));
        self.dirty |= self.manifest.roots.len() != before;
    }

    /// What the running ingest left out; kept with the next commit (a change
    /// of it alone is worth one).
    pub fn set_left_out(&mut self, left_out: crate::manifest::LeftOut) {
        self.dirty |= self.manifest.left_out != left_out;
        self.manifest.left_out = left_out;
    }

    /// See [`IndexSink::set_remembered`].
    pub fn set_remembered(&mut self, remembered: crate::manifest::Remembered) {
        self.dirty |= self.manifest.remembered != remembered;
        self.manifest.remembered = remembered;
    }

    pub fn remove_file(&mut self, path: &str) {
        if let Some(entry) = self.manifest.files.remove(path) {
            self.removed.extend(entry.chunks);
            self.bm25_writer.delete_path(path);
            self.dirty = true;
        }
    }

    /// Replaces a file's chunks (or adds the file).
    pub fn put_file(&mut self, update: FileUpdate) -> Result<()> {
        update.check(self.manifest.embedding.dimension)?;
        self.remove_file(&update.path);
        let mut ids = Vec::with_capacity(update.chunks.len());
        for (chunk, vector) in update.chunks.into_iter().zip(update.vectors) {
            let id = self.manifest.next_chunk_id;
            self.manifest.next_chunk_id += 1;
            let stored = StoredChunk {
                id,
                path: update.path.clone(),
                chunk,
            };
            self.bm25_writer
                .add(bm25_doc(&stored, &stored.chunk.embedding_text()))?;
            self.chunks.push(stored);
            self.vectors.extend(vector);
            ids.push(id);
        }
        self.manifest.files.insert(
            update.path,
            FileEntry {
                hash: update.hash,
                size: update.size,
                title: update.title,
                chunks: ids,
            },
        );
        self.dirty = true;
        Ok(())
    }

    /// Makes everything staged so far durable and visible as one new generation.
    /// Returns false when there was nothing to commit.
    pub fn commit(&mut self) -> Result<bool> {
        if !self.dirty {
            return Ok(false);
        }
        self.compact();
        let generation = self.manifest.generation + 1;
        let mut keyword_committed = false;
        match self.write_generation(generation, &mut keyword_committed) {
            Ok(()) => {
                self.dirty = false;
                self.remove_stale_files(false);
                Ok(true)
            }
            Err(error) => {
                // On a full disk the half-written generation would keep it full.
                self.remove_generation(generation);
                if !keyword_committed {
                    self.bm25_writer.discard_uncommitted();
                }
                Err(error)
            }
        }
    }

    /// Writes generation `generation`'s files, then the manifest that commits them.
    fn write_generation(&mut self, generation: u64, keyword_committed: &mut bool) -> Result<()> {
        let dir = self.dir.clone();
        let mut checksums = BTreeMap::new();
        let name = chunk_table_file(generation);
        checksums.insert(
            name.clone(),
            write_chunk_table(&dir.join(&name), &self.chunks)?,
        );
        let name = vectors_file(generation);
        checksums.insert(
            name.clone(),
            write_vectors(&dir.join(&name), &self.vectors)?,
        );
        self.update_graph();
        let hnsw = if self.graph.points() == 0 {
            None
        } else {
            let (basename, sums) = self.graph.dump(&dir, &hnsw_basename(generation))?;
            checksums.extend(sums);
            Some(basename)
        };
        self.bm25_writer.commit(generation)?;
        *keyword_committed = true;

        self.manifest.generation = generation;
        // The chunk table was just written in the current layout.
        self.manifest.format_version = FORMAT_VERSION;
        self.manifest.hnsw = hnsw;
        self.manifest.checksums = checksums;
        self.manifest.chunk_count = self.chunks.len();
        self.manifest.files_root = Some(self.root.clone());
        self.manifest.updated_at = unix_now();
        self.manifest.write(&dir)
    }

    /// Deletes the data files of `generation` (one that failed to commit).
    fn remove_generation(&self, generation: u64) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().and_then(generation_of) == Some(generation) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let _ = std::fs::remove_file(
            self.dir
                .join(crate::manifest::MANIFEST_FILE)
                .with_extension("tmp"),
        );
    }

    /// Commits and waits for the keyword index's background merges.
    pub fn finish(mut self) -> Result<bool> {
        let committed = self.commit()?;
        self.bm25_writer.finish()?;
        Ok(committed)
    }

    fn compact(&mut self) {
        if self.removed.is_empty() {
            return;
        }
        let dimension = self.manifest.embedding.dimension;
        let mut kept_vectors = Vec::with_capacity(self.vectors.len());
        let mut kept_chunks = Vec::with_capacity(self.chunks.len());
        for (row, stored) in std::mem::take(&mut self.chunks).into_iter().enumerate() {
            if !self.removed.contains(&stored.id) {
                kept_vectors
                    .extend_from_slice(&self.vectors[row * dimension..(row + 1) * dimension]);
                kept_chunks.push(stored);
            }
        }
        self.chunks = kept_chunks;
        self.vectors = kept_vectors;
        self.removed.clear();
    }

    /// Inserts new chunks into the graph, or rebuilds it from the raw vectors
    /// when deleted points would otherwise slow every search.
    fn update_graph(&mut self) {
        let dimension = self.manifest.embedding.dimension;
        let rows = |chunks: &[StoredChunk], from_id: u64| -> Vec<usize> {
            chunks
                .iter()
                .enumerate()
                .filter(|(_, c)| c.id >= from_id)
                .map(|(row, _)| row)
                .collect()
        };
        let pending = rows(&self.chunks, self.graph_next_id);
        let live_in_graph = self.chunks.len() - pending.len();
        let deleted = self.graph.points().saturating_sub(live_in_graph);
        let total = self.graph.points() + pending.len();
        let rebuild = deleted > 0 && deleted as f32 > MAX_DELETED_SHARE * total as f32;
        let rows = if rebuild {
            self.graph = VectorIndex::new(dimension, self.chunks.len());
            (0..self.chunks.len()).collect()
        } else {
            pending
        };
        let items: Vec<(u64, &[f32])> = rows
            .iter()
            .map(|&row| {
                (
                    self.chunks[row].id,
                    &self.vectors[row * dimension..(row + 1) * dimension],
                )
            })
            .collect();
        self.graph.insert(&items);
        self.graph_next_id = self.manifest.next_chunk_id;
    }

    /// Deletes data files of generations nobody can read any more: older than the
    /// previous one (kept for readers that opened it just before a commit), and,
    /// when opening, newer than the manifest (left by a crash before its commit).
    fn remove_stale_files(&self, after_crash: bool) {
        let current = self.manifest.generation;
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(generation) = name.to_str().and_then(generation_of) else {
                continue;
            };
            let stale = generation + 1 < current || (after_crash && generation > current);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Takes the writer lock of `dir`, or fails with [`Error::Locked`].
fn take_lock(dir: &Path) -> Result<File> {
    let lock_path = dir.join(LOCK_FILE);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .io_context("opening", &lock_path)?;
    let started = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(e).io_context("locking", &lock_path),
        }
    }
}

/// True while an ingest (or any writer) holds the index folder `dir`, even
/// before its first commit.
pub fn ingest_running(dir: &Path) -> bool {
    dir.join(LOCK_FILE).is_file() && writer_active(dir)
}

/// True while a writer holds the lock of `dir`. Asks by taking the lock shared
/// for an instant (a writer starting meanwhile waits, see [`LOCK_PATIENCE`]);
/// when the lock cannot be asked about, assumes a writer, so callers only wait.
pub(crate) fn writer_active(dir: &Path) -> bool {
    let Ok(lock) = File::open(dir.join(LOCK_FILE)) else {
        return false;
    };
    match lock.try_lock_shared() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => true,
    }
}

/// The chunk table and vectors of `manifest`'s generation, checked.
fn read_generation(dir: &Path, manifest: &Manifest) -> Result<(Vec<StoredChunk>, Vec<f32>)> {
    if manifest.generation == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let name = chunk_table_file(manifest.generation);
    let chunks = parse_chunk_table(
        &dir.join(&name),
        &manifest.read_data_file(dir, &name)?,
        manifest.format_version,
    )?;
    let name = vectors_file(manifest.generation);
    let vectors = parse_vectors(
        &dir.join(&name),
        &manifest.read_data_file(dir, &name)?,
        manifest.embedding.dimension,
        chunks.len(),
    )?;
    Ok((chunks, vectors))
}

fn bm25_doc<'a>(stored: &'a StoredChunk, text: &'a str) -> Bm25Doc<'a> {
    Bm25Doc {
        chunk_id: stored.id,
        path: &stored.path,
        text,
    }
}

impl crate::backend::IndexSink for IndexWriter {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    fn own_folder(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn embedding(&self) -> &EmbeddingInfo {
        &self.manifest.embedding
    }

    fn files(&self) -> &BTreeMap<String, FileEntry> {
        &self.manifest.files
    }

    fn roots(&self) -> &std::collections::BTreeSet<String> {
        &self.manifest.roots
    }

    fn generation(&self) -> u64 {
        self.manifest.generation
    }

    fn rechunk_all(&self) -> bool {
        self.rechunk_all
    }

    fn remove_file(&mut self, path: &str) {
        IndexWriter::remove_file(self, path);
    }

    fn put_file(&mut self, update: FileUpdate) -> Result<()> {
        IndexWriter::put_file(self, update)
    }

    fn add_roots(&mut self, roots: &[String]) {
        IndexWriter::add_roots(self, roots);
    }

    fn remove_roots(&mut self, under: &str) {
        IndexWriter::remove_roots(self, under);
    }

    fn set_left_out(&mut self, left_out: crate::manifest::LeftOut) {
        IndexWriter::set_left_out(self, left_out);
    }

    fn remembered(&self) -> &crate::manifest::Remembered {
        &self.manifest.remembered
    }

    fn set_remembered(&mut self, remembered: crate::manifest::Remembered) {
        IndexWriter::set_remembered(self, remembered);
    }

    fn commit(&mut self) -> Result<bool> {
        IndexWriter::commit(self)
    }

    fn finish(self: Box<Self>) -> Result<bool> {
        IndexWriter::finish(*self)
    }
}
