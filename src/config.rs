//! Settings resolved once: command-line flags, then the config file, then the
//! defaults (each written here and nowhere else). `rag config` shows every
//! effective value and where it came from.
//!
//! The file is TOML at `--config FILE`, else `$RAG_CONFIG`, else
//! `$XDG_CONFIG_HOME/rag/config.toml` (`~/.config/rag/config.toml`):
//!
//! ```toml
//! model = "qwen2.5-coder-1.5b-instruct"   # a catalogue name or a GGUF path
//! models = "/data/models"                  # the model folder
//! index = "milvus://10.0.0.5:19530/docs"    # the index (else .rag/ found upward)
//!
//! [answer]
//! k = 3
//! context_tokens = 1000
//! max_tokens = 256
//! temperature = 0.0
//! min_evidence = 0.77
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The defaults of every setting the config file can change.
pub mod defaults {
    /// The gate's threshold (`min_evidence` in the config file).
    pub use crate::assistant::defaults::MIN_STRENGTH as MIN_EVIDENCE;
    /// Answers from documents are greedy.
    pub use crate::assistant::defaults::TEMPERATURE as ANSWER_TEMPERATURE;
    pub use crate::assistant::defaults::{CONTEXT_TOKENS, K, MAX_TOKENS, SAMPLES};
    pub use crate::llm::generate::DRAFT_TOKENS;
    /// `rag generate` and chat's regenerate sample with some freedom.
    pub use crate::llm::sampler::defaults::TEMPERATURE as FREE_TEMPERATURE;
    pub use crate::llm::sampler::defaults::{MIN_P, REPEAT_LAST_N, REPEAT_PENALTY, TOP_K, TOP_P};
}

/// The accepted range of every numeric setting, shared by the flags and the
/// config file so both refuse the same values with the same words.
pub mod limits {
    use std::ops::RangeInclusive;

    /// Passages retrieved for an answer.
    pub const K: RangeInclusive<usize> = 1..=100;
    /// Results of `rag search`.
    pub const SEARCH_K: RangeInclusive<usize> = 1..=10_000;
    pub const CONTEXT_TOKENS: RangeInclusive<usize> = 64..=131_072;
    pub const MAX_TOKENS: RangeInclusive<usize> = 1..=131_072;
    pub const SAMPLES: RangeInclusive<usize> = 1..=16;
    pub const TOP_K: RangeInclusive<usize> = 0..=1_000_000;
    pub const REPEAT_LAST_N: RangeInclusive<usize> = 0..=131_072;
    pub const TEMPERATURE: RangeInclusive<f32> = 0.0..=100.0;
    pub const TOP_P: RangeInclusive<f32> = f32::MIN_POSITIVE..=1.0;
    pub const MIN_P: RangeInclusive<f32> = 0.0..=1.0;
    pub const REPEAT_PENALTY: RangeInclusive<f32> = f32::MIN_POSITIVE..=100.0;
    pub const MIN_EVIDENCE: RangeInclusive<f32> = -10.0..=10.0;
    pub const CANDIDATES: RangeInclusive<usize> = 1..=10_000;
    pub const EF: RangeInclusive<usize> = 1..=10_000;
    pub const RRF_K: RangeInclusive<f32> = f32::MIN_POSITIVE..=1_000_000.0;
    pub const FUSION_WEIGHT: RangeInclusive<f32> = f32::MIN_POSITIVE..=1000.0;
    pub const THREADS: RangeInclusive<usize> = 1..=1024;
    pub const DECODE_TOKENS: RangeInclusive<usize> = 1..=4096;
    /// A pass checks the drafted tokens with the one before them, in at most
    /// `Model::EXACT_ROWS_PER_PASS` rows.
    pub const DRAFT_TOKENS: RangeInclusive<usize> = 0..=10;
    pub const CHECKPOINT_SECS: RangeInclusive<u64> = 0..=86_400;

