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
//!
//! [answer]
//! k = 3
//! context_tokens = 1000
//! max_tokens = 96
//! temperature = 0.0
//! min_evidence = 0.77
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The defaults of every setting the config file can change.
pub mod defaults {
    /// Passages retrieved for an answer.
    pub const K: usize = 3;
    /// Token budget of the sources in the prompt.
    pub const CONTEXT_TOKENS: usize = 1000;
    /// Longest answer, in tokens.
    pub const MAX_TOKENS: usize = 96;
    /// Answers sampled per question (the best supported is kept).
    pub const SAMPLES: usize = 1;
    /// Answers from documents are greedy: the most likely continuation of an
    /// open-book prompt is the most faithful one.
    pub const ANSWER_TEMPERATURE: f32 = 0.0;
    /// `rag generate` and chat's regenerate sample with some freedom.
    pub const FREE_TEMPERATURE: f32 = 0.7;
    pub const TOP_K: usize = 40;
    pub const TOP_P: f32 = 0.95;
    pub const MIN_P: f32 = 0.05;
    pub const REPEAT_PENALTY: f32 = 1.1;
    pub const REPEAT_LAST_N: usize = 64;
    pub const MIN_EVIDENCE: f32 = crate::assistant::DEFAULT_MIN_STRENGTH;
}

/// The config file's contents; every field may be left out.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// A catalogue name or a GGUF path.
    pub model: Option<String>,
    /// The model folder.
    pub models: Option<PathBuf>,
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

impl Config {
    pub fn load(source: &ConfigSource) -> Result<Self> {
        let Some(path) = &source.path else {
            return Ok(Config::default());
        };
        let text = match std::fs::read_to_string(path) {
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
        let a = &self.file.answer;
        let bad = |key: &str, why: &str| Error::Config {
            path: self.path.clone().unwrap_or_default(),
            reason: format!("answer.{key} {why}"),
        };
        let finite_in = |v: Option<f32>, lo: f32, hi: f32| {
            v.is_none_or(|v| v.is_finite() && v >= lo && v <= hi)
        };
        if a.k == Some(0) {
            return Err(bad("k", "must be 1 or more"));
        }
        if a.samples == Some(0) {
            return Err(bad("samples", "must be 1 or more"));
        }
        if a.max_tokens == Some(0) {
            return Err(bad("max_tokens", "must be 1 or more"));
        }
        if a.context_tokens.is_some_and(|n| n < 64) {
            return Err(bad("context_tokens", "must be at least 64"));
        }
        if !finite_in(a.temperature, 0.0, 100.0) {
            return Err(bad("temperature", "must be 0 or more"));
        }
        if !finite_in(a.top_p, f32::MIN_POSITIVE, 1.0) {
            return Err(bad("top_p", "must be in (0, 1]"));
        }
        if !finite_in(a.min_p, 0.0, 1.0) {
            return Err(bad("min_p", "must be in [0, 1]"));
        }
        if !finite_in(a.repeat_penalty, f32::MIN_POSITIVE, 100.0) {
            return Err(bad("repeat_penalty", "must be more than 0"));
        }
        if !finite_in(a.min_evidence, -10.0, 10.0) {
            return Err(bad("min_evidence", "must be a number"));
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
