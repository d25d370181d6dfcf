//! `rag ingest`: walk, diff against the manifest, extract, chunk, embed, commit.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chunk::{Chunk, Chunker, ChunkerConfig};
use crate::embedder::Embedder;
use crate::extract::{extract, Kind, SkipReason};
use crate::index::index_root;
use crate::manifest::EmbeddingInfo;
use crate::walk::{walk, Found, WalkOptions};
use crate::writer::{FileUpdate, IndexWriter};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub walk: WalkOptions,
    pub chunker: ChunkerConfig,
    /// Forget the existing index and start over.
    pub rebuild: bool,
    /// Texts handed to the embedder at once (it may split them further).
    pub embed_batch: usize,
    /// Commit at least this often during a long ingest, so an interruption
    /// loses little work.
    pub checkpoint_every: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            walk: WalkOptions::default(),
            chunker: ChunkerConfig::default(),
            rebuild: false,
            embed_batch: 256,
            checkpoint_every: Duration::from_secs(60),
        }
    }
}

/// What an ingest reports while it runs.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// The walk is done: how many files need (re-)indexing and their total size.
    Planned {
        to_index: usize,
        unchanged: usize,
        removed: usize,
        bytes: u64,
    },
    Skipped {
        path: PathBuf,
        reason: SkipReason,
    },
    /// Files have been read and chunked; their chunks are being embedded.
    Chunked {
        files: usize,
        chunks: usize,
    },
    Embedded {
        chunks: usize,
    },
    /// A file is in the index (uncommitted until `Committed`).
    FileDone {
        bytes: u64,
    },
    Committed {
        generation: u64,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub skipped: usize,
    /// Files of formats that are not read (images, archives...).
    pub unsupported: usize,
    pub chunks_added: usize,
    pub chunks_total: usize,
    pub files_total: usize,
    pub seconds: f64,
    pub embed_seconds: f64,
}

struct Job {
    path: PathBuf,
    stored: String,
    kind: Kind,
    size: u64,
}

