//! The attention inner loops (dot products, softmax exponentials, weighted
//! sums of values) with AVX2/FMA when the CPU has them, checked at run time;
//! the binary itself targets plain x86-64. Over a 1,000-token context these
//! loops took a third of decode time in scalar code, most of it in `exp`.
//! Cached keys and values are f16 (as llama.cpp keeps them): attention over a
//! long context is bound by the bytes it reads.

use half::f16;

/// Whether the AVX2 paths may run (the check is cached by std).
#[inline]
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[p] = scale * dot(q, row p)` for the `out.len()` rows of `rows`, row p
/// being `q.len()` values at `p * stride`: one query head against every
/// cached key of its key/value head. The query stays in registers across rows.
pub fn scores(q: &[f32], rows: &[f16], stride: usize, scale: f32, out: &mut [f32]) {
    check_rows(rows, stride, q.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: avx2() checked the CPU features; check_rows the bounds.
        match q.len() {
            64 => return unsafe { x86::scores::<8>(q, rows, stride, scale, out) },
            128 => return unsafe { x86::scores::<16>(q, rows, stride, scale, out) },
            256 => return unsafe { x86::scores::<32>(q, rows, stride, scale, out) },
            _ => {}
        }
    }
    let width = q.len();
    for (p, score) in out.iter_mut().enumerate() {
        let row = &rows[p * stride..p * stride + width];
        *score = scale * q.iter().zip(row).map(|(a, b)| a * b.to_f32()).sum::<f32>();
    }
}

/// `out = sum over p of weights[p] * row p`, rows laid out as in [`scores`]:
/// the attention output of one head. The sum stays in registers across rows.
pub fn weighted_sum(weights: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    check_rows(rows, stride, out.len(), weights.len());
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: avx2() checked the CPU features; check_rows the bounds.
        match out.len() {
            64 => return unsafe { x86::weighted_sum::<8>(weights, rows, stride, out) },
            256 => return unsafe { x86::weighted_sum::<32>(weights, rows, stride, out) },
            128 => return unsafe { x86::weighted_sum::<16>(weights, rows, stride, out) },
            _ => {}
        }
    }
    let width = out.len();
    out.fill(0.0);
    for (p, &w) in weights.iter().enumerate() {
        for (o, x) in out.iter_mut().zip(&rows[p * stride..p * stride + width]) {
            *o += w * x.to_f32();
        }
    }
}

/// The last of `count` rows of `width` values at `stride` apart must lie in `rows`.
fn check_rows(rows: &[f16], stride: usize, width: usize, count: usize) {
    if count > 0 {
        assert!(
            width <= stride && (count - 1) * stride + width <= rows.len(),
            "{count} rows of {width} values {stride} apart do not fit in {} values",
            rows.len()
        );
    }
}

/// Replaces each score with `exp(score - max)` and returns their sum (the
/// softmax numerators and denominator).
pub fn exp_shifted(scores: &mut [f32], max: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: avx2() checked the CPU features.
        return unsafe { x86::exp_shifted(scores, max) };
    }
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use half::f16;
    use std::arch::x86_64::*;

    /// Eight f16 values at `p`, widened to f32.
    ///
    /// # Safety
    /// F16C; `p` points at eight readable f16 values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_f16(p: *const f16) -> __m256 {
        // SAFETY: the caller's promise, above.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn horizontal_sum(v: __m256) -> f32 {
        let sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
        _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1)))
    }

    /// # Safety
    /// AVX2, FMA and F16C; `q.len() == 8 * N`; `out.len()` rows of it at `stride` in `rows`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn scores<const N: usize>(
        q: &[f32],
        rows: &[f16],
        stride: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        // SAFETY: AVX2, FMA and F16C are the caller's promise; `check_rows` in the safe wrapper
        // put every row read inside `rows`, and `q` holds `8 * N` values.
        unsafe {
            let mut query = [_mm256_setzero_ps(); N];
            for (j, v) in query.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(q.as_ptr().add(8 * j));
            }
            for (p, score) in out.iter_mut().enumerate() {
                let row = rows.as_ptr().add(p * stride);
                // Four independent sums, so the FMAs do not wait on each other.
                let mut acc = [_mm256_setzero_ps(); 4];
                for (j, v) in query.iter().enumerate() {
                    acc[j % 4] = _mm256_fmadd_ps(*v, load_f16(row.add(8 * j)), acc[j % 4]);
                }
                let sum =
                    _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
                *score = horizontal_sum(sum) * scale;
            }
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C; `out.len() == 8 * N`; `weights.len()` rows of it at `stride` in `rows`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn weighted_sum<const N: usize>(
        weights: &[f32],
        rows: &[f16],
        stride: usize,
        out: &mut [f32],
    ) {
        // SAFETY: AVX2, FMA and F16C are the caller's promise; `check_rows` in the safe wrapper
        // put every row read inside `rows`, and `out` holds `8 * N` values.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); N];
            for (p, &w) in weights.iter().enumerate() {
                let row = rows.as_ptr().add(p * stride);
                let w = _mm256_set1_ps(w);
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(w, load_f16(row.add(8 * j)), *a);
                }
            }
            for (j, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * j), *a);
            }
        }
    }

    /// exp(x) for x <= 0 (Cephes' single-precision polynomial, ~1 ulp).
    #[target_feature(enable = "avx2,fma")]
    fn exp(x: __m256) -> __m256 {
        let x = _mm256_max_ps(x, _mm256_set1_ps(-87.0));
        let fx = _mm256_floor_ps(_mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        ));
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693_359_4), x);
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.121_944_4e-4), x);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            0.5,
        ] {
            y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(c));
        }
        let y = _mm256_add_ps(
            _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), x),
            _mm256_set1_ps(1.0),
        );
        let pow2 = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)),
            23,
        );
        _mm256_mul_ps(y, _mm256_castsi256_ps(pow2))
    }

    /// # Safety
    /// AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_shifted(scores: &mut [f32], max: f32) -> f32 {
        // SAFETY: AVX2 and FMA are the caller's promise; the loads and stores cover `scores` in
        // whole lanes of 8, the tail in scalar code.
        unsafe {
            let n = scores.len();
            let m = _mm256_set1_ps(max);
            let mut acc = _mm256_setzero_ps();
            let mut i = 0;
            while i + 8 <= n {
                let p = scores.as_mut_ptr().add(i);
                let e = exp(_mm256_sub_ps(_mm256_loadu_ps(p), m));
                _mm256_storeu_ps(p, e);
                acc = _mm256_add_ps(acc, e);
                i += 8;
            }
            let mut sum = horizontal_sum(acc);
            while i < n {
                scores[i] = (scores[i] - max).exp();
                sum += scores[i];
                i += 1;
            }
            sum
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponentials_match_std() {
        if !avx2() {
            eprintln!("skipped: CPU lacks avx2/fma; only the scalar exponential is tested");
        }
        let mut scores: Vec<f32> = (0..37).map(|i| i as f32 * -0.77 + 3.0).collect();
        let want: Vec<f32> = scores.iter().map(|s| (s - 3.0).exp()).collect();
        let sum = exp_shifted(&mut scores, 3.0);
        for (got, want) in scores.iter().zip(&want) {
            assert!(
                (got - want).abs() <= 1e-6 * want.max(1e-30) + 1e-30,
                "{got} vs {want}"
            );
        }
        assert!((sum - want.iter().sum::<f32>()).abs() < 1e-5);
        let mut far = vec![-200.0f32; 9];
        assert!(exp_shifted(&mut far, 0.0) < 1e-30);
    }

    #[test]
    fn strided_scores_and_sums_match_scalar_code() {
        // Widths 64 and 128 take the AVX2 paths where the CPU has them, 24
        // the scalar one everywhere.
        if !avx2() {
            eprintln!("skipped: CPU lacks avx2/fma/f16c; only the scalar paths are tested");
        }
        for width in [64, 128, 24] {
            let stride = width * 3;
            let rows: Vec<f16> = (0..stride * 40)
                .map(|i| f16::from_f32((i as f32 * 0.37).sin()))
                .collect();
            let q: Vec<f32> = (0..width).map(|i| (i as f32 * 0.11).cos()).collect();
            let offset = width; // the second key/value head
            let mut got = vec![0.0; 40];
            scores(&q, &rows[offset..], stride, 0.5, &mut got);
            for (p, got) in got.iter().enumerate() {
                let row = &rows[offset + p * stride..offset + p * stride + width];
                let want: f32 = 0.5 * q.iter().zip(row).map(|(a, b)| a * b.to_f32()).sum::<f32>();
                assert!(
                    (got - want).abs() < 1e-4,
                    "width {width} row {p}: {got} vs {want}"
                );
            }
            let weights: Vec<f32> = (0..40).map(|p| 1.0 / (p + 1) as f32).collect();
            let mut sum = vec![9.0; width];
            weighted_sum(&weights, &rows[offset..], stride, &mut sum);
            for (i, got) in sum.iter().enumerate() {
                let want: f32 = (0..40)
                    .map(|p| weights[p] * rows[offset + p * stride + i].to_f32())
                    .sum();
                assert!((got - want).abs() < 1e-4, "width {width} column {i}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn rows_past_the_end_are_refused() {
        let rows = vec![f16::ZERO; 64 * 3];
        let mut out = vec![0.0; 4];
        scores(&[0.0; 64], &rows, 64, 1.0, &mut out);
    }
}
