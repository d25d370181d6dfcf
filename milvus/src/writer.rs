//! [`MilvusWriter`]: an ingest's view of a Milvus index, and the staged
//! changes it writes at each commit.
//!
//! Durability comes from ordering, not transactions. A file's chunk rows are
//! upserted first (early, in batches, as the ingest goes), then at commit the
//! rows its previous version had beyond its new length are deleted, and only
//! then is the file's record written to the files collection, which is what
//! makes a later ingest skip it. Chunk ids are derived from (path, ordinal),
//! so redoing a file after an interruption upserts the same rows again: never
//! a duplicate, and never a record without its chunks. Rows sent for a file
//! that was gone by the next ingest are found at its end, when the number of
//! rows exceeds what the records account for, and deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use milvus::v2::prelude::*;
use rag_index::manifest::{EmbeddingInfo, FileEntry, LeftOut, Remembered};
use rag_index::{ChunkerConfig, Error, FileLines, FileUpdate, IndexSink};
use serde_json::{json, Value};

use crate::conn::{
    body_of, bucket, chunk_id, is_transient, path_in, quote, terms_of, truncate, unix_now, Conn,
    BUCKETS, QUERY_LIMIT,
};
use crate::index::StoredPlace;
use crate::schema::{self, prop, HEADING_MAX, PLACE_MAX};
use crate::url::MilvusUrl;

/// Chunk rows sent in one upsert.
const UPSERT_BATCH: usize = 512;
/// File records sent in one upsert.
const FILE_BATCH: usize = 512;
/// Files named in one delete filter.
const DELETE_BATCH: usize = 64;
/// Chunk ids named in one delete filter.
const STRAY_BATCH: usize = 1000;
/// Rows read per query (well under the server's 16384 cap, so
/// uneven buckets still fit).
const ROWS_PER_PAGE: usize = 4000;
/// Waits before each retry of an idempotent write that met a transient error.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
const FLUSH_WAIT_MS: i64 = 120_000;

/// A Milvus index opened for writing (one ingest or forget at a time).
pub struct MilvusWriter {
    conn: Conn,
    embedding: EmbeddingInfo,
    chunker: ChunkerConfig,
    files: BTreeMap<String, FileEntry>,
    roots: BTreeSet<String>,
    left_out: LeftOut,
    remembered: Remembered,
    generation: u64,
    rechunk_all: bool,
    /// Layout 2: rows keep their place in the document.
    keeps_places: bool,
    /// Chunk rows not sent yet, with their file's path.
    buffer: Vec<(String, Value)>,
    /// File records to write at commit, after their chunks.
    pending_files: BTreeMap<String, Value>,
    /// Files whose rows from this ordinal on are stale (a longer earlier
    /// version, or an interrupted earlier run).
    tails: BTreeMap<String, usize>,
    /// Files to delete at commit.
    removed: BTreeSet<String>,
    dirty: bool,
    /// Something was written since opening: flush at the end.
    wrote: bool,
}

impl MilvusWriter {
    /// Opens (creating when missing) the collections at `url` for writing.
    /// `rebuild` drops and recreates them. An index built by another model
    /// is refused ([`Error::ModelMismatch`]); a collection rag did not make
    /// is refused ([`Error::Incompatible`]) and never dropped.
    pub fn open(
        url: &MilvusUrl,
        token: Option<&str>,
        embedding: EmbeddingInfo,
        chunker: ChunkerConfig,
        rebuild: bool,
    ) -> rag_index::Result<Self> {
        let conn = Conn::open(url, token)?;
        let exists = conn.has_collection(&url.collection)?;
        if rebuild {
            if exists {
                // Only ever drop what rag made, whatever else is wrong with it.
                let desc = conn.describe(&url.collection)?;
                if !desc.get_properties().contains_key(prop::FORMAT) {
                    return Err(Error::Incompatible {
                        location: conn.location(),
                        reason: format!(
                            "the collection {} has no property {} (rag did not create it); it is left alone",
                            url.collection,
                            prop::FORMAT
                        ),
                    });
                }
            }
            if conn.has_collection(&url.files_collection())? {
                schema::check_files(&conn)?;
            }
            schema::drop_both(&conn)?;
        }
        if rebuild || !exists {
            schema::create(&conn, &embedding, &chunker)?;
        }
        let stored = schema::open_existing(
            &conn,
            Some((&embedding.model_id, embedding.dimension)),
            false,
        )?;
        conn.load(&url.collection)?;
        // An interrupted creation may have left the chunks collection alone.
        schema::create_files(&conn)?;
        let files = load_files(&conn)?;
        let rechunk_all = stored.chunker() != Some(chunker);
        Ok(MilvusWriter {
            embedding: stored.embedding.clone(),
            chunker,
            files,
            roots: stored.roots(),
            left_out: stored.left_out(),
            remembered: stored.remembered(),
            generation: stored.number(prop::GENERATION),
            rechunk_all,
            keeps_places: stored.keeps_places,
            buffer: Vec::new(),
            pending_files: BTreeMap::new(),
            tails: BTreeMap::new(),
            removed: BTreeSet::new(),
            dirty: false,
            wrote: false,
            conn,
        })
    }

