//! AVX2 kernels: the legacy formats' dots (also used under AVX-512, where
//! they are not the bottleneck), and the k-quants as in `avx512` with 32
//! weights (one Q4_K sub-block, two of Q6_K) per step and a smaller tile,
//! for the 16 vector registers.

use std::arch::x86_64::*;

use super::input::KInput;
use super::kquants::{KFormat, KRows, QK, QS, SCALES};
use super::BLOCK;

/// `sum_b d_b * e_b * sum_i q_bi * y_bi` for 4-bit weights q (scales d)
/// and 8-bit inputs y (scales e): per block, the 32 nibbles are spread to
/// 32 bytes and multiplied with the inputs as integers.
///
/// # Safety
/// The CPU must support AVX2 and FMA. Lengths are checked here.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q4_1(
    scales: &[f32],
    nibbles: &[u8],
    inputs: &[i8],
    input_scales: &[f32],
) -> f32 {
    // SAFETY: AVX2 and FMA are the caller's promise (`# Safety`); the assertions that open this
    // block put every block read below inside the slices.
    unsafe {
        assert_eq!(nibbles.len(), scales.len() * 16, "nibbles");
        assert_eq!(inputs.len(), scales.len() * BLOCK, "inputs");
        assert_eq!(input_scales.len(), scales.len(), "input scales");
        let low_mask = _mm_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 2];
        for (b, (&d, &e)) in scales.iter().zip(input_scales).enumerate() {
            let qs = _mm_loadu_si128(nibbles.as_ptr().add(b * 16) as *const __m128i);
            // Weights 0-15 are the low nibbles, 16-31 the high ones.
            let weights = _mm256_set_m128i(
                _mm_and_si128(_mm_srli_epi16(qs, 4), low_mask),
                _mm_and_si128(qs, low_mask),
            );
            let ys = _mm256_loadu_si256(inputs.as_ptr().add(b * BLOCK) as *const __m256i);
            // u8 x i8 pairs summed to i16 (at most 2 * 15 * 127), then to i32.
            let pairs = _mm256_maddubs_epi16(weights, ys);
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[b % 2] = _mm256_fmadd_ps(_mm256_set1_ps(d * e), sums, acc[b % 2]);
        }
        horizontal_sum(_mm256_add_ps(acc[0], acc[1]))
    }
}

/// `sum_b d_b * e_b * sum_i q_bi * y_bi` for 8-bit weights q (scales d)
/// and 8-bit inputs y (scales e). `maddubs` multiplies unsigned by signed
/// bytes, so the weights' signs move onto the inputs first (|q| * sign(q) y).
///
/// # Safety
/// The CPU must support AVX2 and FMA. Lengths are checked here.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q8_0(
    scales: &[f32],
    quants: &[i8],
    inputs: &[i8],
    input_scales: &[f32],
) -> f32 {
    // SAFETY: AVX2 and FMA are the caller's promise (`# Safety`); the assertions that open this
    // block put every block read below inside the slices.
    unsafe {
        assert_eq!(quants.len(), scales.len() * BLOCK, "quants");
        assert_eq!(inputs.len(), scales.len() * BLOCK, "inputs");
        assert_eq!(input_scales.len(), scales.len(), "input scales");
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 2];
        for (b, (&d, &e)) in scales.iter().zip(input_scales).enumerate() {
            let qs = _mm256_loadu_si256(quants.as_ptr().add(b * BLOCK) as *const __m256i);
            let ys = _mm256_loadu_si256(inputs.as_ptr().add(b * BLOCK) as *const __m256i);
            // |q| is at most 128 and |y| 127: a pair sums to at most 32,512.
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(qs, qs), _mm256_sign_epi8(ys, qs));
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[b % 2] = _mm256_fmadd_ps(_mm256_set1_ps(d * e), sums, acc[b % 2]);
        }
        horizontal_sum(_mm256_add_ps(acc[0], acc[1]))
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(v: __m256) -> f32 {
    let sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1)))
}

const Q4K: u8 = 0;
const Q5K: u8 = 1;
const Q6K: u8 = 2;

/// Inputs per pass over the rows (see `avx512`).
const INPUTS_PER_PASS: usize = 64;

