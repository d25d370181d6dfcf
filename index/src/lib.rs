//! `rag-index`: everything from a path on disk to a ranked list of chunks with
//! their source spans. It takes the embedding model as a trait ([`Embedder`]),
//! so it never names the runtime that computes embeddings.
//!
//! ```text
//! walk -> extract -> chunk -> embed -> BM25 (tantivy) + HNSW (hnsw_rs) + chunk table
//!                                    -> atomic commit of the manifest
//! ```

mod backend;
mod bm25;
mod check;
pub mod chunk;
mod embedder;
mod error;
pub mod extract;
mod forget;
pub mod formats;
mod html;
mod index;
mod ingest;
pub mod location;
pub mod manifest;
pub mod paths;
mod read_only;
pub mod remember;
pub mod search;
/// A deterministic embedder for tests (this crate's, and other backends' with
/// the `test-support` feature).
#[cfg(any(test, feature = "test-support"))]
pub mod test_embedder;
#[cfg(test)]
mod tests;
mod vectorize;
mod vectors;
pub mod walk;
mod writer;

pub use backend::{copy, CopySummary, IndexSink, SearchIndex};
pub use bm25::{keyword_terms, query_terms};
pub use check::{check, CheckReport, FileCheck, Verdict};
pub use chunk::{Chunk, Chunker, ChunkerConfig};
pub use embedder::Embedder;
pub use error::{Error, Result};
pub use forget::{forget, forget_from, ForgetSummary};
pub use index::{find_index_dir, index_root, same_model, Index, Status, INDEX_DIR_NAME};
pub use ingest::{
    ingest, ingest_into, is_under, stored_path, ContainedReader, IngestEvent, IngestOptions,
    IngestSummary,
};
pub use location::{FileLines, Location, Place, Unit};
pub use search::{Fusion, Hit, Mode, SearchOptions};
pub use writer::{ingest_running, FileUpdate, IndexWriter};
