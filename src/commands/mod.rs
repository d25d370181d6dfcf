pub mod ask;
pub mod batch;
pub mod chat;
pub mod eval;
pub mod generate;
pub mod ingest;
pub mod search;
pub mod status;

use std::path::{Path, PathBuf};

use rag_index::{Index, SearchOptions};

use crate::assistant::{AskOptions, Assistant, Gate};
use crate::cli::{AnswerArgs, SamplingArgs};
use crate::context::Context;
use crate::llm::{GenerateOptions, Generator, PenaltyScope, SamplingOptions};
use crate::models::{data_dir, generator_file, EMBEDDING_DIMENSION, EMBEDDING_MODEL_ID};
use crate::{Error, Result};

/// Checks the sampling flags; `default_temperature` applies when --temperature is absent.
pub(crate) fn sampling_options(
    args: &SamplingArgs,
    default_temperature: f32,
) -> Result<SamplingOptions> {
    let temperature = args.temperature.unwrap_or(default_temperature);
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
    check(
        args.top_p > 0.0 && args.top_p <= 1.0,
        "--top-p must be in (0, 1]",
    )?;
    check(
        (0.0..=1.0).contains(&args.min_p),
        "--min-p must be in [0, 1]",
    )?;
    check(
        args.repeat_penalty > 0.0 && args.repeat_penalty.is_finite(),
        "--repeat-penalty must be more than 0",
    )?;
    Ok(SamplingOptions {
        temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        repeat_last_n: args.repeat_last_n,
        seed: args.seed,
    })
}

/// Answers from documents are sampled greedily unless asked otherwise: the
/// most likely continuation of an open-book prompt is the most faithful one.
pub(crate) const ANSWER_TEMPERATURE: f32 = 0.0;

pub(crate) fn ask_options(args: &AnswerArgs) -> Result<AskOptions> {
    let sampling = sampling_options(&args.sampling, ANSWER_TEMPERATURE)?;
    if args.samples == 0 {
        return Err(Error::Usage("--samples must be 1 or more".into()));
    }
    if args.samples > 1 && sampling.temperature == 0.0 {
        return Err(Error::Usage(
            "--samples N needs --temperature above 0 (at 0 every sample is the same answer)".into(),
        ));
    }
    if args.context_tokens < 64 {
        return Err(Error::Usage(
            "--context-tokens must be at least 64 (sources need room)".into(),
        ));
    }
    if args.max_tokens == 0 {
        return Err(Error::Usage("--max-tokens must be 1 or more".into()));
    }
    Ok(AskOptions {
        k: args.k.max(1),
        search: SearchOptions::default(),
        gate: Gate {
            min_strength: args.min_evidence,
        },
        context_tokens: args.context_tokens,
        generate: GenerateOptions {
            max_tokens: args.max_tokens,
            sampling,
            penalty_scope: PenaltyScope::AnswerWords,
            ..GenerateOptions::default()
        },
        samples: args.samples,
        think: args.think,
    })
}

/// The index, embedder and generator behind every answering command. With no
/// index here (and no --index), the bundled corpus is indexed once in the user
/// data folder and used instead.
pub(crate) fn load_assistant(ctx: &Context, args: &AnswerArgs) -> Result<Assistant> {
    let model_path = model_path(ctx, args)?;
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
    let generator = Generator::load(&model_path, "")?;
    Ok(Assistant::new(
        index,
        embedder,
        generator,
        model_name(&model_path),
    ))
}

/// The generator: --model, else the default one in the model folder.
pub(crate) fn model_path(ctx: &Context, args: &AnswerArgs) -> Result<PathBuf> {
    match &args.model {
        Some(path) => Ok(path.clone()),
        None => generator_file(&ctx.models_dir),
    }
}

/// How a model is named on screen and in JSON: its file name.
pub(crate) fn model_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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

/// `$RAG_CORPUS`, else `corpus/` of the source tree this binary was built from.
pub(crate) fn bundled_corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RAG_CORPUS").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    built_from.is_dir().then_some(built_from)
}
