//! Text from documents is untrusted: it never reaches the terminal with its
//! control characters or escape sequences intact. The chat UI owns the
//! cleaning; the line-oriented commands use the same functions.

pub use rag_tui::text::{one_line, sanitize};
