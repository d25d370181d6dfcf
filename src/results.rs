//! Search results as `rag search --json` writes them and `rag serve`'s
//! `/v1/search` returns them: one shape for scripts, whichever door they use.

use rag_index::Hit;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct SearchResponse {
    pub query: String,
    pub took_ms: f64,
    pub results: Vec<SearchRow>,
}

#[derive(Debug, Serialize)]
pub struct SearchRow {
    pub rank: usize,
    pub score: f32,
    pub path: String,
    pub line_start: u32,
    pub line_end: u32,
    pub heading: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The keyword and dense evidence behind the fused score.
    pub bm25: Option<f32>,
    pub similarity: Option<f32>,
    /// Other files holding the same passage.
    pub also_in: Vec<String>,
}

impl SearchResponse {
    /// `hits` in rank order, their stored paths shown by `show`.
    pub fn new(query: &str, took_ms: f64, hits: Vec<Hit>, show: &dyn Fn(&str) -> String) -> Self {
        SearchResponse {
            query: query.to_string(),
            took_ms: (took_ms * 1000.0).round() / 1000.0,
            results: hits
                .into_iter()
                .enumerate()
                .map(|(i, hit)| SearchRow {
                    rank: i + 1,
                    score: hit.score,
                    path: show(&hit.path),
                    line_start: hit.line_start,
                    line_end: hit.line_end,
                    heading: hit.heading,
                    text: hit.text,
                    page: hit.page,
                    bm25: hit.bm25,
                    similarity: hit.similarity,
                    also_in: hit.also_in.iter().map(|path| show(path)).collect(),
                })
                .collect(),
        }
    }
}
