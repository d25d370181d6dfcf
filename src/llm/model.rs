//! The transformer forward pass for llama-family GGUF models, on candle-core.
//!
//! Multi-token matmuls (prefill) run through candle (an f32 copy through gemm
//! for small models, the quantized kernels otherwise, see `DENSE_MAX_BYTES`);
//! single-token ones (decode) on Q4_1 and Q8_0 weights, and the output head,
//! use our own kernels (`quant`). The
//! rest (norms, rope, attention, SiLU) are plain loops over slices: at this model
//! size the per-op overhead of building tensors for them would cost more than
//! the arithmetic. The KV cache is preallocated once per generation, so decode
//! never copies the cache, and the whole prompt goes through in one batched pass.

use std::sync::{Arc, Mutex};

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use half::f16;
use half::slice::HalfFloatSliceExt;

use super::error::{Error, Result};
use super::gguf::Gguf;
use super::quant::QuantMatrix;
use super::simd;

/// Architectures we can run, as `general.architecture` names them.
pub const SUPPORTED_ARCHITECTURES: &str = "llama, qwen2";

/// How rope pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Pairs (2i, 2i+1): llama.cpp's "normal" rope; llama GGUFs have q/k permuted for it.
    Interleaved,
    /// Pairs (i, i + d/2): GPT-NeoX style, used by Qwen2.
    Neox,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub architecture: String,
    pub n_layer: usize,
    pub dim: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub vocab: usize,
    pub context_length: usize,
    pub rope_base: f32,
    pub rope_dim: usize,
    pub rope_style: RopeStyle,
    /// Linear rope scaling: positions are divided by this.
    pub rope_scale: f32,
    pub rms_eps: f32,
}

impl Config {
    /// Approximate number of weights (embedding, attention, feed-forward).
    pub fn parameters(&self) -> usize {
        let kv = self.n_kv_head * self.head_dim;
        let q = self.n_head * self.head_dim;
        let per_layer = self.dim * (2 * q + 2 * kv) + 3 * self.dim * self.ffn_dim;
        self.vocab * self.dim + self.n_layer * per_layer
    }

    pub fn from_gguf(gguf: &Gguf) -> Result<Self> {
        let architecture = gguf.string("general.architecture")?.to_string();
        let rope_style = match architecture.as_str() {
            "llama" => RopeStyle::Interleaved,
            "qwen2" => RopeStyle::Neox,
            _ => {
                return Err(Error::UnsupportedArchitecture {
                    path: gguf.path().to_path_buf(),
                    arch: architecture,
                    supported: SUPPORTED_ARCHITECTURES,
                })
            }
        };
        let key = |name: &str| format!("{architecture}.{name}");
        let int = |name: &str| gguf.uint(&key(name)).map(|v| v as usize);
        let dim = int("embedding_length")?;
        let n_head = int("attention.head_count")?;
        let n_kv_head = match gguf.value(&key("attention.head_count_kv")) {
            Some(_) => int("attention.head_count_kv")?,
            None => n_head,
        };
        let bad = |what: String| Error::Metadata {
            path: gguf.path().to_path_buf(),
            key: format!("{architecture}.attention.*"),
            reason: what,
        };
        if n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            return Err(bad(format!(
                "{n_head} query heads cannot share {n_kv_head} key/value heads"
            )));
        }
        let head_dim = match gguf.value(&key("attention.key_length")) {
            Some(_) => int("attention.key_length")?,
            None => dim / n_head,
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(bad(format!("head size {head_dim} must be even")));
        }
        let rope_dim = gguf.uint_or(&key("rope.dimension_count"), head_dim as u64)? as usize;
        if rope_dim > head_dim || !rope_dim.is_multiple_of(2) {
            return Err(bad(format!(
                "rope size {rope_dim} does not fit head size {head_dim}"
            )));
        }
        let rope_scale = match gguf.string_opt(&key("rope.scaling.type"))? {
            Some("linear") => gguf.float_or(&key("rope.scaling.factor"), 1.0)?,
            Some("none") | None => 1.0,
            Some(other) => {
                return Err(Error::Unsupported {
                    path: gguf.path().to_path_buf(),
                    what: format!("rope scaling {other:?} is not supported"),
                })
            }
        };
        let vocab = gguf
            .tensor_dims("token_embd.weight")
            .and_then(|d| d.first().copied())
            .unwrap_or(0);
        Ok(Config {
            n_layer: int("block_count")?,
            dim,
            n_head,
            n_kv_head,
            head_dim,
            ffn_dim: int("feed_forward_length")?,
            vocab,
            context_length: int("context_length")?,
            rope_base: gguf.float_or(&key("rope.freq_base"), 10_000.0)?,
            rope_dim,
            rope_style,
            rope_scale: if rope_scale > 0.0 { rope_scale } else { 1.0 },
            rms_eps: gguf.float_or(&key("attention.layer_norm_rms_epsilon"), 1e-5)?,
            architecture,
        })
    }

    /// Weights of the matmuls of one layer (what a dense copy costs).
    fn layer_weights(&self) -> usize {
        let attention = 2 * self.dim * self.q_dim() + 2 * self.dim * self.kv_dim();
        attention + 3 * self.dim * self.ffn_dim
    }

    fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}

