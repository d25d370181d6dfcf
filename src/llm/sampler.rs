//! Choosing the next token from the logits: repeat penalty, then (unless greedy)
//! top-k, top-p and min-p on the plain distribution, then temperature, then a
//! seeded draw. The order is llama.cpp's, so its settings mean the same here.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SamplingOptions {
    /// 0 picks the most likely token every time (greedy).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities add up to p (1: all).
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one (0: none).
    pub min_p: f32,
    /// Divide (or for negative logits multiply) the logits of recent tokens by this (1: off).
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: usize,
    /// Seed for the random draw; `None` picks one from the clock.
    pub seed: Option<u64>,
}

/// The sampling defaults, written once (the `rag` flags and config file
/// read them from here).
pub mod defaults {
    /// Free text samples with some freedom; answers from documents use 0.
    pub const TEMPERATURE: f32 = 0.7;
    pub const TOP_K: usize = 40;
    pub const TOP_P: f32 = 0.95;
    pub const MIN_P: f32 = 0.05;
    pub const REPEAT_PENALTY: f32 = 1.1;
    pub const REPEAT_LAST_N: usize = 64;
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: defaults::TEMPERATURE,
            top_k: defaults::TOP_K,
            top_p: defaults::TOP_P,
            min_p: defaults::MIN_P,
            repeat_penalty: defaults::REPEAT_PENALTY,
            repeat_last_n: defaults::REPEAT_LAST_N,
            seed: None,
        }
    }
}

impl SamplingOptions {
    /// Always the most likely token, no penalties: reproducible and comparable
    /// with other implementations.
    pub fn greedy() -> Self {
        SamplingOptions {
            temperature: 0.0,
            top_k: 1,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            seed: Some(0),
        }
    }
}

/// A token id with its logit and, once computed, its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub logit: f32,
    pub p: f32,
}

pub struct Sampler {
    options: SamplingOptions,
    rng: SplitMix64,
    /// Reused between calls: the vocabulary is large and this runs per token.
    scratch: Vec<f32>,
}

impl Sampler {
    pub fn new(options: SamplingOptions) -> Self {
        let seed = options.seed.unwrap_or_else(clock_seed);
        Sampler {
            options,
            rng: SplitMix64(seed),
            scratch: Vec::new(),
        }
    }

    pub fn options(&self) -> &SamplingOptions {
        &self.options
    }

    /// The next token, given the logits and the tokens so far (prompt included).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let o = &self.options;
        let mut logits_buf = std::mem::take(&mut self.scratch);
        logits_buf.clear();
        logits_buf.extend_from_slice(logits);
        let recent = &history[history.len().saturating_sub(o.repeat_last_n)..];
        apply_repeat_penalty(&mut logits_buf, recent, o.repeat_penalty);

        let id = if o.temperature <= 0.0 || o.top_k == 1 {
            argmax(&logits_buf)
        } else {
            let mut candidates = top_k(&logits_buf, o.top_k);
            softmax(&mut candidates, 1.0);
            top_p(&mut candidates, o.top_p);
            min_p(&mut candidates, o.min_p);
            softmax(&mut candidates, o.temperature);
            let r = self.rng.next_f64();
            draw(&candidates, r)
        };
        self.scratch = logits_buf;
        id
    }
}

/// The index of the largest logit (the lowest id among equals); NaN never wins.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_logit = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if l > best_logit {
            best = i;
            best_logit = l;
        }
    }
    best as u32
}

/// llama.cpp's repeat penalty: each distinct recent token's logit moves towards
/// "less likely", whatever its sign.
pub fn apply_repeat_penalty(logits: &mut [f32], recent: &[u32], penalty: f32) {
    if penalty == 1.0 || recent.is_empty() {
        return;
    }
    let mut seen: Vec<u32> = recent.to_vec();
    seen.sort_unstable();
    seen.dedup();
    for id in seen {
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
        }
    }
}

/// The `k` most likely tokens (all when k is 0), most likely first.
pub fn top_k(logits: &[f32], k: usize) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_nan())
        .map(|(id, &logit)| Candidate {
            id: id as u32,
            logit,
            p: 0.0,
        })
        .collect();
    let by_logit = |a: &Candidate, b: &Candidate| b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id));
    if k > 0 && k < candidates.len() {
        // Partial selection first: sorting 50k logits per token would dominate.
        candidates.select_nth_unstable_by(k - 1, by_logit);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(by_logit);
    candidates
}

/// Sets each candidate's probability from its logit at `temperature`.
pub fn softmax(candidates: &mut [Candidate], temperature: f32) {
    let Some(max) = candidates.iter().map(|c| c.logit).reduce(f32::max) else {
        return;
    };
    let t = temperature.max(1e-6);
    let mut sum = 0.0f64;
    for c in candidates.iter_mut() {
        c.p = ((c.logit - max) / t).exp();
        sum += c.p as f64;
    }
    for c in candidates.iter_mut() {
        c.p = (c.p as f64 / sum) as f32;
    }
}

