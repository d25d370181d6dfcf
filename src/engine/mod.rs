//! Everything a command needs, put together without the command line: the
//! settings resolved once (flags > config file > defaults), the index, the
//! embedder and the generator behind an [`Assistant`], and the policies that
//! pick them (the bundled corpus when there is no index, how ingest runs).
//!
//! The caller passes what only it knows: the flags as plain values, the
//! folder to look for an index from, and a callback for progress. Nothing here
//! prints, reads the current folder or knows how a path is shown.

mod corpus;
mod location;
mod settings;

use std::path::{Path, PathBuf};

use rag_index::manifest::EmbeddingInfo;
use rag_index::{
    CopySummary, Embedder, ForgetSummary, IngestEvent, IngestOptions, IngestSummary, SearchIndex,
};

pub use corpus::{bundled_corpus, bundled_index, bundled_index_dir};
pub use location::{IndexLocation, MILVUS_SCHEME};
pub use settings::{AnswerFlags, Setting, Settings};

use crate::assistant::{Assistant, Style};
use crate::embedding::OnnxEmbedder;
use crate::llm::Generator;
use crate::models::{GeneratorChoice, PromptStyle};
use crate::Result;

/// Ingests `roots` into the index at `location` as every command that
/// ingests before it answers does: default walk and chunking, PDFs read in a
/// sandboxed child, one embedding worker per core.
pub fn ingest(
    settings: &Settings,
    location: &IndexLocation,
    roots: &[PathBuf],
    on_event: &(dyn Fn(IngestEvent) + Sync),
) -> Result<IngestSummary> {
    ingest_with(settings, location, roots, default_ingest(), on_event)
}

/// The ingest options of [`ingest`].
pub fn default_ingest() -> IngestOptions {
    IngestOptions {
        contained_reader: crate::contained::sandboxed_reader(),
        ..IngestOptions::default()
    }
}

/// Ingests `roots` into the index at `location` with `options`.
pub fn ingest_with(
    settings: &Settings,
    location: &IndexLocation,
    roots: &[PathBuf],
    options: IngestOptions,
    on_event: &(dyn Fn(IngestEvent) + Sync),
) -> Result<IngestSummary> {
    let embedder = settings.embedder(all_cores())?;
    ingest_using(settings, location, roots, &embedder, &options, on_event)
}

/// Ingests `roots` into the index at `location` with a caller's embedder
/// (`rag ingest --threads`) and options.
pub fn ingest_using(
    settings: &Settings,
    location: &IndexLocation,
    roots: &[PathBuf],
    embedder: &dyn Embedder,
    options: &IngestOptions,
    on_event: &(dyn Fn(IngestEvent) + Sync),
) -> Result<IngestSummary> {
    match location {
        IndexLocation::Folder(dir) => {
            Ok(rag_index::ingest(dir, roots, embedder, options, on_event)?)
        }
        IndexLocation::Milvus(url) => {
            let writer = settings.index_writer(
                url,
                EmbeddingInfo::of(embedder),
                options.chunker,
                options.rebuild,
            )?;
            Ok(rag_index::ingest_into(
                writer, roots, embedder, options, on_event,
            )?)
        }
    }
}

/// Removes every file under `paths` from the index at `location`.
pub fn forget(
    settings: &Settings,
    location: &IndexLocation,
    paths: &[PathBuf],
) -> Result<ForgetSummary> {
    match location {
        IndexLocation::Folder(dir) => Ok(rag_index::forget(dir, paths)?),
        IndexLocation::Milvus(url) => {
            // Opening checks this run's model against the collection's, as
            // opening it for searching would.
            let writer = settings.index_writer(
                url,
                settings.embedding_info(),
                rag_index::IngestOptions::default().chunker,
                false,
            )?;
            Ok(rag_index::forget_from(writer, paths)?)
        }
    }
}

