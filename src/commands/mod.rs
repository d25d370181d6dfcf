pub mod ask;
pub mod batch;
pub mod chat;
pub mod check;
pub mod config;
pub mod eval;
pub mod forget;
pub mod generate;
pub mod ingest;
pub mod models;
pub mod search;
pub mod shell;
mod snippet;
pub mod status;
mod watch;

use std::path::{Path, PathBuf};

use rag_index::{Index, SearchOptions};

use crate::assistant::{AskOptions, Assistant, Gate, Style};
use crate::cli::{AnswerArgs, SamplingArgs};
use crate::config::{defaults, pick, AnswerConfig, Origin};
use crate::context::Context;
use crate::llm::{GenerateOptions, Generator, PenaltyScope, SamplingOptions};
use crate::models::{
    data_dir, resolve_generator, GeneratorChoice, PromptStyle, EMBEDDING_DIMENSION,
    EMBEDDING_MODEL_ID,
};
use crate::{Error, Result};

/// One effective setting: its name as the config file spells it, its value
/// as text, and where it came from.
pub(crate) type Setting = (&'static str, String, Origin);

/// Checks the sampling flags; unset ones come from the config file's
/// `[answer]` section, then the defaults. `default_temperature` applies when
/// neither the flag nor (for answers) the config sets one.
pub(crate) fn sampling_options(
    args: &SamplingArgs,
    file: &AnswerConfig,
    default_temperature: f32,
    for_answers: bool,
) -> Result<(SamplingOptions, Vec<Setting>)> {
    let file_temperature = file.temperature.filter(|_| for_answers);
    let (temperature, t_origin) = pick(args.temperature, file_temperature, default_temperature);
    let (top_k, k_origin) = pick(args.top_k, file.top_k, defaults::TOP_K);
    let (top_p, p_origin) = pick(args.top_p, file.top_p, defaults::TOP_P);
    let (min_p, m_origin) = pick(args.min_p, file.min_p, defaults::MIN_P);
    let (repeat_penalty, r_origin) = pick(
        args.repeat_penalty,
        file.repeat_penalty,
        defaults::REPEAT_PENALTY,
    );
    let (repeat_last_n, n_origin) = pick(
        args.repeat_last_n,
        file.repeat_last_n,
        defaults::REPEAT_LAST_N,
    );
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(Error::Usage(what.to_string()))
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
        seed: args.seed,
    };
    Ok((options, settings))
}

/// The answer options of `ask`, `chat`, `batch` and `eval`: flags, then the
/// config file, then the defaults.
pub(crate) fn ask_options(ctx: &Context, args: &AnswerArgs) -> Result<AskOptions> {
    Ok(answer_settings(ctx, args)?.0)
}

/// [`ask_options`] with every setting's value and origin (for `rag config`).
pub(crate) fn answer_settings(
    ctx: &Context,
    args: &AnswerArgs,
) -> Result<(AskOptions, Vec<Setting>)> {
    let file = &ctx.config.file.answer;
    let (sampling, sampling_settings) =
        sampling_options(&args.sampling, file, defaults::ANSWER_TEMPERATURE, true)?;
    let (k, k_origin) = pick(args.k, file.k, defaults::K);
    let (context_tokens, c_origin) = pick(
        args.context_tokens,
        file.context_tokens,
        defaults::CONTEXT_TOKENS,
    );
    let (max_tokens, m_origin) = pick(args.max_tokens, file.max_tokens, defaults::MAX_TOKENS);
    let (samples, s_origin) = pick(args.samples, file.samples, defaults::SAMPLES);
    let (min_evidence, e_origin) =
        pick(args.min_evidence, file.min_evidence, defaults::MIN_EVIDENCE);
    if k == 0 || k > 100 {
        return Err(Error::Usage("-k must be between 1 and 100".into()));
    }
    if samples == 0 || samples > 32 {
        return Err(Error::Usage("--samples must be between 1 and 32".into()));
    }
    if samples > 1 && sampling.temperature == 0.0 {
        return Err(Error::Usage(
            "--samples N needs --temperature above 0 (at 0 every sample is the same answer)".into(),
        ));
    }
    if context_tokens < 64 {
        return Err(Error::Usage(
            "--context-tokens must be at least 64 (sources need room)".into(),
        ));
    }
    if max_tokens == 0 {
        return Err(Error::Usage("--max-tokens must be 1 or more".into()));
    }
    if !min_evidence.is_finite() {
        return Err(Error::Usage("--min-evidence must be a number".into()));
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
        think: args.think,
    };
    Ok((options, settings))
}