/// Keeps the most likely candidates (sorted, probabilities set) whose mass
/// reaches `p`; always at least one.
pub fn top_p(candidates: &mut Vec<Candidate>, p: f32) {
    if p >= 1.0 {
        return;
    }
    let mut mass = 0.0f64;
    let mut keep = candidates.len();
    for (i, c) in candidates.iter().enumerate() {
        mass += c.p as f64;
        if mass >= p as f64 {
            keep = i + 1;
            break;
        }
    }
    candidates.truncate(keep.max(1));
}

/// Drops candidates (sorted, probabilities set) below `min_p` times the best one.
pub fn min_p(candidates: &mut Vec<Candidate>, min_p: f32) {
    if min_p <= 0.0 {
        return;
    }
    let Some(best) = candidates.first().map(|c| c.p) else {
        return;
    };
    let keep = candidates
        .iter()
        .take_while(|c| c.p >= min_p * best)
        .count();
    candidates.truncate(keep.max(1));
}

/// The candidate at `r` (in [0, 1)) on the cumulative distribution.
fn draw(candidates: &[Candidate], r: f64) -> u32 {
    let total: f64 = candidates.iter().map(|c| c.p as f64).sum();
    let target = r * total;
    let mut mass = 0.0f64;
    for c in candidates {
        mass += c.p as f64;
        if target < mass {
            return c.id;
        }
    }
    candidates.last().map(|c| c.id).unwrap_or(0)
}

/// A tiny, good-enough generator (SplitMix64): the point is reproducibility
/// with `--seed`, not cryptographic quality.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ ((std::process::id() as u64) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, -2.0, 2.5, 0.0, 2.9, -1.0, 0.5]
    }

    fn options(temperature: f32, seed: u64) -> SamplingOptions {
        SamplingOptions {
            temperature,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: Some(seed),
        }
    }

    #[test]
    fn temperature_zero_is_argmax() {
        let mut s = Sampler::new(options(0.0, 1));
        for _ in 0..20 {
            assert_eq!(s.sample(&logits(), &[]), 1);
        }
        assert_eq!(argmax(&[0.0, f32::NAN, 2.0, 2.0]), 2);
    }

    #[test]
    fn top_k_one_is_argmax_at_any_temperature() {
        let mut s = Sampler::new(SamplingOptions {
            top_k: 1,
            ..options(5.0, 7)
        });
        for _ in 0..50 {
            assert_eq!(s.sample(&logits(), &[]), 1);
        }
    }

    #[test]
    fn same_seed_same_tokens_other_seed_other_tokens() {
        let run = |seed| {
            let mut s = Sampler::new(options(1.5, seed));
            (0..64)
                .map(|_| s.sample(&logits(), &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        // At a high temperature several tokens really are drawn.
        let mut distinct = run(42);
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() >= 4, "{distinct:?}");
    }

    #[test]
    fn top_k_keeps_the_k_best_in_order() {
        let c = top_k(&logits(), 3);
        assert_eq!(c.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 5, 3]);
        assert_eq!(top_k(&logits(), 0).len(), 8);
    }

    #[test]
    fn top_p_masks_the_tail() {
        // One token holds ~88% of the mass: top_p 0.8 keeps it alone.
        let logits = vec![5.0, 3.0, 1.0, 0.0, -1.0];
        let mut c = top_k(&logits, 0);
        softmax(&mut c, 1.0);
        top_p(&mut c, 0.8);
        assert_eq!(c.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0]);
        // Drawn at a high temperature, the masked tail never comes up.
        let mut s = Sampler::new(SamplingOptions {
            top_p: 0.95,
            ..options(3.0, 9)
        });
        let mut c = top_k(&logits, 0);
        softmax(&mut c, 1.0);
        top_p(&mut c, 0.95);
        let kept: Vec<u32> = c.iter().map(|c| c.id).collect();
        assert_eq!(kept, vec![0, 1]);
        for _ in 0..500 {
            assert!(kept.contains(&s.sample(&logits, &[])));
        }
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let mut c = top_k(&[2.0, 1.9, -3.0], 0);
        softmax(&mut c, 1.0);
        min_p(&mut c, 0.1);
        assert_eq!(c.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn repeat_penalty_lowers_repeated_logits() {
        let mut l = vec![2.0, -1.0, 3.0, 0.5];
        apply_repeat_penalty(&mut l, &[0, 1, 0], 2.0);
        assert_eq!(l, vec![1.0, -2.0, 3.0, 0.5]);
        // The penalty can change the greedy choice.
        let mut s = Sampler::new(SamplingOptions {
            repeat_penalty: 2.0,
            ..options(0.0, 1)
        });
        assert_eq!(s.sample(&[3.0, 2.0], &[]), 0);
        assert_eq!(s.sample(&[3.0, 2.0], &[0]), 1);
        // Only the last n tokens count.
        let mut s = Sampler::new(SamplingOptions {
            repeat_penalty: 2.0,
            repeat_last_n: 1,
            ..options(0.0, 1)
        });
        assert_eq!(s.sample(&[3.0, 2.0], &[0, 1]), 0);
    }

    #[test]
    fn rng_is_uniformish() {
        let mut r = SplitMix64(1);
        let mean = (0..10_000).map(|_| r.next_f64()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
