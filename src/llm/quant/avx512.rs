//! k-quant products with AVX-512 (F, BW, VL). The shape of llama.cpp's
//! `ggml_vec_dot_q4_K_q8_K`: per 64 weights, u8 weights times the i8 input
//! (`maddubs`), pairs times their sub-block scales into i32 (`madd`), and per
//! superblock one conversion to float; the minimums (Q4_K, Q5_K) and Q6_K's
//! offset of 32 come out of the input's block sums. A tile of weight rows by
//! input rows shares each unpacked weight vector and each input load.

use std::arch::x86_64::*;

use super::input::KInput;
use super::kquants::{KFormat, KRows, QK, QS, SCALES};

/// Superblocks ahead to prefetch.
const PREFETCH: usize = 8;

const Q4K: u8 = 0;
const Q5K: u8 = 1;
const Q6K: u8 = 2;

/// Inputs per pass over the rows: with 64 rows per task, a pass's inputs and
/// the task's weights stay in L2 together even for ffn_down's long rows.
const INPUTS_PER_PASS: usize = 64;

/// Per 64-weight chunk k, the i16 lane -> sub-block map for `permutexvar`
/// (maddubs lane i holds weights 2i and 2i+1): sub-blocks of 32 (Q4_K, Q5_K)
/// or of 16 (Q6_K).
const fn scale_index(k: usize, per: usize) -> [i16; 32] {
    let mut index = [0i16; 32];
    let mut i = 0;
    while i < 32 {
        index[i] = ((64 * k) / (2 * per) + i / per) as i16;
        i += 1;
    }
    index
}

static INDEX_32: [[i16; 32]; 4] = [
    scale_index(0, 16),
    scale_index(1, 16),
    scale_index(2, 16),
    scale_index(3, 16),
];
static INDEX_16: [[i16; 32]; 4] = [
    scale_index(0, 8),
    scale_index(1, 8),
    scale_index(2, 8),
    scale_index(3, 8),
];

/// `out[r * xs.len() + i] = w[r] · x[i]` for the rows of `w`; `vnni`
/// sums the scaled pairs with `dpwssd` (one instruction for two).
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL, AVX2 and FMA (what
/// `Kernel::Avx512` stands for), and AVX-512 VNNI if `vnni`. Lengths are
/// checked here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(super) unsafe fn k_products(w: &KRows, xs: &[&KInput], out: &mut [f32], vnni: bool) {
    // SAFETY: the CPU features are the caller's promise (`# Safety`); `check` and the
    // assertions below bound what the tile loops read and write.
    unsafe {
        w.check();
        for x in xs {
            x.check(w.per_row);
        }
        assert_eq!(out.len(), w.rows * xs.len(), "output length");
        match (w.format, vnni) {
            (KFormat::Q4K, false) => plain::products::<Q4K>(w, xs, out),
            (KFormat::Q5K, false) => plain::products::<Q5K>(w, xs, out),
            (KFormat::Q6K, false) => plain::products::<Q6K>(w, xs, out),
            (KFormat::Q4K, true) => vnni::products::<Q4K>(w, xs, out),
            (KFormat::Q5K, true) => vnni::products::<Q5K>(w, xs, out),
            (KFormat::Q6K, true) => vnni::products::<Q6K>(w, xs, out),
        }
    }
}

