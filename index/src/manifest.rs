//! The manifest is the index's commit point: a generation is live once the
//! manifest naming it has been renamed into place.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chunk::{Chunk, ChunkerConfig};
use crate::error::IoContext;
use crate::location::{FileLines, Location, Unit};
use crate::{Error, Result};

/// The layout written. 2: chunks carry their location (pages, slides, sheet
/// rows...) and, for converted text, their file lines. 3: a location keeps
/// the places inside it, for citations that narrow it to their quote.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest layout read: its chunks are read as they were (a PDF's page
/// becomes its location) and written in the current layout at the next commit.
pub const OLDEST_READABLE_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    pub model_id: String,
    pub dimension: usize,
}

impl EmbeddingInfo {
    /// The identity and dimension of `embedder`'s model.
    pub fn of(embedder: &dyn crate::Embedder) -> Self {
        EmbeddingInfo {
            model_id: embedder.model_id().to_string(),
            dimension: embedder.dimension(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// blake3 of the file's bytes.
    pub hash: String,
    pub size: u64,
    pub title: String,
    pub chunks: Vec<u64>,
}

/// A data file's size and blake3, recorded at commit and checked whenever the
/// file is opened: a damaged file must fail with its name, never reach a parser
/// that may crash on it or serve edited text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub size: u64,
    pub blake3: String,
}

impl FileSum {
    pub fn of(bytes: &[u8]) -> Self {
        FileSum {
            size: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
        }
    }
}

/// Files the last ingest did not index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Unreadable, binary, too large, broken...: each was warned about.
    pub skipped: usize,
    /// Formats without text (images, archives...).
    pub unsupported: usize,
    /// Generated and asset files (minified code, search indexes, stylesheets...).
    #[serde(default)]
    pub generated: usize,
}

/// Choices an index keeps from one ingest to the next, so that re-ingesting a
/// folder does not bring back what the user left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// Exclude patterns (gitignore syntax) given to earlier ingests: every
    /// walk leaves out what they match.
    #[serde(default)]
    pub excludes: BTreeSet<String>,
    /// Paths (stored as file paths are) that `rag forget` took out of a folder
    /// the index still covers: walks of that folder leave them out, unless an
    /// ingest names them (or a path inside them) again.
    #[serde(default)]
    pub forgotten: BTreeSet<String>,
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
    /// This generation's data files by name. Manifests written before checksums
    /// were recorded have none: their files get structural checks only, until
    /// the next commit records them.
    #[serde(default)]
    pub checksums: BTreeMap<String, FileSum>,
    /// The folders and files ingests were pointed at (stored as file paths
    /// are), so `rag status` can say what the index covers.
    #[serde(default)]
    pub roots: BTreeSet<String>,
    /// The folder relative paths are stored against, as it was at the last
    /// commit (absent in indexes from before it was recorded); see
    /// [`crate::index::files_root`].
    #[serde(default)]
    pub files_root: Option<PathBuf>,
    /// What the last ingest left out.
    #[serde(default)]
    pub left_out: LeftOut,
    #[serde(default)]
    pub remembered: Remembered,
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
            checksums: BTreeMap::new(),
            roots: BTreeSet::new(),
            files_root: None,
            left_out: LeftOut::default(),
            remembered: Remembered::default(),
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
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version.format_version) {
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

    /// The names of this generation's data files.
    pub fn data_files(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.generation > 0 {
            names.push(chunk_table_file(self.generation));
            names.push(vectors_file(self.generation));
        }
        if let Some(basename) = &self.hnsw {
            names.push(format!("{basename}.{HNSW_GRAPH}"));
            names.push(format!("{basename}.{HNSW_DATA}"));
        }
        names
    }

    /// True when every data file has a recorded checksum.
    pub fn has_checksums(&self) -> bool {
        self.data_files()
            .iter()
            .all(|name| self.checksums.contains_key(name))
    }

    /// Reads one of this generation's data files, refusing it when its size or
    /// checksum differs from the recorded one.
    pub fn read_data_file(&self, dir: &Path, name: &str) -> Result<Vec<u8>> {
        let path = dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Corrupt {
                    path,
                    reason: "the file is missing".into(),
                })
            }
            Err(e) => return Err(e).io_context("reading", path),
        };
        if let Some(recorded) = self.checksums.get(name) {
            verify(&path, &bytes, recorded)?;
        }
        Ok(bytes)
    }
}

