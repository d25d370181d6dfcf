//! Opening an index folder for reading, and searching it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backend::SearchIndex;
use crate::bm25::Bm25;
use crate::manifest::{
    chunk_table_file, parse_chunk_table, vectors_file, Manifest, StoredChunk, HNSW_DATA, HNSW_GRAPH,
};
use crate::search::{distinct_search, fuse, Hit, Mode, SearchOptions};
use crate::vectors::{parse_vectors, VectorIndex};
use crate::writer::writer_active;
use crate::{Error, Result};

/// The index folder's name when it is found by walking up from the current folder.
pub const INDEX_DIR_NAME: &str = ".rag";
pub(crate) const BM25_DIR: &str = "bm25";
/// How long a reader waits for a writer that is between its keyword commit
/// and its manifest commit (milliseconds, normally) before concluding that an
/// ingest was interrupted there.
const COMMIT_WAIT: Duration = Duration::from_secs(5);
/// Attempts at opening a generation whose files a writer replaced meanwhile.
const OPEN_ATTEMPTS: usize = 8;

/// Finds `.rag/` in `start` or its ancestors, as git finds `.git/`.
pub fn find_index_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(INDEX_DIR_NAME))
        .find(|candidate| candidate.join(crate::manifest::MANIFEST_FILE).is_file())
}

/// The folder that stored paths are relative to: the one holding the index folder.
pub fn index_root(index_dir: &Path) -> PathBuf {
    let absolute = canonical(index_dir);
    absolute.parent().map(Path::to_path_buf).unwrap_or(absolute)
}

/// Up to this many passages, the dense side scans every vector instead of
/// walking the HNSW graph: a scan of 50,000 takes milliseconds, and it finds
/// every passage, where a graph built over many near-identical passages (one
/// boilerplate text in a hundred files) can leave a later one unreachable.
const EXACT_SEARCH_LIMIT: usize = 50_000;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// How many stored files are looked for when an index seems to have moved.
const MOVE_SAMPLE: usize = 16;

/// The folder the relative paths of `manifest` are stored against: the one
/// holding the index folder `dir`, unless the index was moved away from its
/// documents (`mv proj/.rag store/`): then the folder it was committed in,
/// where the files still are. An index moved with its documents (the whole
/// project renamed) finds them next to it.
pub fn files_root(dir: &Path, manifest: &Manifest) -> PathBuf {
    let here = index_root(dir);
    let Some(recorded) = manifest.files_root.as_ref().filter(|r| **r != here) else {
        return here;
    };
    let relative: Vec<PathBuf> = manifest
        .files
        .keys()
        .map(|stored| crate::paths::decode(stored))
        .filter(|path| path.is_relative())
        .take(MOVE_SAMPLE)
        .collect();
    let found = |root: &Path| relative.iter().filter(|p| root.join(p).exists()).count();
    if found(recorded) > found(&here) {
        recorded.clone()
    } else {
        here
    }
}

/// The canonical form of a path when it exists (symlinks and `..` resolved),
/// else its absolute form: stored paths must not depend on how a folder was named.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A committed index generation, opened for searching.
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) chunks: Vec<StoredChunk>,
    pub(crate) rows: HashMap<u64, usize>,
    pub(crate) vectors: VectorIndex,
    /// Row-aligned with `chunks`: exact similarities for keyword candidates.
    pub(crate) raw_vectors: Vec<f32>,
    pub(crate) bm25: Bm25,
    pub(crate) bm25_in_sync: bool,
}

/// What `rag status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// The folder, or the server's URL.
    pub index_dir: String,
    /// "folder" or "milvus".
    pub backend: &'static str,
    pub files: usize,
    pub chunks: usize,
    pub model_id: String,
    pub dimension: usize,
    pub generation: u64,
    pub size_bytes: u64,
    pub created_at: u64,
    pub last_ingest: u64,
    pub vector_points: usize,
    pub deleted_points: usize,
    pub bm25_in_sync: bool,
    /// The folders and files ingests were pointed at, as stored.
    pub roots: Vec<String>,
    /// Exclude patterns every ingest applies (see [`crate::manifest::Remembered`]).
    pub excludes: Vec<String>,
    /// Paths `rag forget` took out of folders still covered, as stored.
    pub forgotten: Vec<String>,
    /// What the last ingest left out.
    pub skipped: usize,
    pub unsupported: usize,
    pub generated: usize,
    /// An ingest holds the index now: the numbers are its last commit's.
    pub ingesting: bool,
}

