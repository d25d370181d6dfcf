//! The transformer forward pass for llama-family GGUF models, on candle-core.
//!
//! Prefill matmuls of small models run on an f32 copy of the weights through
//! candle's gemm; decode, the output head and larger models' prefill run on
//! the quantised weights through our own kernels (`quant`, see `linear`).
//! The rest (norms, rope, attention, SiLU) are plain loops over slices: at
//! this model size the per-op overhead of building tensors for them would cost
//! more than the arithmetic. The KV cache (f16) is preallocated once per
//! generation, so decode never copies it, and the whole prompt goes through in
//! one batched pass. The pass runs on a rayon pool thread (see `forward`).

mod attention;
mod cache;
mod config;
mod linear;
#[cfg(target_arch = "x86_64")]
mod prompt_attention;

use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::Device;
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use self::attention::attention;
pub use self::cache::{KvCache, RopeTable};
pub use self::config::{Activation, Config, RopeStyle, SlidingWindow, SUPPORTED_ARCHITECTURES};
use self::linear::{
    dense_max_bytes, stack, stacked_for, stacked_matmul, to_vec, Kernels, Linear, TokenTable,
};
use super::error::{Error, Result};
use super::gguf::Gguf;
use super::quant::{QuantMatrix, MATVEC_EXACT_INPUTS};

struct Layer {
    attn_norm: Vec<f32>,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    // Qwen2 has biases on q, k and v; llama has none.
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    // Qwen3 and Gemma 3 normalise each query and key head before rope.
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    // Gemma normalises the attention and feed-forward outputs too.
    post_attention_norm: Option<Vec<f32>>,
    post_ffn_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// The decode weights of q, k and v (of gate and up) as one matrix: one
    /// thread hand-off per token instead of three (two). Measured with
    /// SmolLM2-135M, where a token was ~240 small parallel regions.
    qkv: Option<QuantMatrix>,
    gate_up: Option<QuantMatrix>,
}

pub struct Model {
    config: Config,
    embed: TokenTable,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    output: TokenTable,
    /// Llama 3.1-style per-frequency rope divisors (`rope_freqs.weight`).
    rope_freqs: Option<Vec<f32>>,
}

impl Model {
    pub fn load(gguf: &mut Gguf) -> Result<Self> {
        let config = Config::from_gguf(gguf)?;
        let c = &config;
        let embed = TokenTable::new(Arc::new(load_shaped(
            gguf,
            "token_embd.weight",
            &[c.vocab, c.dim],
        )?))?;
        let dense = c.layer_weights() * c.n_layer * 4 <= dense_max_bytes();
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let name = |t: &str| format!("blk.{i}.{t}");
            let matmul = |gguf: &mut Gguf, t: &str, rows: usize, cols: usize| -> Result<Linear> {
                let tensor = load_shaped(gguf, &name(t), &[rows, cols])?;
                Linear::new(tensor, dense)
            };
            let optional = |gguf: &mut Gguf, t: &str, len: usize| -> Result<Option<Vec<f32>>> {
                if gguf.has_tensor(&name(t)) {
                    load_vector(gguf, &name(t), len).map(Some)
                } else {
                    Ok(None)
                }
            };
            let mut layer = Layer {
                attn_norm: load_vector(gguf, &name("attn_norm.weight"), c.dim)?,
                wq: matmul(gguf, "attn_q.weight", c.q_dim(), c.dim)?,
                wk: matmul(gguf, "attn_k.weight", c.kv_dim(), c.dim)?,
                wv: matmul(gguf, "attn_v.weight", c.kv_dim(), c.dim)?,
                wo: matmul(gguf, "attn_output.weight", c.dim, c.q_dim())?,
                bq: optional(gguf, "attn_q.bias", c.q_dim())?,
                bk: optional(gguf, "attn_k.bias", c.kv_dim())?,
                bv: optional(gguf, "attn_v.bias", c.kv_dim())?,
                q_norm: optional(gguf, "attn_q_norm.weight", c.head_dim)?,
                k_norm: optional(gguf, "attn_k_norm.weight", c.head_dim)?,
                post_attention_norm: optional(gguf, "post_attention_norm.weight", c.dim)?,
                post_ffn_norm: optional(gguf, "post_ffw_norm.weight", c.dim)?,
                ffn_norm: load_vector(gguf, &name("ffn_norm.weight"), c.dim)?,
                gate: matmul(gguf, "ffn_gate.weight", c.ffn_dim, c.dim)?,
                up: matmul(gguf, "ffn_up.weight", c.ffn_dim, c.dim)?,
                down: matmul(gguf, "ffn_down.weight", c.dim, c.ffn_dim)?,
                qkv: None,
                gate_up: None,
            };
            layer.qkv = stack(&mut [&mut layer.wq, &mut layer.wk, &mut layer.wv]);
            layer.gate_up = stack(&mut [&mut layer.gate, &mut layer.up]);
            layers.push(layer);
        }
        let norm = load_vector(gguf, "output_norm.weight", c.dim)?;
        // Small models tie the output head to the embedding table.
        let output = if gguf.has_tensor("output.weight") {
            TokenTable::new(Arc::new(load_shaped(
                gguf,
                "output.weight",
                &[c.vocab, c.dim],
            )?))?
        } else {
            embed.clone()
        };
        let rope_freqs = if gguf.has_tensor("rope_freqs.weight") {
            Some(load_vector(gguf, "rope_freqs.weight", c.rope_dim / 2)?)
        } else {
            None
        };
        Ok(Model {
            config,
            embed,
            layers,
            norm,
            output,
            rope_freqs,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A cache for up to `capacity` positions (prompt plus answer), capped at the
    /// model's context length.
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        let c = &self.config;
        let capacity = capacity.clamp(1, c.context_length.max(1));
        let kv = capacity * c.kv_dim();
        KvCache {
            k: (0..c.n_layer).map(|_| vec![f16::ZERO; kv]).collect(),
            v: (0..c.n_layer).map(|_| vec![f16::ZERO; kv]).collect(),
            len: 0,
            capacity,
            rope: Arc::new(RopeTable::new(
                c,
                c.rope_base,
                c.rope_scale,
                self.rope_freqs.as_deref(),
                capacity,
            )),
            local_rope: c
                .sliding
                .map(|s| Arc::new(RopeTable::new(c, s.rope_base, 1.0, None, capacity))),
        }
    }

    /// Runs `tokens` (the positions after those already in `cache`) through the
    /// model in one batch and returns the logits of the last one.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        // Run on a pool thread: its parallel loops then split work with the
        // other pool threads directly, where a caller from outside the pool
        // would sleep and wake once per loop (~150 per token; measured at a
        // quarter of decode time on two cores).
        rayon::scope(|_| {
            let x = self.hidden_states(tokens, cache, Kernels::Batch)?;
            self.last_logits(&x, tokens.len())
        })
    }

