//! The sentence-embedding model (ONNX, run by fastembed on onnxruntime) behind
//! `rag_index::Embedder`.

use std::sync::{Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};
use tokenizers::Tokenizer;

use crate::models::{
    onnxruntime_library, EmbeddingFiles, EMBEDDING_DIMENSION, EMBEDDING_MAX_TOKENS,
};
use crate::{Error, Result};

/// Texts per ONNX run. Measured on one core (337 corpus chunks, sorted by
/// length): 32 -> 21 texts/s and 800 MB peak per worker, 8 -> 26/s and 410 MB,
/// 4 -> 29/s and 300 MB. Small runs pad less and stay in cache.
const RUN_BATCH: usize = 4;

/// all-MiniLM-L6-v2 on onnxruntime. Sessions load on first use, so commands
/// that end up embedding nothing (an ingest with no changes) never pay for them.
pub struct OnnxEmbedder {
    files: EmbeddingFiles,
    models_dir: std::path::PathBuf,
    tokenizer: Tokenizer,
    workers: usize,
    /// Stamped on the indexes it fills (see `EmbeddingFiles::identity`).
    identity: String,
    sessions: OnceLock<std::result::Result<Vec<Mutex<TextEmbedding>>, String>>,
}

impl OnnxEmbedder {
    /// `workers` sessions of one intra-op thread each run batches in parallel:
    /// on small CPUs that beats one session spreading each batch over threads.
    pub fn new(
        files: EmbeddingFiles,
        models_dir: &std::path::Path,
        workers: usize,
    ) -> Result<Self> {
        let tokenizer =
            Tokenizer::from_file(&files.tokenizer).map_err(|e| Error::EmbeddingModel {
                path: files.tokenizer.clone(),
                reason: e.to_string(),
            })?;
        // Fail now, not on first use, when the runtime library is missing.
        onnxruntime_library(models_dir)?;
        Ok(OnnxEmbedder {
            identity: files.identity(),
            files,
            models_dir: models_dir.to_path_buf(),
            tokenizer,
            workers: workers.max(1),
            sessions: OnceLock::new(),
        })
    }

    /// Loads the model now (it otherwise loads on first use); errors come back here.
    pub fn load(&self) -> Result<()> {
        self.sessions()
            .map(|_| ())
            .map_err(|reason| Error::EmbeddingModel {
                path: self.files.onnx.clone(),
                reason,
            })
    }

    fn sessions(&self) -> std::result::Result<&[Mutex<TextEmbedding>], String> {
        self.sessions
            .get_or_init(|| self.create_sessions())
            .as_deref()
            .map_err(Clone::clone)
    }

    fn create_sessions(&self) -> std::result::Result<Vec<Mutex<TextEmbedding>>, String> {
        let environment = init_runtime(&self.models_dir).map_err(|e| e.to_string())?;
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
        };
        let onnx = read(&self.files.onnx)?;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(&self.files.tokenizer)?,
            config_file: read(&self.files.config)?,
            special_tokens_map_file: read(&self.files.special_tokens_map)?,
            tokenizer_config_file: read(&self.files.tokenizer_config)?,
        };
        (0..self.workers)
            .map(|_| {
                let mut model =
                    UserDefinedEmbeddingModel::new(onnx.clone(), tokenizer_files.clone())
                        .with_pooling(Pooling::Mean);
                // Dynamic quantisation would forbid batching; batches are what make ingest fast.
                model.quantization = QuantizationMode::None;
                let options = InitOptionsUserDefined::new()
                    .with_environment(environment.clone())
                    .with_max_length(EMBEDDING_MAX_TOKENS)
                    .with_intra_threads(1);
                TextEmbedding::try_new_from_user_defined(model, options)
                    .map(Mutex::new)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// Loads onnxruntime from the model folder (or ORT_DYLIB_PATH) once per process.
/// Loading it ourselves turns a missing library into an error instead of a panic.
fn init_runtime(models_dir: &std::path::Path) -> Result<ort::environment::Environment> {
    static RUNTIME: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();
    let library = onnxruntime_library(models_dir)?;
    RUNTIME
        .get_or_init(|| {
            let builder = ort::init_from(&library).map_err(|e| e.to_string())?;
            builder
                .with_name("rag")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|reason| Error::Runtime {
            path: library,
            reason,
        })
}

impl rag_index::Embedder for OnnxEmbedder {
    fn model_id(&self) -> &str {
        &self.identity
    }

    fn dimension(&self) -> usize {
        EMBEDDING_DIMENSION
    }

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn max_tokens(&self) -> usize {
        EMBEDDING_MAX_TOKENS
    }

    fn embed(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<f32>>, String> {
        let sessions = self.sessions()?;
        let runs: Vec<&[&str]> = texts.chunks(RUN_BATCH).collect();
        if sessions.len() == 1 || runs.len() == 1 {
            return run(&sessions[0], texts);
        }
        // Workers take runs in turn; results go back in the caller's order.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Mutex<Option<RunResult>>> =
            runs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for session in sessions {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = runs.get(i) else { break };
                    let out = run(session, batch);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(out);
                    }
                });
            }
        });
        let mut vectors = Vec::with_capacity(texts.len());
        for slot in results {
            let out = slot
                .into_inner()
                .map_err(|_| "an embedding worker panicked".to_string())?
                .ok_or_else(|| "an embedding worker stopped early".to_string())??;
            vectors.extend(out);
        }
        Ok(vectors)
    }
}

type RunResult = std::result::Result<Vec<Vec<f32>>, String>;

fn run(session: &Mutex<TextEmbedding>, texts: &[&str]) -> RunResult {
    let mut session = session
        .lock()
        .map_err(|_| "an embedding worker panicked".to_string())?;
    session
        .embed(texts, Some(RUN_BATCH))
        .map_err(|e| e.to_string())
}