/// Extensions of the two files of an HNSW dump.
pub const HNSW_GRAPH: &str = "hnsw.graph";
pub const HNSW_DATA: &str = "hnsw.data";

fn verify(path: &Path, bytes: &[u8], recorded: &FileSum) -> Result<()> {
    let found = bytes.len() as u64;
    if found != recorded.size {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "it has {found} bytes, the manifest recorded {}",
                recorded.size
            ),
        });
    }
    if FileSum::of(bytes).blake3 != recorded.blake3 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "its content differs from what was committed (checksum mismatch)".into(),
        });
    }
    Ok(())
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

/// The generation a data file belongs to, from its name: only the names rag
/// writes (`chunks-3.bin`, not a user's `chunks-3.txt`).
pub fn generation_of(file_name: &str) -> Option<u64> {
    const DATA_FILES: [(&str, &[&str]); 3] = [
        ("chunks-", &[".bin"]),
        ("vectors-", &[".f32"]),
        ("hnsw-", &[".hnsw.graph", ".hnsw.data"]),
    ];
    DATA_FILES.iter().find_map(|(prefix, suffixes)| {
        let rest = file_name.strip_prefix(prefix)?;
        let number = suffixes
            .iter()
            .find_map(|suffix| rest.strip_suffix(suffix))?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        number.parse().ok()
    })
}

/// The file that marks a folder as a rag index. rag writes into (and deletes
/// from) only a folder that holds it, is empty or new, or holds an index
/// written before the marker existed.
pub const INDEX_MARKER: &str = "rag-index";

const MARKER_TEXT: &str = "This folder is a rag index: rag writes and deletes files here.\n\
    To remove the index, remove the whole folder.\n";

/// What a folder named as an index is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folder {
    /// Missing or empty: free to become an index.
    Free,
    /// A rag index (possibly damaged).
    Index,
    /// Holds files rag did not write: a few of their names.
    Foreign(Vec<String>),
}

impl Folder {
    pub fn of(dir: &Path) -> Result<Folder> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Folder::Free),
            Err(e) => return Err(e).io_context("reading", dir),
        };
        let names: Vec<String> = entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        if names.is_empty() || names.iter().any(|name| name == INDEX_MARKER) {
            return Ok(if names.is_empty() {
                Folder::Free
            } else {
                Folder::Index
            });
        }
        // Indexes from before the marker: a manifest of ours (readable or of
        // another format version), or, when it is damaged, our data files.
        let ours = match Manifest::read(dir) {
            Ok(manifest) => manifest.is_some(),
            Err(Error::FormatVersion { .. }) => true,
            Err(_) => false,
        };
        if ours
            || names.iter().any(|name| generation_of(name).is_some())
            || dir.join(crate::index::BM25_DIR).join("meta.json").is_file()
        {
            return Ok(Folder::Index);
        }
        let mut found = names;
        found.sort();
        found.truncate(3);
        Ok(Folder::Foreign(found))
    }
}

/// Makes `dir` an index folder: created when missing, refused when it holds
/// files rag did not write ([`Error::NotAnIndex`]), marked as rag's.
pub fn claim_folder(dir: &Path) -> Result<()> {
    if let Folder::Foreign(found) = Folder::of(dir)? {
        return Err(Error::NotAnIndex {
            path: dir.to_path_buf(),
            found,
        });
    }
    std::fs::create_dir_all(dir).io_context("creating the index folder", dir)?;
    let marker = dir.join(INDEX_MARKER);
    if !marker.is_file() {
        std::fs::write(&marker, MARKER_TEXT).io_context("writing", &marker)?;
    }
    Ok(())
}

/// The highest generation any data file in `dir` belongs to: a rebuild that
/// cannot trust the manifest still never reuses a file name.
pub fn highest_generation_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(generation_of))
        .max()
        .unwrap_or(0)
}

pub fn write_chunk_table(path: &Path, chunks: &[StoredChunk]) -> Result<FileSum> {
    let bytes = postcard::to_stdvec(chunks).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_durably(path, &bytes)?;
    Ok(FileSum::of(&bytes))
}