/// Brings the index at `index_dir` up to date with the files under `roots`.
/// Files indexed earlier from other roots are left alone.
pub fn ingest(
    index_dir: &Path,
    roots: &[PathBuf],
    embedder: &dyn Embedder,
    options: &IngestOptions,
    on_event: &(dyn Fn(IngestEvent) + Sync),
) -> Result<IngestSummary> {
    let started = Instant::now();
    let root = index_root(index_dir);
    let roots: Vec<PathBuf> = roots
        .iter()
        .map(|r| std::path::absolute(r).unwrap_or_else(|_| r.clone()))
        .collect();
    let mut writer = IndexWriter::open(
        index_dir,
        EmbeddingInfo {
            model_id: embedder.model_id().to_string(),
            dimension: embedder.dimension(),
        },
        options.chunker,
        options.rebuild,
    )?;
    let chunker = Chunker::new(embedder.tokenizer(), options.chunker)?;
    let mut summary = IngestSummary::default();

    // Plan: which files are new or changed, which are gone.
    let mut jobs: Vec<(Job, String)> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let index_dir_abs = std::path::absolute(index_dir).unwrap_or_else(|_| index_dir.into());
    for found in walk(&roots, &options.walk, &index_dir_abs)? {
        match found {
            Found::File { path, kind, size } => {
                let stored = stored_path(&root, &path);
                let hash = match std::fs::read(&path) {
                    Ok(bytes) => blake3::hash(&bytes).to_hex().to_string(),
                    Err(e) => {
                        summary.skipped += 1;
                        on_event(IngestEvent::Skipped {
                            path,
                            reason: SkipReason::Unreadable(e.to_string()),
                        });
                        continue;
                    }
                };
                let unchanged = !writer.rechunk_all()
                    && writer
                        .manifest()
                        .files
                        .get(&stored)
                        .is_some_and(|entry| entry.hash == hash);
                seen.insert(stored.clone());
                if unchanged {
                    summary.unchanged += 1;
                } else {
                    jobs.push((
                        Job {
                            path,
                            stored,
                            kind,
                            size,
                        },
                        hash,
                    ));
                }
            }
            Found::Skipped { path, reason } => {
                summary.skipped += 1;
                on_event(IngestEvent::Skipped { path, reason });
            }
            Found::Unsupported(_) => summary.unsupported += 1,
        }
    }
    let stored_roots: Vec<String> = roots.iter().map(|r| stored_path(&root, r)).collect();
    let gone: Vec<String> = writer
        .manifest()
        .files
        .keys()
        .filter(|path| !seen.contains(*path) && stored_roots.iter().any(|r| is_under(path, r)))
        .cloned()
        .collect();
    on_event(IngestEvent::Planned {
        to_index: jobs.len(),
        unchanged: summary.unchanged,
        removed: gone.len(),
        bytes: jobs.iter().map(|(job, _)| job.size).sum(),
    });
    for path in &gone {
        writer.remove_file(path);
    }
    summary.removed = gone.len();

    // Index in groups so progress is steady and checkpoints can commit.
    let mut last_commit = Instant::now();
    let mut embed_time = Duration::ZERO;
    for group in jobs.chunks(64) {
        let chunked = chunk_files(group, &chunker);
        let mut ready: Vec<(usize, Vec<Chunk>, String)> = Vec::new();
        for (i, result) in chunked.into_iter().enumerate() {
            match result {
                Ok((title, chunks)) => ready.push((i, chunks, title)),
                Err(reason) => {
                    let (job, _) = &group[i];
                    summary.skipped += 1;
                    // A file that became unreadable or empty leaves the index.
                    writer.remove_file(&job.stored);
                    on_event(IngestEvent::Skipped {
                        path: job.path.clone(),
                        reason,
                    });
                }
            }
        }
        let chunk_count: usize = ready.iter().map(|(_, chunks, _)| chunks.len()).sum();
        on_event(IngestEvent::Chunked {
            files: ready.len(),
            chunks: chunk_count,
        });
        let texts: Vec<String> = ready
            .iter()
            .flat_map(|(_, chunks, _)| chunks.iter().map(Chunk::embedding_text))
            .collect();
        let embed_started = Instant::now();
        let mut vectors = embed_sorted(embedder, &texts, options.embed_batch, on_event)?;
        embed_time += embed_started.elapsed();
        let mut vectors = vectors.drain(..);
        for (i, chunks, title) in ready {
            let (job, hash) = &group[i];
            let file_vectors: Vec<Vec<f32>> = vectors.by_ref().take(chunks.len()).collect();
            summary.chunks_added += chunks.len();
            writer.put_file(FileUpdate {
                path: job.stored.clone(),
                hash: hash.clone(),
                size: job.size,
                title,
                chunks,
                vectors: file_vectors,
            })?;
            summary.indexed += 1;
            on_event(IngestEvent::FileDone { bytes: job.size });
        }
        if last_commit.elapsed() >= options.checkpoint_every && writer.commit()? {
            on_event(IngestEvent::Committed {
                generation: writer.manifest().generation,
            });
            last_commit = Instant::now();
        }
    }

    let generation_before = writer.manifest().generation;
    summary.files_total = writer.manifest().files.len();
    if writer.finish_into(&mut summary)? {
        on_event(IngestEvent::Committed {
            generation: generation_before + 1,
        });
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.embed_seconds = embed_time.as_secs_f64();
    Ok(summary)
}

impl IndexWriter {
    fn finish_into(self, summary: &mut IngestSummary) -> Result<bool> {
        summary.files_total = self.manifest().files.len();
        summary.chunks_total = self.manifest().files.values().map(|f| f.chunks.len()).sum();
        self.finish()
    }
}

/// Reads, extracts and chunks files on all cores.
fn chunk_files(
    group: &[(Job, String)],
    chunker: &Chunker,
) -> Vec<Result<(String, Vec<Chunk>), SkipReason>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(group.len().max(1));
    let per_thread = group.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = group
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(job, _)| {
                            let bytes = std::fs::read(&job.path)
                                .map_err(|e| SkipReason::Unreadable(e.to_string()))?;
                            let doc = extract(&job.path, job.kind, &bytes)?;
                            let chunks = chunker.chunk(&doc);
                            if chunks.is_empty() {
                                return Err(SkipReason::Empty);
                            }
                            Ok((doc.title, chunks))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(SkipReason::Unreadable(
                        "the text extractor crashed".into(),
                    ))]
                })
            })
            .collect()
    })
}

/// Embeds texts shortest-first so each batch pads little, and returns the
/// vectors in the original order.
fn embed_sorted(
    embedder: &dyn Embedder,
    texts: &[String],
    batch: usize,
    on_event: &(dyn Fn(IngestEvent) + Sync),
) -> Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut vectors: HashMap<usize, Vec<f32>> = HashMap::with_capacity(texts.len());
    for part in order.chunks(batch.max(1)) {
        let batch_texts: Vec<&str> = part.iter().map(|&i| texts[i].as_str()).collect();
        let embedded = embedder.embed(&batch_texts).map_err(Error::Embedding)?;
        if embedded.len() != part.len() {
            return Err(Error::Embedding(format!(
                "asked for {} vectors, got {}",
                part.len(),
                embedded.len()
            )));
        }
        vectors.extend(part.iter().copied().zip(embedded));
        on_event(IngestEvent::Embedded { chunks: part.len() });
    }
    Ok((0..texts.len())
        .map(|i| vectors.remove(&i).unwrap_or_default())
        .collect())
}

/// How a file's path is stored: relative to the index root when under it.
pub fn stored_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let text = relative.to_string_lossy();
    if text.is_empty() {
        ".".to_string()
    } else {
        text.into_owned()
    }
}

fn is_under(path: &str, root: &str) -> bool {
    root == "." || Path::new(path).starts_with(root)
}
