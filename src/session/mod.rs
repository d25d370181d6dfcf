//! One engine session for every front end: the settings resolved once, the
//! index opened (and opened again when a newer commit lands, for sessions
//! that live long), the embedder and the generator loaded once, and answers
//! run either in the caller's thread ([`Session::ask`], [`Session::answer_many`])
//! or on a worker behind a bounded queue with cancellation ([`queue`]).
//! `rag ask`, `chat`, `batch`, `eval`, `serve` and `mcp` all drive a
//! [`Session`]; `rag search` drives a [`Searcher`], which loads no generator.

pub mod queue;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rag_index::{Embedder, Hit, Mode, SearchIndex, SearchOptions, Status};

use crate::assistant::{Answer, AskOptions, Assistant, Event, PathDisplay, Request};
use crate::embedding::OnnxEmbedder;
use crate::engine::{self, Bundled, Reopener, Settings};
use crate::llm::Generator;
use crate::results::SearchResponse;
use crate::Result;

/// How often a long-lived session looks for a newer commit of its index, at most.
const REOPEN_CHECK: Duration = Duration::from_secs(2);

/// How a session is opened.
pub struct Opening {
    /// The answering model named by the caller (a catalogue name or a GGUF
    /// path); None: the config file's, else the catalogue default.
    pub model: Option<String>,
    /// The answer settings used when a request gives none.
    pub defaults: AskOptions,
    /// How sources' files are named; None: their absolute path.
    pub show_path: Option<PathDisplay>,
    /// Pick up newer commits of a folder index before each answer or search
    /// (a chat or a server that outlives an ingest).
    pub keep_current: bool,
}

/// The loaded engine: see the module documentation.
pub struct Session {
    /// Replaced whole when a request asks for another installed model; an
    /// answer under way keeps the one it started with.
    assistant: RwLock<Arc<Assistant>>,
    defaults: AskOptions,
    fresh: Freshness,
    /// Where installed catalogue models are, for switching to one.
    models_dir: PathBuf,
}

impl Session {
    /// Opens the index found from `from` (or named by the settings; with
    /// neither, the bundled corpus's, built on first use and reported to
    /// `on_bundled`), and loads the models.
    pub fn open(
        settings: &Settings,
        from: &Path,
        opening: Opening,
        on_bundled: &(dyn Fn(Bundled) + Sync),
    ) -> Result<Session> {
        // A bad model name is said before the index is opened or built.
        settings.generator_choice(opening.model.as_deref())?;
        let index = engine::answer_index(settings, from, on_bundled)?;
        Session::with_index(settings, index, opening)
    }

    /// Loads the models to answer from an index already open.
    pub fn with_index(
        settings: &Settings,
        index: Box<dyn SearchIndex>,
        opening: Opening,
    ) -> Result<Session> {
        let model = settings.generator_choice(opening.model.as_deref())?;
        let embedder = settings.embedder(1)?;
        embedder.load()?;
        let generator = Generator::load(&model.path)?;
        let reopener = if opening.keep_current {
            Reopener::for_index(settings, index.as_ref())
        } else {
            None
        };
        let mut assistant = engine::assistant_for(index, embedder, generator, &model);
        if let Some(show_path) = opening.show_path {
            assistant = assistant.with_path_display(show_path);
        }
        Ok(Session {
            assistant: RwLock::new(Arc::new(assistant)),
            defaults: opening.defaults,
            fresh: Freshness::new(reopener),
            models_dir: settings.models_dir.clone(),
        })
    }