/// Decodes a chunk table of layout `format_version`, read (and verified) by
/// [`Manifest::read_data_file`].
pub fn parse_chunk_table(
    path: &Path,
    bytes: &[u8],
    format_version: u32,
) -> Result<Vec<StoredChunk>> {
    let unreadable = |e: postcard::Error| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("unreadable chunk table: {e}"),
    };
    match format_version {
        1 => {
            let chunks: Vec<StoredChunkV1> = postcard::from_bytes(bytes).map_err(unreadable)?;
            Ok(chunks.into_iter().map(StoredChunk::from).collect())
        }
        2 => {
            let chunks: Vec<StoredChunkV2> = postcard::from_bytes(bytes).map_err(unreadable)?;
            Ok(chunks.into_iter().map(StoredChunk::from).collect())
        }
        _ => postcard::from_bytes(bytes).map_err(unreadable),
    }
}

/// A chunk as layout 2 stored it: its location without the places inside.
#[derive(Deserialize)]
struct StoredChunkV2 {
    id: u64,
    path: String,
    line_start: u32,
    line_end: u32,
    heading: String,
    text: String,
    location: Option<LocationV2>,
    file_lines: FileLines,
}

#[derive(Deserialize)]
struct LocationV2 {
    unit: Unit,
    first: u32,
    last: u32,
    name: Option<String>,
    through: Option<String>,
}

impl From<StoredChunkV2> for StoredChunk {
    fn from(old: StoredChunkV2) -> Self {
        StoredChunk {
            id: old.id,
            path: old.path,
            chunk: Chunk {
                line_start: old.line_start,
                line_end: old.line_end,
                heading: old.heading,
                text: old.text,
                location: old.location.map(|l| Location {
                    unit: l.unit,
                    first: l.first,
                    last: l.last,
                    name: l.name,
                    through: l.through,
                    places: Vec::new(),
                }),
                file_lines: old.file_lines,
            },
        }
    }
}

/// A chunk as layout 1 stored it: a PDF's page, no other location.
#[derive(Deserialize)]
struct StoredChunkV1 {
    id: u64,
    path: String,
    line_start: u32,
    line_end: u32,
    heading: String,
    text: String,
    page: Option<u32>,
}

impl From<StoredChunkV1> for StoredChunk {
    fn from(old: StoredChunkV1) -> Self {
        StoredChunk {
            id: old.id,
            path: old.path,
            chunk: Chunk {
                line_start: old.line_start,
                line_end: old.line_end,
                heading: old.heading,
                text: old.text,
                location: old.page.map(|page| Location {
                    unit: Unit::Page,
                    first: page,
                    last: page,
                    name: None,
                    through: None,
                    places: Vec::new(),
                }),
                file_lines: FileLines::default(),
            },
        }
    }
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

    fn test_manifest() -> Manifest {
        Manifest::new(
            EmbeddingInfo {
                model_id: "m".into(),
                dimension: 3,
            },
            ChunkerConfig::default(),
        )
    }

    #[test]
    fn generations_from_file_names() {
        assert_eq!(generation_of("chunks-12.bin"), Some(12));
        assert_eq!(generation_of("vectors-3.f32"), Some(3));
        assert_eq!(generation_of("hnsw-7.hnsw.graph"), Some(7));
        assert_eq!(generation_of("manifest.json"), None);
        assert_eq!(generation_of("hnsw-x.hnsw.data"), None);
        // A user's files that only look like ours.
        assert_eq!(generation_of("chunks-7.txt"), None);
        assert_eq!(generation_of("vectors-2024.csv"), None);
        assert_eq!(generation_of("hnsw-1.md"), None);
        assert_eq!(generation_of("chunks-.bin"), None);
    }

    #[test]
    fn data_files_are_checked_against_their_recorded_sums() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = test_manifest();
        manifest.generation = 1;
        let name = chunk_table_file(1);
        let sum = write_chunk_table(&dir.path().join(&name), &[]).unwrap();
        manifest.checksums.insert(name.clone(), sum);
        assert!(!manifest.has_checksums(), "the vectors have no sum yet");
        assert!(manifest.read_data_file(dir.path(), &name).is_ok());