/// `out[r * xs.len() + i] = w[r] · x[i]` for the rows of `w`.
///
/// # Safety
/// The CPU must support AVX2 and FMA. Lengths are checked here.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn k_products(w: &KRows, xs: &[&KInput], out: &mut [f32]) {
    // SAFETY: AVX2 and FMA are the caller's promise (`# Safety`); `check` and the assertions
    // below bound what `products` reads and writes.
    unsafe {
        w.check();
        for x in xs {
            x.check(w.per_row);
        }
        assert_eq!(out.len(), w.rows * xs.len(), "output length");
        match w.format {
            KFormat::Q4K => products::<Q4K>(w, xs, out),
            KFormat::Q5K => products::<Q5K>(w, xs, out),
            KFormat::Q6K => products::<Q6K>(w, xs, out),
        }
    }
}

/// # Safety
/// The target features; `w`, `xs` and `out` as `k_products` checked them.
#[target_feature(enable = "avx2,fma")]
unsafe fn products<const F: u8>(w: &KRows, xs: &[&KInput], out: &mut [f32]) {
    // SAFETY: only `k_products` calls this, after checking `w`, every input and `out`'s length;
    // `tile` gets rows and inputs inside them.
    unsafe {
        let n = xs.len();
        for first in (0..n).step_by(INPUTS_PER_PASS) {
            let pass = &xs[first..n.min(first + INPUTS_PER_PASS)];
            let mut r = 0;
            while r < w.rows {
                let two_rows = w.rows - r >= 2;
                let mut c = 0;
                while c < pass.len() {
                    let two_inputs = pass.len() - c >= 2;
                    let at = (r, first + c, n);
                    match (two_rows, two_inputs) {
                        (true, true) => tile::<F, 2, 2>(w, &pass[c..c + 2], out, at),
                        (true, false) => tile::<F, 2, 1>(w, &pass[c..c + 1], out, at),
                        (false, true) => tile::<F, 1, 2>(w, &pass[c..c + 2], out, at),
                        (false, false) => tile::<F, 1, 1>(w, &pass[c..c + 1], out, at),
                    }
                    c += if two_inputs { 2 } else { 1 };
                }
                r += if two_rows { 2 } else { 1 };
            }
        }
    }
}

/// Rows `row..row + R` times inputs `xs` (C of them), into
/// `out[(row + i) * stride + col + j]`, where `at = (row, col, stride)`.
// A tile indexes several arrays by weight row and by input.
/// # Safety
/// The target features; rows `row..row + R` of `w`, `C` inputs of `xs` (all
/// checked by `k_products`), `col + C <= stride` and `out` holding `w.rows * stride` values.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const F: u8, const R: usize, const C: usize>(
    w: &KRows,
    xs: &[&KInput],
    out: &mut [f32],
    (row, col, stride): (usize, usize, usize),
) {
    // SAFETY: `products` passes rows `row..row + R` of `w` and `C` of its checked inputs; the
    // stores land in `out`, which holds `w.rows * stride` values.
    unsafe {
        let low4 = _mm256_set1_epi8(0x0F);
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        for b in 0..w.per_row {
            // Per row: the minimums' (or Q6_K's offset's) factors of the block
            // sums, 16 lanes for Q6_K's sub-blocks of 16.
            let mut mins = [[_mm256_setzero_ps(); 2]; R];
            let mut d = [0.0f32; R];
            for i in 0..R {
                let s = (row + i) * w.per_row + b;
                d[i] = *w.d.get_unchecked(s);
                // Ask early for a later superblock's quants (see `avx512`).
                let ahead = w.qs.as_ptr().wrapping_add((s + 8) * QS) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                let sp = w.scales.as_ptr().add(s * SCALES);
                if F == Q6K {
                    let sc = _mm_loadu_si128(sp as *const __m128i);
                    let factor = _mm256_set1_ps(32.0 * d[i]);
                    let low = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc));
                    let high = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(sc)));
                    mins[i] = [_mm256_mul_ps(low, factor), _mm256_mul_ps(high, factor)];
                } else {
                    let m = _mm_loadl_epi64(sp.add(8) as *const __m128i);
                    let m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m));
                    mins[i][0] = _mm256_mul_ps(m, _mm256_set1_ps(*w.dmin.get_unchecked(s)));
                }
            }
            let mut sums = [[_mm256_setzero_si256(); C]; R];
            for k in 0..8 {
                let mut ys = [_mm256_setzero_si256(); C];
                for (y, x) in ys.iter_mut().zip(xs) {
                    *y = _mm256_loadu_si256(x.q.as_ptr().add(b * QK + 32 * k) as *const __m256i);
                }
                for i in 0..R {
                    let s = (row + i) * w.per_row + b;
                    let sp = w.scales.as_ptr().add(s * SCALES);
                    let (weights, scale) = if F == Q6K {
                        let low = _mm_set1_epi16(i16::from(*sp.add(2 * k) as i8));
                        let high = _mm_set1_epi16(i16::from(*sp.add(2 * k + 1) as i8));
                        (chunk_q6k(w, s, k, low4), _mm256_set_m128i(high, low))
                    } else {
                        let scale = _mm256_set1_epi16(i16::from(*sp.add(k)));
                        (chunk_q45k::<F>(w, s, k, low4), scale)
                    };
                    for j in 0..C {
                        let pairs = _mm256_maddubs_epi16(weights, ys[j]);
                        sums[i][j] = _mm256_add_epi32(sums[i][j], _mm256_madd_epi16(pairs, scale));
                    }
                }
            }
            for j in 0..C {
                let x = xs[j];
                let dx = *x.d.get_unchecked(b);
                let block_sums = if F == Q6K {
                    let at = x.sums16.as_ptr().add(b * 16);
                    [_mm256_loadu_ps(at), _mm256_loadu_ps(at.add(8))]
                } else {
                    [
                        _mm256_loadu_ps(x.sums32.as_ptr().add(b * 8)),
                        _mm256_setzero_ps(),
                    ]
                };
                for i in 0..R {
                    let scale = _mm256_set1_ps(d[i] * dx);
                    let mut a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[i][j]), scale, acc[i][j]);
                    a = _mm256_fnmadd_ps(mins[i][0], block_sums[0], a);
                    if F == Q6K {
                        a = _mm256_fnmadd_ps(mins[i][1], block_sums[1], a);
                    }
                    acc[i][j] = a;
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for (j, acc) in acc.iter().enumerate() {
                *out.get_unchecked_mut((row + i) * stride + col + j) = horizontal_sum(*acc);
            }
        }
    }
}

