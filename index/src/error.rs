use std::path::PathBuf;

/// Everything that can go wrong between a path on disk and a ranked list of chunks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system call failed for another reason than damage.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No manifest at the index folder.
    #[error("no index found at {0}")]
    NotFound(PathBuf),

    /// A folder named as the index holds files rag did not write: rag neither
    /// writes into it nor deletes from it.
    #[error("{path} is not a rag index: it holds files rag did not write ({})", found.join(", "))]
    NotAnIndex { path: PathBuf, found: Vec<String> },

    /// Another writer holds the index's lock.
    #[error("another process is writing the index at {0}")]
    Locked(PathBuf),

    /// The index was built by another embedding model than this run's.
    #[error(
        "the index at {path} was built with the embedding model {found} ({found_dim} dimensions) but this run uses {expected} ({expected_dim} dimensions)"
    )]
    ModelMismatch {
        path: PathBuf,
        found: String,
        found_dim: usize,
        expected: String,
        expected_dim: usize,
    },

    /// The manifest was written by another version of the index format.
    #[error("the index at {path} has format version {found}, this build reads version {expected}")]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    /// An index file is not what the last commit wrote: missing, cut short,
    /// garbled (its size or checksum differs from the manifest's record), or
    /// unreadable. `path` names the damaged file, or the folder when the files
    /// disagree with each other.
    #[error("{path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    /// The embedder failed or returned the wrong number or size of vectors.
    #[error("embedding failed: {0}")]
    Embedding(String),

    /// A setting handed to the index is out of range.
    #[error("invalid setting: {0}")]
    Config(String),

    /// The keyword index (tantivy) failed while in use: writing, committing,
    /// searching. Files it cannot read on opening are [`Error::Corrupt`].
    #[error("full-text index at {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },

    /// The HNSW graph could not be written.
    #[error("vector index at {path}: {reason}")]
    Vectors { path: PathBuf, reason: String },

    /// `rag forget PATH`: nothing under PATH is in the index.
    #[error("nothing under {0} is in the index")]
    NotIndexed(PathBuf),

    /// A folder to ingest is the index folder or lies inside it.
    #[error(
        "{root} is the index folder (or inside it: {index}); an index never indexes its own files"
    )]
    IngestsIndexFolder { root: PathBuf, index: PathBuf },

    /// The index server could not be reached (refused, timed out, TLS,
    /// authentication).
    #[error("cannot reach the index server at {location}: {reason}")]
    Unreachable { location: String, reason: String },

    /// The index server answered a request with an error.
    #[error("the index server at {location} failed {action}: {reason}")]
    Server {
        location: String,
        action: String,
        reason: String,
    },

    /// The server holds a collection of that name that rag did not create, or
    /// one of another layout.
    #[error("{location} is not a rag index of this version: {reason}")]
    Incompatible { location: String, reason: String },

    /// The caller stopped an ingest.
    #[error("ingest interrupted")]
    Interrupted,
}

impl Error {
    /// True when only building the index again from its source files can fix
    /// this; callers attach the remedy they offer.
    pub fn needs_rebuild(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::FormatVersion { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the failing action and path to an I/O error, so messages read
/// "reading /x/y: permission denied" rather than a bare OS string.
pub(crate) trait IoContext<T> {
    fn io_context(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