        let path = dir.path().join(&name);
        std::fs::write(&path, [7u8]).unwrap();
        let err = manifest.read_data_file(dir.path(), &name).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { path: p, .. } if *p == path),
            "{err}"
        );
        assert!(err.needs_rebuild());
        std::fs::write(&path, [0u8]).unwrap();
        assert!(
            manifest.read_data_file(dir.path(), &name).is_ok(),
            "same bytes"
        );
        std::fs::remove_file(&path).unwrap();
        let err = manifest.read_data_file(dir.path(), &name).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn a_manifest_without_checksums_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = test_manifest();
        manifest.generation = 2;
        let mut value = serde_json::to_value(&manifest).unwrap();
        value.as_object_mut().unwrap().remove("checksums");
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&value).unwrap(),
        )
        .unwrap();
        let back = Manifest::read(dir.path()).unwrap().unwrap();
        assert!(back.checksums.is_empty());
        assert!(!back.has_checksums());
        assert_eq!(highest_generation_on_disk(dir.path()), 0);
        std::fs::write(dir.path().join("hnsw-9.hnsw.graph"), b"").unwrap();
        assert_eq!(highest_generation_on_disk(dir.path()), 9);
    }

    #[test]
    fn a_chunk_table_of_layout_1_is_read_with_its_pages_as_locations() {
        #[derive(Serialize)]
        struct Old<'a> {
            id: u64,
            path: &'a str,
            line_start: u32,
            line_end: u32,
            heading: &'a str,
            text: &'a str,
            page: Option<u32>,
        }
        // A Vec, as the table was written (an array has no length prefix).
        let old = vec![
            Old {
                id: 7,
                path: "paper.pdf",
                line_start: 40,
                line_end: 52,
                heading: "Paper",
                text: "the text",
                page: Some(3),
            },
            Old {
                id: 8,
                path: "notes.md",
                line_start: 1,
                line_end: 2,
                heading: "Notes",
                text: "more",
                page: None,
            },
        ];
        let bytes = postcard::to_stdvec(&old).unwrap();
        let read = parse_chunk_table(Path::new("chunks-1.bin"), &bytes, 1).unwrap();
        assert_eq!((read[0].id, read[0].chunk.line_start), (7, 40));
        assert_eq!(
            read[0]
                .chunk
                .location
                .as_ref()
                .map(Location::label)
                .as_deref(),
            Some("page 3")
        );
        assert_eq!(
            (read[1].path.as_str(), &read[1].chunk.location),
            ("notes.md", &None)
        );
        // The current layout is another: it is not mistaken for the old one.
        let current = postcard::to_stdvec(&read).unwrap();
        let back = parse_chunk_table(Path::new("chunks-3.bin"), &current, FORMAT_VERSION).unwrap();
        assert_eq!(back[0].chunk, read[0].chunk);
    }

    #[test]
    fn a_chunk_table_of_layout_2_is_read_with_locations_that_kept_no_places() {
        #[derive(Serialize)]
        struct OldLocation<'a> {
            unit: Unit,
            first: u32,
            last: u32,
            name: Option<&'a str>,
            through: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Old<'a> {
            id: u64,
            path: &'a str,
            line_start: u32,
            line_end: u32,
            heading: &'a str,
            text: &'a str,
            location: Option<OldLocation<'a>>,
            file_lines: FileLines,
        }
        let old = vec![Old {
            id: 3,
            path: "deck.pptx",
            line_start: 4,
            line_end: 9,
            heading: "Deck > Slide 2",
            text: "the text",
            location: Some(OldLocation {
                unit: Unit::Slide,
                first: 2,
                last: 3,
                name: None,
                through: None,
            }),
            file_lines: FileLines::default(),
        }];
        let bytes = postcard::to_stdvec(&old).unwrap();
        let read = parse_chunk_table(Path::new("chunks-2.bin"), &bytes, 2).unwrap();
        let location = read[0].chunk.location.as_ref().unwrap();
        assert_eq!(location.label(), "slides 2-3");
        assert!(location.places.is_empty());
        // Without places, a quote's lines are placed as the whole passage.
        assert_eq!(location.narrowed(8, 9).label(), "slides 2-3");
    }

    #[test]
    fn manifest_round_trip_and_version_check() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = test_manifest();
        manifest.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!(back.embedding, manifest.embedding);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            text.replace(
                &format!("\"format_version\": {FORMAT_VERSION}"),
                "\"format_version\": 99",
            ),
        )
        .unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(Error::FormatVersion { found: 99, .. })
        ));
    }
}
