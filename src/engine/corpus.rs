//! The corpus compiled into the binary, and its index in the user data
//! folder: what `rag ask` answers from before the user has indexed anything.

use std::path::{Path, PathBuf};

use rag_index::SearchIndex;

use super::{Bundled, IndexLocation, Settings};
use crate::models::data_dir;
use crate::{Error, Result};

/// The index of the bundled corpus in the user data folder, built on first use.
pub fn bundled_index(
    settings: &Settings,
    on_bundled: &(dyn Fn(Bundled) + Sync),
) -> Result<Box<dyn SearchIndex>> {
    let index_dir = bundled_index_dir();
    if index_dir.join(rag_index::manifest::MANIFEST_FILE).is_file() {
        on_bundled(Bundled::Using {
            index_dir: &index_dir,
        });
    } else {
        let corpus = bundled_corpus().ok_or(Error::NoIndex)?;
        on_bundled(Bundled::Indexing {
            corpus: &corpus,
            index_dir: &index_dir,
        });
        // Our own corpus links to the guide beside it (`rag-guide.md` ->
        // `../GUIDE.md` in the source tree): follow it, as ingest does not
        // for a user's folders.
        let mut options = super::default_ingest();
        options.walk.follow_links = true;
        let summary = super::ingest_with(
            settings,
            &IndexLocation::Folder(index_dir.clone()),
            std::slice::from_ref(&corpus),
            options,
            &|event| on_bundled(Bundled::Ingest(event)),
        )?;
        on_bundled(Bundled::Indexed {
            summary: &summary,
            index_dir: &index_dir,
        });
    }
    settings.open_index_at(&IndexLocation::Folder(index_dir))
}

/// Where the bundled corpus is indexed.
pub fn bundled_index_dir() -> PathBuf {
    data_dir().join("corpus-index")
}

/// The corpus compiled into the binary (1.3 MB of Markdown).
static EMBEDDED_CORPUS: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/corpus");

/// `$RAG_CORPUS`, else `corpus/` of the source tree this binary was built
/// from when it is still there, else the copy inside the binary, written out
/// once to the data folder.
pub fn bundled_corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RAG_CORPUS").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    if built_from.is_dir() {
        return Some(built_from);
    }
    embedded_corpus(&data_dir()).ok()
}

/// Writes the embedded corpus to `<data>/corpus-<content hash>/` unless it is
/// there already; a changed corpus gets a new folder. Written under a
/// temporary name and renamed, so a half-written copy is never used.
fn embedded_corpus(data: &Path) -> std::io::Result<PathBuf> {
    let mut files = Vec::new();
    collect_files(&EMBEDDED_CORPUS, &mut files);
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for file in &files {
        hasher.update(file.path().to_string_lossy().as_bytes());
        hasher.update(file.contents());
    }
    let digest = hasher.finalize();
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let dir = data.join(format!("corpus-{hash}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(data)?;
    let staging = tempfile::tempdir_in(data)?;
    for file in &files {
        let path = staging.path().join(file.path());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, file.contents())?;
    }
    match std::fs::rename(staging.path(), &dir) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to delete.
            let _ = staging.keep();
            Ok(dir)
        }
        // Another process wrote it first.
        Err(_) if dir.is_dir() => Ok(dir),
        Err(e) => Err(e),
    }
}

fn collect_files<'a>(dir: &'a include_dir::Dir<'a>, into: &mut Vec<&'a include_dir::File<'a>>) {
    into.extend(dir.files());
    for sub in dir.dirs() {
        collect_files(sub, into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_corpus_is_written_out_once() {
        let data = tempfile::tempdir().unwrap();
        let dir = embedded_corpus(data.path()).unwrap();
        let guide = std::fs::read_to_string(dir.join("rag-guide.md")).unwrap();
        assert_eq!(guide, include_str!("../../corpus/rag-guide.md"));
        assert!(dir.join("wikipedia").is_dir());
        let modified = std::fs::metadata(dir.join("rag-guide.md"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(embedded_corpus(data.path()).unwrap(), dir);
        let again = std::fs::metadata(dir.join("rag-guide.md"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(modified, again, "not written twice");
        assert_eq!(
            std::fs::read_dir(data.path()).unwrap().count(),
            1,
            "no staging left"
        );
    }
}