    /// Runs an idempotent write, retrying transient failures.
    fn retrying<T>(
        &self,
        action: &str,
        mut attempt: impl FnMut(&Conn) -> milvus::v2::error::Result<T>,
    ) -> rag_index::Result<T> {
        let mut delays = RETRY_DELAYS.iter();
        loop {
            match attempt(&self.conn).map_err(self.conn.err(action)) {
                Err(e) if is_transient(&e) => match delays.next() {
                    Some(delay) => std::thread::sleep(*delay),
                    None => return Err(e),
                },
                result => return result,
            }
        }
    }

    fn upsert(&self, collection: &str, rows: Vec<Value>, what: &str) -> rag_index::Result<()> {
        let action = format!("upserting {} {what}", rows.len());
        self.retrying(&action, |conn| {
            let request = UpsertRequest::builder()
                .insert(
                    InsertRequest::builder()
                        .collection_name(collection)
                        .rows(rows.clone())
                        .build()?,
                )
                .build()?;
            conn.runtime.block_on(conn.client.upsert(request))
        })
        .map(|_| ())
    }

    fn delete(&self, collection: &str, filter: &str, what: &str) -> rag_index::Result<()> {
        let action = format!("deleting {what}");
        self.retrying(&action, |conn| {
            let request = DeleteRequest::builder()
                .collection_name(collection)
                .filter(filter)
                .build()?;
            conn.runtime.block_on(conn.client.delete(request))
        })
        .map(|_| ())
    }

    /// Sends buffered chunk rows, all of them or only full batches.
    fn send_chunks(&mut self, all: bool) -> rag_index::Result<()> {
        while self.buffer.len() >= UPSERT_BATCH || (all && !self.buffer.is_empty()) {
            let take = self.buffer.len().min(UPSERT_BATCH);
            let rows: Vec<Value> = self.buffer[..take]
                .iter()
                .map(|(_, row)| row.clone())
                .collect();
            self.upsert(&self.conn.url.collection, rows, "chunks")?;
            self.buffer.drain(..take);
            self.wrote = true;
        }
        Ok(())
    }

    fn write_staged(&mut self) -> rag_index::Result<()> {
        let chunks = self.conn.url.collection.clone();
        let files = self.conn.url.files_collection();
        // 1. Every chunk row of the files put since the last commit.
        self.send_chunks(true)?;
        // 2. Rows beyond each such file's new length.
        while !self.tails.is_empty() {
            let batch: Vec<(String, usize)> = self
                .tails
                .iter()
                .take(DELETE_BATCH)
                .map(|(path, n)| (path.clone(), *n))
                .collect();
            let filter = batch
                .iter()
                .map(|(path, n)| format!("(path == {} and ordinal >= {n})", quote(path)))
                .collect::<Vec<_>>()
                .join(" or ");
            self.delete(&chunks, &filter, "stale chunks")?;
            for (path, _) in &batch {
                self.tails.remove(path);
            }
            self.wrote = true;
        }
        // 3. Removed files, chunks first, then their records.
        while !self.removed.is_empty() {
            let batch: Vec<String> = self.removed.iter().take(DELETE_BATCH).cloned().collect();
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            let filter = path_in(&refs);
            self.delete(&chunks, &filter, "the chunks of removed files")?;
            self.delete(&files, &filter, "the records of removed files")?;
            for path in &batch {
                self.removed.remove(path);
            }
            self.wrote = true;
        }
        // 4. The records of the files put, now that their chunks are durable.
        while !self.pending_files.is_empty() {
            let batch: Vec<String> = self
                .pending_files
                .keys()
                .take(FILE_BATCH)
                .cloned()
                .collect();
            let rows: Vec<Value> = batch
                .iter()
                .filter_map(|path| self.pending_files.get(path).cloned())
                .collect();
            self.upsert(&files, rows, "file records")?;
            for path in &batch {
                self.pending_files.remove(path);
            }
            self.wrote = true;
        }
        // 5. The index's own state.
        let generation = self.generation + 1;
        let properties = std::collections::HashMap::from([
            (
                prop::ROOTS.to_string(),
                serde_json::to_string(&self.roots).unwrap_or_else(|_| "[]".into()),
            ),
            (
                prop::LEFT_OUT.to_string(),
                schema::left_out_json(&self.left_out),
            ),
            (
                prop::REMEMBERED.to_string(),
                serde_json::to_string(&self.remembered).unwrap_or_else(|_| "{}".into()),
            ),
            (
                prop::CHUNKER.to_string(),
                schema::chunker_json(&self.chunker),
            ),
            (prop::GENERATION.to_string(), generation.to_string()),
            (prop::UPDATED_AT.to_string(), unix_now().to_string()),
        ]);
        self.conn.set_properties(&chunks, properties)?;
        self.generation = generation;
        Ok(())
    }

