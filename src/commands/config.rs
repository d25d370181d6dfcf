//! `rag config`: every effective setting and where it came from, so a user can
//! see why rag answers with the model it does.

use serde::Serialize;

use crate::cli::ConfigArgs;
use crate::context::Context;
use rag::config::Origin;
use rag::engine::AnswerFlags;
use rag::Result;

#[derive(Serialize)]
struct Entry {
    key: &'static str,
    value: String,
    origin: Origin,
}

pub fn run(ctx: &Context, args: &ConfigArgs) -> Result<()> {
    let (model, model_origin) = ctx.settings.model_setting(None);
    let model = match ctx.settings.generator_choice(None) {
        Ok(choice) => format!("{} ({})", choice.display_name(), choice.path.display()),
        Err(_) => match model {
            Some(name) => format!("{name} (not installed)"),
            None => format!(
                "{} (not installed)",
                rag::models::catalogue().default_model().name
            ),
        },
    };
    let mut entries = vec![
        Entry {
            key: "model",
            value: model,
            origin: model_origin,
        },
        Entry {
            key: "models",
            value: ctx.settings.models_dir.display().to_string(),
            origin: ctx.settings.models_origin,
        },
        Entry {
            key: "index",
            value: ctx.settings.index.as_ref().map_or_else(
                || ".rag/ found upward from the current folder".to_string(),
                |named| named.display().to_string(),
            ),
            origin: ctx.settings.index_origin,
        },
    ];
    let (_, answer) = ctx.settings.answer(&AnswerFlags::default())?;
    entries.extend(
        answer
            .into_iter()
            .map(|(key, value, origin)| Entry { key, value, origin }),
    );
    let file = ctx
        .settings
        .config
        .path
        .as_ref()
        .map(|p| p.display().to_string());
    if args.json {
        #[derive(Serialize)]
        struct Output<'a> {
            config_file: Option<String>,
            settings: &'a [Entry],
        }
        let output = Output {
            config_file: file,
            settings: &entries,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&output).unwrap_or_default()
        );
        return Ok(());
    }
    match (&file, &ctx.settings.config.looked_at) {
        (Some(path), _) => println!("config file     {path}"),
        (None, Some(path)) => println!("config file     none ({} does not exist)", path.display()),
        (None, None) => println!("config file     none"),
    }
    for entry in &entries {
        let key = if ["model", "models", "index"].contains(&entry.key) {
            entry.key.to_string()
        } else {
            format!("answer.{}", entry.key)
        };
        println!("{key:<22} {:<40} {}", entry.value, entry.origin.describe());
    }
    Ok(())
}
