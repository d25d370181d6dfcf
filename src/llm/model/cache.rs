//! The keys and values of the positions a model has read, and the rope
//! angles they were rotated by.

use std::sync::Arc;

use half::f16;

use super::Config;

/// Per-layer keys and values of every position so far, laid out
/// `[position][kv_head * head_dim]`, allocated once for the whole generation.
/// Kept in f16, as llama.cpp does: attention over a long prompt reads the
/// whole cache for every token, and half the bytes is most of half the time.
/// Cloning one forks a conversation: several answers sampled after one prefill.
#[derive(Clone)]
pub struct KvCache {
    pub(super) k: Vec<Vec<f16>>,
    pub(super) v: Vec<Vec<f16>>,
    pub(super) len: usize,
    pub(super) capacity: usize,
    /// Shared by the clones: it only depends on the capacity.
    pub(super) rope: Arc<RopeTable>,
    /// Gemma 3's local layers rotate with another base.
    pub(super) local_rope: Option<Arc<RopeTable>>,
}

/// Rope angles per position, `[position][rope_dim / 2]`.
pub struct RopeTable {
    pub(super) cos: Vec<f32>,
    pub(super) sin: Vec<f32>,
}

impl RopeTable {
    pub(super) fn new(
        c: &Config,
        base: f32,
        scale: f32,
        factors: Option<&[f32]>,
        capacity: usize,
    ) -> Self {
        let half = c.rope_dim / 2;
        let mut cos = Vec::with_capacity(capacity * half);
        let mut sin = Vec::with_capacity(capacity * half);
        for pos in 0..capacity {
            let pos = pos as f64 / scale as f64;
            for i in 0..half {
                let mut freq = (base as f64).powf(-2.0 * i as f64 / c.rope_dim as f64);
                if let Some(factors) = factors {
                    freq /= factors[i] as f64;
                }
                let (s, co) = (pos * freq).sin_cos();
                cos.push(co as f32);
                sin.push(s as f32);
            }
        }
        RopeTable { cos, sin }
    }
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

    /// Forgets the positions from `len` on (drafted tokens that were not
    /// taken): the next pass writes over them.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}
