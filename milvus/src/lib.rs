//! `rag-milvus`: a Milvus server (or milvus-lite) as the home of a rag index.
//!
//! An index named `milvus://HOST:PORT/COLLECTION` is two collections on the
//! server: `COLLECTION` holds the chunks (text, spans, a dense vector, and a
//! sparse BM25 vector the server computes from the text), and
//! `COLLECTION_files` holds one row per indexed file (its hash, size, title
//! and chunk count), which is what an ingest diffs against. The index's
//! settings (embedding model, chunker, roots...) are properties of the chunks
//! collection.
//!
//! [`MilvusIndex`] implements [`rag_index::SearchIndex`] and [`MilvusWriter`]
//! implements [`rag_index::IndexSink`], so ingest, forget, search and status
//! work as they do on a folder index; hybrid results are fused on this side
//! by [`rag_index::search::fuse`], so rankings and the gate's signals agree.

// Every SDK call returns the SDK's own error type (176 bytes); our helpers
// pass it on unboxed until it becomes a `rag_index::Error`.
#![allow(clippy::result_large_err)]

mod conn;
mod index;
pub mod lite;
mod schema;
mod url;
mod writer;

pub use index::MilvusIndex;
pub use url::{is_milvus_url, MilvusUrl};
pub use writer::MilvusWriter;
