//! Decode's Q4_K and Q6_K products with AVX-512 VNNI, on rows interleaved
//! 16 at a time (`interleaved`): per 64-byte load, the low and the high
//! nibbles of 16 rows' 8 consecutive weights (with Q6_K's top bits merged
//! in), each multiplied by 4 input values broadcast from memory (`dpbusd`)
//! into the rows' i32 sums of the sub-block. A sub-block's sums are
//! multiplied by the rows' scales as integers, Q4_K's minimums times the
//! input's integer block sums (`dpwssd`, two sub-blocks at a time) likewise,
//! and Q6_K's offset of 32 is where its sums start; floats only once per
//! superblock.
//! One accumulator per row and input whatever the number of inputs, so
//! `matmul` gives each input's products bit for bit as `matvec` does.

use std::arch::x86_64::*;

use super::input::KInput;
use super::interleaved::{Bands, BAND, BAND_QH, BAND_QS};
use super::kquants::{KFormat, QK};

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
                match (w.format, take) {
                    (KFormat::Q6K, 4) => q6k::<4>(w, &xs[c..c + 4], out, at),
                    (KFormat::Q6K, 3) => q6k::<3>(w, &xs[c..c + 3], out, at),
                    (KFormat::Q6K, 2) => q6k::<2>(w, &xs[c..c + 2], out, at),
                    (KFormat::Q6K, _) => q6k::<1>(w, &xs[c..c + 1], out, at),
                    (_, 4) => q4k::<4>(w, &xs[c..c + 4], out, at),
                    (_, 3) => q4k::<3>(w, &xs[c..c + 3], out, at),
                    (_, 2) => q4k::<2>(w, &xs[c..c + 2], out, at),
                    _ => q4k::<1>(w, &xs[c..c + 1], out, at),
                }
                c += take;
            }
        }
    }
}

/// Band `band` of Q4_K rows `w` times the `C` inputs `xs`, into
/// `out[(16 band + m) * stride + first + j]`, where `at = (band, first)` and
/// `stride` is the number of inputs the output holds.
///
/// # Safety
/// As `k_products`, which checked the lengths; `band < w.bands`; `xs` holds
/// `C` inputs, `first + C` at most the output's inputs.
// Sums are indexed by input.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn q4k<const C: usize>(
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
            prefetch(w.qs, s, BAND_QS);
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
            let rows = _mm512_sub_ps(acc[c], acc_min[c]);
            store(rows, out, stride, (band, first + c));
        }
    }
}

/// Band `band` of Q6_K rows `w` times the `C` inputs `xs`, as `q4k`.
///
/// # Safety
/// As `q4k`.
// Sums are indexed by input.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn q6k<const C: usize>(
    w: &Bands,
    xs: &[&KInput],
    out: &mut [f32],
    (band, first): (usize, usize),
) {
    // SAFETY: as `q4k`.
    unsafe {
        let low4 = _mm512_set1_epi8(0x0F);
        let top2 = _mm512_set1_epi8(0x30);
        let mut acc = [_mm512_setzero_ps(); C];
        for b in 0..w.per_row {
            let s = band * w.per_row + b;
            prefetch(w.qs, s, BAND_QS);
            prefetch(w.qh, s, BAND_QH);
            let mut total = [_mm512_setzero_si512(); C];
            for j in 0..16 {
                // Sums start at -32 times the input's: the weights' offset.
                let mut sums = [_mm512_setzero_si512(); C];
                for c in 0..C {
                    sums[c] = _mm512_set1_epi32(*xs[c].q6k_starts.get_unchecked(b * 16 + j));
                }
                // Byte t: the top bits of weights t, t + 4, t + 8 and t + 12,
                // moved to bits 4-5 of each quad's bytes in turn.
                let top = _mm512_loadu_si512(w.qh.as_ptr().add(s * BAND_QH + j * 64) as *const _);
                let tops = [
                    _mm512_slli_epi16::<4>(top),
                    _mm512_slli_epi16::<2>(top),
                    top,
                    _mm512_srli_epi16::<2>(top),
                ];
                for octet in 0..2 {
                    let at = s * BAND_QS + (2 * j + octet) * 64;
                    let v = _mm512_loadu_si512(w.qs.as_ptr().add(at) as *const _);
                    let halves = [
                        _mm512_and_si512(v, low4),
                        _mm512_and_si512(_mm512_srli_epi16::<4>(v), low4),
                    ];
                    for (half, low) in halves.into_iter().enumerate() {
                        // low | (top & 0x30): the nibble's bits 4-7 are clear.
                        let q =
                            _mm512_ternarylogic_epi32::<0xF8>(low, tops[2 * octet + half], top2);
                        for c in 0..C {
                            let x = xs[c].q.as_ptr().add(b * QK + 16 * j + 8 * octet + 4 * half);
                            let x = _mm512_set1_epi32((x as *const i32).read_unaligned());
                            sums[c] = _mm512_dpbusd_epi32(sums[c], q, x);
                        }
                    }
                }
                let scales =
                    _mm_loadu_si128(w.scales.as_ptr().add((s * 16 + j) * BAND) as *const _);
                let scales = _mm512_cvtepi8_epi32(scales);
                for c in 0..C {
                    total[c] = _mm512_add_epi32(total[c], _mm512_mullo_epi32(sums[c], scales));
                }
            }
            let d = _mm512_loadu_ps(w.d.as_ptr().add(s * BAND));
            for c in 0..C {
                let dx = _mm512_set1_ps(*xs[c].d.get_unchecked(b));
                let scale = _mm512_mul_ps(d, dx);
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[c]), scale, acc[c]);
            }
        }
        let stride = out.len() / w.rows();
        for c in 0..C {
            store(acc[c], out, stride, (band, first + c));
        }
    }
}

/// Decode streams the weights once: asks for the `bytes` of band-superblock
/// `s + AHEAD` in `array` early (a hint, so reading past the end is harmless).
#[inline]
#[target_feature(enable = "avx512f")]
fn prefetch(array: &[u8], s: usize, bytes: usize) {
    let ahead = array.as_ptr().wrapping_add((s + AHEAD) * bytes) as *const i8;
    for line in 0..bytes / 64 {
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line));
    }
}

/// The 16 rows of band `band` for input `input`, into `out[(16 band + m) *
/// stride + input]`, `stride` the inputs `out` holds per row.
///
/// # Safety
/// `out` holds at least `16 (band + 1)` rows, `input < stride`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store(rows: __m512, out: &mut [f32], stride: usize, (band, input): (usize, usize)) {
    // SAFETY: the caller's bounds (`# Safety`).
    unsafe {
        let mut values = [0.0f32; BAND];
        _mm512_storeu_ps(values.as_mut_ptr(), rows);
        for (m, &value) in values.iter().enumerate() {
            *out.get_unchecked_mut((band * BAND + m) * stride + input) = value;
        }
    }
}