/// Matmuls run on an f32 copy of the weights through candle's gemm when the
/// copy fits under `DENSE_MAX_BYTES` (about a 250M-parameter model); larger
/// models use the quantized weights. candle 0.11 has no SIMD kernel for Q4_1,
/// and measured here (SmolLM2-135M Q4_1, 991-token prompt, 2 cores) the dense
/// copy took prefill from 29 to 298 tok/s and decode from 20.6 to 26.5 tok/s.
/// Decode now reads the Q4_1 weights instead (`Linear::decode`): 7x fewer
/// bytes per token took a short-context decode from ~28 to ~70 tok/s.
const DENSE_MAX_BYTES: usize = 1 << 30;

/// One weight matrix, in the forms its uses need.
struct Linear {
    form: LinearForm,
    /// The Q4_1 weights for single-token decode (memory-bound: fewer bytes win).
    decode: Option<QuantMatrix>,
}

enum LinearForm {
    /// The weights dequantised and transposed to (in, out).
    Dense(Tensor),
    Quantized(QMatMul),
}

impl Linear {
    fn new(tensor: QTensor, dense: bool) -> Result<Self> {
        let decode = QuantMatrix::from_qtensor(&tensor);
        let form = if dense {
            LinearForm::Dense(tensor.dequantize(&Device::Cpu)?.t()?.contiguous()?)
        } else {
            LinearForm::Quantized(QMatMul::from_qtensor(tensor)?)
        };
        Ok(Linear { form, decode })
    }

    /// `x` is `rows` rows of the input width; returns `rows` rows of the output width.
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        if let (1, Some(q)) = (rows, &self.decode) {
            let mut out = vec![0.0; q.rows()];
            q.matvec(x, &mut out);
            return Ok(out);
        }
        let width = x.len() / rows.max(1);
        let x = Tensor::from_slice(x, (rows, width), &Device::Cpu)?;
        let y = match &self.form {
            LinearForm::Dense(w) => x.matmul(w)?,
            LinearForm::Quantized(w) => w.forward(&x)?,
        };
        to_vec(&y)
    }
}

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

/// Moves the decode weights of `parts` into one stacked matrix, when they all
/// have them.
fn stack(parts: &mut [&mut Linear]) -> Option<QuantMatrix> {
    let matrices: Option<Vec<&QuantMatrix>> = parts.iter().map(|p| p.decode.as_ref()).collect();
    let stacked = QuantMatrix::stacked(&matrices?)?;
    for part in parts.iter_mut() {
        part.decode = None;
    }
    Some(stacked)
}

/// One matvec of `matrix` on `x`, cut into outputs of the given widths.
fn stacked_matvec(matrix: &QuantMatrix, x: &[f32], widths: &[usize]) -> Vec<Vec<f32>> {
    let mut all = vec![0.0; matrix.rows()];
    matrix.matvec(x, &mut all);
    let mut parts = Vec::with_capacity(widths.len());
    let mut at = 0;
    for &width in widths {
        parts.push(all[at..at + width].to_vec());
        at += width;
    }
    parts
}

/// A table of rows, one per token: the embeddings, or the output head
/// (small models use one table for both).
#[derive(Clone)]
enum TokenTable {
    Own(Arc<QuantMatrix>),
    /// Types our kernels do not read; the matmul is built once, since for
    /// f16 tables building it dequantises the whole table.
    Candle(Arc<QTensor>, QMatMul),
}

