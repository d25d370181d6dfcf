use std::path::PathBuf;

/// Errors of the assistant itself (models, configuration); index errors pass through.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{what} not found: {path}\n  fetch the default models with:  scripts/fetch-models{hint}"
    )]
    ModelMissing {
        what: &'static str,
        path: PathBuf,
        hint: String,
    },

    #[error("cannot load the ONNX Runtime library {path}: {reason}\n  fetch it with:  scripts/fetch-models   (or set ORT_DYLIB_PATH to a libonnxruntime >= 1.24)")]
    Runtime { path: PathBuf, reason: String },

    #[error("cannot load the embedding model from {path}: {reason}")]
    EmbeddingModel { path: PathBuf, reason: String },

    #[error(transparent)]
    Llm(#[from] crate::llm::Error),

    #[error(transparent)]
    Index(#[from] rag_index::Error),

    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
