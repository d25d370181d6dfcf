//! The manifest is the index's commit point: a generation is live once the
//! manifest naming it has been renamed into place.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chunk::{Chunk, ChunkerConfig};
use crate::error::IoContext;
use crate::{Error, Result};

pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    pub model_id: String,
    pub dimension: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// blake3 of the file's bytes.
    pub hash: String,
    pub size: u64,
    pub title: String,
    pub chunks: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub generation: u64,
    pub embedding: EmbeddingInfo,
    pub chunker: ChunkerConfig,
    pub next_chunk_id: u64,
    /// Keyed by path relative to the index root (the folder holding the index
    /// folder), or absolute for files outside it.
    pub files: BTreeMap<String, FileEntry>,
    /// Basename of the HNSW dump of this generation; `None` while it is empty.
    pub hnsw: Option<String>,
    pub chunk_count: usize,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
}

impl Manifest {
    pub fn new(embedding: EmbeddingInfo, chunker: ChunkerConfig) -> Self {
        let now = unix_now();
        Manifest {
            format_version: FORMAT_VERSION,
            generation: 0,
            embedding,
            chunker,
            next_chunk_id: 0,
            files: BTreeMap::new(),
            hnsw: None,
            chunk_count: 0,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).io_context("reading", path),
        };
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: format!("unreadable manifest: {e}"),
        })?;
        if version.format_version != FORMAT_VERSION {
            return Err(Error::FormatVersion {
                path,
                found: version.format_version,
                expected: FORMAT_VERSION,
            });
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path,
                reason: format!("unreadable manifest: {e}"),
            })
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt {
            path: dir.join(MANIFEST_FILE),
            reason: e.to_string(),
        })?;
        write_atomically(&dir.join(MANIFEST_FILE), &bytes)
    }
}

/// A chunk as stored in the chunk table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredChunk {
    pub id: u64,
    pub path: String,
    pub chunk: Chunk,
}

pub fn chunk_table_file(generation: u64) -> String {
    format!("chunks-{generation}.bin")
}

pub fn vectors_file(generation: u64) -> String {
    format!("vectors-{generation}.f32")
}

pub fn hnsw_basename(generation: u64) -> String {
    format!("hnsw-{generation}")
}

/// The generation a data file belongs to, from its name.
pub fn generation_of(file_name: &str) -> Option<u64> {
    let stem = file_name
        .strip_prefix("chunks-")
        .or_else(|| file_name.strip_prefix("vectors-"))
        .or_else(|| file_name.strip_prefix("hnsw-"))?;
    stem.split('.').next()?.parse().ok()
}

pub fn write_chunk_table(path: &Path, chunks: &[StoredChunk]) -> Result<()> {
    let bytes = postcard::to_stdvec(chunks).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_durably(path, &bytes)
}

pub fn read_chunk_table(path: &Path) -> Result<Vec<StoredChunk>> {
    let bytes = std::fs::read(path).io_context("reading", path)?;
    postcard::from_bytes(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("unreadable chunk table: {e}"),
    })
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).io_context("creating", path)?;
    file.write_all(bytes).io_context("writing", path)?;
    file.sync_all().io_context("syncing", path)
}

/// Write to a temporary name, sync, rename over the target, sync the folder:
/// readers see the old file or the new one, never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    write_durably(&tmp, bytes)?;
    std::fs::rename(&tmp, path).io_context("replacing", path)?;
    if let Some(dir) = path.parent() {
        // Directory fsync makes the rename itself durable; not every platform allows it.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_from_file_names() {
        assert_eq!(generation_of("chunks-12.bin"), Some(12));
        assert_eq!(generation_of("vectors-3.f32"), Some(3));
        assert_eq!(generation_of("hnsw-7.hnsw.graph"), Some(7));
        assert_eq!(generation_of("manifest.json"), None);
        assert_eq!(generation_of("hnsw-x.hnsw.data"), None);
    }

    #[test]
    fn manifest_round_trip_and_version_check() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::new(
            EmbeddingInfo {
                model_id: "m".into(),
                dimension: 3,
            },
            ChunkerConfig::default(),
        );
        manifest.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!(back.embedding, manifest.embedding);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            text.replace("\"format_version\": 1", "\"format_version\": 99"),
        )
        .unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(Error::FormatVersion { found: 99, .. })
        ));
    }
}
