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

/// How hybrid search combines the keyword and dense rankings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fusion {
    /// Reciprocal-rank fusion: sum of weight / (rrf_k + rank).
    Rrf,
    /// Weighted sum of normalised scores.
    #[default]
    Convex,
}

impl std::str::FromStr for Fusion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rrf" => Ok(Fusion::Rrf),
            "convex" => Ok(Fusion::Convex),
            other => Err(format!("unknown fusion {other:?} (rrf, convex)")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub k: usize,
    pub mode: Mode,
    pub fusion: Fusion,
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
            fusion: Fusion::default(),
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
pub struct Scored {
    pub chunk_id: u64,
    pub score: f32,
    pub bm25: Option<f32>,
    pub similarity: Option<f32>,
}

/// Fuses two ranked lists (best first) into the top `k`. A single non-empty
/// side keeps its own scores, so BM25 or cosine values stay interpretable.
pub fn fuse(keyword: &[(u64, f32)], dense: &[(u64, f32)], options: &SearchOptions) -> Vec<Scored> {
    let mut by_id: HashMap<u64, (Option<usize>, Option<usize>)> = HashMap::new();
    for (rank, &(id, _)) in keyword.iter().enumerate() {
        by_id.entry(id).or_default().0 = Some(rank);
    }
    for (rank, &(id, _)) in dense.iter().enumerate() {
        by_id.entry(id).or_default().1 = Some(rank);
    }
    // Convex fusion scales each side by this query's best score, so both are on
    // [0, 1] (min-max scaling of the cosines was measured and did worse). A
    // side that missed a chunk contributes 0.
    let bm25_top = keyword
        .first()
        .map(|&(_, s)| s)
        .unwrap_or(1.0)
        .max(f32::EPSILON);
    let cos_top = dense
        .iter()
        .map(|&(_, s)| s)
        .fold(f32::MIN, f32::max)
        .max(f32::EPSILON);
    let weights = options.bm25_weight + options.vector_weight;
    let mut fused: Vec<Scored> = by_id
        .into_iter()
        .map(|(id, (keyword_rank, dense_rank))| {
            let bm25 = keyword_rank.map(|r| keyword[r].1);
            let similarity = dense_rank.map(|r| dense[r].1);
            let score = match (options.mode, options.fusion) {
                (Mode::Bm25, _) => bm25.unwrap_or(0.0),
                (Mode::Vector, _) => similarity.unwrap_or(0.0),
                (Mode::Hybrid, Fusion::Rrf) => {
                    let rrf = |rank: Option<usize>, weight: f32| {
                        rank.map_or(0.0, |r| weight / (options.rrf_k + r as f32 + 1.0))
                    };
                    rrf(keyword_rank, options.bm25_weight) + rrf(dense_rank, options.vector_weight)
                }
                (Mode::Hybrid, Fusion::Convex) => {
                    let b = bm25.map_or(0.0, |s| s / bm25_top);
                    let c = similarity.map_or(0.0, |s| s / cos_top);
                    (options.bm25_weight * b + options.vector_weight * c) / weights
                }
            };
            Scored {
                chunk_id: id,
                score,
                bm25,
                similarity,
            }
        })
        .collect();
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
            fusion: Fusion::Rrf,
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
            fusion: Fusion::Rrf,
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