    /// Deletes chunk rows that no file record accounts for: those an
    /// interrupted ingest sent for a file that was gone by the next one.
    /// Costs one count when there are none (the usual case).
    fn sweep(&mut self) -> rag_index::Result<()> {
        let collection = self.conn.url.collection.clone();
        let total = self
            .conn
            .count(&collection, "", Some(ConsistencyLevel::Strong))?;
        let expected: usize = self.files.values().map(|f| f.chunks.len()).sum();
        if total <= expected {
            return Ok(());
        }
        // Ids are spread evenly over [0, 2^63): page through them by range.
        let mut todo = ranges(total, 1 << 63);
        let action = "looking for stray chunks";
        let mut stray: Vec<i64> = Vec::new();
        while let Some((lo, hi)) = todo.pop() {
            let request = QueryRequest::builder()
                .collection_name(&collection)
                .filter(format!("id >= {lo} and id <= {hi}"))
                .output_fields(["id", "path", "ordinal"])
                .limit(QUERY_LIMIT)
                .consistency_level(ConsistencyLevel::Strong)
                .build()
                .map_err(self.conn.err(action))?;
            let response = self
                .conn
                .runtime
                .block_on(self.conn.client.query(request))
                .map_err(self.conn.err(action))?;
            let results = response.results();
            if results.get_row_count() as i64 >= QUERY_LIMIT && hi > lo {
                // Too many in this range to be sure all came back: halve it.
                todo.extend(halves(lo, hi));
                continue;
            }
            for row in results.rows().map_err(self.conn.err(action))? {
                let read = || -> milvus::v2::error::Result<(i64, bool)> {
                    let ordinal = usize::try_from(row.get_i64("ordinal")?).unwrap_or(usize::MAX);
                    let known = self
                        .files
                        .get(row.get_str("path")?)
                        .is_some_and(|f| ordinal < f.chunks.len());
                    Ok((row.get_i64("id")?, known))
                };
                let (id, known) = read().map_err(self.conn.err(action))?;
                if !known {
                    stray.push(id);
                }
            }
        }
        for batch in stray.chunks(STRAY_BATCH) {
            let ids: Vec<String> = batch.iter().map(i64::to_string).collect();
            let filter = format!("id in [{}]", ids.join(", "));
            self.delete(&collection, &filter, "stray chunks")?;
            self.wrote = true;
        }
        Ok(())
    }

    fn flush(&self) -> rag_index::Result<()> {
        let collections = [
            self.conn.url.collection.clone(),
            self.conn.url.files_collection(),
        ];
        self.retrying("flushing", |conn| {
            let request = FlushRequest::builder()
                .collection_names(collections.clone())
                .wait_flushed_ms(FLUSH_WAIT_MS)
                .build()?;
            conn.runtime.block_on(conn.client.flush(request))
        })
        .map(|_| ())
    }
}