impl TokenTable {
    fn new(tensor: Arc<QTensor>) -> Result<Self> {
        Ok(match QuantMatrix::from_qtensor(&tensor) {
            Some(matrix) => TokenTable::Own(Arc::new(matrix)),
            None => TokenTable::Candle(tensor.clone(), QMatMul::from_arc(tensor)?),
        })
    }

    /// The rows of `tokens`, one after the other.
    fn rows(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        match self {
            TokenTable::Own(m) => {
                let mut out = vec![0.0; tokens.len() * m.cols()];
                for (&token, row) in tokens.iter().zip(out.chunks_exact_mut(m.cols())) {
                    m.dequantize_row(token as usize, row);
                }
                Ok(out)
            }
            TokenTable::Candle(t, _) => to_vec(&t.embedding(&Tensor::new(tokens, &Device::Cpu)?)?),
        }
    }

    /// `table · x`: the logits of every token for the hidden state `x`.
    fn logits(&self, x: Vec<f32>) -> Result<Vec<f32>> {
        match self {
            TokenTable::Own(m) => {
                let mut out = vec![0.0; m.rows()];
                m.matvec(&x, &mut out);
                Ok(out)
            }
            TokenTable::Candle(_, matmul) => {
                let width = x.len();
                to_vec(&matmul.forward(&Tensor::from_vec(x, (1, width), &Device::Cpu)?)?)
            }
        }
    }
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
        let dense = c.layer_weights() * c.n_layer * 4 <= DENSE_MAX_BYTES;
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let name = |t: &str| format!("blk.{i}.{t}");
            let matmul = |gguf: &mut Gguf, t: &str, rows: usize, cols: usize| -> Result<Linear> {
                let tensor = load_shaped(gguf, &name(t), &[rows, cols])?;
                Linear::new(tensor, dense)
            };
            let bias = |gguf: &mut Gguf, t: &str, len: usize| -> Result<Option<Vec<f32>>> {
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
                bq: bias(gguf, "attn_q.bias", c.q_dim())?,
                bk: bias(gguf, "attn_k.bias", c.kv_dim())?,
                bv: bias(gguf, "attn_v.bias", c.kv_dim())?,
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
        let half = c.rope_dim / 2;
        let mut cos = Vec::with_capacity(capacity * half);
        let mut sin = Vec::with_capacity(capacity * half);
        for pos in 0..capacity {
            let pos = pos as f64 / c.rope_scale as f64;
            for i in 0..half {
                let mut freq = (c.rope_base as f64).powf(-2.0 * i as f64 / c.rope_dim as f64);
                if let Some(factors) = &self.rope_freqs {
                    freq /= factors[i] as f64;
                }
                let (s, co) = (pos * freq).sin_cos();
                cos.push(co as f32);
                sin.push(s as f32);
            }
        }
        let kv = capacity * c.kv_dim();
        KvCache {
            k: (0..c.n_layer).map(|_| vec![f16::ZERO; kv]).collect(),
            v: (0..c.n_layer).map(|_| vec![f16::ZERO; kv]).collect(),
            len: 0,
            capacity,
            cos,
            sin,
        }
    }

