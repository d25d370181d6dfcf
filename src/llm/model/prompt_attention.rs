//! Causal attention of a prompt's rows with AVX-512, as blocked products.
//! Row by row (`attention`), every query head widens each cached key and
//! value from f16 again and sums each score across a vector; a prompt's
//! rows share those keys and values. Here each key/value head's cache is
//! widened once per call, the keys transposed (`[dim][position]`), so that
//! 8 queries of one key/value head (its query heads, row after row) take
//! their scores for 16 positions at a time with one multiply-add per
//! dimension and query, and the weighted sums of values run over f32 rows,
//! each value vector loaded once for three queries (six of 64 values). The sums meet in another order than row by row, so only a
//! prompt's rows take this path (`attention`'s `prompt`); drafted tokens are
//! checked row by row, as they are decoded. A row's output is the same
//! whatever rows share its call.

use std::arch::x86_64::*;
use std::sync::Mutex;

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use super::super::simd;
use super::Config;

/// Queries whose scores are taken together: one accumulator each.
const QUERIES: usize = 8;
/// Positions per score vector.
const LANES: usize = 16;

/// Whether `prompt_attention` runs here for heads of `head_dim` values.
pub(super) fn supports(head_dim: usize) -> bool {
    head_dim.is_multiple_of(4 * LANES) && available()
}

/// Whether this CPU runs `prompt_attention`.
fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    })
}

/// One key/value head's cache over the positions the call's rows see,
/// widened to f32.
struct Widened {
    /// The first position held.
    first: usize,
    /// Positions held, rounded up to whole score vectors (zeros past the end).
    span: usize,
    /// `[dim][position]`.
    keys: Vec<f32>,
    /// `[position][dim]`.
    values: Vec<f32>,
}