/// Every file record, read in bucket ranges small enough for one query each.
fn load_files(conn: &Conn) -> rag_index::Result<BTreeMap<String, FileEntry>> {
    let collection = conn.url.files_collection();
    let total = conn.count(&collection, "", Some(ConsistencyLevel::Strong))?;
    let mut todo = ranges(total, BUCKETS as u64);
    let mut files = BTreeMap::new();
    let action = "reading the file records";
    while let Some((lo, hi)) = todo.pop() {
        let request = QueryRequest::builder()
            .collection_name(&collection)
            .filter(format!("bucket >= {lo} and bucket <= {hi}"))
            .output_fields(["path", "hash", "size", "title", "chunks"])
            .limit(QUERY_LIMIT)
            .consistency_level(ConsistencyLevel::Strong)
            .build()
            .map_err(conn.err(action))?;
        let response = conn
            .runtime
            .block_on(conn.client.query(request))
            .map_err(conn.err(action))?;
        let results = response.results();
        if results.get_row_count() as i64 >= QUERY_LIMIT && hi > lo {
            // Too many in this range to be sure all came back: halve it.
            todo.extend(halves(lo, hi));
            continue;
        }
        for row in results.rows().map_err(conn.err(action))? {
            let read = || -> milvus::v2::error::Result<(String, FileEntry)> {
                let path = row.get_str("path")?.to_string();
                let count = usize::try_from(row.get_i64("chunks")?).unwrap_or(0);
                let entry = FileEntry {
                    hash: row.get_str("hash")?.to_string(),
                    size: u64::try_from(row.get_i64("size")?).unwrap_or(0),
                    title: row.get_str("title")?.to_string(),
                    chunks: (0..count).map(|n| chunk_id(&path, n)).collect(),
                };
                Ok((path, entry))
            };
            let (path, entry) = read().map_err(conn.err(action))?;
            files.insert(path, entry);
        }
    }
    Ok(files)
}

/// Inclusive ranges that split `[0, span)` so that `total` evenly spread
/// rows come about [`ROWS_PER_PAGE`] to a range.
/// A chunk's place as layout 2 stores it. A map of file lines too long for
/// the field (a passage of thousands of short lines) is left out: its lines
/// are then the text's, as the citation says.
fn place_json(chunk: &rag_index::Chunk) -> String {
    let place = |file_lines: &FileLines| {
        serde_json::to_string(&StoredPlace {
            location: chunk.location.clone(),
            file_lines: file_lines.clone(),
        })
        .unwrap_or_default()
    };
    let full = place(&chunk.file_lines);
    if full.len() <= PLACE_MAX {
        return full;
    }
    place(&FileLines::default())
}

/// The page a chunk starts on, 0 for none: all of a location layout 1 keeps.
fn page_of(chunk: &rag_index::Chunk) -> u32 {
    chunk
        .location
        .as_ref()
        .filter(|l| l.unit == rag_index::Unit::Page)
        .map_or(0, |l| l.first)
}

fn ranges(total: usize, span: u64) -> Vec<(u64, u64)> {
    let count = (total.div_ceil(ROWS_PER_PAGE).max(1) as u64).min(span);
    let step = span.div_ceil(count);
    (0..count)
        .map(|r| (r * step, ((r + 1) * step).min(span) - 1))
        .filter(|(lo, hi)| lo <= hi)
        .collect()
}

/// The two halves of the inclusive range `lo..=hi` (`lo < hi`).
fn halves(lo: u64, hi: u64) -> [(u64, u64); 2] {
    let mid = lo + (hi - lo) / 2;
    [(lo, mid), (mid + 1, hi)]
}

impl IndexSink for MilvusWriter {
    fn location(&self) -> String {
        self.conn.location()
    }

    /// Milvus stores absolute paths.
    fn root(&self) -> PathBuf {
        PathBuf::new()
    }

    fn own_folder(&self) -> Option<&Path> {
        None
    }

    fn embedding(&self) -> &EmbeddingInfo {
        &self.embedding
    }

    fn files(&self) -> &BTreeMap<String, FileEntry> {
        &self.files
    }

    fn roots(&self) -> &BTreeSet<String> {
        &self.roots
    }

    fn generation(&self) -> u64 {
        self.generation
    }

    fn rechunk_all(&self) -> bool {
        self.rechunk_all
    }

    fn remove_file(&mut self, path: &str) {
        if self.files.remove(path).is_none() {
            return;
        }
        self.buffer.retain(|(p, _)| p != path);
        self.pending_files.remove(path);
        self.tails.remove(path);
        self.removed.insert(path.to_string());
        self.dirty = true;
    }