/// `sums + pairs · scales`, pairwise into i32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
fn madd_add(sums: __m512i, pairs: __m512i, scales: __m512i) -> __m512i {
    _mm512_add_epi32(sums, _mm512_madd_epi16(pairs, scales))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
fn dpwssd(sums: __m512i, pairs: __m512i, scales: __m512i) -> __m512i {
    _mm512_dpwssd_epi32(sums, pairs, scales)
}

/// The tile loops, once per instruction set: a target feature only reaches
/// code compiled inside a function that has it.
macro_rules! tiles {
    ($module:ident, $features:literal, $accumulate:ident) => {
        mod $module {
            use super::*;
            /// # Safety
            /// The target features; `w`, `xs` and `out` as `k_products` checked them.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn products<const F: u8>(w: &KRows, xs: &[&KInput], out: &mut [f32]) {
                // SAFETY: only `k_products` calls this, after checking `w`, every input and
                // `out`'s length; `tile` gets rows and inputs inside them.
                unsafe {
                    let n = xs.len();
                    for first in (0..n).step_by(INPUTS_PER_PASS) {
                        let pass = &xs[first..n.min(first + INPUTS_PER_PASS)];
                        let mut r = 0;
                        while r < w.rows {
                            let four_rows = w.rows - r >= 4;
                            let mut c = 0;
                            while c < pass.len() {
                                let four_inputs = pass.len() - c >= 4;
                                let at = (r, first + c, n);
                                match (four_rows, four_inputs) {
                                    (true, true) => tile::<F, 4, 4>(w, &pass[c..c + 4], out, at),
                                    (true, false) => tile::<F, 4, 1>(w, &pass[c..c + 1], out, at),
                                    (false, true) => tile::<F, 1, 4>(w, &pass[c..c + 4], out, at),
                                    (false, false) => tile::<F, 1, 1>(w, &pass[c..c + 1], out, at),
                                }
                                c += if four_inputs { 4 } else { 1 };
                            }
                            r += if four_rows { 4 } else { 1 };
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
            #[target_feature(enable = $features)]
            unsafe fn tile<const F: u8, const R: usize, const C: usize>(
                w: &KRows,
                xs: &[&KInput],
                out: &mut [f32],
                (row, col, stride): (usize, usize, usize),
            ) {
                // SAFETY: `products` passes rows `row..row + R` of `w` and `C` of its checked
                // inputs; the stores land in `out`, which holds `w.rows * stride` values.
                unsafe {
                    let low4 = _mm512_set1_epi8(0x0F);
                    let index = if F == Q6K { &INDEX_16 } else { &INDEX_32 };
                    let mut vectors = [_mm512_setzero_si512(); 4];
                    for (v, index) in vectors.iter_mut().zip(index) {
                        *v = _mm512_loadu_si512(index.as_ptr() as *const _);
                    }
                    let mut acc = [[_mm512_setzero_ps(); C]; R];
                    for b in 0..w.per_row {
                        let mut scales = [_mm512_setzero_si512(); R];
                        let mut mins = [_mm512_setzero_ps(); R];
                        let mut high = [_mm512_setzero_si512(); R];
                        let mut d = [0.0f32; R];
                        for i in 0..R {
                            let s = (row + i) * w.per_row + b;
                            d[i] = *w.d.get_unchecked(s);
                            // Decode streams one superblock per row at a time:
                            // ask for a later one's quants early (a hint, so
                            // reading past the end is harmless).
                            let ahead =
                                w.qs.as_ptr().wrapping_add((s + PREFETCH) * QS) as *const i8;
                            _mm_prefetch::<_MM_HINT_T0>(ahead);
                            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                            if F != Q4K {
                                let bytes = if F == Q6K { 64 } else { 32 };
                                let ahead = w.qh.as_ptr().wrapping_add((s + PREFETCH) * bytes);
                                _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
                            }
                            let sp = w.scales.as_ptr().add(s * SCALES);
                            if F == Q6K {
                                let sc = _mm_loadu_si128(sp as *const __m128i);
                                scales[i] = _mm512_zextsi256_si512(_mm256_cvtepi8_epi16(sc));
                                let sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc));
                                mins[i] = _mm512_mul_ps(sc, _mm512_set1_ps(32.0 * d[i]));
                            } else {
                                let sc = _mm_loadl_epi64(sp as *const __m128i);
                                scales[i] = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(sc));
                                // Lanes 8-15 stay zero: they meet no minimum.
                                let m = _mm_loadl_epi64(sp.add(8) as *const __m128i);
                                let m = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(m));
                                mins[i] =
                                    _mm512_mul_ps(m, _mm512_set1_ps(*w.dmin.get_unchecked(s)));
                            }
                            if F == Q5K {
                                let qh =
                                    _mm256_loadu_si256(w.qh.as_ptr().add(s * 32) as *const __m256i);
                                high[i] = _mm512_broadcast_i64x4(qh);
                            }
                        }
                        let mut sums = [[_mm512_setzero_si512(); C]; R];
                        for (k, index) in vectors.iter().enumerate() {
                            let mut ys = [_mm512_setzero_si512(); C];
                            for (y, x) in ys.iter_mut().zip(xs) {
                                *y = _mm512_loadu_si512(
                                    x.q.as_ptr().add(b * QK + 64 * k) as *const _
                                );
                            }
                            for i in 0..R {
                                let s = (row + i) * w.per_row + b;
                                let weights = chunk::<F>(w, s, k, high[i], low4);
                                let scale = _mm512_permutexvar_epi16(*index, scales[i]);
                                for j in 0..C {
                                    let pairs = _mm512_maddubs_epi16(weights, ys[j]);
                                    sums[i][j] = $accumulate(sums[i][j], pairs, scale);
                                }
                            }
                        }
                        for j in 0..C {
                            let x = xs[j];
                            let dx = *x.d.get_unchecked(b);
                            let block_sums = if F == Q6K {
                                _mm512_loadu_ps(x.sums16.as_ptr().add(b * 16))
                            } else {
                                _mm512_maskz_loadu_ps(0x00FF, x.sums32.as_ptr().add(b * 8))
                            };
                            for i in 0..R {
                                let scale = _mm512_set1_ps(d[i] * dx);
                                acc[i][j] = _mm512_fmadd_ps(
                                    _mm512_cvtepi32_ps(sums[i][j]),
                                    scale,
                                    acc[i][j],
                                );
                                acc[i][j] = _mm512_fnmadd_ps(mins[i], block_sums, acc[i][j]);
                            }
                        }
                    }
                    for (i, acc) in acc.iter().enumerate() {
                        for (j, acc) in acc.iter().enumerate() {
                            *out.get_unchecked_mut((row + i) * stride + col + j) =
                                _mm512_reduce_add_ps(*acc);
                        }
                    }
                }
            }
        }
    };
}

