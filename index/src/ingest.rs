//! `rag ingest`: walk, diff against the manifest, extract, chunk, embed, commit.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::IndexSink;
use crate::chunk::{Chunk, Chunker, ChunkerConfig};
use crate::embedder::Embedder;
use crate::extract::{document_from, extract, Contents, Kind, SkipReason};
use crate::formats::Format;
use crate::index::canonical;
use crate::manifest::EmbeddingInfo;
use crate::vectorize::{embed_files, EmbeddingCache};
use crate::walk::{walk, Found, WalkOptions};
use crate::writer::{FileUpdate, IndexWriter};
use crate::{Error, Result};

/// Reads files of contained kinds (PDFs, office documents, e-books, mail...;
/// see [`Kind::contained`]) in place of [`crate::extract::read_contents`],
/// e.g. in a child process with memory and time limits.
#[derive(Clone)]
pub struct ContainedReader(pub Arc<ReadContents>);

/// A contained kind's bytes to what its reader gives.
pub type ReadContents = dyn Fn(Kind, &[u8]) -> Result<Contents, SkipReason> + Send + Sync;

impl std::fmt::Debug for ContainedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContainedReader")
    }
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub walk: WalkOptions,
    pub chunker: ChunkerConfig,
    /// Forget the existing index and start over.
    pub rebuild: bool,
    /// Texts handed to the embedder at once (it may split them further).
    pub embed_batch: usize,
    /// Chunks collected before embedding; they are sorted by length as a whole.
    pub embed_buffer: usize,
    /// Commit at least this often during a long ingest, so an interruption
    /// loses little work.
    pub checkpoint_every: Duration,
    /// Exclude patterns the index remembers that no longer apply.
    pub dropped_excludes: Vec<String>,
    /// How PDFs and the other contained kinds are read [default: in this
    /// process, without a memory or time budget].
    pub contained_reader: Option<ContainedReader>,
    /// Set (e.g. by Ctrl+C) to stop early: the files done so far are
    /// committed, the rest keep their previous state.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            walk: WalkOptions::default(),
            chunker: ChunkerConfig::default(),
            rebuild: false,
            embed_batch: 64,
            embed_buffer: 4096,
            checkpoint_every: Duration::from_secs(60),
            dropped_excludes: Vec::new(),
            contained_reader: None,
            cancel: None,
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
    /// A file of a format that is not read (an image, an archive...).
    Unsupported {
        path: PathBuf,
    },
    /// A generated or asset file left out (see [`crate::walk::generated`]).
    Generated {
        path: PathBuf,
        what: &'static str,
    },
    /// Files have been read and chunked; their chunks are being embedded.
    Chunked {
        files: usize,
        chunks: usize,
        /// The files' size on disk.
        bytes: u64,
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
    /// Generated and asset files left out (minified code, search indexes...).
    pub generated: usize,
    pub chunks_added: usize,
    pub chunks_total: usize,
    pub files_total: usize,
    pub seconds: f64,
    pub embed_seconds: f64,
    /// Stopped early through `IngestOptions::cancel`.
    pub interrupted: bool,
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
    let roots: Vec<PathBuf> = roots.iter().map(|r| canonical(r)).collect();
    let index_dir_abs = canonical(index_dir);
    if let Some(root) = roots.iter().find(|r| r.starts_with(&index_dir_abs)) {
        return Err(Error::IngestsIndexFolder {
            root: root.clone(),
            index: index_dir_abs,
        });
    }
    let writer = IndexWriter::open(
        index_dir,
        EmbeddingInfo::of(embedder),
        options.chunker,
        options.rebuild,
    )?;
    let mut summary = ingest_into(Box::new(writer), &roots, embedder, options, on_event)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Brings the index behind `sink` up to date with the files under `roots`
/// (files indexed earlier from other roots are left alone); see [`ingest`].
pub fn ingest_into(
    mut writer: Box<dyn IndexSink + '_>,
    roots: &[PathBuf],
    embedder: &dyn Embedder,
    options: &IngestOptions,
    on_event: &(dyn Fn(IngestEvent) + Sync),
) -> Result<IngestSummary> {
    let started = Instant::now();
    let roots: Vec<PathBuf> = roots.iter().map(|r| canonical(r)).collect();
    let root = writer.root();
    let chunker = Chunker::new(embedder.tokenizer(), options.chunker)?;
    let mut summary = IngestSummary::default();

    // Plan: which files are new or changed, which are gone.
    let mut jobs: Vec<Job> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // Files and folders that could not be read this time: what the index
    // holds of them stays (unreadable is not gone).
    let mut unread: Vec<String> = Vec::new();
    // Canonical now that the writer has created the folder.
    let own_folder = writer.own_folder().map(canonical).unwrap_or_default();
    let stored_roots: Vec<String> = roots.iter().map(|r| stored_path(&root, r)).collect();
    let (walk_options, remembered) = crate::remember::planned_walk(
        writer.remembered(),
        &root,
        writer.roots(),
        &stored_roots,
        &options.walk,
        &options.dropped_excludes,
    )?;
    for found in walk(&roots, &walk_options, &own_folder)? {
        match found {
            Found::File { path, kind, size } => {
                let stored = stored_path(&root, &path);
                let hash = match std::fs::read(&path) {
                    Ok(bytes) => content_hash(kind, &bytes),
                    Err(e) => {
                        summary.skipped += 1;
                        unread.push(stored);
                        on_event(IngestEvent::Skipped {
                            path,
                            reason: SkipReason::Unreadable(e.to_string()),
                        });
                        continue;
                    }
                };
                let unchanged = !writer.rechunk_all()
                    && writer
                        .files()
                        .get(&stored)
                        .is_some_and(|entry| entry.hash == hash);
                seen.insert(stored.clone());
                if unchanged {
                    summary.unchanged += 1;
                } else {
                    jobs.push(Job {
                        path,
                        stored,
                        kind,
                        size,
                    });
                }
            }
            Found::Skipped { path, reason } => {
                summary.skipped += 1;
                if matches!(reason, SkipReason::Unreadable(_)) {
                    unread.push(stored_path(&root, &path));
                }
                on_event(IngestEvent::Skipped { path, reason });
            }
            Found::Unsupported(path) => {
                summary.unsupported += 1;
                on_event(IngestEvent::Unsupported { path });
            }
            Found::Generated { path, what } => {
                summary.generated += 1;
                on_event(IngestEvent::Generated { path, what });
            }
        }
    }
    let gone: Vec<String> = writer
        .files()
        .keys()
        .filter(|path| {
            !seen.contains(*path)
                && stored_roots.iter().any(|r| is_under(path, r))
                && !unread.iter().any(|u| is_under(path, u))
        })
        .cloned()
        .collect();
    on_event(IngestEvent::Planned {
        to_index: jobs.len(),
        unchanged: summary.unchanged,
        removed: gone.len(),
        bytes: jobs.iter().map(|job| job.size).sum(),
    });
    for path in &gone {
        writer.remove_file(path);
    }
    summary.removed = gone.len();
    writer.add_roots(&stored_roots);
    writer.set_remembered(remembered);

    // Chunk in small groups, embed in large buffers: sorting a large buffer by
    // length is what keeps padding (wasted model work) low.
    let mut last_commit = Instant::now();
    let mut committed_once = false;
    let mut embed_time = Duration::ZERO;
    let mut embedding_cache = EmbeddingCache::default();
    let mut buffer: Vec<Ready> = Vec::new();
    let mut buffered_chunks = 0;
    let groups: Vec<&[Job]> = jobs.chunks(64).collect();
    let cancelled = || {
        options
            .cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    };
    for (g, group) in groups.iter().enumerate() {
        let stopping = cancelled();
        let results = if stopping {
            Vec::new()
        } else {
            chunk_files(group, &chunker, options.contained_reader.as_ref())
        };
        for (job, result) in group.iter().zip(results) {
            match result {
                Ok(chunked) => {
                    buffered_chunks += chunked.chunks.len();
                    buffer.push(Ready {
                        job,
                        hash: chunked.hash,
                        title: chunked.title,
                        chunks: chunked.chunks,
                    });
                }
                Err(reason) => {
                    summary.skipped += 1;
                    // A file that became unreadable or empty leaves the index;
                    // one whose reader could not start says nothing about the
                    // file, and is read again next time (its hash is kept).
                    if !matches!(reason, SkipReason::ReaderUnavailable(_)) {
                        writer.remove_file(&job.stored);
                    }
                    on_event(IngestEvent::Skipped {
                        path: job.path.clone(),
                        reason,
                    });
                }
            }
        }
        let last = stopping || g + 1 == groups.len();
        let checkpoint_due = last_commit.elapsed() >= options.checkpoint_every;
        // A smaller first buffer: the first commit comes sooner.
        let buffer_limit = if committed_once {
            options.embed_buffer
        } else {
            (options.embed_buffer / 8).max(1)
        };
        if !(last || checkpoint_due || buffered_chunks >= buffer_limit) {
            continue;
        }
        on_event(IngestEvent::Chunked {
            files: buffer.len(),
            chunks: buffered_chunks,
            bytes: buffer.iter().map(|ready| ready.job.size).sum(),
        });
        let embed_started = Instant::now();
        let vectors = embed_buffer(
            embedder,
            &buffer,
            options.embed_batch,
            &mut embedding_cache,
            on_event,
            &cancelled,
        )?;
        embed_time += embed_started.elapsed();
        let stopping = stopping || vectors.iter().any(Option::is_none);
        for (ready, vectors) in std::mem::take(&mut buffer).into_iter().zip(vectors) {
            // Stopped before this file was embedded: it stays as it was.
            let Some(vectors) = vectors else {
                continue;
            };
            summary.chunks_added += ready.chunks.len();
            summary.indexed += 1;
            writer.put_file(FileUpdate {
                path: ready.job.stored.clone(),
                hash: ready.hash,
                size: ready.job.size,
                title: ready.title,
                chunks: ready.chunks,
                vectors,
            })?;
        }
        buffered_chunks = 0;
        if stopping {
            summary.interrupted = true;
            break;
        }
        // The first buffer is committed at once: until then the index does
        // not exist for search or `rag status`, and a first buffer can take
        // minutes to embed.
        let first_commit = !committed_once;
        if (first_commit || last_commit.elapsed() >= options.checkpoint_every) && writer.commit()? {
            on_event(IngestEvent::Committed {
                generation: writer.generation(),
            });
            last_commit = Instant::now();
            committed_once = true;
        }
    }

    writer.set_left_out(crate::manifest::LeftOut {
        skipped: summary.skipped,
        unsupported: summary.unsupported,
        generated: summary.generated,
    });
    let files = writer.files();
    summary.files_total = files.len();
    summary.chunks_total = files.values().map(|f| f.chunks.len()).sum();
    let generation = writer.generation() + 1;
    if writer.finish()? {
        on_event(IngestEvent::Committed { generation });
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.embed_seconds = embed_time.as_secs_f64();
    Ok(summary)
}

/// A file as read for indexing: its title, chunks, and the hash of the very
/// bytes they came from (the file may have changed since the plan hashed it).
struct Chunked {
    title: String,
    chunks: Vec<Chunk>,
    hash: String,
}

/// Reads, extracts and chunks files on all cores; one result per job, in order.
fn chunk_files(
    group: &[Job],
    chunker: &Chunker,
    reader: Option<&ContainedReader>,
) -> Vec<Result<Chunked, SkipReason>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(group.len().max(1));
    let per_thread = group.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = group
            .chunks(per_thread)
            .map(|part| {
                let handle = scope.spawn(move || {
                    part.iter()
                        .map(|job| chunk_one(job, chunker, reader))
                        .collect::<Vec<_>>()
                });
                (part.len(), handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(files, handle)| {
                // Each file is already isolated by chunk_one; should a thread
                // die anyway, each of its files still gets its own result.
                handle.join().unwrap_or_else(|_| {
                    (0..files)
                        .map(|_| Err(SkipReason::Unreadable("the text extractor crashed".into())))
                        .collect()
                })
            })
            .collect()
    })
}

/// Version of the HTML reader, part of an HTML file's content hash: pages
/// read by an earlier reader are read again by the next ingest.
pub(crate) const HTML_READER: &[u8] =
    b"html reader 5 (main content, markdown, file lines, hidden text, site titles)\0";
/// Version of the document readers ([`crate::formats`]), likewise.
pub(crate) const FORMAT_READERS: &[u8] = b"format readers 3 (places in locations)\0";
/// Version of the PDF reader, likewise.
pub(crate) const PDF_READER: &[u8] = b"pdf reader 2 (places in locations)\0";

/// The hash that decides whether a file is read again: of its bytes and, for
/// a format whose reader changed, of the reader's version.
pub(crate) fn content_hash(kind: Kind, bytes: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    match kind {
        Kind::Html => {
            hasher.update(HTML_READER);
        }
        Kind::Document(format) => {
            // E-books and mail are HTML inside: the HTML reader's changes
            // change what they give too.
            if matches!(format, Format::Epub | Format::Eml | Format::Mbox) {
                hasher.update(HTML_READER);
            }
            hasher.update(FORMAT_READERS);
        }
        Kind::Pdf => {
            hasher.update(PDF_READER);
        }
        _ => {}
    }
    hasher.update(bytes);
    hasher.finalize().to_hex().to_string()
}

fn chunk_one(
    job: &Job,
    chunker: &Chunker,
    reader: Option<&ContainedReader>,
) -> Result<Chunked, SkipReason> {
    let bytes = std::fs::read(&job.path).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    let hash = content_hash(job.kind, &bytes);
    // A parser that panics on one hostile file must not take its neighbours along.
    let chunked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let doc = match reader {
            Some(reader) if job.kind.contained() && !bytes.is_empty() => {
                document_from(&job.path, job.kind, (reader.0)(job.kind, &bytes)?)
            }
            _ => extract(&job.path, job.kind, &bytes),
        }?;
        Ok::<_, SkipReason>((doc.title.clone(), chunker.chunk(&doc)))
    }))
    .map_err(|_| SkipReason::Unreadable("the text extractor crashed on this file".into()))?;
    let (title, chunks) = chunked?;
    if chunks.is_empty() {
        return Err(SkipReason::Empty);
    }
    Ok(Chunked {
        title,
        chunks,
        hash,
    })
}

