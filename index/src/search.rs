//! Ranking: reciprocal-rank fusion of the keyword and dense result lists.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::location::{FileLines, Location};

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
    /// The document's divisions the passage is in (pages, slides, rows...).
    pub location: Option<Location>,
    /// For converted text (HTML), the file's line of each text line.
    pub file_lines: FileLines,
    /// Other files that hold the same passage (a book's print page, a vendored
    /// copy), as stored; this hit is the most specific of them.
    pub also_in: Vec<String>,
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
    // When no passage is closer than orthogonal, the dense side says nothing:
    // dividing by a tiny best cosine would swamp the keyword side.
    let cos_top = dense.iter().map(|&(_, s)| s).fold(f32::MIN, f32::max);
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
                    let c = match similarity {
                        Some(s) if cos_top > 0.0 => (s / cos_top).max(0.0),
                        _ => 0.0,
                    };
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

/// Words per shingle when passages are compared for duplicates.
const SHINGLE_WORDS: usize = 3;
/// Share of the shorter passage's shingles found in the other for the two to be
/// one passage: chunk boundaries differ between a page and a book's print page,
/// so the copies rarely match exactly.
const DUPLICATE_CONTAINMENT: f32 = 0.7;

/// A search asks for this many times the usual candidates at most when
/// duplicates leave fewer than `k` distinct passages.
const MAX_WIDENING: usize = 16;

/// The top `options.k` distinct passages (see [`distinct_hits`]) of a search
/// whose fused ranking, with `candidates` taken from each side, is
/// `ranked(candidates)`. When copies of one passage fill the candidates (a
/// folder of identical files), more are taken, up to [`MAX_WIDENING`] times
/// as many.
pub fn distinct_search(
    options: &SearchOptions,
    ranked: &dyn Fn(usize) -> crate::Result<Vec<Hit>>,
    chunks_in_file: &dyn Fn(&str) -> usize,
) -> crate::Result<Vec<Hit>> {
    let first = options.candidates();
    let mut candidates = first;
    let mut fetched = 0;
    loop {
        let hits = ranked(candidates)?;
        let more = hits.len() > fetched;
        fetched = hits.len();
        let distinct = distinct_hits(hits, options.k, chunks_in_file);
        if distinct.len() >= options.k || !more || candidates >= first * MAX_WIDENING {
            return Ok(distinct);
        }
        candidates = (candidates * 4).min(first * MAX_WIDENING);
    }
}

/// The top `k` of `hits` (best first) with near-duplicate passages collapsed
/// into one: the copy from the file with the fewest chunks (the page rather
/// than the whole book it is also printed in), at the best rank and score of
/// the copies, with the other files listed in [`Hit::also_in`].
/// `chunks_in_file` answers for the files of duplicated passages only.
pub fn distinct_hits(hits: Vec<Hit>, k: usize, chunks_in_file: &dyn Fn(&str) -> usize) -> Vec<Hit> {
    let mut groups: Vec<(HashSet<u64>, Vec<Hit>)> = Vec::new();
    for hit in hits {
        let shingles = shingles(&hit.text);
        // Within one file, overlapping chunks are the splitter's overlap, which
        // neighbour merging joins: only copies in other files collapse.
        match groups.iter().position(|(kept, copies)| {
            copies.iter().all(|c| c.path != hit.path) && is_duplicate(kept, &shingles)
        }) {
            Some(at) => groups[at].1.push(hit),
            None if groups.len() < k => groups.push((shingles, vec![hit])),
            None => {}
        }
    }
    groups
        .into_iter()
        .map(|(_, copies)| most_specific(copies, chunks_in_file))
        .collect()
}

fn most_specific(mut copies: Vec<Hit>, chunks_in_file: &dyn Fn(&str) -> usize) -> Hit {
    if copies.iter().all(|c| c.path == copies[0].path) {
        return copies.swap_remove(0);
    }
    let best = copies[0].score;
    let (bm25, similarity) = copies.iter().fold((None, None), |(b, s), c| {
        (max_option(b, c.bm25), max_option(s, c.similarity))
    });
    let mut sizes: HashMap<String, usize> = HashMap::new();
    for copy in &copies {
        sizes
            .entry(copy.path.clone())
            .or_insert_with(|| chunks_in_file(&copy.path));
    }
    // The fewest chunks; among copies of one file, the best ranked (first).
    let chosen = (0..copies.len())
        .min_by_key(|&i| (sizes[&copies[i].path], i))
        .unwrap_or(0);
    let mut hit = copies.swap_remove(chosen);
    let mut also_in: Vec<String> = Vec::new();
    for copy in copies {
        if copy.path != hit.path && !also_in.contains(&copy.path) {
            also_in.push(copy.path);
        }
    }
    hit.score = best;
    hit.bm25 = bm25;
    hit.similarity = similarity;
    hit.also_in = also_in;
    hit
}

