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

/// Bytes per stored key or value element (f16).
pub(super) const ELEMENT_BYTES: usize = 2;

impl KvCache {
    /// Appends the keys and values of the first `len` positions, layer by
    /// layer (keys, then values), as little-endian f16: what
    /// [`super::Model::cache_from_bytes`] reads back.
    pub fn write_positions(&self, len: usize, out: &mut Vec<u8>) {
        let len = len.min(self.len);
        for (k, v) in self.k.iter().zip(&self.v) {
            let kv = k.len() / self.capacity.max(1);
            for values in [&k[..len * kv], &v[..len * kv]] {
                out.extend(values.iter().flat_map(|x| x.to_bits().to_le_bytes()));
            }
        }
    }

    /// How many bytes [`KvCache::write_positions`] writes for `len`
    /// positions of a model with `layers` layers of `kv_dim` keys.
    pub fn positions_bytes(layers: usize, kv_dim: usize, len: usize) -> usize {
        layers * 2 * len * kv_dim * ELEMENT_BYTES
    }
}

/// f16 values from little-endian bytes.
pub(super) fn f16_from_le(bytes: &[u8], out: &mut [f16]) {
    for (x, b) in out.iter_mut().zip(bytes.chunks_exact(ELEMENT_BYTES)) {
        *x = f16::from_bits(u16::from_le_bytes([b[0], b[1]]));
    }
}
