//! Search results as `rag search --json` writes them and `rag serve`'s
//! `/v1/search` returns them: one shape for scripts, whichever door they use.

use rag_index::Hit;

use crate::assistant::located::{cited_at, page_of, LinesIn, LocationJson};
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
    /// The file's lines (see `lines_in`).
    pub line_start: u32,
    pub line_end: u32,
    pub lines_in: LinesIn,
    /// How a citation of it reads: `path:12-30`, `deck.pptx slide 7`.
    pub cited_at: String,
    pub heading: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationJson>,
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
                    line_start: hit.file_lines.file_line(hit.line_start),
                    line_end: hit.file_lines.file_line(hit.line_end),
                    lines_in: LinesIn::of(&hit.path, &hit.file_lines),
                    cited_at: cited_at(
                        &show(&hit.path),
                        LinesIn::of(&hit.path, &hit.file_lines),
                        hit.location.as_ref(),
                        &hit.heading,
                        (
                            hit.file_lines.file_line(hit.line_start),
                            hit.file_lines.file_line(hit.line_end),
                        ),
                    ),
                    path: show(&hit.path),
                    heading: hit.heading,
                    text: hit.text,
                    page: page_of(hit.location.as_ref()),
                    location: hit.location.map(LocationJson::from),
                    bm25: hit.bm25,
                    similarity: hit.similarity,
                    also_in: hit.also_in.iter().map(|path| show(path)).collect(),
                })
                .collect(),
        }
    }
}
