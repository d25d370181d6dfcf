//! `rag`: the engine behind the `rag` command. The index lives in the
//! `rag-index` crate; this crate owns the models, the answer pipeline
//! ([`assistant`]), the settings and policies that put them together
//! ([`engine`]), the session every front end drives ([`session`]) and the
//! HTTP and MCP doors to it ([`server`]). It knows nothing of the command line, the terminal or the
//! current folder: the binary parses, calls and presents.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod assistant;
pub mod batch;
pub mod config;
pub mod contained;
pub mod embedding;
pub mod engine;
mod error;
pub mod eval;
pub mod limited;
pub mod llm;
pub mod models;
pub mod results;
pub mod server;
pub mod session;

pub use error::{Error, Result};

/// What front ends use of the index crate, so that they depend on the engine
/// alone: the search types, the folder index's checks and ingest reports,
/// and how paths and sizes are shown.
pub mod index {
    pub use rag_index::extract::{human_bytes, SkipReason};
    pub use rag_index::manifest::MANIFEST_FILE;
    pub use rag_index::{check, ingest_running, paths, remember, walk};
    pub use rag_index::{
        CheckReport, Error, Fusion, Hit, IngestEvent, IngestOptions, IngestSummary, Mode,
        SearchIndex, SearchOptions, Verdict, INDEX_DIR_NAME,
    };
}