impl Index {
    /// Opens the last committed generation. With `model`, refuses an index built
    /// by another embedding model.
    ///
    /// A writer may commit meanwhile: its keyword index commits just before its
    /// manifest, and each commit deletes the files of the generation before the
    /// previous one. So a keyword index ahead of the manifest while a writer
    /// holds the lock means "wait for the manifest", and a file that vanished
    /// while the manifest moved on means "open the new generation"; only what
    /// persists is damage or an interrupted ingest.
    pub fn open(dir: &Path, model: Option<(&str, usize)>) -> Result<Self> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let manifest = read_manifest(dir)?;
            check_model(dir, &manifest, model)?;
            let generation = manifest.generation;
            let bm25 = match Bm25::open_or_create(&dir.join(BM25_DIR)) {
                Ok(bm25) => bm25,
                Err(_) if attempts < OPEN_ATTEMPTS && manifest_moved(dir, generation) => continue,
                Err(e) => return Err(e),
            };
            // Never behind: the keyword index commits first and is opened second.
            let ahead = bm25.committed_generation().unwrap_or(0) > generation;
            if ahead && attempts < OPEN_ATTEMPTS && wait_for_commit(dir, generation, started) {
                continue;
            }
            match Self::load(dir, manifest, bm25) {
                Err(_) if attempts < OPEN_ATTEMPTS && manifest_moved(dir, generation) => continue,
                result => return result,
            }
        }
    }

    /// Reads the data files of `manifest`'s generation, each checked against its
    /// recorded checksum before it is parsed.
    fn load(dir: &Path, manifest: Manifest, bm25: Bm25) -> Result<Self> {
        let generation = manifest.generation;
        let dimension = manifest.embedding.dimension;
        let (chunks, raw_vectors) = if generation == 0 {
            (Vec::new(), Vec::new())
        } else {
            let name = chunk_table_file(generation);
            let bytes = manifest.read_data_file(dir, &name)?;
            let chunks = parse_chunk_table(&dir.join(&name), &bytes, manifest.format_version)?;
            if chunks.len() != manifest.chunk_count {
                return Err(Error::Corrupt {
                    path: dir.join(&name),
                    reason: format!(
                        "it has {} chunks, the manifest says {}",
                        chunks.len(),
                        manifest.chunk_count
                    ),
                });
            }
            let name = vectors_file(generation);
            let bytes = manifest.read_data_file(dir, &name)?;
            let vectors = parse_vectors(&dir.join(&name), &bytes, dimension, chunks.len())?;
            (chunks, vectors)
        };
        let vectors = match &manifest.hnsw {
            Some(basename) => load_graph(dir, &manifest, basename)?,
            None => VectorIndex::new(dimension, 0),
        };
        vectors.restore_copies(rows_with_vectors(&chunks, &raw_vectors, dimension));
        let bm25_in_sync = bm25.committed_generation().unwrap_or(0) == generation;
        let rows = chunks
            .iter()
            .enumerate()
            .map(|(row, c)| (c.id, row))
            .collect();
        Ok(Index {
            dir: dir.to_path_buf(),
            root: files_root(dir, &manifest),
            manifest,
            chunks,
            rows,
            vectors,
            raw_vectors,
            bm25,
            bm25_in_sync,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    pub fn file_count(&self) -> usize {
        self.manifest.files.len()
    }

    /// False after a crash between the keyword index's commit and the manifest's:
    /// keyword results are then limited to chunks both agree on, until the next ingest.
    pub fn bm25_in_sync(&self) -> bool {
        self.bm25_in_sync
    }

    /// The chunks and vectors of one file, in chunk order (for copying the
    /// index elsewhere without embedding again).
    pub fn file_rows(&self, path: &str) -> Result<(Vec<crate::chunk::Chunk>, Vec<Vec<f32>>)> {
        let dimension = self.manifest.embedding.dimension;
        let entry = self.manifest.files.get(path);
        let mut chunks = Vec::new();
        let mut vectors = Vec::new();
        for id in entry.map_or(&[][..], |e| &e.chunks[..]) {
            let row = *self.rows.get(id).ok_or_else(|| Error::Corrupt {
                path: self.dir.clone(),
                reason: format!("{path}: chunk {id} is listed but not stored"),
            })?;
            chunks.push(self.chunks[row].chunk.clone());
            vectors.push(self.raw_vectors[row * dimension..(row + 1) * dimension].to_vec());
        }
        Ok((chunks, vectors))
    }

    /// Every fused candidate of `candidates` taken from each side, best first.
    pub(crate) fn ranked(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
        candidates: usize,
    ) -> Result<Vec<Hit>> {
        let mut keyword = if options.mode == Mode::Vector {
            Vec::new()
        } else {
            // A keyword index ahead of the manifest (an interrupted ingest) may rank
            // any number of chunks the manifest lacks first: all of them are
            // fetched, so the filter below cannot leave nothing.
            let limit = if self.bm25_in_sync {
                candidates
            } else {
                candidates.saturating_add(self.bm25.num_docs() as usize)
            };
            let mut hits = self.bm25.search(query, limit)?;
            hits.retain(|(id, _)| self.rows.contains_key(id));
            hits.truncate(candidates);
            hits
        };
        let dense = match (options.mode, vector) {
            (Mode::Bm25, _) | (_, None) => Vec::new(),
            (mode, Some(vector)) => {
                let mut dense = if self.chunks.len() <= EXACT_SEARCH_LIMIT {
                    self.exact_nearest(vector, candidates)
                } else {
                    let live = |id: &usize| self.rows.contains_key(&(*id as u64));
                    let keep: Option<&dyn Fn(&usize) -> bool> =
                        (self.vectors.points() > self.chunks.len()).then_some(&live);
                    self.vectors
                        .search(vector, candidates, options.ef.max(candidates), keep)
                };
                if mode == Mode::Hybrid {
                    // Keyword candidates the graph did not return still get their
                    // true similarity, so fusion compares both signals everywhere.
                    for &(id, _) in &keyword {
                        if !dense.iter().any(|&(d, _)| d == id) {
                            if let Some(similarity) = self.exact_similarity(id, vector) {
                                dense.push((id, similarity));
                            }
                        }
                    }
                    dense.sort_by(|a, b| b.1.total_cmp(&a.1));
                }
                dense
            }
        };
        if options.mode == Mode::Hybrid {
            // And dense candidates the keyword side did not return get their
            // true keyword score: counting it as 0 halved the fused score of a
            // passage that holds the answer in other words than the question's.
            let unscored: Vec<u64> = dense
                .iter()
                .map(|&(id, _)| id)
                .filter(|id| !keyword.iter().any(|&(k, _)| k == *id))
                .collect();
            let scored = self.bm25.scores_of(query, &unscored)?;
            keyword.extend(scored.into_iter().filter(|&(_, score)| score > 0.0));
            keyword.sort_by(|a, b| b.1.total_cmp(&a.1));
        }
        // Every candidate is fused: duplicates collapse before the top k is taken.
        let wide = SearchOptions {
            k: usize::MAX,
            ..options.clone()
        };
        Ok(fuse(&keyword, &dense, &wide)
            .into_iter()
            .filter_map(|scored| {
                let stored = &self.chunks[*self.rows.get(&scored.chunk_id)?];
                Some(Hit {
                    chunk_id: scored.chunk_id,
                    score: scored.score,
                    bm25: scored.bm25,
                    similarity: scored.similarity,
                    path: stored.path.clone(),
                    line_start: stored.chunk.line_start,
                    line_end: stored.chunk.line_end,
                    heading: stored.chunk.heading.clone(),
                    text: stored.chunk.text.clone(),
                    location: stored.chunk.location.clone(),
                    file_lines: stored.chunk.file_lines.clone(),
                    also_in: Vec::new(),
                })
            })
            .collect())
    }

    /// The `limit` passages nearest to `query` by a scan of every vector.
    fn exact_nearest(&self, query: &[f32], limit: usize) -> Vec<(u64, f32)> {
        let dimension = self.manifest.embedding.dimension;
        if query.len() != dimension || dimension == 0 {
            return Vec::new();
        }
        let mut all: Vec<(u64, f32)> = self
            .chunks
            .iter()
            .zip(self.raw_vectors.chunks_exact(dimension))
            .map(|(stored, vector)| (stored.id, dot(vector, query)))
            .collect();
        let by_similarity = |a: &(u64, f32), b: &(u64, f32)| b.1.total_cmp(&a.1);
        if all.len() > limit {
            all.select_nth_unstable_by(limit, by_similarity);
            all.truncate(limit);
        }
        all.sort_by(by_similarity);
        all
    }

    fn exact_similarity(&self, id: u64, query: &[f32]) -> Option<f32> {
        let dimension = self.manifest.embedding.dimension;
        let row = *self.rows.get(&id)?;
        let vector = self
            .raw_vectors
            .get(row * dimension..(row + 1) * dimension)?;
        (query.len() == dimension).then(|| dot(vector, query))
    }
}

impl SearchIndex for Index {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn keyword_in_sync(&self) -> bool {
        self.bm25_in_sync
    }

    /// Where a stored path is on disk.
    fn resolve(&self, stored: &str) -> PathBuf {
        self.root.join(crate::paths::decode(stored))
    }

    fn status(&self) -> Result<Status> {
        Ok(Status {
            index_dir: self.dir.display().to_string(),
            backend: "folder",
            files: self.file_count(),
            chunks: self.chunk_count(),
            model_id: self.manifest.embedding.model_id.clone(),
            dimension: self.manifest.embedding.dimension,
            generation: self.manifest.generation,
            size_bytes: folder_size(&self.dir),
            created_at: self.manifest.created_at,
            last_ingest: self.manifest.updated_at,
            vector_points: self.vectors.points(),
            deleted_points: self.vectors.points().saturating_sub(self.chunks.len()),
            bm25_in_sync: self.bm25_in_sync,
            roots: self.manifest.roots.iter().cloned().collect(),
            excludes: self.manifest.remembered.excludes.iter().cloned().collect(),
            forgotten: self.manifest.remembered.forgotten.iter().cloned().collect(),
            skipped: self.manifest.left_out.skipped,
            unsupported: self.manifest.left_out.unsupported,
            generated: self.manifest.left_out.generated,
            ingesting: writer_active(&self.dir),
        })
    }

    /// Searches with a query vector computed by the caller (for batched queries).
    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let chunks_in_file =
            |path: &str| self.manifest.files.get(path).map_or(0, |e| e.chunks.len());
        distinct_search(
            options,
            &|candidates| self.ranked(query, vector, options, candidates),
            &chunks_in_file,
        )
    }

    /// How much BM25 a passage matching all of `query` would score; see
    /// `Bm25::score_ceiling`. 0 when the query has no indexable words.
    fn bm25_ceiling(&self, query: &str) -> Result<f32> {
        self.bm25.score_ceiling(query)
    }

    /// Chunks of one file in line order (for merging neighbours into a passage).
    fn chunks_of(&self, path: &str) -> Result<Vec<StoredChunk>> {
        let Some(entry) = self.manifest.files.get(path) else {
            return Ok(Vec::new());
        };
        let mut chunks: Vec<StoredChunk> = entry
            .chunks
            .iter()
            .filter_map(|id| self.rows.get(id).map(|&row| self.chunks[row].clone()))
            .collect();
        chunks.sort_by_key(|c| c.chunk.line_start);
        Ok(chunks)
    }
}

/// The manifest of the index in `dir`. A folder that holds another program's
/// `manifest.json` is not a damaged index: it is none.
pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    match Manifest::read(dir) {
        Ok(Some(manifest)) => Ok(manifest),
        Ok(None) => Err(Error::NotFound(dir.to_path_buf())),
        Err(error) => match crate::manifest::Folder::of(dir) {
            Ok(crate::manifest::Folder::Foreign(found)) => Err(Error::NotAnIndex {
                path: dir.to_path_buf(),
                found,
            }),
            _ => Err(error),
        },
    }
}