fn max_option(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Hashes of the passage's lowercased word triples (the whole passage as
/// one shingle when it is shorter).
fn shingles(text: &str) -> HashSet<u64> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let hash = |words: &[String]| {
        let mut hasher = blake3::Hasher::new();
        for word in words {
            hasher.update(word.as_bytes());
            hasher.update(b" ");
        }
        let bytes = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes.as_bytes()[..8]);
        u64::from_le_bytes(first)
    };
    if words.len() <= SHINGLE_WORDS {
        return [hash(&words)].into_iter().collect();
    }
    words.windows(SHINGLE_WORDS).map(hash).collect()
}

fn is_duplicate(a: &HashSet<u64>, b: &HashSet<u64>) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.is_empty() {
        return false;
    }
    let shared = small.iter().filter(|s| large.contains(s)).count();
    shared as f32 >= DUPLICATE_CONTAINMENT * small.len() as f32
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

    #[test]
    fn convex_fusion_stays_in_range_when_no_cosine_is_positive() {
        let options = SearchOptions {
            k: 3,
            fusion: Fusion::Convex,
            ..Default::default()
        };
        let keyword = [(3, 2.5)];
        let dense = [(1, -0.05), (2, -0.07), (3, -0.08)];
        let fused = fuse(&keyword, &dense, &options);
        assert_eq!(fused[0].chunk_id, 3, "{fused:?}");
        assert!(
            fused.iter().all(|f| (0.0..=1.0).contains(&f.score)),
            "{fused:?}"
        );
        // A positive best cosine: the negative ones count as nothing, not less.
        let dense = [(1, 0.5), (2, -0.2)];
        let fused = fuse(&[], &dense, &options);
        assert!(
            fused.iter().all(|f| (0.0..=1.0).contains(&f.score)),
            "{fused:?}"
        );
    }

    fn hit(id: u64, path: &str, text: &str, score: f32) -> Hit {
        Hit {
            chunk_id: id,
            score,
            bm25: None,
            similarity: Some(score),
            path: path.into(),
            line_start: 1,
            line_end: 1,
            heading: String::new(),
            text: text.into(),
            location: None,
            file_lines: Default::default(),
            also_in: Vec::new(),
        }
    }

    #[test]
    fn duplicates_collapse_into_the_most_specific_page() {
        let git = "To depend on a library located in a git repository, the minimum \
                   information you need to specify is the location of the repository \
                   with the git key: regex-lite = { git = \"https://github.com/rust-lang/regex.git\" }";
        let hits = vec![
            // The print page's copy ranks first, cut at another boundary.
            hit(
                1,
                "cargo/print.html",
                &format!("{git} Cargo fetches the git repository"),
                0.9,
            ),
            hit(
                2,
                "cargo/reference/features.html",
                "Features are named flags of a package",
                0.8,
            ),
            hit(3, "cargo/reference/specifying-dependencies.html", git, 0.7),
            hit(
                4,
                "cargo/guide/dependencies.html",
                "Adding a dependency from crates.io",
                0.6,
            ),
            hit(
                5,
                "cargo/reference/workspaces.html",
                "A workspace is a set of packages",
                0.5,
            ),
        ];
        let sizes = |path: &str| {
            if path.ends_with("print.html") {
                10_000
            } else {
                40
            }
        };
        let kept = distinct_hits(hits, 3, &sizes);
        let paths: Vec<&str> = kept.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "cargo/reference/specifying-dependencies.html",
                "cargo/reference/features.html",
                "cargo/guide/dependencies.html"
            ]
        );
        assert_eq!(kept[0].score, 0.9, "the copies' best rank and score");
        assert_eq!(kept[0].similarity, Some(0.9));
        assert_eq!(kept[0].also_in, ["cargo/print.html"]);
        assert!(kept[1].also_in.is_empty());
    }

    #[test]
    fn different_passages_that_share_a_few_words_stay_apart() {
        let hits = vec![
            hit(
                1,
                "a.md",
                "The backup job runs nightly at two and keeps seven copies",
                0.9,
            ),
            hit(
                2,
                "b.md",
                "The backup job runs on the second server with its own key",
                0.8,
            ),
            hit(3, "c.md", "short", 0.7),
            hit(4, "d.md", "Short!", 0.6),
            // One file's overlapping chunks are left to neighbour merging.
            hit(5, "c.md", "short", 0.5),
        ];
        let kept = distinct_hits(hits, 10, &|_| 1);
        let paths: Vec<&str> = kept.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["a.md", "b.md", "c.md", "c.md"]);
        assert_eq!(kept[2].also_in, ["d.md"]);
    }
}