tiles!(plain, "avx512f,avx512bw,avx512vl,avx2,fma", madd_add);
tiles!(
    vnni,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma",
    dpwssd
);

/// Weights 64k..64k + 64 of superblock `s` as bytes (0..16, 0..32 or 0..64);
/// `high` is Q5_K's 32 bytes of high bits, twice.
/// # Safety
/// The target features; `s` a superblock of `w` and `k` a part of it.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn chunk<const F: u8>(
    w: &KRows,
    s: usize,
    k: usize,
    high: __m512i,
    low4: __m512i,
) -> __m512i {
    // SAFETY: `s` is a superblock of `w` and `k` one of its 64-weight parts (the callers' loop
    // bounds), so the bytes read lie inside `w`'s arrays.
    unsafe {
        if F == Q6K {
            // Chunks 2h and 2h+1 are the low and high nibbles of ql's 64 bytes of
            // half h; their top two bits are qh's bit pairs 0/1 and 2/3 (chunk
            // 2h), 4/5 and 6/7 (chunk 2h+1), of its 32 bytes.
            let half = k / 2;
            let ql = _mm512_loadu_si512(w.qs.as_ptr().add(s * QS + 64 * half) as *const _);
            let qh = _mm256_loadu_si256(w.qh.as_ptr().add(s * 64 + 32 * half) as *const __m256i);
            let (low, top) = if k.is_multiple_of(2) {
                let top =
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(qh), _mm256_srli_epi16::<2>(qh));
                (ql, top)
            } else {
                let top = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_srli_epi16::<4>(qh)),
                    _mm256_srli_epi16::<6>(qh),
                );
                (_mm512_srli_epi16::<4>(ql), top)
            };
            let top = _mm512_slli_epi16::<4>(_mm512_and_si512(top, _mm512_set1_epi8(3)));
            _mm512_or_si512(_mm512_and_si512(low, low4), top)
        } else {
            // Chunk k is the low nibbles (sub-block 2k) then the high nibbles
            // (2k + 1) of 32 bytes.
            let q = _mm256_loadu_si256(w.qs.as_ptr().add(s * QS + 32 * k) as *const __m256i);
            let both =
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(q), _mm256_srli_epi16::<4>(q));
            let v = _mm512_and_si512(both, low4);
            if F == Q5K {
                let bits = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_set1_epi8((1u8 << (2 * k)) as i8)),
                    _mm256_set1_epi8((1u8 << (2 * k + 1)) as i8),
                );
                let set = _mm512_test_epi8_mask(high, bits);
                _mm512_mask_add_epi8(v, set, v, _mm512_set1_epi8(16))
            } else {
                v
            }
        }
    }
}