    /// [`Model::forward`], asking `keep_going(layers done, layers)` after each
    /// layer: a prompt's batch takes seconds, and whoever waits for it (a
    /// client that left, a user who pressed Esc) should not. None when it
    /// stopped; `cache` then holds nothing more than before.
    pub fn forward_until(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        keep_going: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Vec<f32>>> {
        let mut pass = self.begin(tokens, cache)?;
        let layers = self.layers.len();
        for i in 0..layers {
            // Each layer on a pool thread, as `forward` runs its whole pass:
            // one wake-up a layer is nothing beside a batch's layer.
            rayon::scope(|_| self.layer(i, &mut pass, cache, Kernels::Batch))?;
            if !keep_going(i + 1, layers) {
                return Ok(None);
            }
        }
        cache.len += pass.t;
        rayon::scope(|_| self.last_logits(&pass.x, tokens.len())).map(Some)
    }

    fn last_logits(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        let last = &x[(rows - 1) * self.config.dim..];
        let mut normed = vec![0.0f32; self.config.dim];
        rms_norm(last, &self.norm, self.config.rms_eps, &mut normed);
        self.output.logits(normed)
    }

    /// Runs `tokens` through the model and returns the logits after each:
    /// each row's logits, keys and values are bit for bit those that running
    /// the tokens one at a time through [`Model::forward`] would give, at the
    /// cost of one pass over the weights per [`Model::EXACT_ROWS_PER_PASS`]
    /// tokens. Drafted tokens are checked this way.
    pub fn forward_each(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<Vec<f32>>> {
        let mut logits = Vec::with_capacity(tokens.len());
        for pass in tokens.chunks(Self::EXACT_ROWS_PER_PASS) {
            logits.extend(rayon::scope(|_| {
                let x = self.hidden_states(pass, cache, Kernels::Decode)?;
                let mut normed = vec![0.0f32; x.len()];
                rms_norm(&x, &self.norm, self.config.rms_eps, &mut normed);
                self.output.logits_of_rows(&normed, pass.len())
            })?);
        }
        Ok(logits)
    }

    /// The most tokens [`Model::forward_each`] runs in one pass.
    pub const EXACT_ROWS_PER_PASS: usize = MATVEC_EXACT_INPUTS;

    /// The last layer's output for each of `tokens`, their keys and values
    /// added to `cache`.
    fn hidden_states(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        kernels: Kernels,
    ) -> Result<Vec<f32>> {
        let mut pass = self.begin(tokens, cache)?;
        for i in 0..self.layers.len() {
            self.layer(i, &mut pass, cache, kernels)?;
        }
        cache.len += pass.t;
        Ok(pass.x)
    }

    /// The embeddings of `tokens`, checked to fit after `cache`'s positions.
    fn begin(&self, tokens: &[u32], cache: &KvCache) -> Result<Pass> {
        let c = &self.config;
        let t = tokens.len();
        let pos0 = cache.len;
        if t == 0 {
            return Err(Error::ContextFull {
                needed: 0,
                limit: cache.capacity,
            });
        }
        if pos0 + t > cache.capacity {
            return Err(Error::ContextFull {
                needed: pos0 + t,
                limit: cache.capacity,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(Error::BadToken(bad));
        }
        let mut x = self.embed.rows(tokens)?;
        if c.embed_scale != 1.0 {
            x.iter_mut().for_each(|v| *v *= c.embed_scale);
        }
        Ok(Pass {
            x,
            h: vec![0.0f32; t * c.dim],
            attn: vec![0.0f32; t * c.q_dim()],
            t,
            pos0,
        })
    }

    /// Layer `i` over `pass`, its keys and values written to `cache` after
    /// the positions it holds (which it does not yet count: see `hidden_states`).
    fn layer(
        &self,
        i: usize,
        pass: &mut Pass,
        cache: &mut KvCache,
        kernels: Kernels,
    ) -> Result<()> {
        let c = &self.config;
        let (t, pos0) = (pass.t, pass.pos0);
        let layer = &self.layers[i];
        let (k_cache, v_cache) = (&mut cache.k[i], &mut cache.v[i]);
        let window = c.window_of(i);
        let rope_table = match (window, &cache.local_rope) {
            (Some(_), Some(local)) => local.as_ref(),
            _ => cache.rope.as_ref(),
        };
        // Attention block.
        rms_norm(&pass.x, &layer.attn_norm, c.rms_eps, &mut pass.h);
        let (mut q, mut k, mut v) = match stacked_for(&layer.qkv, &layer.wq, t, kernels) {
            Some(qkv) => {
                let widths = [c.q_dim(), c.kv_dim(), c.kv_dim()];
                let [q, k, v] = stacked_matmul(qkv, &pass.h, t, kernels, widths);
                (q, k, v)
            }
            None => (
                layer.wq.forward(&pass.h, t, kernels)?,
                layer.wk.forward(&pass.h, t, kernels)?,
                layer.wv.forward(&pass.h, t, kernels)?,
            ),
        };
        add_bias(&mut q, layer.bq.as_deref());
        add_bias(&mut k, layer.bk.as_deref());
        add_bias(&mut v, layer.bv.as_deref());
        norm_in_place(&mut q, layer.q_norm.as_deref(), c.rms_eps);
        norm_in_place(&mut k, layer.k_norm.as_deref(), c.rms_eps);
        rope(c, &mut q, c.n_head, pos0, rope_table);
        rope(c, &mut k, c.n_kv_head, pos0, rope_table);
        let kv = c.kv_dim();
        k_cache[pos0 * kv..(pos0 + t) * kv].convert_from_f32_slice(&k);
        v_cache[pos0 * kv..(pos0 + t) * kv].convert_from_f32_slice(&v);
        attention(
            c,
            &q,
            k_cache,
            v_cache,
            pos0,
            window.map(|w| w.window),
            !kernels.as_decoded(t),
            &mut pass.attn,
        );
        let mut out = layer.wo.forward(&pass.attn, t, kernels)?;
        norm_in_place(&mut out, layer.post_attention_norm.as_deref(), c.rms_eps);
        add_into(&mut pass.x, &out);

        // Feed-forward block: down(act(gate(h)) * up(h)).
        rms_norm(&pass.x, &layer.ffn_norm, c.rms_eps, &mut pass.h);
        let (mut gate, up) = match stacked_for(&layer.gate_up, &layer.gate, t, kernels) {
            Some(gate_up) => {
                let [gate, up] =
                    stacked_matmul(gate_up, &pass.h, t, kernels, [c.ffn_dim, c.ffn_dim]);
                (gate, up)
            }
            None => (
                layer.gate.forward(&pass.h, t, kernels)?,
                layer.up.forward(&pass.h, t, kernels)?,
            ),
        };
        let activate = |gate: &mut [f32], up: &[f32]| match c.activation {
            Activation::Silu => {
                for (g, u) in gate.iter_mut().zip(up) {
                    *g = *g / (1.0 + (-*g).exp()) * u;
                }
            }
            Activation::GeluTanh => {
                for (g, u) in gate.iter_mut().zip(up) {
                    *g = gelu_tanh(*g) * u;
                }
            }
        };
        // A prompt's rows on every core: serial, this was a few percent
        // of a prefill with the other core idle.
        gate.par_chunks_mut(c.ffn_dim)
            .zip(up.par_chunks(c.ffn_dim))
            .for_each(|(gate, up)| activate(gate, up));
        let mut out = layer.down.forward(&gate, t, kernels)?;
        norm_in_place(&mut out, layer.post_ffn_norm.as_deref(), c.rms_eps);
        add_into(&mut pass.x, &out);
        Ok(())
    }
}

/// One batch's activations as it goes through the layers.
struct Pass {
    /// The residual stream, `[token][dim]`.
    x: Vec<f32>,
    /// Scratch for the normed input of each block.
    h: Vec<f32>,
    /// Scratch for the attention output, `[token][q_dim]`.
    attn: Vec<f32>,
    t: usize,
    /// The position of the first token.
    pos0: usize,
}

impl Model {
    /// A cache of `capacity` positions holding `len` positions read from
    /// `bytes` as [`KvCache::write_positions`] wrote them; None when `bytes`
    /// is not exactly that many positions of this model's shape.
    pub fn cache_from_bytes(&self, bytes: &[u8], len: usize, capacity: usize) -> Option<KvCache> {
        let c = &self.config;
        let kv = c.kv_dim();
        if len > capacity
            || capacity > c.context_length
            || bytes.len() != KvCache::positions_bytes(c.n_layer, kv, len)
        {
            return None;
        }
        let mut cache = self.new_cache(capacity);
        let per_part = len * kv * cache::ELEMENT_BYTES;
        let mut parts = bytes.chunks_exact(per_part.max(1));
        for (k, v) in cache.k.iter_mut().zip(cache.v.iter_mut()) {
            for values in [k, v] {
                if len > 0 {
                    cache::f16_from_le(parts.next()?, &mut values[..len * kv]);
                }
            }
        }
        cache.len = len;
        Some(cache)
    }

    /// A cache for `capacity` positions holding the first `keep` positions of
    /// `earlier` (a prompt sharing those tokens).
    pub fn cache_from(&self, earlier: &KvCache, keep: usize, capacity: usize) -> KvCache {
        let mut cache = self.new_cache(capacity);
        let keep = keep.min(earlier.len).min(cache.capacity);
        let kv = self.config.kv_dim();
        for (to, from) in cache.k.iter_mut().zip(&earlier.k) {
            to[..keep * kv].copy_from_slice(&from[..keep * kv]);
        }
        for (to, from) in cache.v.iter_mut().zip(&earlier.v) {
            to[..keep * kv].copy_from_slice(&from[..keep * kv]);
        }
        cache.len = keep;
        cache
    }
}

fn load_shaped(gguf: &mut Gguf, name: &str, dims: &[usize]) -> Result<QTensor> {
    let found = gguf.tensor_dims(name).map(<[usize]>::to_vec);
    match found {
        Some(found) if found == dims => gguf.tensor(name),
        Some(found) => Err(Error::Corrupt {
            path: gguf.path().to_path_buf(),
            reason: format!("tensor {name} has shape {found:?}, the metadata implies {dims:?}"),
        }),
        // Let `tensor` report the missing tensor.
        None => gguf.tensor(name),
    }
}

/// A 1-D tensor (norm weights, biases) as f32.
fn load_vector(gguf: &mut Gguf, name: &str, len: usize) -> Result<Vec<f32>> {
    let tensor = gguf.tensor(name)?;
    let values = to_vec(&tensor.dequantize(&Device::Cpu)?)?;
    if values.len() != len {
        return Err(Error::Corrupt {
            path: gguf.path().to_path_buf(),
            reason: format!("tensor {name} has {} values, expected {len}", values.len()),
        });
    }
    Ok(values)
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

fn add_bias(rows: &mut [f32], bias: Option<&[f32]>) {
    if let Some(bias) = bias {
        for row in rows.chunks_exact_mut(bias.len()) {
            add_into(row, bias);
        }
    }
}

/// RMSNorm in place of each `weight.len()`-wide piece of `x`, when there is a weight.
fn norm_in_place(x: &mut [f32], weight: Option<&[f32]>, eps: f32) {
    if let Some(weight) = weight {
        let input = x.to_vec();
        rms_norm(&input, weight, eps, x);
    }
}

/// GELU with the tanh approximation, as Gemma and ggml use it:
/// 0.5·x·(1 + tanh(z)), written as x·sigmoid(2z), which costs one exp where
/// tanh cost two (libm's tanhf was 8% of a Gemma 3 prefill).
fn gelu_tanh(x: f32) -> f32 {
    const TWO_SQRT_2_OVER_PI: f32 = 1.595_769;
    let z2 = TWO_SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x);
    x / (1.0 + (-z2).exp())
}

/// RMSNorm of each row of `x`: x / sqrt(mean(x²) + eps) · w.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    // Each row on its own: a prompt's rows spread over the cores.
    let norm = |(row, out): (&[f32], &mut [f32])| {
        // Sum in f64 as ggml does: 576+ squares in f32 lose digits.
        let sum: f64 = row.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let scale = (1.0 / (sum / dim as f64 + eps as f64).sqrt()) as f32;
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    };
    if x.len() > dim {
        x.par_chunks_exact(dim)
            .zip(out.par_chunks_exact_mut(dim))
            .for_each(norm);
    } else {
        x.chunks_exact(dim)
            .zip(out.chunks_exact_mut(dim))
            .for_each(norm);
    }
}

/// Rotates the first `rope_dim` dimensions of every head of every row; row r is
/// at position pos0 + r.
fn rope(c: &Config, x: &mut [f32], n_heads: usize, pos0: usize, table: &RopeTable) {
    let (cos, sin) = (&table.cos, &table.sin);
    let half = c.rope_dim / 2;
    let row_len = n_heads * c.head_dim;
    for (r, row) in x.chunks_exact_mut(row_len).enumerate() {
        let angles = (pos0 + r) * half..(pos0 + r + 1) * half;
        let (cos, sin) = (&cos[angles.clone()], &sin[angles]);
        for head in row.chunks_exact_mut(c.head_dim) {
            for i in 0..half {
                let (a, b) = match c.rope_style {
                    RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                    RopeStyle::Neox => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cos[i] - x1 * sin[i];
                head[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config(style: RopeStyle) -> Config {
        Config {
            architecture: "llama".into(),
            n_layer: 1,
            dim: 8,
            n_head: 2,
            n_kv_head: 1,
            head_dim: 4,
            ffn_dim: 8,
            vocab: 4,
            context_length: 16,
            rope_base: 10_000.0,
            rope_dim: 4,
            rope_style: style,
            rope_scale: 1.0,
            rms_eps: 1e-5,
            embed_scale: 1.0,
            activation: Activation::Silu,
            sliding: None,
            attention_scale: 0.5,
        }
    }

    #[test]
    fn gelu_matches_its_tanh_form() {
        for x in [-6.0f32, -1.5, -0.1, 0.0, 0.3, 2.0, 8.0] {
            let z = 0.797_884_6 * x * (1.0 + 0.044_715 * x * x);
            let want = 0.5 * x * (1.0 + z.tanh());
            assert!(
                (gelu_tanh(x) - want).abs() < 1e-5,
                "{x}: {} vs {want}",
                gelu_tanh(x)
            );
        }
    }

    #[test]
    fn rms_norm_matches_the_formula() {
        let mut out = vec![0.0; 2];
        rms_norm(&[3.0, 4.0], &[1.0, 2.0], 0.0, &mut out);
        let rms = (12.5f32).sqrt();
        assert!((out[0] - 3.0 / rms).abs() < 1e-6 && (out[1] - 8.0 / rms).abs() < 1e-6);
    }

    #[test]
    fn rope_rotates_the_right_pairs() {
        for (style, pair) in [(RopeStyle::Interleaved, (0, 1)), (RopeStyle::Neox, (0, 2))] {
            let c = config(style);
            // Position 1, frequency 0 is exactly one radian.
            let table = RopeTable {
                cos: vec![1.0, 1.0, 1f32.cos(), 1.0],
                sin: vec![0.0, 0.0, 1f32.sin(), 0.0],
            };
            let mut x = vec![0.0; 4];
            x[pair.0] = 1.0;
            rope(&c, &mut x, 1, 1, &table);
            assert!((x[pair.0] - 1f32.cos()).abs() < 1e-6, "{style:?} {x:?}");
            assert!((x[pair.1] - 1f32.sin()).abs() < 1e-6, "{style:?} {x:?}");
        }
    }
}