/// The index, embedder and generator behind every answering command. With no
/// index here (and no --index), the bundled corpus is indexed once in the user
/// data folder and used instead.
pub(crate) fn load_assistant(ctx: &Context, args: &AnswerArgs) -> Result<Assistant> {
    let model = generator_choice(ctx, args.model.as_deref())?;
    let index = match ctx.open_index() {
        Ok(index) => index,
        Err(Error::Index(rag_index::Error::NotFound(_))) if ctx.index_flag.is_none() => {
            bundled_index(ctx)?
        }
        Err(e) => return Err(e),
    };
    ctx.warn_if_out_of_step(&index);
    let embedder = ctx.embedder(1)?;
    embedder.load()?;
    let generator = Generator::load(&model.path, "")?;
    Ok(assistant_for(index, embedder, generator, &model))
}

/// The assistant for a loaded generator, with the prompt measured for it.
pub(crate) fn assistant_for(
    index: Index,
    embedder: crate::embedding::OnnxEmbedder,
    generator: Generator,
    model: &GeneratorChoice,
) -> Assistant {
    let style = model.entry.and_then(|entry| match entry.prompt {
        PromptStyle::Reading => Some(Style::Reading),
        PromptStyle::Instructed => Some(Style::Instructed),
        // Chosen by the missing chat template, not by a style.
        PromptStyle::Document => None,
    });
    Assistant::new(index, embedder, generator, model.display_name()).with_style(style)
}

/// The generator `--model` names, else the config file's, else the default.
pub(crate) fn generator_choice(ctx: &Context, flag: Option<&str>) -> Result<GeneratorChoice> {
    resolve_generator(&ctx.models_dir, model_setting(ctx, flag).0.as_deref())
}

/// "1 file", "2 files".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The answering model's name, installed or not (for `rag status`).
pub(crate) fn generator_name(ctx: &Context) -> String {
    match generator_choice(ctx, None) {
        Ok(choice) => choice.display_name(),
        Err(_) => {
            let name = model_setting(ctx, None)
                .0
                .unwrap_or_else(|| crate::models::catalogue().default_model().name.clone());
            format!("{name} (not installed)")
        }
    }
}

/// The model setting and its origin (None: the catalogue's default).
pub(crate) fn model_setting(ctx: &Context, flag: Option<&str>) -> (Option<String>, Origin) {
    match (flag, &ctx.config.file.model) {
        (Some(name), _) => (Some(name.to_string()), Origin::Flag),
        (None, Some(name)) => (Some(name.clone()), Origin::ConfigFile),
        (None, None) => (None, Origin::Default),
    }
}

/// The index of the bundled corpus in the user data folder, built on first use.
pub(crate) fn bundled_index(ctx: &Context) -> Result<Index> {
    let dir = bundled_index_dir();
    if !dir.join(rag_index::manifest::MANIFEST_FILE).is_file() {
        let corpus = bundled_corpus().ok_or_else(|| {
            Error::Usage(
                "no index here or in any parent folder: run `rag ingest FOLDER` first (or pass --index DIR)"
                    .into(),
            )
        })?;
        if !ctx.quiet {
            eprintln!(
                "no index here or in any parent folder: indexing the bundled corpus {} into {} (once)",
                corpus.display(),
                dir.display()
            );
        }
        ingest::ingest_with_progress(ctx, &dir, &[corpus])?;
    } else if !ctx.quiet {
        eprintln!(
            "no index here or in any parent folder: answering from the bundled corpus ({})",
            dir.display()
        );
    }
    Ok(Index::open(
        &dir,
        Some((EMBEDDING_MODEL_ID, EMBEDDING_DIMENSION)),
    )?)
}

/// Where the bundled corpus is indexed.
pub(crate) fn bundled_index_dir() -> PathBuf {
    data_dir().join("corpus-index")
}

/// The corpus compiled into the binary (1.3 MB of Markdown).
static EMBEDDED_CORPUS: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/corpus");

/// `$RAG_CORPUS`, else `corpus/` of the source tree this binary was built
/// from when it is still there, else the copy inside the binary, written out
/// once to the data folder.
pub(crate) fn bundled_corpus() -> Option<PathBuf> {
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
