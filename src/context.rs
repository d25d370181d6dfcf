//! What every command needs: the engine's settings, and how this run
//! presents things (quiet, colour, paths relative to the current folder).

use std::path::{Path, PathBuf};

use rag::embedding::OnnxEmbedder;
use rag::engine::IndexLocation;
use rag::engine::Settings;
use rag::index::SearchIndex;

use crate::cli::Cli;
use rag::{Error, Result};

pub struct Context {
    pub settings: Settings,
    pub quiet: bool,
    pub color: crate::cli::ColorWhen,
}

impl Context {
    /// Reads the config file (a broken one is an error, naming it).
    pub fn new(cli: &Cli) -> Result<Self> {
        Ok(Context {
            settings: Settings::resolve(
                cli.config.as_deref(),
                cli.models.as_deref(),
                cli.index.clone(),
            )?,
            quiet: cli.quiet,
            color: cli.color,
        })
    }

    /// Whether output to a stream (a terminal or not) gets colour and styles.
    pub fn colour(&self, is_terminal: bool) -> bool {
        use crate::cli::ColorWhen;
        match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }

    /// The index to write: --index, else the nearest `.rag/` upward, else `./.rag`.
    pub fn index_for_writing(&self) -> Result<IndexLocation> {
        Ok(self.settings.index_for_writing(&current_dir()?))
    }

    /// The index to read: --index, else the nearest `.rag/` upward.
    pub fn index_for_reading(&self) -> Result<IndexLocation> {
        self.settings.index_for_reading(&current_dir()?)
    }

    pub fn embedder(&self, workers: usize) -> Result<OnnxEmbedder> {
        self.settings.embedder(workers)
    }

    /// Opens the index, refusing one built with a different embedding model.
    pub fn open_index(&self) -> Result<Box<dyn SearchIndex>> {
        self.settings.open_index(&current_dir()?)
    }

    /// Says so (unless quiet) when an interrupted ingest left the keyword
    /// index behind the last commit; results stay correct meanwhile.
    pub fn warn_if_out_of_step(&self, index: &dyn SearchIndex) {
        if !index.keyword_in_sync() && !self.quiet {
            eprintln!(
                "warning: the keyword index at {} is out of step with the last commit (an ingest was interrupted); run `rag ingest` to repair it",
                index.location()
            );
        }
    }
}

pub fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().map_err(|source| Error::Io {
        action: "reading the current folder",
        path: PathBuf::from("."),
        source,
    })
}

/// Any path as every command shows it: relative to the current folder when
/// below it. Lossless, so JSON names the file that exists; terminal output
/// escapes what cannot be shown on one line (`Source::location`,
/// `escape_controls`).
pub fn shown_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let shown = cwd
        .as_deref()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or(path);
    rag::index::paths::encode(shown)
}

/// A path stored in the index as the user should see it.
pub fn display_path(index: &dyn SearchIndex, stored: &str) -> String {
    shown_path(&index.resolve(stored))
}
