//! How fast each model runs on this machine: `rag models bench` measures a
//! model on one open-book prompt, and the result is stored beside the
//! models' data so that the model list can show it without running anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::data_dir;
use crate::llm::{GenerateOptions, Generator, Message, PenaltyScope, SamplingOptions};
use crate::{Error, Result};

/// The open-book prompt length that `rag models` reports first-token time for.
pub const BENCH_PROMPT_TOKENS: usize = 600;
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

/// Measures the model at `path`: greedy, end of text ignored, on an open-book prompt of ~600 tokens in the
/// model's own chat format.
pub fn measure(path: &Path, decode_tokens: usize) -> Result<Speed> {
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
        // The engine's own speed, token by token, as llama.cpp is measured.
        draft_tokens: 0,
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
            false => crate::llm::template::base_prompt(&messages).text,
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

/// The speeds measured so far, by model name.
pub fn load_speeds() -> BTreeMap<String, Speed> {
    std::fs::read(speeds_path())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Stores `speeds` for the next listing.
pub fn save_speeds(speeds: &BTreeMap<String, Speed>) -> Result<()> {
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
