//! What every command needs: where the index is, and the embedding model.

use std::path::{Path, PathBuf};

use rag_index::{find_index_dir, Index, INDEX_DIR_NAME};

use crate::cli::Cli;
use crate::config::{Config, ConfigSource, Origin};
use crate::embedding::OnnxEmbedder;
use crate::models::{embedding_files, models_dir, EMBEDDING_DIMENSION, EMBEDDING_MODEL_ID};
use crate::{Error, Result};

pub struct Context {
    pub index_flag: Option<PathBuf>,
    pub models_dir: PathBuf,
    /// Where the model folder setting came from (for `rag config`).
    pub models_origin: Origin,
    pub config: Config,
    pub quiet: bool,
    pub color: crate::cli::ColorWhen,
}

impl Context {
    /// Reads the config file (a broken one is an error, naming it).
    pub fn new(cli: &Cli) -> Result<Self> {
        let config = Config::load(&ConfigSource::locate(cli.config.as_deref()))?;
        let env_models = std::env::var_os("RAG_MODELS").filter(|d| !d.is_empty());
        let (models_dir, models_origin) = match (&cli.models, env_models, &config.file.models) {
            (Some(dir), _, _) => (dir.clone(), Origin::Flag),
            (None, Some(dir), _) => (PathBuf::from(dir), Origin::Environment),
            (None, None, Some(dir)) => (dir.clone(), Origin::ConfigFile),
            (None, None, None) => (models_dir(None), Origin::Default),
        };
        Ok(Context {
            index_flag: cli.index.clone(),
            models_dir,
            models_origin,
            config,
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
    pub fn index_dir_for_writing(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.index_flag {
            return Ok(dir.clone());
        }
        let cwd = current_dir()?;
        Ok(find_index_dir(&cwd).unwrap_or_else(|| cwd.join(INDEX_DIR_NAME)))
    }

    /// The index to read: --index, else the nearest `.rag/` upward.
    pub fn index_dir_for_reading(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.index_flag {
            return Ok(dir.clone());
        }
        let cwd = current_dir()?;
        find_index_dir(&cwd)
            .ok_or_else(|| Error::Index(rag_index::Error::NotFound(cwd.join(INDEX_DIR_NAME))))
    }

    pub fn embedder(&self, workers: usize) -> Result<OnnxEmbedder> {
        let files = embedding_files(&self.models_dir)?;
        OnnxEmbedder::new(files, &self.models_dir, workers)
    }

    /// Opens the index, refusing one built with a different embedding model.
    pub fn open_index(&self) -> Result<Index> {
        let dir = self.index_dir_for_reading()?;
        Ok(Index::open(
            &dir,
            Some((EMBEDDING_MODEL_ID, EMBEDDING_DIMENSION)),
        )?)
    }
}

impl Context {
    /// Says so (unless quiet) when an interrupted ingest left the keyword
    /// index behind the last commit; results stay correct meanwhile.
    pub fn warn_if_out_of_step(&self, index: &Index) {
        if !index.bm25_in_sync() && !self.quiet {
            eprintln!(
                "warning: the keyword index at {} is out of step with the last commit (an ingest was interrupted); run `rag ingest` to repair it",
                index.dir().display()
            );
        }
    }
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::Usage(format!("cannot read the current folder: {e}")))
}

/// A stored path as the user should see it: relative to the current folder
/// when the file is below it, otherwise absolute.
pub fn display_path(index: &Index, stored: &str) -> String {
    shown_path(&index.resolve(stored))
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
    rag_index::paths::encode(shown)
}
