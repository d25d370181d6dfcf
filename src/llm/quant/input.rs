//! The input of a product, prepared once for every weight row: quantised to
//! 8 bits for the integer kernels, with the block sums that the weights'
//! minimums (Q4_1, Q4_K, Q5_K) and Q6_K's offset of 32 multiply.

use super::cpu::Kernel;
use super::kquants::QK;
use super::BLOCK;

/// Which preparations a matrix's formats need.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Needs {
    /// Q4_1 / Q8_0: blocks of 32.
    pub(super) legacy: bool,
    /// k-quants: superblocks of 256.
    pub(super) k: bool,
}

pub(super) struct Input<'a> {
    pub(super) values: &'a [f32],
    /// Per block of 32: the sum of the values.
    pub(super) sums: Vec<f32>,
    /// For the legacy SIMD kernels: the values as i8, per block a scale.
    pub(super) quantized: Vec<i8>,
    pub(super) quantized_scales: Vec<f32>,
    /// For the k-quant SIMD kernels.
    pub(super) k: KInput,
}

/// The input in llama.cpp's Q8_K form: per superblock of 256, one scale and
/// 256 signed bytes, and the sums of those bytes (times the scale) per 16 and
/// per 32 values.
#[derive(Default)]
pub(super) struct KInput {
    pub(super) q: Vec<i8>,
    pub(super) d: Vec<f32>,
    pub(super) sums16: Vec<f32>,
    pub(super) sums32: Vec<f32>,
}

/// `(scale, quants)` of a block: the largest magnitude maps to 127.
fn quantize_block(block: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = max / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    // Rounds half away from zero as `round` does, without its libm call
    // (the binary targets plain x86-64), so that the loop vectorises.
    out.extend(block.iter().map(|v| {
        let r = v * inverse;
        (r + 0.5f32.copysign(r)) as i32 as i8
    }));
    scale
}

impl<'a> Input<'a> {
    pub(super) fn new(values: &'a [f32], kernel: Kernel, needs: Needs) -> Self {
        let mut input = Input {
            values,
            sums: Vec::new(),
            quantized: Vec::new(),
            quantized_scales: Vec::new(),
            k: KInput::default(),
        };
        if kernel == Kernel::Scalar {
            if needs.legacy {
                input.sums = values.chunks_exact(BLOCK).map(|b| b.iter().sum()).collect();
            }
            return input;
        }
        if needs.legacy {
            let blocks = values.len() / BLOCK;
            input.quantized.reserve(values.len());
            input.quantized_scales.reserve(blocks);
            input.sums.reserve(blocks);
            for block in values.chunks_exact(BLOCK) {
                let start = input.quantized.len();
                let scale = quantize_block(block, &mut input.quantized);
                // The sum of the quantised values, not of the exact ones: then
                // a Q4_1 row's products are (d q + m) times the same 8-bit
                // input, and the rounding errors meet the weights themselves
                // rather than weights shifted by their block minimum (logits
                // 2.4x closer to f32, as llama.cpp does).
                let total: i32 = input.quantized[start..].iter().map(|&q| i32::from(q)).sum();
                input.sums.push(scale * total as f32);
                input.quantized_scales.push(scale);
            }
        }
        if needs.k {
            input.k = KInput::new(values);
        }
        input
    }
}

impl KInput {
    fn new(values: &[f32]) -> Self {
        let blocks = values.len() / QK;
        let mut k = KInput {
            q: Vec::with_capacity(values.len()),
            d: Vec::with_capacity(blocks),
            sums16: Vec::with_capacity(blocks * 16),
            sums32: Vec::with_capacity(blocks * 8),
        };
        for block in values.chunks_exact(QK) {
            let start = k.q.len();
            let d = quantize_block(block, &mut k.q);
            k.d.push(d);
            // Sums of the quantised values, for the reason given above.
            for pair in k.q[start..].chunks_exact(32) {
                let (a, b) = pair.split_at(16);
                let sum = |s: &[i8]| s.iter().map(|&q| i32::from(q)).sum::<i32>() as f32 * d;
                let (a, b) = (sum(a), sum(b));
                k.sums16.extend([a, b]);
                k.sums32.push(a + b);
            }
        }
        k
    }
}

impl KInput {
    /// Panics unless this holds `superblocks` superblocks: the kernels read
    /// it by raw pointer on that promise.
    pub(super) fn check(&self, superblocks: usize) {
        assert_eq!(self.q.len(), superblocks * QK, "quantised input");
        assert_eq!(self.d.len(), superblocks, "input scales");
        assert_eq!(self.sums16.len(), superblocks * 16, "input sums");
        assert_eq!(self.sums32.len(), superblocks * 8, "input sums");
    }
}
