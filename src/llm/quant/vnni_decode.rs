//! Decode's Q4_K products with AVX-512 VNNI, on rows interleaved 16 at a
//! time (`interleaved`): per 64-byte load, the low and the high nibbles of
//! 16 rows' 8 consecutive weights, each multiplied by 4 input values
//! broadcast from memory (`dpbusd`) into the rows' i32 sums of the
//! sub-block. A sub-block's sums are multiplied by the rows' scales as
//! integers, the minimums times the input's integer block sums (`dpwssd`,
//! two sub-blocks at a time) likewise; floats only once per superblock.
//! One accumulator per row and input whatever the number of inputs, so
//! `matmul` gives each input's products bit for bit as `matvec` does.

use std::arch::x86_64::*;

use super::input::KInput;
use super::interleaved::{Bands, BAND, BAND_QS};
use super::kquants::QK;

/// Inputs multiplied with a band's weights at a time: each holds six
/// vectors of sums in registers.
const INPUTS: usize = 4;
/// Superblocks ahead of the one being read whose quants are asked for.
const AHEAD: usize = 2;

/// `out[r * xs.len() + i] = w[r] · x[i]` for the rows of `w`.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI, AVX2 and FMA (what
/// `Kernel::Avx512Vnni` stands for). Lengths are checked here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub(super) unsafe fn k_products(w: &Bands, xs: &[&KInput], out: &mut [f32]) {
    // SAFETY: the CPU features are the caller's promise (`# Safety`); `check` and the assertion
    // below bound what `band_products` reads and writes.
    unsafe {
        w.check();
        for x in xs {
            x.check(w.per_row);
        }
        assert_eq!(out.len(), w.rows() * xs.len(), "output length");
        for band in 0..w.bands {
            let mut c = 0;
            while c < xs.len() {
                let take = INPUTS.min(xs.len() - c);
                let at = (band, c);
                match take {
                    4 => band_products::<4>(w, &xs[c..c + 4], out, at),
                    3 => band_products::<3>(w, &xs[c..c + 3], out, at),
                    2 => band_products::<2>(w, &xs[c..c + 2], out, at),
                    _ => band_products::<1>(w, &xs[c..c + 1], out, at),
                }
                c += take;
            }
        }
    }
}

/// Band `band` of `w` times the `C` inputs `xs`, into `out[(16 band + m) *
/// stride + first + j]`, where `at = (band, first)` and `stride` is the
/// number of inputs the output holds.
///
/// # Safety
/// As `k_products`, which checked the lengths; `band < w.bands`; `xs` holds
/// `C` inputs, `first + C` at most the output's inputs.
// Sums are indexed by input.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn band_products<const C: usize>(
    w: &Bands,
    xs: &[&KInput],
    out: &mut [f32],
    (band, first): (usize, usize),
) {
    // SAFETY: `k_products` checked every array of `w` and of the inputs for `w.per_row`
    // superblocks of `w.bands` bands, and `out` for all rows and inputs.
    unsafe {
        let stride = out.len() / w.rows();
        let low4 = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); C];
        let mut acc_min = [_mm512_setzero_ps(); C];
        for b in 0..w.per_row {
            let s = band * w.per_row + b;
            // Decode streams the quants once: ask for a later superblock's
            // early (a hint, so reading past the end is harmless).
            let ahead = w.qs.as_ptr().wrapping_add((s + AHEAD) * BAND_QS) as *const i8;
            for line in 0..BAND_QS / 64 {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line));
            }
            let mut total = [_mm512_setzero_si512(); C];
            for j in 0..8 {
                let mut low = [_mm512_setzero_si512(); C];
                let mut high = [_mm512_setzero_si512(); C];
                for octet in 0..4 {
                    let at = s * BAND_QS + (j * 4 + octet) * 64;
                    let v = _mm512_loadu_si512(w.qs.as_ptr().add(at) as *const _);
                    let lo = _mm512_and_si512(v, low4);
                    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low4);
                    for c in 0..C {
                        let x = xs[c].q.as_ptr().add(b * QK + 32 * j + 8 * octet);
                        let x_lo = (x as *const i32).read_unaligned();
                        let x_hi = (x.add(4) as *const i32).read_unaligned();
                        low[c] = _mm512_dpbusd_epi32(low[c], lo, _mm512_set1_epi32(x_lo));
                        high[c] = _mm512_dpbusd_epi32(high[c], hi, _mm512_set1_epi32(x_hi));
                    }
                }
                let scales = _mm_loadu_si128(w.scales.as_ptr().add((s * 8 + j) * BAND) as *const _);
                let scales = _mm512_cvtepu8_epi32(scales);
                for c in 0..C {
                    let sums = _mm512_add_epi32(low[c], high[c]);
                    total[c] = _mm512_add_epi32(total[c], _mm512_mullo_epi32(sums, scales));
                }
            }
            let mut mins = [_mm512_setzero_si512(); C];
            for pair in 0..4 {
                let m = w.mins.as_ptr().add((s * 4 + pair) * 2 * BAND);
                let m = _mm512_cvtepu8_epi16(_mm256_loadu_si256(m as *const __m256i));
                for c in 0..C {
                    let sums = xs[c].int_sums32.as_ptr().add(b * 8 + 2 * pair);
                    let sums = _mm512_set1_epi32((sums as *const i32).read_unaligned());
                    mins[c] = _mm512_dpwssd_epi32(mins[c], m, sums);
                }
            }
            let d = _mm512_loadu_ps(w.d.as_ptr().add(s * BAND));
            let dmin = _mm512_loadu_ps(w.dmin.as_ptr().add(s * BAND));
            for c in 0..C {
                let dx = _mm512_set1_ps(*xs[c].d.get_unchecked(b));
                let (scale, min) = (_mm512_mul_ps(d, dx), _mm512_mul_ps(dmin, dx));
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[c]), scale, acc[c]);
                acc_min[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mins[c]), min, acc_min[c]);
            }
        }
        for c in 0..C {
            let mut rows = [0.0f32; BAND];
            _mm512_storeu_ps(rows.as_mut_ptr(), _mm512_sub_ps(acc[c], acc_min[c]));
            for (m, &value) in rows.iter().enumerate() {
                *out.get_unchecked_mut((band * BAND + m) * stride + first + c) = value;
            }
        }
    }
}
