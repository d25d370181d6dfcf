//! Ranking: reciprocal-rank fusion of the keyword and dense result lists.

use std::collections::HashMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Hybrid,
    Bm25,
    Vector,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "bm25" | "keyword" => Ok(Mode::Bm25),
            "vector" | "dense" => Ok(Mode::Vector),
            other => Err(format!(
                "unknown search mode {other:?} (hybrid, bm25, vector)"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub k: usize,
    pub mode: Mode,
    /// RRF's rank constant.
    pub rrf_k: f32,
    pub bm25_weight: f32,
    pub vector_weight: f32,
    /// Candidates fetched from each side before fusing; 0 means 3k.
    pub candidates: usize,
    /// HNSW search breadth.
    pub ef: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            mode: Mode::Hybrid,
            rrf_k: 60.0,
            bm25_weight: 1.0,
            vector_weight: 1.0,
            candidates: 0,
            ef: 96,
        }
    }
}

impl SearchOptions {
    pub fn candidates(&self) -> usize {
        if self.candidates == 0 {
            (self.k * 3).max(10)
        } else {
            self.candidates.max(self.k)
        }
    }
}

/// One ranked chunk with where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub chunk_id: u64,
    /// The fused score (RRF in hybrid mode, otherwise the single method's score).
    pub score: f32,
    /// BM25 score, when the keyword side found it.
    pub bm25: Option<f32>,
    /// Cosine similarity to the query, when the dense side found it.
    pub similarity: Option<f32>,
    /// As stored: relative to the index root, or absolute.
    pub path: String,
    pub line_start: u32,
    pub line_end: u32,
    pub heading: String,
    pub text: String,
    pub page: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    pub chunk_id: u64,
    pub score: f32,
    pub bm25: Option<f32>,
    pub similarity: Option<f32>,
}

/// Fuses two ranked lists (best first) into the top `k`. A single non-empty
/// side keeps its own scores, so BM25 or cosine values stay interpretable.
pub(crate) fn fuse(
    keyword: &[(u64, f32)],
    dense: &[(u64, f32)],
    options: &SearchOptions,
) -> Vec<Scored> {
    let mut by_id: HashMap<u64, Scored> = HashMap::new();
    let single = options.mode != Mode::Hybrid;
    for (rank, &(id, bm25)) in keyword.iter().enumerate() {
        let entry = by_id.entry(id).or_insert(Scored {
            chunk_id: id,
            score: 0.0,
            bm25: None,
            similarity: None,
        });
        entry.bm25 = Some(bm25);
        entry.score += if single {
            bm25
        } else {
            options.bm25_weight / (options.rrf_k + rank as f32 + 1.0)
        };
    }
    for (rank, &(id, similarity)) in dense.iter().enumerate() {
        let entry = by_id.entry(id).or_insert(Scored {
            chunk_id: id,
            score: 0.0,
            bm25: None,
            similarity: None,
        });
        entry.similarity = Some(similarity);
        entry.score += if single {
            similarity
        } else {
            options.vector_weight / (options.rrf_k + rank as f32 + 1.0)
        };
    }
    let mut fused: Vec<Scored> = by_id.into_values().collect();
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    fused.truncate(options.k);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_prefers_agreement() {
        let options = SearchOptions {
            k: 3,
            ..Default::default()
        };
        let keyword = [(1, 9.0), (2, 8.0), (3, 7.0)];
        let dense = [(3, 0.9), (4, 0.8), (1, 0.7)];
        let fused = fuse(&keyword, &dense, &options);
        let ids: Vec<u64> = fused.iter().map(|s| s.chunk_id).collect();
        assert_eq!(ids, vec![1, 3, 2]);
        assert_eq!(fused[0].bm25, Some(9.0));
        assert_eq!(fused[0].similarity, Some(0.7));
        let expected = 1.0 / 61.0 + 1.0 / 63.0;
        assert!((fused[0].score - expected).abs() < 1e-6);
    }

    #[test]
    fn weights_shift_the_balance() {
        let options = SearchOptions {
            k: 2,
            vector_weight: 3.0,
            ..Default::default()
        };
        let fused = fuse(&[(1, 5.0)], &[(2, 0.5)], &options);
        assert_eq!(fused[0].chunk_id, 2);
    }

    #[test]
    fn single_mode_keeps_raw_scores() {
        let options = SearchOptions {
            k: 5,
            mode: Mode::Bm25,
            ..Default::default()
        };
        let fused = fuse(&[(7, 3.5), (8, 1.0)], &[], &options);
        assert_eq!(fused[0].score, 3.5);
        assert_eq!(fused.len(), 2);
    }
}