    /// Runs `tokens` (the positions after those already in `cache`) through the
    /// model in one batch and returns the logits of the last one.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        // Run on a pool thread: its parallel loops then split work with the
        // other pool threads directly, where a caller from outside the pool
        // would sleep and wake once per loop (~150 per token; measured at a
        // quarter of decode time on two cores).
        rayon::scope(|_| self.forward_in_pool(tokens, cache))
    }

    fn forward_in_pool(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
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
        let mut h = vec![0.0f32; t * c.dim];
        let mut attn = vec![0.0f32; t * c.q_dim()];

        for (layer, (k_cache, v_cache)) in self
            .layers
            .iter()
            .zip(cache.k.iter_mut().zip(cache.v.iter_mut()))
        {
            // Attention block.
            rms_norm(&x, &layer.attn_norm, c.rms_eps, &mut h);
            let (mut q, mut k, mut v) = match (&layer.qkv, t) {
                (Some(qkv), 1) => {
                    let widths = [c.q_dim(), c.kv_dim(), c.kv_dim()];
                    let mut parts = stacked_matvec(qkv, &h, &widths).into_iter();
                    let mut next = || parts.next().unwrap_or_default();
                    (next(), next(), next())
                }
                _ => (
                    layer.wq.forward(&h, t)?,
                    layer.wk.forward(&h, t)?,
                    layer.wv.forward(&h, t)?,
                ),
            };
            add_bias(&mut q, layer.bq.as_deref());
            add_bias(&mut k, layer.bk.as_deref());
            add_bias(&mut v, layer.bv.as_deref());
            rope(c, &mut q, c.n_head, pos0, &cache.cos, &cache.sin);
            rope(c, &mut k, c.n_kv_head, pos0, &cache.cos, &cache.sin);
            let kv = c.kv_dim();
            k_cache[pos0 * kv..(pos0 + t) * kv].convert_from_f32_slice(&k);
            v_cache[pos0 * kv..(pos0 + t) * kv].convert_from_f32_slice(&v);
            attention(c, &q, k_cache, v_cache, pos0, &mut attn);
            add_into(&mut x, &layer.wo.forward(&attn, t)?);

            // Feed-forward block: down(silu(gate(h)) * up(h)).
            rms_norm(&x, &layer.ffn_norm, c.rms_eps, &mut h);
            let (mut gate, up) = match (&layer.gate_up, t) {
                (Some(gate_up), 1) => {
                    let mut parts =
                        stacked_matvec(gate_up, &h, &[c.ffn_dim, c.ffn_dim]).into_iter();
                    let mut next = || parts.next().unwrap_or_default();
                    (next(), next())
                }
                _ => (layer.gate.forward(&h, t)?, layer.up.forward(&h, t)?),
            };
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            add_into(&mut x, &layer.down.forward(&gate, t)?);
        }
        cache.len += t;

        // Only the last position's logits are needed to pick the next token.
        let last = &x[(t - 1) * c.dim..];
        let mut normed = vec![0.0f32; c.dim];
        rms_norm(last, &self.norm, c.rms_eps, &mut normed);
        self.output.logits(normed)
    }
}