/// A file read and chunked, waiting for its vectors.
struct Ready<'a> {
    job: &'a Job,
    hash: String,
    title: String,
    chunks: Vec<Chunk>,
}

/// Embeds the buffered files' chunks (see [`crate::vectorize`]), reporting
/// each file done as soon as its last chunk has its vector.
fn embed_buffer(
    embedder: &dyn Embedder,
    buffer: &[Ready<'_>],
    batch: usize,
    cache: &mut EmbeddingCache,
    on_event: &(dyn Fn(IngestEvent) + Sync),
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Option<Vec<Vec<f32>>>>> {
    let files: Vec<&[Chunk]> = buffer.iter().map(|ready| ready.chunks.as_slice()).collect();
    embed_files(
        embedder,
        &files,
        batch,
        cache,
        &mut |file| {
            on_event(IngestEvent::FileDone {
                bytes: buffer[file].job.size,
            })
        },
        &mut |chunks| on_event(IngestEvent::Embedded { chunks }),
        stop,
    )
}

/// How a file's path is stored: relative to the index root when under it,
/// losslessly (see [`crate::paths`]).
pub fn stored_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    if relative.as_os_str().is_empty() {
        ".".to_string()
    } else {
        crate::paths::encode(relative)
    }
}

/// Whether the stored path `path` is `root` or lies under it (stored forms).
pub fn is_under(path: &str, root: &str) -> bool {
    root == "." || crate::paths::decode(path).starts_with(crate::paths::decode(root))
}