    fn put_file(&mut self, update: FileUpdate) -> rag_index::Result<()> {
        update.check(self.embedding.dimension)?;
        let path = update.path;
        // Re-added in the same commit: its rows are replaced, not deleted.
        self.removed.remove(&path);
        self.buffer.retain(|(p, _)| *p != path);
        let count = update.chunks.len();
        let mut ids = Vec::with_capacity(count);
        for (ordinal, (chunk, vector)) in update.chunks.iter().zip(update.vectors).enumerate() {
            let id = chunk_id(&path, ordinal);
            ids.push(id);
            let heading = truncate(&chunk.heading, HEADING_MAX);
            let mut row = json!({
                "id": id as i64,
                "path": path,
                "ordinal": ordinal as i64,
                "line_start": i64::from(chunk.line_start),
                "line_end": i64::from(chunk.line_end),
                "page": i64::from(page_of(chunk)),
                "heading": heading,
                "terms": terms_of(&chunk.embedding_text()),
                "body": body_of(heading, &chunk.text),
                "dense": vector,
                "file_hash": update.hash,
            });
            if self.keeps_places {
                row["place"] = Value::String(place_json(chunk));
            }
            self.buffer.push((path.clone(), row));
        }
        self.pending_files.insert(
            path.clone(),
            json!({
                "path": path,
                "hash": update.hash,
                "size": i64::try_from(update.size).unwrap_or(i64::MAX),
                "title": schema::title_field(&update.title),
                "chunks": count as i64,
                "bucket": bucket(&path),
                "v": [0.0, 0.0],
            }),
        );
        self.tails.insert(path.clone(), count);
        self.files.insert(
            path,
            FileEntry {
                hash: update.hash,
                size: update.size,
                title: update.title,
                chunks: ids,
            },
        );
        self.dirty = true;
        self.send_chunks(false)
    }

    fn add_roots(&mut self, roots: &[String]) {
        for root in roots {
            if self.roots.insert(root.clone()) {
                self.dirty = true;
            }
        }
    }

    fn remove_roots(&mut self, under: &str) {
        let before = self.roots.len();
        self.roots.retain(|root| !rag_index::is_under(root, under));
        self.dirty |= self.roots.len() != before;
    }

    fn set_left_out(&mut self, left_out: LeftOut) {
        self.left_out = left_out;
    }

    fn remembered(&self) -> &Remembered {
        &self.remembered
    }

    fn set_remembered(&mut self, remembered: Remembered) {
        self.dirty |= self.remembered != remembered;
        self.remembered = remembered;
    }

    fn commit(&mut self) -> rag_index::Result<bool> {
        if !self.dirty {
            return Ok(false);
        }
        self.write_staged()?;
        self.dirty = false;
        Ok(true)
    }

    fn finish(mut self: Box<Self>) -> rag_index::Result<bool> {
        let committed = self.commit()?;
        self.sweep()?;
        if self.wrote {
            self.flush()?;
        }
        Ok(committed)
    }
}

#[cfg(test)]
mod tests {
    use super::{halves, ranges, ROWS_PER_PAGE};
    use rag_index::is_under;

    /// The ranges cover `[0, span)` exactly, in order, without overlap.
    fn assert_tiles(ranges: &[(u64, u64)], span: u64) {
        assert_eq!(ranges.first().unwrap().0, 0);
        assert_eq!(ranges.last().unwrap().1, span - 1);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0, "{pair:?}");
        }
        assert!(ranges.iter().all(|(lo, hi)| lo <= hi));
    }

    #[test]
    fn pages_tile_the_whole_range() {
        for span in [1u64 << 16, 1 << 63] {
            for total in [0, 1, ROWS_PER_PAGE, ROWS_PER_PAGE + 1, 1_000_000] {
                let tiles = ranges(total, span);
                assert_eq!(tiles.len(), total.div_ceil(ROWS_PER_PAGE).max(1), "{total}");
                assert_tiles(&tiles, span);
            }
        }
        // Never more ranges than values.
        assert_eq!(ranges(100 * ROWS_PER_PAGE, 3).len(), 3);
        let [a, b] = halves(10, 21);
        assert_eq!((a, b), ((10, 15), (16, 21)));
        assert_tiles(&halves(0, 1), 2);
    }

    #[test]
    fn roots_under_a_forgotten_folder() {
        assert!(is_under("/a/b/c.md", "/a/b"));
        assert!(is_under("/a/b", "/a/b"));
        assert!(!is_under("/a/bc", "/a/b"));
        assert!(is_under("anything", "."));
    }
}
