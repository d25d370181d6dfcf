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
    /// The sums of the bytes per 32 values, unscaled: for kernels that
    /// apply the input's scale once per superblock (`vnni_k`).
    pub(super) byte_sums32: Vec<f32>,
    /// The same as integers (at most 32 x 127 in magnitude): for the
    /// kernel that takes the minimums off in integers (`vnni_decode`).
    pub(super) int_sums32: Vec<i16>,
    /// -32 times the sum of the bytes per 16 values: where a Q6_K sub-block's
    /// integer sum starts, so that its weights' offset of 32 is taken off
    /// before scaling (`vnni_k`).
    pub(super) q6k_starts: Vec<i32>,
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
            input.k = KInput::new(values, kernel);
        }
        input
    }
}

impl KInput {
    pub(super) fn new(values: &[f32], kernel: Kernel) -> Self {
        let blocks = values.len() / QK;
        let mut k = KInput {
            q: Vec::with_capacity(values.len()),
            d: Vec::with_capacity(blocks),
            sums16: Vec::with_capacity(blocks * 16),
            sums32: Vec::with_capacity(blocks * 8),
            byte_sums32: Vec::with_capacity(blocks * 8),
            int_sums32: Vec::with_capacity(blocks * 8),
            q6k_starts: Vec::with_capacity(blocks * 16),
        };
        // Per 16 values, the sum of their bytes.
        let mut byte_sums = Vec::with_capacity(blocks * 16);
        #[cfg(target_arch = "x86_64")]
        if matches!(
            kernel,
            Kernel::Avx512(_) | Kernel::Avx512Vnni(_) | Kernel::Amx(_)
        ) {
            // SAFETY: these kernels are only made by detection, when the CPU
            // has AVX-512 F and BW.
            unsafe { quantize_avx512(values, &mut k, &mut byte_sums) };
        }
        if k.d.is_empty() {
            for block in values.chunks_exact(QK) {
                let start = k.q.len();
                k.d.push(quantize_block(block, &mut k.q));
                byte_sums.extend(
                    k.q[start..]
                        .chunks_exact(16)
                        .map(|s| s.iter().map(|&q| i32::from(q)).sum::<i32>()),
                );
            }
        }
        // Sums of the quantised values, for the reason given above.
        for (pairs, &d) in byte_sums.chunks_exact(16).zip(&k.d) {
            for pair in pairs.chunks_exact(2) {
                let (a, b) = (pair[0], pair[1]);
                let (da, db) = (a as f32 * d, b as f32 * d);
                k.sums16.extend([da, db]);
                k.sums32.push(da + db);
                k.byte_sums32.push((a + b) as f32);
                // 32 bytes of -127..=127 fit an i16.
                k.int_sums32.push((a + b) as i16);
                k.q6k_starts.extend([-32 * a, -32 * b]);
            }
        }
        k
    }
}

/// Quantises `values` (whole superblocks) into `k.q` and `k.d` exactly as
/// `quantize_block` does, and pushes per 16 values the sum of their bytes.
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_avx512(values: &[f32], k: &mut KInput, byte_sums: &mut Vec<i32>) {
    use std::arch::x86_64::*;
    let blocks = values.len() / QK;
    k.q.resize(blocks * QK, 0);
    // SAFETY: the CPU features are the caller's promise; every load lies in
    // a whole superblock of `values` and every store in `k.q`'s `blocks * QK`
    // bytes.
    unsafe {
        let sign = _mm512_set1_epi32(i32::MIN);
        let half = _mm512_castps_si512(_mm512_set1_ps(0.5));
        for (b, block) in values.chunks_exact(QK).enumerate() {
            let p = block.as_ptr();
            let mut max = _mm512_setzero_ps();
            for i in 0..QK / 16 {
                // `max` second: a NaN value leaves it as `f32::max` does.
                max = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(p.add(16 * i))), max);
            }
            let scale = _mm512_reduce_max_ps(max) / 127.0;
            let inverse = _mm512_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
            for i in 0..QK / 16 {
                let r = _mm512_mul_ps(_mm512_loadu_ps(p.add(16 * i)), inverse);
                // r + copysign(0.5, r), truncated, then its low byte: what
                // `as i32 as i8` gives for every value it can take here.
                let half = _mm512_or_si512(half, _mm512_and_si512(_mm512_castps_si512(r), sign));
                let rounded = _mm512_cvttps_epi32(_mm512_add_ps(r, _mm512_castsi512_ps(half)));
                let bytes = _mm512_cvtepi32_epi8(rounded);
                _mm_storeu_si128(k.q.as_mut_ptr().add(b * QK + 16 * i) as *mut __m128i, bytes);
                byte_sums.push(_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(bytes)));
            }
            k.d.push(scale);
        }
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
        assert_eq!(self.byte_sums32.len(), superblocks * 8, "input sums");
        assert_eq!(self.int_sums32.len(), superblocks * 8, "input sums");
        assert_eq!(self.q6k_starts.len(), superblocks * 16, "input sums");
    }
}