/// Copies the folder index at `from` into the index at `to` with its stored
/// vectors (nothing is embedded again); resumable. `on_file(done, total)`.
pub fn copy_index(
    settings: &Settings,
    from: &Path,
    to: &IndexLocation,
    on_file: &dyn Fn(usize, usize),
) -> Result<CopySummary> {
    if let IndexLocation::Milvus(url) = IndexLocation::parse(from) {
        #[cfg(not(feature = "milvus"))]
        return Err(location::without_milvus(&url));
        #[cfg(feature = "milvus")]
        return Err(crate::Error::Usage(format!(
            "copying reads an index folder, and {url} is a Milvus collection: copy from the folder it was filled from, or ingest the documents again"
        )));
    }
    let source = settings.open_folder_index(from)?;
    let manifest = source.manifest();
    let writer = match to {
        IndexLocation::Milvus(url) => {
            settings.index_writer(url, manifest.embedding.clone(), manifest.chunker, false)?
        }
        IndexLocation::Folder(dir) => Box::new(rag_index::IndexWriter::open(
            dir,
            manifest.embedding.clone(),
            manifest.chunker,
            false,
        )?),
    };
    Ok(rag_index::copy(&source, writer, on_file)?)
}

/// The cores this process may use (1 when that cannot be read).
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What happens on the way to an index when the user has none: the
/// bundled corpus is indexed once, then reused.
#[derive(Debug)]
pub enum Bundled<'a> {
    /// Indexing `corpus` into `index_dir` now (the first time only).
    Indexing {
        corpus: &'a Path,
        index_dir: &'a Path,
    },
    /// A step of that ingest.
    Ingest(IngestEvent),
    /// That ingest finished.
    Indexed {
        summary: &'a IngestSummary,
        index_dir: &'a Path,
    },
    /// The bundled corpus's index exists and is used.
    Using { index_dir: &'a Path },
}

/// The index to answer from: the one found from `from` (or named by the
/// settings), else, when none was named and none is found, the bundled
/// corpus's index, built on first use. `on_bundled` hears what the fallback does.
pub fn answer_index(
    settings: &Settings,
    from: &Path,
    on_bundled: &(dyn Fn(Bundled) + Sync),
) -> Result<Box<dyn SearchIndex>> {
    match settings.open_index(from) {
        Err(crate::Error::Index(rag_index::Error::NotFound(_))) if settings.index.is_none() => {
            corpus::bundled_index(settings, on_bundled)
        }
        found => found,
    }
}

/// Opens a folder index again when a newer generation has been committed to
/// it (by `rag ingest` or `--watch` beside a long-running server). A Milvus
/// collection needs none: searches read the server's live data.
pub struct Reopener {
    dir: PathBuf,
    model: String,
    /// The generation last opened: the one being served.
    generation: std::sync::atomic::AtomicU64,
}

impl Reopener {
    /// For `index` when it is a folder; None for a Milvus collection.
    pub fn for_index(settings: &Settings, index: &dyn SearchIndex) -> Option<Self> {
        let status = index.status().ok()?;
        (status.backend == "folder").then(|| Reopener {
            dir: PathBuf::from(status.index_dir),
            model: crate::models::embedding_identity(&settings.models_dir),
            generation: status.generation.into(),
        })
    }

    /// The folder's index opened again when its last commit is newer than the
    /// one last opened; None when it is not. Reads the manifest only.
    pub fn newer(&self) -> Result<Option<Box<dyn SearchIndex>>> {
        use std::sync::atomic::Ordering;
        let opened = self.generation.load(Ordering::SeqCst);
        match rag_index::manifest::Manifest::read(&self.dir)? {
            Some(manifest) if manifest.generation > opened => {
                let index = rag_index::Index::open(
                    &self.dir,
                    Some((&self.model, crate::models::EMBEDDING_DIMENSION)),
                )?;
                // The index opens the newest commit, this one or later: a
                // later one is only opened again at the next check.
                self.generation.store(manifest.generation, Ordering::SeqCst);
                Ok(Some(Box::new(index)))
            }
            _ => Ok(None),
        }
    }
}

/// The assistant for a loaded generator, with the prompt measured for it.
pub fn assistant_for(
    index: Box<dyn SearchIndex>,
    embedder: OnnxEmbedder,
    generator: Generator,
    model: &GeneratorChoice,
) -> Assistant {
    Assistant::new(index, embedder, generator, model.display_name())
        .with_style(style_for(model))
        .with_saved_starts(crate::models::cache_dir().join("prompt-starts"))
}

/// The prompt measured best for `model` (the catalogue stores it); None
/// leaves it to the model's size.
pub fn style_for(model: &GeneratorChoice) -> Option<Style> {
    model.entry.and_then(|entry| match entry.prompt {
        PromptStyle::Reading => Some(Style::Reading),
        PromptStyle::Instructed => Some(Style::Instructed),
        // Chosen by the missing chat template, not by a style.
        PromptStyle::Document => None,
    })
}
