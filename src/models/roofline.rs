//! How close decode and prefill come to what this machine allows: decode
//! reads every weight once per token, so memory bandwidth over the bytes a
//! token reads bounds it; prefill multiplies every weight with every prompt
//! token, so the kernel's arithmetic peak over the operations per token
//! bounds it. `scripts/bench-generate` prints both beside the measured speeds.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::llm::gguf::Gguf;
use crate::{Error, Result};

/// Far larger than any cache: three arrays of this many f32 (384 MiB).
const TRIAD_LEN: usize = 32 << 20;
const TRIAD_RUNS: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Roofline {
    /// The matrix kernel in use.
    pub kernel: String,
    /// Its int8 multiply-adds (two operations each) per second on cached weights.
    pub kernel_ops_per_s: f64,
    /// The stream triad's bytes per second (two reads and a write per
    /// element, as STREAM counts them), best of its runs.
    pub memory_bytes_per_s: f64,
    pub threads: usize,
    /// Bytes of weights a decoded token reads (all but the token embeddings,
    /// of which it reads one row, unless they are the output head too).
    pub bytes_per_token: f64,
    /// Operations of the weight products per token (attention over the
    /// context left out: a few percent at prompt lengths of ~700).
    pub ops_per_token: f64,
    /// Bandwidth over bytes per token, and peak over operations per token.
    pub decode_ceiling_tok_s: f64,
    pub prefill_ceiling_tok_s: f64,
}

/// Measures the machine and reads the model's weights' sizes.
pub fn measure(model: &Path) -> Result<Roofline> {
    let gguf = Gguf::open(model)?;
    let tied = !gguf.has_tensor("output.weight");
    let (mut bytes, mut elems) = (0usize, 0usize);
    for (name, n, size) in gguf.tensor_sizes() {
        let row_only = name == "token_embd.weight" && !tied;
        // Norms and biases are vectors: neither bytes nor products that count.
        if !row_only && gguf.tensor_dims(name).is_some_and(|d| d.len() >= 2) {
            bytes += size;
            elems += n;
        }
    }
    let (kernel, kernel_ops_per_s) =
        crate::llm::kernel_peak(2.0).map_err(|e| Error::Internal(format!("kernel peak: {e}")))?;
    let memory_bytes_per_s = triad_bandwidth();
    let (bytes_per_token, ops_per_token) = (bytes as f64, 2.0 * elems as f64);
    Ok(Roofline {
        kernel,
        kernel_ops_per_s,
        memory_bytes_per_s,
        threads: rayon::current_num_threads(),
        bytes_per_token,
        ops_per_token,
        decode_ceiling_tok_s: memory_bytes_per_s / bytes_per_token.max(1.0),
        prefill_ceiling_tok_s: kernel_ops_per_s / ops_per_token.max(1.0),
    })
}

/// `a = b + s * c` over arrays far larger than the caches, on the rayon
/// pool's threads (the ones decode runs on); bytes per second of the best run.
fn triad_bandwidth() -> f64 {
    let mut a = vec![0.0f32; TRIAD_LEN];
    let b = vec![1.0f32; TRIAD_LEN];
    let c = vec![2.0f32; TRIAD_LEN];
    const PIECE: usize = 1 << 16;
    let mut best = f64::INFINITY;
    for _ in 0..TRIAD_RUNS {
        let start = Instant::now();
        a.par_chunks_mut(PIECE)
            .zip(b.par_chunks(PIECE))
            .zip(c.par_chunks(PIECE))
            .for_each(|((a, b), c)| {
                for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + 3.0 * c;
                }
            });
        best = best.min(start.elapsed().as_secs_f64());
    }
    // Keep the result alive: the loop must not be optimised away.
    std::hint::black_box(&a);
    (3 * 4 * TRIAD_LEN) as f64 / best
}
