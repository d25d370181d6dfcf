//! Settings resolved once: each from its flag, else the config file, else
//! the default written in [`crate::config::defaults`], checked against
//! [`crate::config::limits`] wherever it came from.

use std::path::{Path, PathBuf};

use rag_index::{find_index_dir, Index, SearchOptions, INDEX_DIR_NAME};

use crate::assistant::{AskOptions, Gate};
use crate::config::{defaults, pick, AnswerConfig, Config, ConfigSource, Origin};
use crate::embedding::OnnxEmbedder;
use crate::llm::{GenerateOptions, PenaltyScope, SamplingOptions};
use crate::models::{
    embedding_files, embedding_identity, models_dir, resolve_generator, GeneratorChoice,
    EMBEDDING_DIMENSION,
};
use crate::{Error, Result};

/// One effective setting: its name as the config file spells it, its value
/// as text, and where it came from.
pub type Setting = (&'static str, String, Origin);

/// The answer flags of `ask`, `chat`, `batch` and `eval` as given: the same
/// settings as the config file's `[answer]` section (None: not given), and
/// two that only a flag sets.
#[derive(Debug, Clone, Default)]
pub struct AnswerFlags {
    pub given: AnswerConfig,
    pub seed: Option<u64>,
    pub think: bool,
}

/// Where the index and the models are, and the config file's settings.
#[derive(Debug)]
pub struct Settings {
    /// The index named by the user (flag or `$RAG_INDEX`); None: look upward.
    pub index: Option<PathBuf>,
    pub models_dir: PathBuf,
    /// Where the model folder setting came from (for `rag config`).
    pub models_origin: Origin,
    pub config: Config,
}

impl Settings {
    /// Reads the config file (`config_flag`, `$RAG_CONFIG` or the user's; a
    /// broken one is an error naming it) and places the model folder:
    /// `models_flag`, else `$RAG_MODELS`, else the config file's, else the
    /// user data folder's.
    pub fn resolve(
        config_flag: Option<&Path>,
        models_flag: Option<&Path>,
        index: Option<PathBuf>,
    ) -> Result<Self> {
        let config = Config::load(&ConfigSource::locate(config_flag))?;
        let env_models = std::env::var_os("RAG_MODELS").filter(|d| !d.is_empty());
        let (models_dir, models_origin) = match (models_flag, env_models, &config.file.models) {
            (Some(dir), _, _) => (dir.to_path_buf(), Origin::Flag),
            (None, Some(dir), _) => (PathBuf::from(dir), Origin::Environment),
            (None, None, Some(dir)) => (dir.clone(), Origin::ConfigFile),
            (None, None, None) => (models_dir(None), Origin::Default),
        };
        Ok(Settings {
            index,
            models_dir,
            models_origin,
            config,
        })
    }

    /// The index to write: the one named, else the nearest `.rag/` upward
    /// from `from`, else `from/.rag`.
    pub fn index_dir_for_writing(&self, from: &Path) -> PathBuf {
        match &self.index {
            Some(dir) => dir.clone(),
            None => find_index_dir(from).unwrap_or_else(|| from.join(INDEX_DIR_NAME)),
        }
    }

    /// The index to read: the one named, else the nearest `.rag/` upward from `from`.
    pub fn index_dir_for_reading(&self, from: &Path) -> Result<PathBuf> {
        match &self.index {
            Some(dir) => Ok(dir.clone()),
            None => find_index_dir(from)
                .ok_or_else(|| Error::Index(rag_index::Error::NotFound(from.join(INDEX_DIR_NAME)))),
        }
    }

    /// Opens the index, refusing one built with a different embedding model.
    pub fn open_index(&self, from: &Path) -> Result<Index> {
        self.open_index_at(&self.index_dir_for_reading(from)?)
    }

    /// Opens the index at `dir`, refusing one built with a different
    /// embedding model (or another weight file of it) than the model folder holds.
    pub fn open_index_at(&self, dir: &Path) -> Result<Index> {
        let model = embedding_identity(&self.models_dir);
        Ok(Index::open(dir, Some((&model, EMBEDDING_DIMENSION)))?)
    }

    pub fn embedder(&self, workers: usize) -> Result<OnnxEmbedder> {
        let files = embedding_files(&self.models_dir)?;
        OnnxEmbedder::new(files, &self.models_dir, workers)
    }

    /// The sampling options: flags, then (when `for_answers`) the config
    /// file's `[answer]` section, then the defaults, `default_temperature`
    /// among them.
    pub fn sampling(
        &self,
        flags: &AnswerConfig,
        seed: Option<u64>,
        default_temperature: f32,
        for_answers: bool,
    ) -> Result<(SamplingOptions, Vec<Setting>)> {
        let file = &self.config.file.answer;
        let (mut options, settings) =
            sampling_options(flags, file, default_temperature, for_answers)?;
        options.seed = seed;
        Ok((options, settings))
    }

    /// The answer options with every setting's value and origin (for `rag config`).
    pub fn answer(&self, flags: &AnswerFlags) -> Result<(AskOptions, Vec<Setting>)> {
        let file = &self.config.file.answer;
        let (sampling, sampling_settings) =
            sampling_options(&flags.given, file, defaults::ANSWER_TEMPERATURE, true)?;
        let sampling = SamplingOptions {
            seed: flags.seed,
            ..sampling
        };
        let (k, k_origin) = pick(flags.given.k, file.k, defaults::K);
        let (context_tokens, c_origin) = pick(
            flags.given.context_tokens,
            file.context_tokens,
            defaults::CONTEXT_TOKENS,
        );
        let (max_tokens, m_origin) = pick(
            flags.given.max_tokens,
            file.max_tokens,
            defaults::MAX_TOKENS,
        );
        let (samples, s_origin) = pick(flags.given.samples, file.samples, defaults::SAMPLES);
        let (min_evidence, e_origin) = pick(
            flags.given.min_evidence,
            file.min_evidence,
            defaults::MIN_EVIDENCE,
        );
        if k == 0 || k > 100 {
            return Err(Error::InvalidSetting("-k must be between 1 and 100".into()));
        }
        if samples == 0 || samples > 32 {
            return Err(Error::InvalidSetting(
                "--samples must be between 1 and 32".into(),
            ));
        }
        if samples > 1 && sampling.temperature == 0.0 {
            return Err(Error::InvalidSetting(
                "--samples N needs --temperature above 0 (at 0 every sample is the same answer)"
                    .into(),
            ));
        }
        if context_tokens < 64 {
            return Err(Error::InvalidSetting(
                "--context-tokens must be at least 64 (sources need room)".into(),
            ));
        }
        if max_tokens == 0 {
            return Err(Error::InvalidSetting(
                "--max-tokens must be 1 or more".into(),
            ));
        }
        if !min_evidence.is_finite() {
            return Err(Error::InvalidSetting(
                "--min-evidence must be a number".into(),
            ));
        }
        let mut settings = vec![
            ("k", k.to_string(), k_origin),
            ("context_tokens", context_tokens.to_string(), c_origin),
            ("max_tokens", max_tokens.to_string(), m_origin),
            ("samples", samples.to_string(), s_origin),
            ("min_evidence", min_evidence.to_string(), e_origin),
        ];
        settings.extend(sampling_settings);
        let options = AskOptions {
            k,
            search: SearchOptions::default(),
            gate: Gate {
                min_strength: min_evidence,
            },
            context_tokens,
            generate: GenerateOptions {
                max_tokens,
                sampling,
                penalty_scope: PenaltyScope::AnswerWords,
                ..GenerateOptions::default()
            },
            samples,
            think: flags.think,
        };
        Ok((options, settings))
    }

    /// The generator `flag` names, else the config file's, else the default.
    pub fn generator_choice(&self, flag: Option<&str>) -> Result<GeneratorChoice> {
        resolve_generator(&self.models_dir, self.model_setting(flag).0.as_deref())
    }

    /// The model setting and its origin (None: the catalogue's default).
    pub fn model_setting(&self, flag: Option<&str>) -> (Option<String>, Origin) {
        match (flag, &self.config.file.model) {
            (Some(name), _) => (Some(name.to_string()), Origin::Flag),
            (None, Some(name)) => (Some(name.clone()), Origin::ConfigFile),
            (None, None) => (None, Origin::Default),
        }
    }

    /// The answering model's name, installed or not (for `rag status`).
    pub fn generator_name(&self) -> String {
        match self.generator_choice(None) {
            Ok(choice) => choice.display_name(),
            Err(_) => {
                let name = self
                    .model_setting(None)
                    .0
                    .unwrap_or_else(|| crate::models::catalogue().default_model().name.clone());
                format!("{name} (not installed)")
            }
        }
    }
}

fn sampling_options(
    flags: &AnswerConfig,
    file: &AnswerConfig,
    default_temperature: f32,
    for_answers: bool,
) -> Result<(SamplingOptions, Vec<Setting>)> {
    let file_temperature = file.temperature.filter(|_| for_answers);
    let (temperature, t_origin) = pick(flags.temperature, file_temperature, default_temperature);
    let (top_k, k_origin) = pick(flags.top_k, file.top_k, defaults::TOP_K);
    let (top_p, p_origin) = pick(flags.top_p, file.top_p, defaults::TOP_P);
    let (min_p, m_origin) = pick(flags.min_p, file.min_p, defaults::MIN_P);
    let (repeat_penalty, r_origin) = pick(
        flags.repeat_penalty,
        file.repeat_penalty,
        defaults::REPEAT_PENALTY,
    );
    let (repeat_last_n, n_origin) = pick(
        flags.repeat_last_n,
        file.repeat_last_n,
        defaults::REPEAT_LAST_N,
    );
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidSetting(what.to_string()))
        }
    };
    check(
        temperature >= 0.0 && temperature.is_finite(),
        "--temperature must be 0 or more",
    )?;
    check(top_p > 0.0 && top_p <= 1.0, "--top-p must be in (0, 1]")?;
    check((0.0..=1.0).contains(&min_p), "--min-p must be in [0, 1]")?;
    check(
        repeat_penalty > 0.0 && repeat_penalty.is_finite(),
        "--repeat-penalty must be more than 0",
    )?;
    let settings = vec![
        ("temperature", temperature.to_string(), t_origin),
        ("top_k", top_k.to_string(), k_origin),
        ("top_p", top_p.to_string(), p_origin),
        ("min_p", min_p.to_string(), m_origin),
        ("repeat_penalty", repeat_penalty.to_string(), r_origin),
        ("repeat_last_n", repeat_last_n.to_string(), n_origin),
    ];
    let options = SamplingOptions {
        temperature,
        top_k,
        top_p,
        min_p,
        repeat_penalty,
        repeat_last_n,
        seed: None,
    };
    Ok((options, settings))
}
