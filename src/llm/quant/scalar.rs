//! The legacy formats' dots in plain Rust, on the exact input.

use super::BLOCK;

/// `sum_b d_b * sum_i q_bi * x_bi` (the minimums are added by the caller).
pub(super) fn dot_q4_1(scales: &[f32], nibbles: &[u8], x: &[f32]) -> f32 {
    let mut total = 0.0;
    for ((d, qs), xs) in scales
        .iter()
        .zip(nibbles.chunks_exact(16))
        .zip(x.chunks_exact(BLOCK))
    {
        let mut sum = 0.0;
        for (j, &byte) in qs.iter().enumerate() {
            sum += f32::from(byte & 0x0F) * xs[j] + f32::from(byte >> 4) * xs[j + 16];
        }
        total += d * sum;
    }
    total
}

/// `sum_b d_b * sum_i q_bi * x_bi` for Q8_0 weights.
pub(super) fn dot_q8_0(scales: &[f32], quants: &[i8], x: &[f32]) -> f32 {
    scales
        .iter()
        .zip(quants.chunks_exact(BLOCK))
        .zip(x.chunks_exact(BLOCK))
        .map(|((d, qs), xs)| {
            d * qs
                .iter()
                .zip(xs)
                .map(|(&q, x)| f32::from(q) * x)
                .sum::<f32>()
        })
        .sum()
}