/// As `attention::attention`, for the rows of a prompt (`q` holds them all).
///
/// # Panics
/// Unless `available()`.
pub(super) fn prompt_attention(
    c: &Config,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    pos0: usize,
    window: Option<usize>,
    out: &mut [f32],
) {
    assert!(
        available(),
        "prompt attention needs AVX-512 F, AVX2, FMA and F16C"
    );
    let (hd, kv) = (c.head_dim, c.kv_dim());
    let group = c.n_head / c.n_kv_head;
    let rows = q.len() / c.q_dim();
    let end = pos0 + rows;
    assert!(
        end * kv <= k.len() && end * kv <= v.len(),
        "cache shorter than the rows"
    );
    let sees = |r: usize| {
        let end = pos0 + r + 1;
        (window.map_or(0, |w| end.saturating_sub(w)), end)
    };
    let first = sees(0).0;
    let span = (end - first).div_ceil(LANES) * LANES;
    let heads: Vec<Widened> = (0..c.n_kv_head)
        .into_par_iter()
        .map(|g| {
            let mut keys = vec![0.0; hd * span];
            let mut values = vec![0.0; span * hd];
            let mut key = vec![0.0; hd];
            for p in first..end {
                let at = p * kv + g * hd;
                k[at..at + hd].convert_to_f32_slice(&mut key);
                for (d, &x) in key.iter().enumerate() {
                    keys[d * span + p - first] = x;
                }
                v[at..at + hd]
                    .convert_to_f32_slice(&mut values[(p - first) * hd..(p - first + 1) * hd]);
            }
            Widened {
                first,
                span,
                keys,
                values,
            }
        })
        .collect();
    // Blocks of queries of one key/value head, in order of row and head:
    // neighbours see nearly the same positions.
    let blocks: Vec<Vec<(usize, usize)>> = (0..c.n_kv_head)
        .flat_map(|g| {
            let queries: Vec<(usize, usize)> = (0..rows)
                .flat_map(|r| (g * group..(g + 1) * group).map(move |h| (r, h)))
                .collect();
            queries
                .chunks(QUERIES)
                .map(<[(usize, usize)]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    let slots: Vec<Mutex<&mut [f32]>> = out.chunks_exact_mut(hd).map(Mutex::new).collect();
    let absent = vec![0.0f32; hd];
    blocks.par_iter().for_each(|block| {
        let widened = &heads[block[0].1 / group];
        let ranges: Vec<(usize, usize)> = block.iter().map(|&(r, _)| sees(r)).collect();
        // Absent queries (a short last block) score zeros, unread.
        let mut heads_q = [&absent[..]; QUERIES];
        for (slot, &(r, h)) in heads_q.iter_mut().zip(block) {
            *slot = &q[r * c.q_dim() + h * hd..r * c.q_dim() + (h + 1) * hd];
        }
        let mut scores = vec![0.0f32; QUERIES * widened.span];
        // SAFETY: `available()` (asserted above) is the CPU promise; the
        // queries hold `hd` values each, `widened` its `hd * span`, and
        // every range ends within its span.
        unsafe {
            block_scores(
                &heads_q,
                widened,
                hd,
                c.attention_scale,
                &ranges,
                &mut scores,
            )
        };
        // Each query's softmax over the positions it sees; zero weight for
        // the other positions of the block's, so that the weighted sums run
        // over one span for all.
        let lo = ranges.iter().map(|r| r.0).min().unwrap_or(widened.first) - widened.first;
        let hi = ranges.iter().map(|r| r.1).max().unwrap_or(widened.first) - widened.first;
        let mut inverse = [0.0f32; QUERIES];
        for (i, &(start, stop)) in ranges.iter().enumerate() {
            let (from, to) = (start - widened.first, stop - widened.first);
            let row = &mut scores[i * widened.span..(i + 1) * widened.span];
            let max = row[from..to]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            inverse[i] = 1.0 / simd::exp_shifted(&mut row[from..to], max);
            row[lo..from].fill(0.0);
            row[to..hi].fill(0.0);
        }
        let mut outs: Vec<_> = block
            .iter()
            .map(|&(r, h)| {
                slots[r * c.n_head + h]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
            .collect();
        let mut outs: Vec<&mut [f32]> = outs.iter_mut().map(|o| &mut ***o).collect();
        let weights: Vec<&[f32]> = scores
            .chunks_exact(widened.span)
            .map(|row| &row[lo..hi])
            .collect();
        let values = &widened.values[lo * hd..hi * hd];
        // SAFETY: as above; `values` holds `hi - lo` rows of `hd`, a
        // multiple of 64 (`supports`), and each weight row `hi - lo` values.
        unsafe { weighted_sums(&weights, values, &inverse, &mut outs) };
    });
}

/// `scores[i][p - first] = scale * q_i · key p` for the positions that
/// any of the queries sees (`ranges`), in whole vectors of 16.
///
/// # Safety
/// AVX-512 F; each query holds `hd` values, `w.keys` holds `hd * w.span`,
/// `scores` holds `QUERIES * w.span`, every range lies within `w.first..w.first + w.span`.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn block_scores(
    queries: &[&[f32]; QUERIES],
    w: &Widened,
    hd: usize,
    scale: f32,
    ranges: &[(usize, usize)],
    scores: &mut [f32],
) {
    // SAFETY: the caller's promises bound every load (dims below `hd`,
    // positions below `w.span`) and store (`QUERIES` rows of `w.span`).
    unsafe {
        assert!(scores.len() >= QUERIES * w.span, "scores");
        let last = ranges.iter().map(|r| r.1).max().unwrap_or(w.first) - w.first;
        let mut block = ranges.iter().map(|r| r.0).min().unwrap_or(w.first) - w.first;
        block -= block % LANES;
        let scale = _mm512_set1_ps(scale);
        while block < last {
            let mut acc = [_mm512_setzero_ps(); QUERIES];
            let keys = w.keys.as_ptr().add(block);
            for d in 0..hd {
                let key = _mm512_loadu_ps(keys.add(d * w.span));
                for (acc, query) in acc.iter_mut().zip(queries) {
                    let x = _mm512_set1_ps(*query.get_unchecked(d));
                    *acc = _mm512_fmadd_ps(x, key, *acc);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let to = scores.as_mut_ptr().add(i * w.span + block);
                _mm512_storeu_ps(to, _mm512_mul_ps(*acc, scale));
            }
            block += LANES;
        }
    }
}

/// `outs[i] = scales[i] * sum over p of weights[i][p] * values[p]`, for
/// each output (rows of `values` as long as an output).
///
/// # Safety
/// AVX-512 F; every output of the same length, a multiple of 64;
/// `values` holds a row of it per weight of each of `weights`' rows.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn weighted_sums(
    weights: &[&[f32]],
    values: &[f32],
    scales: &[f32],
    outs: &mut [&mut [f32]],
) {
    // SAFETY: the caller's promises, checked here, bound every load and store.
    unsafe {
        let Some(hd) = outs.first().map(|o| o.len()) else {
            return;
        };
        let positions = weights.first().map_or(0, |w| w.len());
        assert!(hd.is_multiple_of(4 * LANES) && values.len() >= positions * hd);
        assert!(weights.len() >= outs.len() && scales.len() >= outs.len());
        for (i, out) in outs.iter().enumerate() {
            assert!(out.len() == hd && weights[i].len() == positions, "shapes");
        }
        if hd.is_multiple_of(8 * LANES) {
            weighted_chunks::<8, 3>(weights, values, scales, outs);
        } else {
            weighted_chunks::<4, 6>(weights, values, scales, outs);
        }
    }
}

/// `weighted_sums` in chunks of `V` vectors of dims for `Q` outputs at a
/// time: each value vector loaded once for `Q` outputs.
///
/// # Safety
/// As `weighted_sums` checked, with the outputs' length a multiple of `16 V`.
// The sums are indexed by output and by vector of dims.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn weighted_chunks<const V: usize, const Q: usize>(
    weights: &[&[f32]],
    values: &[f32],
    scales: &[f32],
    outs: &mut [&mut [f32]],
) {
    // SAFETY: as the caller promised.
    unsafe {
        let hd = outs[0].len();
        let positions = weights[0].len();
        for first in (0..outs.len()).step_by(Q) {
            let n = Q.min(outs.len() - first);
            // A short last group repeats its first output's weights, unstored.
            let rows: [&[f32]; Q] =
                std::array::from_fn(|i| weights[first + if i < n { i } else { 0 }]);
            for chunk in (0..hd).step_by(V * LANES) {
                let mut acc = [[_mm512_setzero_ps(); V]; Q];
                for p in 0..positions {
                    let row = values.as_ptr().add(p * hd + chunk);
                    let weight: [__m512; Q] =
                        std::array::from_fn(|i| _mm512_set1_ps(*rows[i].get_unchecked(p)));
                    for j in 0..V {
                        let value = _mm512_loadu_ps(row.add(j * LANES));
                        for i in 0..Q {
                            acc[i][j] = _mm512_fmadd_ps(weight[i], value, acc[i][j]);
                        }
                    }
                }
                for (i, acc) in acc.iter().enumerate().take(n) {
                    let scale = _mm512_set1_ps(scales[first + i]);
                    for (j, acc) in acc.iter().enumerate() {
                        let to = outs[first + i].as_mut_ptr().add(chunk + j * LANES);
                        _mm512_storeu_ps(to, _mm512_mul_ps(*acc, scale));
                    }
                }
            }
        }
    }
}