/// Waits (up to [`COMMIT_WAIT`] from `started`) while a writer holds the lock
/// and the manifest still names `generation`; true once it names another.
pub(crate) fn wait_for_commit(dir: &Path, generation: u64, started: Instant) -> bool {
    loop {
        if manifest_moved(dir, generation) {
            return true;
        }
        if started.elapsed() >= COMMIT_WAIT || !writer_active(dir) {
            // The writer may have committed and gone since the look above.
            return manifest_moved(dir, generation);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True when the committed manifest no longer names `generation`.
pub(crate) fn manifest_moved(dir: &Path, generation: u64) -> bool {
    Manifest::read(dir).is_ok_and(|m| m.is_some_and(|m| m.generation != generation))
}

/// The HNSW graph of `manifest`'s generation, its two files checked first.
/// Each chunk's id with its row of `vectors`.
pub(crate) fn rows_with_vectors<'a>(
    chunks: &'a [StoredChunk],
    vectors: &'a [f32],
    dimension: usize,
) -> impl Iterator<Item = (u64, &'a [f32])> + 'a {
    chunks
        .iter()
        .zip(vectors.chunks_exact(dimension.max(1)))
        .map(|(chunk, vector)| (chunk.id, vector))
}

pub(crate) fn load_graph(dir: &Path, manifest: &Manifest, basename: &str) -> Result<VectorIndex> {
    let graph = manifest.read_data_file(dir, &format!("{basename}.{HNSW_GRAPH}"))?;
    let data = manifest.read_data_file(dir, &format!("{basename}.{HNSW_DATA}"))?;
    VectorIndex::load(dir, basename, manifest.embedding.dimension, &graph, &data)
}

pub(crate) fn check_model(
    dir: &Path,
    manifest: &Manifest,
    model: Option<(&str, usize)>,
) -> Result<()> {
    if let Some((model_id, dimension)) = model {
        if !same_model(&manifest.embedding.model_id, model_id)
            || manifest.embedding.dimension != dimension
        {
            return Err(Error::ModelMismatch {
                path: dir.to_path_buf(),
                found: manifest.embedding.model_id.clone(),
                found_dim: manifest.embedding.dimension,
                expected: model_id.to_string(),
                expected_dim: dimension,
            });
        }
    }
    Ok(())
}

/// Whether two embedding model identities (`name@sha256:...`, the name and
/// its weight file's hash) name the same model. An identity without the hash
/// (indexes stamped before they held one, or a run that cannot read the
/// file) matches any of the same name.
pub fn same_model(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (a_name, a_file) = a.split_once('@').map_or((a, None), |(n, f)| (n, Some(f)));
    let (b_name, b_file) = b.split_once('@').map_or((b, None), |(n, f)| (n, Some(f)));
    a_name == b_name && (a_file.is_none() || b_file.is_none())
}

fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => folder_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::same_model;

    #[test]
    fn model_identities_match_by_file_hash_when_both_have_one() {
        let int8 = "minilm@sha256:aaaa";
        let fp32 = "minilm@sha256:bbbb";
        assert!(same_model(int8, int8));
        assert!(!same_model(int8, fp32), "another weight file");
        assert!(same_model("minilm", int8), "an index stamped before hashes");
        assert!(same_model(fp32, "minilm"));
        assert!(!same_model("minilm", "other@sha256:aaaa"), "another model");
        assert!(!same_model("minilm", "other"));
    }
}
