//! Q8_0 products with AVX-512 VNNI, in tiles of weight rows x inputs (the
//! prefill of files whose Q4_0/Q5_0 rows are widened to Q8_0 at load).
//! `dpbusd` multiplies unsigned by signed bytes and sums four products into
//! i32 without the i16 saturation of `maddubs`, so the input (-127..=127)
//! is shifted by 128 to unsigned, and the shift's share, 128 times each
//! block's weight sum, is where the row's accumulation starts.

use std::arch::x86_64::*;

use super::input::Input;
use super::BLOCK;

/// Inputs per pass over the rows (see `avx512`).
const INPUTS_PER_PASS: usize = 64;

/// `out[r * xs.len() + i] = w[r] · x[i]` for Q8_0 rows `rows` (first row,
/// count) of `scales`/`quants`, `per_row` blocks each.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI. Lengths are checked here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub(super) unsafe fn q8_0_products(
    scales: &[f32],
    quants: &[i8],
    per_row: usize,
    (first, rows): (usize, usize),
    xs: &[&Input],
    out: &mut [f32],
) {
    // SAFETY: the CPU features are the caller's promise (`# Safety`); the assertions that open
    // this block bound every block `tile` reads and every output it writes.
    unsafe {
        let blocks = (first + rows) * per_row;
        assert!(scales.len() >= blocks, "weight scales");
        assert!(quants.len() >= blocks * BLOCK, "weights");
        for x in xs {
            assert_eq!(x.quantized.len(), per_row * BLOCK, "quantised input");
            assert_eq!(x.quantized_scales.len(), per_row, "input scales");
        }
        assert_eq!(out.len(), rows * xs.len(), "output length");
        let n = xs.len();
        let w = (scales, quants, per_row);
        for start in (0..n).step_by(INPUTS_PER_PASS) {
            let pass = &xs[start..n.min(start + INPUTS_PER_PASS)];
            let mut r = 0;
            while r < rows {
                let four_rows = rows - r >= 4;
                let mut c = 0;
                while c < pass.len() {
                    let four_inputs = pass.len() - c >= 4;
                    let at = (first + r, r, start + c, n);
                    match (four_rows, four_inputs) {
                        (true, true) => tile::<4, 4>(w, &pass[c..c + 4], out, at),
                        (true, false) => tile::<4, 1>(w, &pass[c..c + 1], out, at),
                        (false, true) => tile::<1, 4>(w, &pass[c..c + 4], out, at),
                        (false, false) => tile::<1, 1>(w, &pass[c..c + 1], out, at),
                    }
                    c += if four_inputs { 4 } else { 1 };
                }
                r += if four_rows { 4 } else { 1 };
            }
        }
    }
}

/// Two blocks' scales: lanes 0-7 `a`, 8-15 `b`, as the dot's i32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
fn pair(a: f32, b: f32) -> __m512 {
    _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(a), _mm512_set1_ps(b))
}

/// Weight rows `row..row + R` (written from output row `out_row`) times
/// inputs `xs`, into `out[(out_row + i) * stride + col + j]`.
// A tile indexes several arrays by weight row and by input.
/// # Safety
/// The target features; rows and inputs among those `q8_0_products` checked,
/// and outputs inside `out`.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn tile<const R: usize, const C: usize>(
    (scales, quants, per_row): (&[f32], &[i8], usize),
    xs: &[&Input],
    out: &mut [f32],
    (row, out_row, col, stride): (usize, usize, usize, usize),
) {
    // SAFETY: `q8_0_products` passes `R` of its checked rows and `C` of its checked inputs; the
    // stores land inside `out`.
    unsafe {
        let shift = _mm512_set1_epi8(-128);
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        let mut b = 0;
        while b < per_row {
            // Two blocks per step; an odd last block loads as half a vector.
            let two = per_row - b >= 2;
            let mask: __mmask64 = if two { !0 } else { 0xFFFF_FFFF };
            let mut xv = [_mm512_setzero_si512(); C];
            let mut xd = [_mm512_setzero_ps(); C];
            for j in 0..C {
                let x = xs[j];
                let q = _mm512_maskz_loadu_epi8(mask, x.quantized.as_ptr().add(b * BLOCK));
                xv[j] = _mm512_xor_si512(q, shift);
                let d = x.quantized_scales.as_ptr().add(b);
                xd[j] = pair(*d, if two { *d.add(1) } else { 0.0 });
            }
            for i in 0..R {
                let block = (row + i) * per_row + b;
                // Ask early for a later step's weights (see `avx512`).
                let ahead = quants.as_ptr().wrapping_add((block + 16) * BLOCK);
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                let w = _mm512_maskz_loadu_epi8(mask, quants.as_ptr().add(block * BLOCK));
                // -128 * sum(w) per lane, so that adding (x + 128) * w leaves x * w.
                let base = _mm512_sub_epi32(
                    _mm512_setzero_si512(),
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), shift, w),
                );
                let d = scales.as_ptr().add(block);
                let dw = pair(*d, if two { *d.add(1) } else { 0.0 });
                for j in 0..C {
                    let dot = _mm512_dpbusd_epi32(base, xv[j], w);
                    let s = _mm512_mul_ps(dw, xd[j]);
                    acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[i][j]);
                }
            }
            b += if two { 2 } else { 1 };
        }
        for (i, acc) in acc.iter().enumerate() {
            for (j, acc) in acc.iter().enumerate() {
                *out.get_unchecked_mut((out_row + i) * stride + col + j) =
                    _mm512_reduce_add_ps(*acc);
            }
        }
    }
}