    /// `value` when it lies in `range`, else why not.
    pub fn count<T>(value: T, range: &RangeInclusive<T>) -> Result<T, String>
    where
        T: PartialOrd + std::fmt::Display + Copy,
    {
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(format!("must be from {} to {}", range.start(), range.end()))
        }
    }

    /// `value` when it is a finite number in `range`, else why not.
    pub fn number(value: f32, range: &RangeInclusive<f32>) -> Result<f32, String> {
        if value.is_finite() && range.contains(&value) {
            return Ok(value);
        }
        let low = if *range.start() == f32::MIN_POSITIVE {
            "more than 0".to_string()
        } else {
            format!("at least {}", range.start())
        };
        Err(format!(
            "must be a number {low} and at most {}",
            range.end()
        ))
    }
}

/// The config file's contents; every field may be left out.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// A catalogue name or a GGUF path.
    pub model: Option<String>,
    /// The model folder.
    pub models: Option<PathBuf>,
    /// The index: a folder, or `milvus://HOST:PORT/COLLECTION`.
    pub index: Option<PathBuf>,
    #[serde(default)]
    pub answer: AnswerConfig,
}

/// Answer defaults, as `rag ask` flags name them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerConfig {
    pub k: Option<usize>,
    pub context_tokens: Option<usize>,
    pub max_tokens: Option<usize>,
    pub samples: Option<usize>,
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<usize>,
    pub min_evidence: Option<f32>,
    pub draft_tokens: Option<usize>,
}

/// Where the config file is, and whether it was asked for by name (then it
/// must exist) or found by convention (then it may not).
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: Option<PathBuf>,
    pub explicit: bool,
}

impl ConfigSource {
    /// `--config`, else `$RAG_CONFIG`, else the user config folder's `rag/config.toml`.
    pub fn locate(flag: Option<&Path>) -> Self {
        if let Some(path) = flag {
            return ConfigSource {
                path: Some(path.to_path_buf()),
                explicit: true,
            };
        }
        if let Some(path) = std::env::var_os("RAG_CONFIG").filter(|p| !p.is_empty()) {
            return ConfigSource {
                path: Some(PathBuf::from(path)),
                explicit: true,
            };
        }
        ConfigSource {
            path: directories::ProjectDirs::from("", "", "rag")
                .map(|dirs| dirs.config_dir().join("config.toml")),
            explicit: false,
        }
    }
}

/// The config file, read and checked.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub file: ConfigFile,
    /// The file it came from, when one was read.
    pub path: Option<PathBuf>,
    /// Where it was looked for (shown by `rag config` when absent).
    pub looked_at: Option<PathBuf>,
}

/// A config file larger than this is not one (`RAG_CONFIG=/dev/zero`).
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The config file's text, refused as `InvalidData` when it is not text or
/// larger than [`MAX_CONFIG_BYTES`].
fn read_config_text(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let bytes = crate::limited::read_to_limit(file, MAX_CONFIG_BYTES)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB: not a config file",
        )
    })?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

impl Config {
    pub fn load(source: &ConfigSource) -> Result<Self> {
        let Some(path) = &source.path else {
            return Ok(Config::default());
        };
        let text = match read_config_text(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !source.explicit => {
                return Ok(Config {
                    looked_at: Some(path.clone()),
                    ..Config::default()
                });
            }
            Err(e) => {
                return Err(Error::Io {
                    action: "reading the config file",
                    path: path.clone(),
                    source: e,
                })
            }
        };
        let file: ConfigFile = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let config = Config {
            file,
            path: Some(path.clone()),
            looked_at: Some(path.clone()),
        };
        config.check()?;
        Ok(config)
    }

