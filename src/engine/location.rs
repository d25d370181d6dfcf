//! Where the index lives: a folder (the default, `.rag/` found upward from
//! the current folder as git finds `.git/`) or a collection on a Milvus
//! server (`milvus://HOST:PORT/COLLECTION`, built with the `milvus` feature).
//! Everything past opening goes through [`SearchIndex`] and [`IndexSink`].

use std::path::{Path, PathBuf};

use rag_index::{IndexSink, SearchIndex};

use crate::{Error, Result};

/// An index location as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexLocation {
    Folder(PathBuf),
    /// A `milvus://` URL, as given.
    Milvus(String),
}

/// The scheme that names a Milvus collection.
pub const MILVUS_SCHEME: &str = "milvus://";

impl IndexLocation {
    /// A folder, or a server when the text is a `milvus://` URL.
    pub fn parse(named: &Path) -> Self {
        match named.to_str() {
            Some(text) if text.starts_with(MILVUS_SCHEME) => {
                IndexLocation::Milvus(text.to_string())
            }
            _ => IndexLocation::Folder(named.to_path_buf()),
        }
    }

    /// The folder, for what only a folder index has (`rag check`).
    pub fn folder(&self) -> Option<&Path> {
        match self {
            IndexLocation::Folder(dir) => Some(dir),
            IndexLocation::Milvus(_) => None,
        }
    }
}

impl std::fmt::Display for IndexLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexLocation::Folder(dir) => write!(f, "{}", dir.display()),
            IndexLocation::Milvus(url) => f.write_str(url),
        }
    }
}

/// Opens a Milvus collection for searching, refusing one built with another
/// embedding model than `model` (identity, dimension).
#[cfg(feature = "milvus")]
pub(super) fn open_milvus(
    url: &str,
    token: Option<&str>,
    model: (&str, usize),
) -> Result<Box<dyn SearchIndex>> {
    let url = parse_url(url)?;
    Ok(Box::new(rag_milvus::MilvusIndex::open(
        &url,
        token,
        Some(model),
    )?))
}

/// Opens (creating when missing) a Milvus collection for writing.
#[cfg(feature = "milvus")]
pub(super) fn milvus_writer(
    url: &str,
    token: Option<&str>,
    embedding: rag_index::manifest::EmbeddingInfo,
    chunker: rag_index::ChunkerConfig,
    rebuild: bool,
) -> Result<Box<dyn IndexSink>> {
    let url = parse_url(url)?;
    Ok(Box::new(rag_milvus::MilvusWriter::open(
        &url, token, embedding, chunker, rebuild,
    )?))
}

#[cfg(feature = "milvus")]
fn parse_url(url: &str) -> Result<rag_milvus::MilvusUrl> {
    url.parse()
        .map_err(|reason: String| Error::InvalidSetting(format!("index {url}: {reason}")))
}

#[cfg(not(feature = "milvus"))]
pub(super) fn open_milvus(
    url: &str,
    _token: Option<&str>,
    _model: (&str, usize),
) -> Result<Box<dyn SearchIndex>> {
    Err(without_milvus(url))
}

#[cfg(not(feature = "milvus"))]
pub(super) fn milvus_writer(
    url: &str,
    _token: Option<&str>,
    _embedding: rag_index::manifest::EmbeddingInfo,
    _chunker: rag_index::ChunkerConfig,
    _rebuild: bool,
) -> Result<Box<dyn IndexSink>> {
    Err(without_milvus(url))
}

#[cfg(not(feature = "milvus"))]
pub(super) fn without_milvus(url: &str) -> Error {
    Error::Unavailable {
        what: format!("open {url}"),
        reason: "this rag was built without Milvus support (the `milvus` cargo feature)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_milvus_url_names_a_server_and_anything_else_a_folder() {
        assert_eq!(
            IndexLocation::parse(Path::new("milvus://db:19530/docs")),
            IndexLocation::Milvus("milvus://db:19530/docs".into())
        );
        assert_eq!(
            IndexLocation::parse(Path::new("milvus/docs")),
            IndexLocation::Folder("milvus/docs".into())
        );
        assert_eq!(
            IndexLocation::parse(Path::new("./milvus://x")),
            IndexLocation::Folder("./milvus://x".into())
        );
        assert!(IndexLocation::parse(Path::new("milvus://h/c"))
            .folder()
            .is_none());
    }
}
