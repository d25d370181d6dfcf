use std::path::PathBuf;

/// Everything that can go wrong between a path on disk and a ranked list of chunks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no index found at {0} (run `rag ingest PATH` to build one, or pass --index DIR)")]
    NotFound(PathBuf),

    #[error(
        "another `rag ingest` is writing the index at {0}; wait for it to finish (the lock is released when that process exits)"
    )]
    Locked(PathBuf),

    #[error(
        "the index at {path} was built with the embedding model {found} ({found_dim} dimensions) but this run uses {expected} ({expected_dim} dimensions); re-ingest with `rag ingest --rebuild` or point --index elsewhere"
    )]
    ModelMismatch {
        path: PathBuf,
        found: String,
        found_dim: usize,
        expected: String,
        expected_dim: usize,
    },

    #[error(
        "the index at {path} has format version {found}, this build reads version {expected}; rebuild it with `rag ingest --rebuild`"
    )]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    #[error("the index at {path} is damaged: {reason}; rebuild it with `rag ingest --rebuild`")]
    Corrupt { path: PathBuf, reason: String },

    #[error("embedding failed: {0}")]
    Embedding(String),

    #[error("invalid setting: {0}")]
    Config(String),

    #[error("full-text index at {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },

    #[error("vector index at {path}: {reason}")]
    Vectors { path: PathBuf, reason: String },

    #[error("ingest interrupted")]
    Interrupted,
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