/// Per-layer keys and values of every position so far, laid out
/// `[position][kv_head * head_dim]`, allocated once for the whole generation.
/// Kept in f16, as llama.cpp does: attention over a long prompt reads the
/// whole cache for every token, and half the bytes is most of half the time.
/// Cloning one forks a conversation: several answers sampled after one prefill.
#[derive(Clone)]
pub struct KvCache {
    k: Vec<Vec<f16>>,
    v: Vec<Vec<f16>>,
    len: usize,
    capacity: usize,
    /// Rope angles per position, `[position][rope_dim / 2]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl KvCache {
    /// Positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets everything (the allocation is kept).
    pub fn clear(&mut self) {
        self.len = 0;
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

fn to_vec(tensor: &Tensor) -> Result<Vec<f32>> {
    Ok(tensor.flatten_all()?.to_vec1::<f32>()?)
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

/// RMSNorm of each row of `x`: x / sqrt(mean(x²) + eps) · w.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        // Sum in f64 as ggml does: 576+ squares in f32 lose digits.
        let sum: f64 = row.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let scale = (1.0 / (sum / dim as f64 + eps as f64).sqrt()) as f32;
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

/// Rotates the first `rope_dim` dimensions of every head of every row; row r is
/// at position pos0 + r.
fn rope(c: &Config, x: &mut [f32], n_heads: usize, pos0: usize, cos: &[f32], sin: &[f32]) {
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

/// Causal attention of the new rows of `q` over the cache, written to `out`
/// (`[row][head * head_dim]`). Query head h reads key/value head h / group.
/// One work item is one row and one query head: with the query and the sum in
/// registers, a head's pass over its cached keys and values runs at the speed
/// of the loads, and nine items (SmolLM2) spread evenly over the cores where
/// three groups did not. Each group's keys are read once per query head, from
/// cache after the first.
fn attention(c: &Config, q: &[f32], k: &[f16], v: &[f16], pos0: usize, out: &mut [f32]) {
    let hd = c.head_dim;
    let kv = c.kv_dim();
    let group = c.n_head / c.n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let rows = q.len() / c.q_dim();
    // A head's output is its own slice of `out`, so items share nothing but
    // read-only data.
    let items: Vec<Mutex<&mut [f32]>> = out.chunks_exact_mut(hd).map(Mutex::new).collect();
    let run = |items_of_task: &mut dyn Iterator<Item = usize>| {
        let mut weights = Vec::with_capacity(pos0 + rows);
        for item in items_of_task {
            let (r, head) = (item / c.n_head, item % c.n_head);
            let n_pos = pos0 + r + 1;
            let kv_off = (head / group) * hd;
            let q_head = &q[r * c.q_dim() + head * hd..r * c.q_dim() + (head + 1) * hd];
            weights.resize(n_pos, 0.0);
            simd::scores(q_head, &k[kv_off..], kv, scale, &mut weights);
            let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum = simd::exp_shifted(&mut weights, max);
            let Ok(mut o) = items[item].lock() else {
                continue;
            };
            simd::weighted_sum(&weights, &v[kv_off..], kv, &mut o);
            let inverse = 1.0 / sum;
            for x in o.iter_mut() {
                *x *= inverse;
            }
        }
    };
    let n_items = items.len();
    // Spreading a handful of short dot products over threads costs more than it saves.
    if n_items * (pos0 + rows) < 16_384 {
        run(&mut (0..n_items));
    } else {
        // The rayon pool, as the decode matvecs: two pools handing the cores
        // back and forth cost measurable time in yields and wake-ups.
        use rayon::prelude::*;
        // Every thread takes every n-th item: in a prompt, later rows attend
        // to more positions, and contiguous halves would leave one core idle.
        let threads = rayon::current_num_threads().max(1);
        (0..threads).into_par_iter().for_each(|task| {
            run(&mut (task..n_items).step_by(threads));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(style: RopeStyle) -> Config {
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
            let (cos, sin) = (
                vec![1.0, 1.0, 1f32.cos(), 1.0],
                vec![0.0, 0.0, 1f32.sin(), 0.0],
            );
            let mut x = vec![0.0; 4];
            x[pair.0] = 1.0;
            rope(&c, &mut x, 1, 1, &cos, &sin);
            assert!((x[pair.0] - 1f32.cos()).abs() < 1e-6, "{style:?} {x:?}");
            assert!((x[pair.1] - 1f32.sin()).abs() < 1e-6, "{style:?} {x:?}");
        }
    }

    #[test]
    fn a_decoded_row_over_a_long_cache_matches_plain_softmax_attention() {
        let c = Config {
            n_head: 6,
            n_kv_head: 2,
            head_dim: 8,
            dim: 48,
            context_length: 2048,
            ..config(RopeStyle::Interleaved)
        };
        let (hd, kv) = (c.head_dim, c.kv_dim());
        let pos0 = 700;
        let n_pos = pos0 + 1;
        let wave = |i: usize, f: f32| ((i as f32) * f).sin();
        let q: Vec<f32> = (0..c.q_dim()).map(|i| wave(i, 0.37)).collect();
        let k: Vec<f16> = (0..n_pos * kv)
            .map(|i| f16::from_f32(wave(i, 0.11)))
            .collect();
        let v: Vec<f16> = (0..n_pos * kv)
            .map(|i| f16::from_f32(wave(i, 0.23)))
            .collect();
        let mut out = vec![0.0; c.q_dim()];
        attention(&c, &q, &k, &v, pos0, &mut out);

        let group = c.n_head / c.n_kv_head;
        for head in 0..c.n_head {
            let off = (head / group) * hd;
            let qh = &q[head * hd..(head + 1) * hd];
            let scores: Vec<f64> = (0..n_pos)
                .map(|p| {
                    let dot: f32 = qh
                        .iter()
                        .zip(&k[p * kv + off..])
                        .map(|(a, b)| a * b.to_f32())
                        .sum();
                    f64::from(dot) / (hd as f64).sqrt()
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            for d in 0..hd {
                let want: f64 = (0..n_pos)
                    .map(|p| weights[p] / total * f64::from(v[p * kv + off + d].to_f32()))
                    .sum();
                let got = f64::from(out[head * hd + d]);
                assert!(
                    (got - want).abs() < 1e-4,
                    "head {head} dim {d}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn attention_is_causal_and_shares_kv_heads() {
        let c = config(RopeStyle::Interleaved);
        // Two positions, one kv head; values are distinct per position.
        let halves = |x: &[f32]| x.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        let k = halves(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let v = halves(&[1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0]);
        let q = vec![0.5; 16];
        let mut out = vec![0.0; 16];
        attention(&c, &q, &k, &v, 0, &mut out);
        // Row 0 sees only position 0.
        assert_eq!(&out[..8], &[1.0; 8]);
        // Row 1 sees both, equally (same score), for both query heads.
        assert!(out[8..].iter().all(|&o| (o - 3.0).abs() < 1e-5), "{out:?}");
    }
}
