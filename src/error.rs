use std::path::PathBuf;

/// What failed, and on which file. Messages state the cause only; the `rag`
/// binary adds the remedy (which command to run, which flag to change).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file the embedder needs is not in the model folder (and could not
    /// be downloaded, when `download` says why).
    #[error("{what} not found: {path}{}", download.as_ref().map(|why| format!(" (downloading it from the Hugging Face hub failed: {why})")).unwrap_or_default())]
    ModelMissing {
        what: &'static str,
        path: PathBuf,
        /// The model folder that was searched.
        models_dir: PathBuf,
        download: Option<String>,
    },

    /// A catalogue model that is not installed.
    #[error("model {name} is not installed: {path} is missing")]
    GeneratorMissing {
        name: String,
        path: PathBuf,
        /// The model folder that was searched.
        models_dir: PathBuf,
    },

    /// The Hugging Face hub could not be reached or refused the download.
    #[error("cannot download {name} from the Hugging Face hub: {reason}")]
    HubUnreachable { name: String, reason: String },

    /// A downloaded or fetched model file is not the one the catalogue names.
    #[error("{name}: {path} has sha256 {got}, expected {expected}; not installed")]
    ModelChecksum {
        name: String,
        path: PathBuf,
        expected: String,
        got: String,
    },

    /// Reading or writing a file failed: `action` says which ("reading", "writing"...).
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A batch output file this batch cannot resume.
    #[error("{path} {reason}")]
    BatchOutput { path: PathBuf, reason: String },

    /// Another process holds the batch output file's lock.
    #[error("another rag batch is writing {0}")]
    BatchOutputBusy(PathBuf),

    /// The config file cannot be read or holds a bad value.
    #[error("config file {path}: {reason}")]
    Config { path: PathBuf, reason: String },

    /// A model given as a path that does not exist.
    #[error("no model file at {path}")]
    ModelFileMissing { path: PathBuf, known: String },

    /// A model given by a name the catalogue does not hold.
    #[error("no model named {given:?} in the catalogue and no file at that path")]
    UnknownModel { given: String, known: String },

    /// The ONNX Runtime library cannot be loaded.
    #[error("cannot load the ONNX Runtime library {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },

    #[error("cannot load the embedding model from {path}: {reason}")]
    EmbeddingModel { path: PathBuf, reason: String },

    /// An input file the user gave (questions, queries) that cannot be used:
    /// `place` is the file, with `:line` where one line is at fault.
    #[error("{place}: {reason}")]
    InvalidInput { place: String, reason: String },

    /// A setting out of range or at odds with another (from a flag or the config file).
    #[error("{0}")]
    InvalidSetting(String),

    /// A setting's value out of its bounds or at odds with another, named as
    /// the config file names it, with where the value came from (the binary
    /// names the flag when it came from one).
    #[error("{name} = {value} ({}): {why}", origin.describe())]
    BadSetting {
        name: &'static str,
        value: String,
        origin: crate::config::Origin,
        why: String,
    },

    /// No index was named or found, and there is no bundled corpus to answer from.
    #[error("no index here or in any parent folder")]
    NoIndex,

    /// The work was cancelled (Ctrl+C, a closed window) before it finished.
    #[error("cancelled")]
    Cancelled,

    /// A facility of the system (signals, file watching, the terminal) that
    /// cannot be had.
    #[error("cannot {what}: {reason}")]
    Unavailable { what: String, reason: String },

    /// A broken invariant of rag itself: a bug to report.
    #[error("internal error: {0}")]
    Internal(String),

    #[error(transparent)]
    Llm(#[from] crate::llm::Error),

    /// The index's own causes.
    #[error(transparent)]
    Index(#[from] rag_index::Error),

    /// The command line asks for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
