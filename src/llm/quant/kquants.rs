//! The k-quants of a Q4_K_M file (Q4_K, Q5_K, Q6_K) at their own bit width,
//! repacked at load into a layout the kernels read without bit-twiddling the
//! scales: per superblock of 256 weights, the f16 scales as f32 and Q4_K's
//! and Q5_K's packed 6-bit scales and minimums as one byte each. That costs
//! 8 bytes per superblock (2 for Q6_K), ~5% over the file's 144 / 176 / 210.

use candle_core::quantized::GgmlDType;

/// Weights per superblock.
pub(super) const QK: usize = 256;
/// Bytes of 4-bit (Q4_K, Q5_K) or low 4-bit (Q6_K) quants per superblock.
pub(super) const QS: usize = 128;
/// Bytes of scale (and minimum) per superblock, in every format.
pub(super) const SCALES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KFormat {
    /// 8 sub-blocks of 32: `d * sc * q - dmin * m`, q in 0..16.
    Q4K,
    /// As Q4_K with a fifth bit per weight (q in 0..32).
    Q5K,
    /// 16 sub-blocks of 16: `d * sc * (q - 32)`, q in 0..64, sc an i8.
    Q6K,
}

impl KFormat {
    pub(super) fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q4K => Some(KFormat::Q4K),
            GgmlDType::Q5K => Some(KFormat::Q5K),
            GgmlDType::Q6K => Some(KFormat::Q6K),
            _ => None,
        }
    }

    /// Bytes of one ggml block.
    pub(super) fn block_bytes(self) -> usize {
        match self {
            KFormat::Q4K => 144,
            KFormat::Q5K => 176,
            KFormat::Q6K => 210,
        }
    }

    /// Bytes of high bits per superblock.
    pub(super) fn qh_bytes(self) -> usize {
        match self {
            KFormat::Q4K => 0,
            KFormat::Q5K => 32,
            KFormat::Q6K => 64,
        }
    }
}

/// Superblocks of one k-quant format, row after row.
///
/// Per superblock: `d` (and `dmin`, Q4_K/Q5_K only); `scales`, 16 bytes:
/// Q4_K/Q5_K's 8 sub-block scales then their 8 minimums (0..64), or Q6_K's 16
/// signed scales; `qs`, ggml's 128 bytes of nibbles (Q4_K/Q5_K: bytes
/// 32k..32k+32 hold sub-block 2k in their low nibbles and 2k+1 in their high
/// ones; Q6_K: its `ql`); `qh`, ggml's high bits (Q5_K: bit 2k / 2k+1 of
/// byte l for weight l of those sub-blocks; Q6_K: its 64 bytes of `qh`).
#[derive(Clone)]
pub(super) struct KWeights {
    pub(super) format: KFormat,
    pub(super) d: Vec<f32>,
    pub(super) dmin: Vec<f32>,
    pub(super) scales: Vec<u8>,
    pub(super) qs: Vec<u8>,
    pub(super) qh: Vec<u8>,
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

impl KWeights {
    /// Repacks ggml blocks (`data` holds whole blocks of `format`).
    pub(super) fn from_ggml(format: KFormat, data: &[u8]) -> Option<Self> {
        let size = format.block_bytes();
        if !data.len().is_multiple_of(size) {
            return None;
        }
        let blocks = data.len() / size;
        let mut w = KWeights {
            format,
            d: Vec::with_capacity(blocks),
            dmin: Vec::with_capacity(if format == KFormat::Q6K { 0 } else { blocks }),
            scales: Vec::with_capacity(blocks * SCALES),
            qs: Vec::with_capacity(blocks * QS),
            qh: Vec::with_capacity(blocks * format.qh_bytes()),
        };
        for block in data.chunks_exact(size) {
            match format {
                KFormat::Q4K | KFormat::Q5K => {
                    w.d.push(f16_at(block, 0));
                    w.dmin.push(f16_at(block, 2));
                    let packed = &block[4..16];
                    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| scale_min(j, packed));
                    w.scales.extend(pairs.iter().map(|p| p.0));
                    w.scales.extend(pairs.iter().map(|p| p.1));
                    if format == KFormat::Q5K {
                        w.qh.extend_from_slice(&block[16..48]);
                        w.qs.extend_from_slice(&block[48..176]);
                    } else {
                        w.qs.extend_from_slice(&block[16..144]);
                    }
                }
                KFormat::Q6K => {
                    w.qs.extend_from_slice(&block[0..128]);
                    w.qh.extend_from_slice(&block[128..192]);
                    w.scales.extend_from_slice(&block[192..208]);
                    w.d.push(f16_at(block, 208));
                }
            }
        }
        Some(w)
    }

    /// Appends `other`'s superblocks (same format).
    pub(super) fn extend(&mut self, other: &KWeights) {
        assert_eq!(self.format, other.format, "formats differ");
        self.d.extend_from_slice(&other.d);
        self.dmin.extend_from_slice(&other.dmin);
        self.scales.extend_from_slice(&other.scales);
        self.qs.extend_from_slice(&other.qs);
        self.qh.extend_from_slice(&other.qh);
    }

