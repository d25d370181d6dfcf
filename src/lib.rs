//! `rag`: the engine behind the `rag` command. The index lives in the
//! `rag-index` crate; this crate owns the models, the answer pipeline
//! ([`assistant`]) and the settings and policies that put them together
//! ([`engine`]). It knows nothing of the command line, the terminal or the
//! current folder: the binary parses, calls and presents.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod assistant;
pub mod batch;
pub mod config;
pub mod embedding;
pub mod engine;
mod error;
pub mod eval;
pub mod limited;
pub mod llm;
pub mod models;
pub mod pdf;
pub mod results;
pub mod server;

pub use error::{Error, Result};
