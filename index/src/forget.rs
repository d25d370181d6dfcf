//! `rag forget`: files and folders out of the index, the files on disk untouched.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backend::IndexSink;
use crate::index::canonical;
use crate::ingest::{is_under, stored_path};
use crate::writer::IndexWriter;
use crate::{Error, Result};

/// What `rag forget` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetSummary {
    pub files: usize,
    pub chunks: usize,
    /// Paths inside folders the index still covers: later ingests of those
    /// folders leave them out (as stored).
    pub kept_out: Vec<String>,
}

/// Removes every file under `paths` (as they were ingested) from the index at
/// `index_dir`, and the folders themselves from what it covers; one commit.
/// The files on disk are not touched.
pub fn forget(index_dir: &Path, paths: &[PathBuf]) -> Result<ForgetSummary> {
    let manifest = crate::manifest::Manifest::read(index_dir)?
        .ok_or_else(|| Error::NotFound(index_dir.to_path_buf()))?;
    let writer = IndexWriter::open(
        index_dir,
        manifest.embedding.clone(),
        manifest.chunker,
        false,
    )?;
    forget_from(Box::new(writer), paths)
}

/// [`forget`] on any index.
pub fn forget_from(
    mut writer: Box<dyn IndexSink + '_>,
    paths: &[PathBuf],
) -> Result<ForgetSummary> {
    let root = writer.root();
    let mut summary = ForgetSummary::default();
    for path in paths {
        let stored = stored_path(&root, &canonical(path));
        let under: Vec<String> = writer
            .files()
            .keys()
            .filter(|file| is_under(file, &stored))
            .cloned()
            .collect();
        let covered = writer.roots().iter().any(|r| is_under(r, &stored));
        if under.is_empty() && !covered {
            return Err(Error::NotIndexed(path.clone()));
        }
        for file in &under {
            summary.chunks += writer.files().get(file).map_or(0, |f| f.chunks.len());
            writer.remove_file(file);
        }
        summary.files += under.len();
        writer.remove_roots(&stored);
        let mut remembered = writer.remembered().clone();
        crate::remember::forgot(&mut remembered, &stored, writer.roots());
        if remembered.forgotten.contains(&stored) {
            summary.kept_out.push(stored.clone());
        }
        writer.set_remembered(remembered);
    }
    writer.finish()?;
    Ok(summary)
}