    /// The superblocks of rows `first..first + rows` (`per_row` each).
    pub(super) fn rows(&self, first: usize, rows: usize, per_row: usize) -> KRows<'_> {
        let (a, b) = (first * per_row, (first + rows) * per_row);
        let qh = self.format.qh_bytes();
        KRows {
            format: self.format,
            rows,
            per_row,
            d: &self.d[a..b],
            dmin: if self.dmin.is_empty() {
                &[]
            } else {
                &self.dmin[a..b]
            },
            scales: &self.scales[a * SCALES..b * SCALES],
            qs: &self.qs[a * QS..b * QS],
            qh: &self.qh[a * qh..b * qh],
        }
    }

    /// Superblock `b` as floats, as ggml dequantises it.
    pub(super) fn dequantize(&self, b: usize, out: &mut [f32; QK]) {
        self.rows(b, 1, 1).dequantize(0, out);
    }
}

/// Q4_K/Q5_K's scale and minimum `j` (0..8) from their 12 packed bytes.
pub(super) fn scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// A run of whole rows of `KWeights`, as the kernels take them.
#[derive(Clone, Copy)]
pub(super) struct KRows<'a> {
    pub(super) format: KFormat,
    pub(super) rows: usize,
    pub(super) per_row: usize,
    pub(super) d: &'a [f32],
    pub(super) dmin: &'a [f32],
    pub(super) scales: &'a [u8],
    pub(super) qs: &'a [u8],
    pub(super) qh: &'a [u8],
}

impl KRows<'_> {
    /// Panics unless every array has its length for `rows * per_row`
    /// superblocks: the kernels read by raw pointer on that promise.
    pub(super) fn check(&self) {
        let n = self.rows * self.per_row;
        assert_eq!(self.d.len(), n, "superblock scales");
        let mins = if self.format == KFormat::Q6K { 0 } else { n };
        assert_eq!(self.dmin.len(), mins, "superblock minimums");
        assert_eq!(self.scales.len(), n * SCALES, "sub-block scales");
        assert_eq!(self.qs.len(), n * QS, "quants");
        assert_eq!(self.qh.len(), n * self.format.qh_bytes(), "high bits");
    }

    /// Superblock `b` (counted from the first row) as floats.
    pub(super) fn dequantize(&self, b: usize, out: &mut [f32; QK]) {
        let scales = &self.scales[b * SCALES..(b + 1) * SCALES];
        let qs = &self.qs[b * QS..(b + 1) * QS];
        let d = self.d[b];
        match self.format {
            KFormat::Q4K | KFormat::Q5K => {
                let dmin = self.dmin[b];
                let qh = match self.format {
                    KFormat::Q5K => &self.qh[b * 32..(b + 1) * 32],
                    _ => &[],
                };
                for (j, out) in out.chunks_exact_mut(32).enumerate() {
                    let scale = d * f32::from(scales[j]);
                    let min = dmin * f32::from(scales[8 + j]);
                    let bytes = &qs[32 * (j / 2)..32 * (j / 2) + 32];
                    for (l, o) in out.iter_mut().enumerate() {
                        let mut q = (bytes[l] >> (4 * (j % 2))) & 0x0F;
                        if !qh.is_empty() {
                            q |= ((qh[l] >> j) & 1) << 4;
                        }
                        *o = scale * f32::from(q) - min;
                    }
                }
            }
            KFormat::Q6K => {
                let qh = &self.qh[b * 64..(b + 1) * 64];
                for (half, out) in out.chunks_exact_mut(128).enumerate() {
                    let (ql, qh) = (
                        &qs[64 * half..64 * half + 64],
                        &qh[32 * half..32 * half + 32],
                    );
                    for l in 0..32 {
                        // Weights l, l+32, l+64, l+96 share ql[l], ql[l+32] and qh[l].
                        for part in 0..4 {
                            let low = (ql[l + 32 * (part % 2)] >> (4 * (part / 2))) & 0x0F;
                            let high = (qh[l] >> (2 * part)) & 3;
                            let q = i32::from(low | (high << 4)) - 32;
                            let sub = 8 * half + 2 * part + l / 16;
                            let sc = f32::from(scales[sub] as i8);
                            out[32 * part + l] = d * sc * q as f32;
                        }
                    }
                }
            }
        }
    }
}

/// `out[r * xs.len() + i] = sum_c w[r][c] * xs[i][c]` in floats, from the
/// dequantised weights: the reference the SIMD kernels are held to, and
/// the fallback on CPUs without them.
pub(super) fn scalar_products(w: &KRows, xs: &[&[f32]], out: &mut [f32]) {
    w.check();
    assert_eq!(out.len(), w.rows * xs.len(), "output length");
    let mut block = [0.0f32; QK];
    for (r, out) in out.chunks_exact_mut(xs.len().max(1)).enumerate() {
        out.iter_mut().for_each(|o| *o = 0.0);
        for b in 0..w.per_row {
            w.dequantize(r * w.per_row + b, &mut block);
            for (o, x) in out.iter_mut().zip(xs) {
                let x = &x[b * QK..(b + 1) * QK];
                *o += block.iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
            }
        }
    }
}
