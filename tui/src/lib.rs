//! `rag chat`: the terminal chat UI. The app state ([`app`]) is separate from
//! drawing ([`ui`]); answers come from a [`backend::Backend`] on a worker
//! thread, so the screen stays responsive while the model reads and writes.
//! The `rag` binary provides the real backend; tests script their own.

pub mod app;
pub mod backend;
pub mod clipboard;
pub mod commands;
pub mod input;
pub mod keys;
pub mod markdown;
mod terminal;
pub mod text;
pub mod transcript;
pub mod ui;

pub use app::App;
pub use backend::{Backend, BackendInfo, Job, Reply, Settings, SourceView, Update, Worker};
pub use terminal::{apply_actions, drain_updates, run, RunOptions};
