//! What a GGUF says about the network: sizes, rope, and the differences
//! between the architectures we run (llama, qwen2, qwen3, gemma3).

use super::super::error::{Error, Result};
use super::super::gguf::Gguf;

/// Architectures we can run, as `general.architecture` names them.
pub const SUPPORTED_ARCHITECTURES: &str = "llama, qwen2, qwen3, gemma3";

/// How rope pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Pairs (2i, 2i+1): llama.cpp's "normal" rope; llama GGUFs have q/k permuted for it.
    Interleaved,
    /// Pairs (i, i + d/2): GPT-NeoX style, used by Qwen2 and Gemma.
    Neox,
}

/// The feed-forward block's gate activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// x * sigmoid(x): Llama, Qwen.
    Silu,
    /// GELU, tanh approximation: Gemma.
    GeluTanh,
}

/// Gemma 3's local attention: most layers see only the last `window`
/// positions, with their own rope base; every `pattern`-th layer sees all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlidingWindow {
    pub window: usize,
    pub pattern: usize,
    pub rope_base: f32,
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
    /// Embeddings are multiplied by this before the first layer (Gemma: sqrt(dim)).
    pub embed_scale: f32,
    pub activation: Activation,
    pub sliding: Option<SlidingWindow>,
    /// Attention scores are q·k times this (usually 1/sqrt(head_dim)).
    pub attention_scale: f32,
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
            "qwen2" | "qwen3" | "gemma3" => RopeStyle::Neox,
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
        let n_layer = int("block_count")?;
        let gemma = architecture == "gemma3";
        // As llama.cpp reads Gemma 3: local layers with base 10,000 and no
        // scaling, every sixth layer global; the 27B model (62 layers) scales
        // queries by its width per head rather than its key size.
        let sliding = match gguf.value(&key("attention.sliding_window")) {
            Some(_) if gemma => Some(SlidingWindow {
                window: int("attention.sliding_window")?.max(1),
                pattern: 6,
                rope_base: 10_000.0,
            }),
            _ => None,
        };
        let scale_width = if gemma && n_layer == 62 {
            dim / n_head
        } else {
            head_dim
        };
        Ok(Config {
            n_layer,
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
            embed_scale: if gemma { (dim as f32).sqrt() } else { 1.0 },
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            sliding,
            attention_scale: 1.0 / (scale_width as f32).sqrt(),
            architecture,
        })
    }

    /// Weights of the matmuls of one layer (what a dense copy costs).
    pub(super) fn layer_weights(&self) -> usize {
        let attention = 2 * self.dim * self.q_dim() + 2 * self.dim * self.kv_dim();
        attention + 3 * self.dim * self.ffn_dim
    }

    pub(super) fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    pub(super) fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }

    /// The sliding window of layer `layer`, if it is a local one.
    pub(super) fn window_of(&self, layer: usize) -> Option<&SlidingWindow> {
        self.sliding
            .as_ref()
            .filter(|s| layer % s.pattern < s.pattern - 1)
    }
}