    /// The same bounds as the flags, so a bad file says so at once, naming itself.
    fn check(&self) -> Result<()> {
        let path = || self.path.clone().unwrap_or_default();
        let paths = [
            ("model", self.file.model.as_deref().map(str::as_ref)),
            ("models", self.file.models.as_deref()),
            ("index", self.file.index.as_deref()),
        ];
        for (key, value) in paths {
            if value.is_some_and(|v: &Path| v.as_os_str().to_string_lossy().trim().is_empty()) {
                return Err(Error::Config {
                    path: path(),
                    reason: format!("{key} is empty: give a value or leave the key out"),
                });
            }
        }
        let a = &self.file.answer;
        let bad = |key: &str, why: String| Error::Config {
            path: self.path.clone().unwrap_or_default(),
            reason: format!("answer.{key} {why}"),
        };
        let counts = [
            ("k", a.k, &limits::K),
            ("context_tokens", a.context_tokens, &limits::CONTEXT_TOKENS),
            ("max_tokens", a.max_tokens, &limits::MAX_TOKENS),
            ("samples", a.samples, &limits::SAMPLES),
            ("top_k", a.top_k, &limits::TOP_K),
            ("repeat_last_n", a.repeat_last_n, &limits::REPEAT_LAST_N),
            ("draft_tokens", a.draft_tokens, &limits::DRAFT_TOKENS),
        ];
        for (key, value, range) in counts {
            if let Some(value) = value {
                limits::count(value, range).map_err(|why| bad(key, why))?;
            }
        }
        let numbers = [
            ("temperature", a.temperature, &limits::TEMPERATURE),
            ("top_p", a.top_p, &limits::TOP_P),
            ("min_p", a.min_p, &limits::MIN_P),
            ("repeat_penalty", a.repeat_penalty, &limits::REPEAT_PENALTY),
            ("min_evidence", a.min_evidence, &limits::MIN_EVIDENCE),
        ];
        for (key, value, range) in numbers {
            if let Some(value) = value {
                limits::number(value, range).map_err(|why| bad(key, why))?;
            }
        }
        Ok(())
    }
}

/// Where an effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Flag,
    Environment,
    ConfigFile,
    Default,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Flag => "command line",
            Origin::Environment => "environment",
            Origin::ConfigFile => "config file",
            Origin::Default => "default",
        }
    }
}

/// A flag's value, else the config file's, else the default, with its origin.
pub fn pick<T: Clone>(flag: Option<T>, file: Option<T>, default: T) -> (T, Origin) {
    match (flag, file) {
        (Some(v), _) => (v, Origin::Flag),
        (None, Some(v)) => (v, Origin::ConfigFile),
        (None, None) => (default, Origin::Default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_bounds_its_answer_limit_like_the_flag() {
        assert_eq!(
            rag_tui::commands::MAX_ANSWER_TOKENS,
            *limits::MAX_TOKENS.end()
        );
        assert_eq!(*limits::MAX_TOKENS.start(), 1);
    }

    fn write(text: &str) -> (tempfile::TempDir, ConfigSource) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (
            dir,
            ConfigSource {
                path: Some(path),
                explicit: true,
            },
        )
    }

    #[test]
    fn a_file_sets_the_model_and_answer_defaults() {
        let (_dir, source) =
            write("model = \"gemma-3-270m\"\n[answer]\nk = 5\ntemperature = 0.3\n");
        let config = Config::load(&source).unwrap();
        assert_eq!(config.file.model.as_deref(), Some("gemma-3-270m"));
        assert_eq!(config.file.answer.k, Some(5));
        assert_eq!(
            pick(None, config.file.answer.k, defaults::K),
            (5, Origin::ConfigFile)
        );
        assert_eq!(
            pick(Some(2), config.file.answer.k, defaults::K),
            (2, Origin::Flag)
        );
        assert_eq!(
            pick(None, None, defaults::K),
            (defaults::K, Origin::Default)
        );
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        for (text, needle) in [
            ("modle = \"x\"", "modle"),
            ("[answer]\nk = 0", "answer.k"),
            ("[answer]\ntop_p = 2.0", "answer.top_p"),
            ("[answer]\nk = \"three\"", "k"),
            ("model = ", "config.toml"),
        ] {
            let (_dir, source) = write(text);
            let err = Config::load(&source).unwrap_err().to_string();
            assert!(err.contains("config.toml"), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn a_missing_file_is_fine_unless_it_was_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let found = Config::load(&ConfigSource {
            path: Some(path.clone()),
            explicit: false,
        })
        .unwrap();
        assert!(found.path.is_none());
        assert_eq!(found.looked_at, Some(path.clone()));
        let named = Config::load(&ConfigSource {
            path: Some(path),
            explicit: true,
        });
        assert!(named.unwrap_err().to_string().contains("absent.toml"));
    }
}
