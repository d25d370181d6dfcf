//! Causal self-attention over the f16 key/value cache.

use std::sync::Mutex;

use half::f16;

use super::super::simd;
use super::Config;

/// Causal attention of the new rows of `q` over the cache, written to `out`
/// (`[row][head * head_dim]`). Query head h reads key/value head h / group.
/// One work item is one row and one query head: with the query and the sum in
/// registers, a head's pass over its cached keys and values runs at the speed
/// of the loads, and nine items (SmolLM2) spread evenly over the cores where
/// three groups did not. Each group's keys are read once per query head, from
/// cache after the first.
/// With a `window`, a row sees only the last `window` positions up to its own.
/// A `prompt`'s rows go to the blocked products of `prompt_attention` where
/// the CPU has AVX-512: each row's output is then the same whatever the
/// rows beside it, but not what it is alone here.
#[allow(clippy::too_many_arguments)]
pub(super) fn attention(
    c: &Config,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    pos0: usize,
    window: Option<usize>,
    prompt: bool,
    out: &mut [f32],
) {
    let hd = c.head_dim;
    let kv = c.kv_dim();
    let group = c.n_head / c.n_kv_head;
    let scale = c.attention_scale;
    let rows = q.len() / c.q_dim();
    #[cfg(target_arch = "x86_64")]
    if prompt && super::prompt_attention::supports(hd) {
        super::prompt_attention::prompt_attention(c, q, k, v, pos0, window, out);
        return;
    }
    // A head's output is its own slice of `out`, so items share nothing but
    // read-only data.
    let items: Vec<Mutex<&mut [f32]>> = out.chunks_exact_mut(hd).map(Mutex::new).collect();
    let run = |items_of_task: &mut dyn Iterator<Item = usize>| {
        let mut weights = Vec::with_capacity(pos0 + rows);
        for item in items_of_task {
            let (r, head) = (item / c.n_head, item % c.n_head);
            let end = pos0 + r + 1;
            let start = window.map_or(0, |w| end.saturating_sub(w));
            let kv_off = start * kv + (head / group) * hd;
            let q_head = &q[r * c.q_dim() + head * hd..r * c.q_dim() + (head + 1) * hd];
            weights.resize(end - start, 0.0);
            simd::scores(q_head, &k[kv_off..], kv, scale, &mut weights);
            let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum = simd::exp_shifted(&mut weights, max);
            // Each head's output is written by one task only: a panic
            // elsewhere leaves this buffer as valid as before.
            let mut o = items[item]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            simd::weighted_sum(&weights, &v[kv_off..], kv, &mut o);
            let inverse = 1.0 / sum;
            for x in o.iter_mut() {
                *x *= inverse;
            }
        }
    };
    let n_items = items.len();
    // Spreading a handful of short dot products over threads costs more than it saves.
    if n_items * (pos0 + rows) < 16_384 {
        run(&mut (0..n_items));
    } else {
        // The rayon pool, as the decode matvecs: two pools handing the cores
        // back and forth cost measurable time in yields and wake-ups.
        use rayon::prelude::*;
        // Every thread takes every n-th item: in a prompt, later rows attend
        // to more positions, and contiguous halves would leave one core idle.
        let threads = rayon::current_num_threads().max(1);
        (0..threads).into_par_iter().for_each(|task| {
            run(&mut (task..n_items).step_by(threads));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::tests::config;
    use crate::llm::model::RopeStyle;

    #[test]
    fn a_decoded_row_over_a_long_cache_matches_plain_softmax_attention() {
        let c = Config {
            n_head: 6,
            n_kv_head: 2,
            head_dim: 8,
            attention_scale: 1.0 / 8f32.sqrt(),
            dim: 48,
            context_length: 2048,
            ..config(RopeStyle::Interleaved)
        };
        let (hd, kv) = (c.head_dim, c.kv_dim());
        let pos0 = 700;
        let n_pos = pos0 + 1;
        let wave = |i: usize, f: f32| ((i as f32) * f).sin();
        let q: Vec<f32> = (0..c.q_dim()).map(|i| wave(i, 0.37)).collect();
        let k: Vec<f16> = (0..n_pos * kv)
            .map(|i| f16::from_f32(wave(i, 0.11)))
            .collect();
        let v: Vec<f16> = (0..n_pos * kv)
            .map(|i| f16::from_f32(wave(i, 0.23)))
            .collect();
        let mut out = vec![0.0; c.q_dim()];
        attention(&c, &q, &k, &v, pos0, None, false, &mut out);

        let group = c.n_head / c.n_kv_head;
        for head in 0..c.n_head {
            let off = (head / group) * hd;
            let qh = &q[head * hd..(head + 1) * hd];
            let scores: Vec<f64> = (0..n_pos)
                .map(|p| {
                    let dot: f32 = qh
                        .iter()
                        .zip(&k[p * kv + off..])
                        .map(|(a, b)| a * b.to_f32())
                        .sum();
                    f64::from(dot) / (hd as f64).sqrt()
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            for d in 0..hd {
                let want: f64 = (0..n_pos)
                    .map(|p| weights[p] / total * f64::from(v[p * kv + off + d].to_f32()))
                    .sum();
                let got = f64::from(out[head * hd + d]);
                assert!(
                    (got - want).abs() < 1e-4,
                    "head {head} dim {d}: {got} vs {want}"
                );
            }
        }
    }

    /// Row-by-row attention of `rows` rows after `pos0` cached positions.
    fn row_by_row(
        c: &Config,
        q: &[f32],
        k: &[f16],
        v: &[f16],
        pos0: usize,
        window: Option<usize>,
    ) -> Vec<f32> {
        let mut out = vec![0.0; q.len()];
        for (r, (q, out)) in q
            .chunks_exact(c.q_dim())
            .zip(out.chunks_exact_mut(c.q_dim()))
            .enumerate()
        {
            attention(c, q, k, v, pos0 + r, window, false, out);
        }
        out
    }

    #[test]
    fn a_prompt_attends_as_its_rows_one_by_one() {
        #[cfg(target_arch = "x86_64")]
        if !crate::llm::model::prompt_attention::supports(64) {
            eprintln!("skipped: CPU lacks avx512f; prompts attend row by row here too");
        }
        // The shapes of Qwen2.5-1.5B (6 query heads a key/value head),
        // SmolLM2 (3, of 64 values) and Gemma 3 (4, of 256); prompts after
        // an empty and a filled cache, short blocks of queries, a window.
        for (n_head, n_kv_head, head_dim) in [(12, 2, 128), (9, 3, 64), (4, 1, 256)] {
            for (pos0, rows, window) in [
                (0, 12, None),
                (0, 37, None),
                (50, 21, None),
                (30, 40, Some(24)),
            ] {
                let c = Config {
                    n_head,
                    n_kv_head,
                    head_dim,
                    attention_scale: 1.0 / (head_dim as f32).sqrt(),
                    dim: n_head * head_dim,
                    context_length: 4096,
                    ..config(RopeStyle::Interleaved)
                };
                let wave = |i: usize, f: f32| ((i as f32) * f).sin() * 2.0;
                let n_pos = pos0 + rows;
                let q: Vec<f32> = (0..rows * c.q_dim()).map(|i| wave(i, 0.37)).collect();
                let k: Vec<f16> = (0..n_pos * c.kv_dim())
                    .map(|i| f16::from_f32(wave(i, 0.11)))
                    .collect();
                let v: Vec<f16> = (0..n_pos * c.kv_dim())
                    .map(|i| f16::from_f32(wave(i, 0.23)))
                    .collect();
                let want = row_by_row(&c, &q, &k, &v, pos0, window);
                let mut got = vec![0.0; q.len()];
                attention(&c, &q, &k, &v, pos0, window, true, &mut got);
                // In two parts, each row gives what it gives in one batch.
                let half = rows / 2 * c.q_dim();
                let mut parts = vec![0.0; q.len()];
                attention(
                    &c,
                    &q[..half],
                    &k,
                    &v,
                    pos0,
                    window,
                    true,
                    &mut parts[..half],
                );
                attention(
                    &c,
                    &q[half..],
                    &k,
                    &v,
                    pos0 + rows / 2,
                    window,
                    true,
                    &mut parts[half..],
                );
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert!(
                    bits(&parts) == bits(&got),
                    "{n_head}/{n_kv_head}x{head_dim}: parts differ"
                );
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{n_head}/{n_kv_head}x{head_dim}, {rows} rows after {pos0}, window {window:?}: value {i}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn attention_is_causal_and_shares_kv_heads() {
        let c = config(RopeStyle::Interleaved);
        // Two positions, one kv head; values are distinct per position.
        let halves = |x: &[f32]| x.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        let k = halves(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let v = halves(&[1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0]);
        let q = vec![0.5; 16];
        let mut out = vec![0.0; 16];
        attention(&c, &q, &k, &v, 0, None, false, &mut out);
        // Row 0 sees only position 0.
        assert_eq!(&out[..8], &[1.0; 8]);
        // Row 1 sees both, equally (same score), for both query heads.
        assert!(out[8..].iter().all(|&o| (o - 3.0).abs() < 1e-5), "{out:?}");
    }

    #[test]
    fn a_window_hides_the_positions_before_it() {
        let c = config(RopeStyle::Interleaved);
        // Four cached positions with equal keys and distinct values; the new
        // row (position 3) with a window of 2 sees positions 2 and 3 only.
        let halves = |x: &[f32]| x.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        let k = halves(&[1.0; 16]);
        let v: Vec<f16> = halves(
            &[1.0f32, 2.0, 4.0, 8.0]
                .iter()
                .flat_map(|&x| [x; 4])
                .collect::<Vec<_>>(),
        );
        let q = vec![0.5; 8];
        let mut out = vec![0.0; 8];
        attention(&c, &q, &k, &v, 3, Some(2), false, &mut out);
        assert!(out.iter().all(|&o| (o - 6.0).abs() < 1e-5), "{out:?}");
        attention(&c, &q, &k, &v, 3, None, false, &mut out);
        assert!(out.iter().all(|&o| (o - 3.75).abs() < 1e-5), "{out:?}");
    }
}
