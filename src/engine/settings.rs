//! Settings resolved once: each from its flag, else the config file, else
//! the default written in [`crate::config::defaults`], checked against
//! [`crate::config::limits`] wherever it came from.

use std::path::{Path, PathBuf};

use rag_index::manifest::EmbeddingInfo;
use rag_index::{
    find_index_dir, ChunkerConfig, Index, IndexSink, SearchIndex, SearchOptions, INDEX_DIR_NAME,
};

use super::IndexLocation;

use crate::assistant::{AskOptions, Gate};
use crate::config::{defaults, limits, pick, AnswerConfig, Config, ConfigSource, Origin};
use crate::embedding::OnnxEmbedder;
use crate::llm::{GenerateOptions, Generator, PenaltyScope, SamplingOptions};
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
#[derive(Debug, Clone)]
pub struct Settings {
    /// The index named by the user (flag, `$RAG_INDEX` or the config file's
    /// `index`): a folder or a `milvus://` URL; None: look upward.
    pub index: Option<PathBuf>,
    /// Where the index setting came from (for `rag config`).
    pub index_origin: Origin,
    /// `$RAG_MILVUS_TOKEN`: a Milvus server's credentials are never a flag,
    /// which any user of the machine could read in the process list.
    pub milvus_token: Option<String>,
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
        // clap reads the flag and `$RAG_INDEX` alike; the variable is what it read
        // when it holds the same value.
        let index_origin = match (&index, &config.file.index) {
            (Some(given), _)
                if std::env::var_os("RAG_INDEX").as_deref() == Some(given.as_os_str()) =>
            {
                Origin::Environment
            }
            (Some(_), _) => Origin::Flag,
            (None, Some(_)) => Origin::ConfigFile,
            (None, None) => Origin::Default,
        };
        let index = index.or_else(|| config.file.index.clone());
        let milvus_token = std::env::var("RAG_MILVUS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        Ok(Settings {
            index,
            index_origin,
            milvus_token,
            models_dir,
            models_origin,
            config,
        })
    }

    /// The index to write: the one named, else the nearest `.rag/` upward
    /// from `from`, else `from/.rag`.
    pub fn index_for_writing(&self, from: &Path) -> IndexLocation {
        match &self.index {
            Some(named) => IndexLocation::parse(named),
            None => IndexLocation::Folder(
                find_index_dir(from).unwrap_or_else(|| from.join(INDEX_DIR_NAME)),
            ),
        }
    }

    /// The index to read: the one named, else the nearest `.rag/` upward from `from`.
    pub fn index_for_reading(&self, from: &Path) -> Result<IndexLocation> {
        match &self.index {
            Some(named) => Ok(IndexLocation::parse(named)),
            None => find_index_dir(from)
                .map(IndexLocation::Folder)
                .ok_or_else(|| Error::Index(rag_index::Error::NotFound(from.join(INDEX_DIR_NAME)))),
        }
    }

    /// Opens the index, refusing one built with a different embedding model.
    pub fn open_index(&self, from: &Path) -> Result<Box<dyn SearchIndex>> {
        self.open_index_at(&self.index_for_reading(from)?)
    }

    /// Opens the index at `location`, refusing one built with a different
    /// embedding model (or another weight file of it) than the model folder holds.
    pub fn open_index_at(&self, location: &IndexLocation) -> Result<Box<dyn SearchIndex>> {
        self.open_index_checked(location)
            .map_err(|error| self.damaged_model_or(error))
    }

    /// A damaged model file (a cut download) has an identity of its own: the
    /// index then seems built with another model. Loading the model says which
    /// it is; this costs nothing when the index opens.
    fn damaged_model_or(&self, error: crate::Error) -> crate::Error {
        if !matches!(
            error,
            crate::Error::Index(rag_index::Error::ModelMismatch { .. })
        ) {
            return error;
        }
        match self.embedder(1).and_then(|embedder| embedder.load()) {
            Err(damaged @ crate::Error::EmbeddingModel { .. }) => damaged,
            _ => error,
        }
    }

    fn open_index_checked(&self, location: &IndexLocation) -> Result<Box<dyn SearchIndex>> {
        let model = embedding_identity(&self.models_dir);
        match location {
            IndexLocation::Folder(dir) => Ok(Box::new(Index::open(
                dir,
                Some((&model, EMBEDDING_DIMENSION)),
            )?)),
            IndexLocation::Milvus(url) => super::location::open_milvus(
                url,
                self.milvus_token.as_deref(),
                (&model, EMBEDDING_DIMENSION),
            ),
        }
    }

    /// This run's embedding model as an index records it.
    pub fn embedding_info(&self) -> EmbeddingInfo {
        EmbeddingInfo {
            model_id: embedding_identity(&self.models_dir),
            dimension: EMBEDDING_DIMENSION,
        }
    }

    /// Opens the folder index at `dir` with its own model's identity checked
    /// against this run's (for copying it elsewhere).
    pub fn open_folder_index(&self, dir: &Path) -> Result<Index> {
        let model = embedding_identity(&self.models_dir);
        Index::open(dir, Some((&model, EMBEDDING_DIMENSION)))
            .map_err(|error| self.damaged_model_or(error.into()))
    }

    /// Opens a server's index for writing (a folder's writer is opened by
    /// `rag_index::ingest` itself, which also keeps the folder out of its walk).
    pub fn index_writer(
        &self,
        url: &str,
        embedding: EmbeddingInfo,
        chunker: ChunkerConfig,
        rebuild: bool,
    ) -> Result<Box<dyn IndexSink>> {
        super::location::milvus_writer(
            url,
            self.milvus_token.as_deref(),
            embedding,
            chunker,
            rebuild,
        )
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
        sampling_options(flags, seed, file, default_temperature, for_answers)
    }

    /// Tokens drafted per pass: the flag, else the config file's, else the default.
    pub fn draft_tokens(&self, flags: &AnswerConfig) -> (usize, Origin) {
        pick(
            flags.draft_tokens,
            self.config.file.answer.draft_tokens,
            defaults::DRAFT_TOKENS,
        )
    }

    /// The answer options with every setting's value and origin (for `rag config`).
    pub fn answer(&self, flags: &AnswerFlags) -> Result<(AskOptions, Vec<Setting>)> {
        let file = &self.config.file.answer;
        let (sampling, sampling_settings) =
            self.sampling(&flags.given, flags.seed, defaults::ANSWER_TEMPERATURE, true)?;
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
        let (draft_tokens, d_origin) = self.draft_tokens(&flags.given);
        let (min_evidence, e_origin) = pick(
            flags.given.min_evidence,
            file.min_evidence,
            defaults::MIN_EVIDENCE,
        );
        // The flags and the config file were held to the same limits; these
        // hold library callers (and the combination of two settings) to them.
        limits::count(k, &limits::K).map_err(bad("k", k, k_origin))?;
        limits::count(samples, &limits::SAMPLES).map_err(bad("samples", samples, s_origin))?;
        limits::count(draft_tokens, &limits::DRAFT_TOKENS).map_err(bad(
            "draft_tokens",
            draft_tokens,
            d_origin,
        ))?;
        limits::count(context_tokens, &limits::CONTEXT_TOKENS).map_err(bad(
            "context_tokens",
            context_tokens,
            c_origin,
        ))?;
        limits::count(max_tokens, &limits::MAX_TOKENS).map_err(bad(
            "max_tokens",
            max_tokens,
            m_origin,
        ))?;
        limits::number(min_evidence, &limits::MIN_EVIDENCE).map_err(bad(
            "min_evidence",
            min_evidence,
            e_origin,
        ))?;
        if samples > 1 && sampling.temperature == 0.0 {
            let t_origin = sampling_settings
                .iter()
                .find(|(name, ..)| *name == "temperature")
                .map_or(Origin::Default, |(.., origin)| *origin);
            return Err(bad("samples", samples, s_origin)(format!(
                "needs a temperature above 0, as every sample at 0 is the same answer (temperature = 0 comes from the {})",
                t_origin.describe()
            )));
        }
        let mut settings = vec![
            ("k", k.to_string(), k_origin),
            ("context_tokens", context_tokens.to_string(), c_origin),
            ("max_tokens", max_tokens.to_string(), m_origin),
            ("samples", samples.to_string(), s_origin),
            ("min_evidence", min_evidence.to_string(), e_origin),
            ("draft_tokens", draft_tokens.to_string(), d_origin),
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
                draft_tokens,
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

    /// The generator [`Self::generator_choice`] names, loaded.
    pub fn load_generator(&self, flag: Option<&str>) -> Result<Generator> {
        Ok(Generator::load(&self.generator_choice(flag)?.path)?)
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

/// The error of a setting's value `why` it cannot be used.
fn bad(
    name: &'static str,
    value: impl std::fmt::Display,
    origin: Origin,
) -> impl FnOnce(String) -> Error {
    let value = value.to_string();
    move |why| Error::BadSetting {
        name,
        value,
        origin,
        why,
    }
}

fn sampling_options(
    flags: &AnswerConfig,
    seed: Option<u64>,
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
    limits::number(temperature, &limits::TEMPERATURE).map_err(bad(
        "temperature",
        temperature,
        t_origin,
    ))?;
    limits::number(top_p, &limits::TOP_P).map_err(bad("top_p", top_p, p_origin))?;
    limits::number(min_p, &limits::MIN_P).map_err(bad("min_p", min_p, m_origin))?;
    limits::number(repeat_penalty, &limits::REPEAT_PENALTY).map_err(bad(
        "repeat_penalty",
        repeat_penalty,
        r_origin,
    ))?;
    limits::count(top_k, &limits::TOP_K).map_err(bad("top_k", top_k, k_origin))?;
    limits::count(repeat_last_n, &limits::REPEAT_LAST_N).map_err(bad(
        "repeat_last_n",
        repeat_last_n,
        n_origin,
    ))?;
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
        seed,
    };
    Ok((options, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_from(config: &str) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, config).unwrap();
        let settings = Settings::resolve(Some(&file), Some(dir.path()), None).unwrap();
        (dir, settings)
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let (_dir, settings) = settings_from("[answer]\nk = 5\nmax_tokens = 40\n");
        let flags = AnswerFlags {
            given: AnswerConfig {
                k: Some(7),
                ..AnswerConfig::default()
            },
            seed: Some(3),
            think: false,
        };
        let (options, origins) = settings.answer(&flags).unwrap();
        assert_eq!(options.k, 7);
        assert_eq!(options.generate.max_tokens, 40);
        assert_eq!(options.context_tokens, defaults::CONTEXT_TOKENS);
        assert_eq!(
            options.generate.sampling.temperature,
            defaults::ANSWER_TEMPERATURE
        );
        assert_eq!(options.generate.sampling.seed, Some(3));
        let origin = |key: &str| origins.iter().find(|(k, _, _)| *k == key).unwrap().2;
        assert_eq!(origin("k"), Origin::Flag);
        assert_eq!(origin("max_tokens"), Origin::ConfigFile);
        assert_eq!(origin("context_tokens"), Origin::Default);
        // The defaults are AskOptions::default(), written once.
        let (_dir, settings) = settings_from("");
        let (options, _) = settings.answer(&AnswerFlags::default()).unwrap();
        let plain = AskOptions::default();
        assert_eq!(
            (options.k, options.context_tokens, options.samples),
            (plain.k, plain.context_tokens, plain.samples)
        );
        assert_eq!(options.generate.max_tokens, plain.generate.max_tokens);
        assert_eq!(
            options.generate.sampling.temperature,
            plain.generate.sampling.temperature
        );
        assert_eq!(options.gate.min_strength, plain.gate.min_strength);
    }

    #[test]
    fn settings_out_of_the_limits_are_refused_by_name() {
        let (_dir, settings) = settings_from("");
        let refused = |given: AnswerConfig| {
            let flags = AnswerFlags {
                given,
                ..AnswerFlags::default()
            };
            match settings.answer(&flags) {
                Err(error @ Error::BadSetting { .. }) => error,
                other => panic!("{other:?}"),
            }
        };
        let named = |error: &Error| match error {
            Error::BadSetting { name, origin, .. } => (*name, *origin),
            _ => unreachable!(),
        };
        let error = refused(AnswerConfig {
            samples: Some(limits::SAMPLES.end() + 1),
            temperature: Some(0.5),
            ..AnswerConfig::default()
        });
        assert_eq!(named(&error), ("samples", Origin::Flag));
        assert!(
            error
                .to_string()
                .starts_with("samples = 17 (command line): must be from 1 to"),
            "{error}"
        );
        let error = refused(AnswerConfig {
            samples: Some(2),
            ..AnswerConfig::default()
        });
        assert!(
            error
                .to_string()
                .contains("needs a temperature above 0, as every sample at 0 is the same answer (temperature = 0 comes from the default)"),
            "{error}"
        );
        let error = refused(AnswerConfig {
            top_p: Some(1.5),
            ..AnswerConfig::default()
        });
        assert_eq!(named(&error), ("top_p", Origin::Flag));
        let error = refused(AnswerConfig {
            min_evidence: Some(f32::NAN),
            ..AnswerConfig::default()
        });
        assert_eq!(named(&error), ("min_evidence", Origin::Flag));
    }
}