    /// The assistant answering now, its index brought up to date first.
    fn current(&self) -> Arc<Assistant> {
        let assistant = Arc::clone(
            &self
                .assistant
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.fresh.refresh(&assistant);
        assistant
    }

    /// The catalogue models installed in the model folder, the one answering
    /// now first (it may be a GGUF named by its path).
    pub fn installed_models(&self) -> Vec<String> {
        let answering = self.model_name();
        let mut names = vec![answering.clone()];
        for entry in &crate::models::catalogue().generators {
            if entry.path_in(&self.models_dir).is_file()
                && !entry.name.eq_ignore_ascii_case(&answering)
            {
                names.push(entry.name.clone());
            }
        }
        names
    }

    /// Answers with the installed catalogue model `name` from now on (a
    /// no-op when it is the one answering). Only catalogue names are taken:
    /// a request never names a file to load.
    pub fn switch_model(&self, name: &str) -> Result<()> {
        let current = self.current();
        if current.model_name().eq_ignore_ascii_case(name) {
            return Ok(());
        }
        let catalogue = crate::models::catalogue();
        let Some(entry) = catalogue.get(name) else {
            return Err(crate::Error::UnknownModel {
                given: name.to_string(),
                known: self.installed_models().join(", "),
            });
        };
        let model = crate::models::resolve_generator(&self.models_dir, Some(&entry.name))?;
        drop(current);
        let generator = Generator::load(&model.path)?;
        let mut slot = self
            .assistant
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let switched =
            slot.with_generator(generator, model.display_name(), engine::style_for(&model));
        *slot = Arc::new(switched);
        Ok(())
    }

    /// The answer settings of a request that gives none.
    pub fn defaults(&self) -> &AskOptions {
        &self.defaults
    }

    /// The answering model's name.
    pub fn model_name(&self) -> String {
        self.current().model_name().to_string()
    }

    /// The embedding model's name as the index records it (with its digest).
    pub fn embedding_model_id(&self) -> String {
        self.current().embedding_model().to_string()
    }

    /// The embedding model's name without the digest the index records with it.
    pub fn embedding_model(&self) -> String {
        let id = self.embedding_model_id();
        id.split_once('@')
            .map_or(id.clone(), |(name, _)| name.to_string())
    }

    /// The index answered from now.
    pub fn index(&self) -> Arc<dyn SearchIndex> {
        self.current().index()
    }

    /// Answers one question in the caller's thread, reporting progress to
    /// `on_event`; returning false from it stops the generation.
    pub fn ask(
        &self,
        request: Request<'_>,
        options: &AskOptions,
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<Answer> {
        self.current().ask(request, options, on_event)
    }

    /// Answers many questions in order, their retrieval batched; see
    /// [`Assistant::answer_many`].
    pub fn answer_many(
        &self,
        questions: &[&str],
        options: &AskOptions,
        seed_for: &dyn Fn(usize) -> Option<u64>,
        on_answer: &mut dyn FnMut(usize, Result<Answer>) -> bool,
    ) -> Result<()> {
        self.current()
            .answer_many(questions, options, seed_for, on_answer)
    }

    /// The index searched as `rag search --json` reports it.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<SearchResponse> {
        let assistant = self.current();
        let started = Instant::now();
        let hits = assistant.search(query, options)?;
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(SearchResponse::new(query, took_ms, hits, &|path| {
            assistant.display_path(path)
        }))
    }

    /// The index's status, as `rag status` reports it.
    pub fn status(&self) -> Result<Status> {
        Ok(self.index().status()?)
    }

    /// Why the last attempt to open a newer commit failed (the index before
    /// it goes on answering); None when it did not.
    pub fn reopen_failure(&self) -> Option<String> {
        self.fresh.failure()
    }

    /// Vectors of `texts` from the index's embedding model, and the tokens it read.
    pub fn embed(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, usize)> {
        let assistant = self.current();
        let tokens = texts.iter().map(|t| assistant.embedding_tokens(t)).sum();
        Ok((assistant.embed(texts)?, tokens))
    }
}

/// Keeps a session's index current with its folder's last commit.
struct Freshness {
    reopener: Option<Reopener>,
    checked: Mutex<Instant>,
    /// Why the last reopening failed (the old index goes on serving).
    failure: Mutex<Option<String>>,
}

impl Freshness {
    fn new(reopener: Option<Reopener>) -> Self {
        Freshness {
            reopener,
            checked: Mutex::new(Instant::now()),
            failure: Mutex::new(None),
        }
    }

    /// Opens the folder's newer commit, if any, for what comes next. A check
    /// under way elsewhere is not waited for: this caller uses the index as it is.
    fn refresh(&self, assistant: &Assistant) {
        let Some(reopener) = &self.reopener else {
            return;
        };
        let Ok(mut checked) = self.checked.try_lock() else {
            return;
        };
        if checked.elapsed() < REOPEN_CHECK {
            return;
        }
        let outcome = reopener.newer();
        *checked = Instant::now();
        let failure = match outcome {
            Ok(Some(index)) => {
                assistant.replace_index(index);
                None
            }
            Ok(None) => None,
            Err(error) => Some(error.to_string()),
        };
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = failure;
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A session for searching only: the index, and the embedding model when the
/// search mode reads vectors. No generator is loaded.
pub struct Searcher {
    index: Box<dyn SearchIndex>,
    embedder: Option<OnnxEmbedder>,
}

impl Searcher {
    /// The index answers would come from (see [`Session::open`]), ready for
    /// searches in `mode`.
    pub fn open(
        settings: &Settings,
        from: &Path,
        mode: Mode,
        on_bundled: &(dyn Fn(Bundled) + Sync),
    ) -> Result<Searcher> {
        let index = engine::answer_index(settings, from, on_bundled)?;
        let embedder = match mode {
            Mode::Bm25 => None,
            _ => {
                let embedder = settings.embedder(1)?;
                embedder.load()?;
                Some(embedder)
            }
        };
        Ok(Searcher { index, embedder })
    }

    pub fn index(&self) -> &dyn SearchIndex {
        self.index.as_ref()
    }

    /// The passages for `query`, best first.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<Hit>> {
        let embedder = self.embedder.as_ref().map(|e| e as &dyn Embedder);
        Ok(self.index.search(query, embedder, options)?)
    }
}