/// Q4_K/Q5_K weights 32k..32k + 32 of superblock `s` (sub-block k).
/// # Safety
/// The target features; `s` a superblock of `w` and `k` a part of it.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_q45k<const F: u8>(w: &KRows, s: usize, k: usize, low4: __m256i) -> __m256i {
    // SAFETY: `s` is a superblock of `w` and `k` one of its sub-blocks (the callers' loop
    // bounds), so the 32 bytes read lie inside `qs` (and `qh`).
    unsafe {
        let q = _mm256_loadu_si256(w.qs.as_ptr().add(s * QS + 32 * (k / 2)) as *const __m256i);
        let shift = _mm_cvtsi32_si128(4 * (k % 2) as i32);
        let v = _mm256_and_si256(_mm256_srl_epi16(q, shift), low4);
        if F == Q5K {
            let qh = _mm256_loadu_si256(w.qh.as_ptr().add(s * 32) as *const __m256i);
            let bit = _mm256_and_si256(
                _mm256_srl_epi16(qh, _mm_cvtsi32_si128(k as i32)),
                _mm256_set1_epi8(1),
            );
            _mm256_or_si256(v, _mm256_slli_epi16::<4>(bit))
        } else {
            v
        }
    }
}

/// Q6_K weights 32k..32k + 32 of superblock `s` (sub-blocks 2k, 2k + 1):
/// of half k / 4, part k % 4 (see `KRows::dequantize`).
/// # Safety
/// The target features; `s` a superblock of `w` and `k` a part of it.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_q6k(w: &KRows, s: usize, k: usize, low4: __m256i) -> __m256i {
    // SAFETY: `s` is a superblock of `w` and `k` one of its sub-block pairs (the callers' loop
    // bounds), so the bytes read lie inside `qs` and `qh`.
    unsafe {
        let (half, part) = (k / 4, k % 4);
        let ql = w.qs.as_ptr().add(s * QS + 64 * half + 32 * (part % 2));
        let ql = _mm256_loadu_si256(ql as *const __m256i);
        let low = _mm256_srl_epi16(ql, _mm_cvtsi32_si128(4 * (part / 2) as i32));
        let low = _mm256_and_si256(low, low4);
        let qh = _mm256_loadu_si256(w.qh.as_ptr().add(s * 64 + 32 * half) as *const __m256i);
        let top = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * part as i32));
        let top = _mm256_slli_epi16::<4>(_mm256_and_si256(top, _mm256_set1_epi8(3)));
        _mm256_or_si256(low, top)
    }
}
