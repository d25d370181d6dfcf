//! Retrieval: one query's passages and the evidence the gate judges, and for
//! a question asked in a conversation, two searches fused.
//!
//! A follow-up ("where was he born?") finds its passage only with the words
//! of the exchange before it, but a question that changes the subject drowns
//! in them: after questions about tmux, "What does the zstd --ultra flag
//! unlock?" searched together with the last exchange found the tmux
//! changelog and was refused. So a question with history is searched alone
//! and with the previous exchange, and the two rankings are fused; the gate
//! takes the better of the two queries' evidence for the passages kept. On
//! tests/fixtures/chat-turns.jsonl the one combined query put the source of
//! 18 of 20 topic switches in its top 3 (3 of them first) and refused the 3
//! asked after a refusal; fused, all 20 are found, first, and answered, and
//! the 20 follow-ups stay found and answered.

use std::collections::HashMap;
use std::time::Instant;

use rag_index::{Embedder, Hit, Mode, SearchIndex, SearchOptions};

use super::{AskOptions, Evidence, Request, Retrieval};
use crate::{Error, Result};

/// Passages taken from each of a follow-up's two searches, per passage kept:
/// deeper than what is kept, so that a passage both queries rank (the new
/// subject, which the history query also matches through the question's own
/// words) is seen to be ranked by both.
const FOLLOW_UP_DEPTH: usize = 3;

/// The passages for `request`: a question without history (`rag ask`) is
/// searched as it is; one with history is searched alone and together with
/// the previous exchange ([`Request::retrieval_query`]) and the two fused.
pub fn retrieve(
    index: &dyn SearchIndex,
    embedder: &dyn Embedder,
    request: Request<'_>,
    options: &AskOptions,
) -> Result<Retrieval> {
    let started = Instant::now();
    let question = request.question.trim();
    if request.history.is_empty() {
        let vector = embedder
            .embed_query(question)
            .map_err(|reason| embedding_error("the question", reason))?;
        return search(index, question, &vector, options, started);
    }
    let with_history = request.retrieval_query();
    let vectors = embedder
        .embed(&[question, with_history.as_str()])
        .map_err(|reason| embedding_error("the question", reason))?;
    let [alone_vector, history_vector] = vectors.as_slice() else {
        return Err(embedding_error(
            "the question",
            format!("{} vectors for 2 texts", vectors.len()),
        ));
    };
    let keep = options.k.max(1);
    let depth = keep * FOLLOW_UP_DEPTH;
    let alone = Ranked::new(index, question, alone_vector, depth, options)?;
    let borrowed = Ranked::new(index, &with_history, history_vector, depth, options)?;
    let hits = fuse(&[&alone, &borrowed], keep);
    let more = more_of_their_files(&hits, &alone.hits[..alone.hits.len().min(keep * 2)]);
    let evidence = [&alone, &borrowed]
        .iter()
        .map(|ranked| ranked.evidence_for(&hits))
        .max_by(|a, b| a.strength.total_cmp(&b.strength))
        .unwrap_or_default();
    Ok(Retrieval {
        hits,
        more,
        evidence,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// One query's top `options.k` passages and their evidence (`rag ask`, and
/// each question of `rag batch` with its vector computed in a batch).
pub(super) fn search(
    index: &dyn SearchIndex,
    query: &str,
    vector: &[f32],
    options: &AskOptions,
    started: Instant,
) -> Result<Retrieval> {
    let keep = options.k.max(1);
    let mut ranked = Ranked::new(index, query, vector, keep * 2, options)?;
    let deeper = ranked.hits.split_off(ranked.hits.len().min(keep));
    let evidence = evidence_of(ranked.hits.iter(), ranked.ceiling);
    Ok(Retrieval {
        more: more_of_their_files(&ranked.hits, &deeper),
        hits: ranked.hits,
        evidence,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

pub(super) fn embedding_error(what: &str, reason: String) -> Error {
    Error::Index(rag_index::Error::Embedding(format!(
        "embedding {what}: {reason}"
    )))
}

/// One query's ranking with the keyword score a passage holding all of its
/// words would approach.
struct Ranked {
    hits: Vec<Hit>,
    ceiling: f32,
}

impl Ranked {
    fn new(
        index: &dyn SearchIndex,
        query: &str,
        vector: &[f32],
        k: usize,
        options: &AskOptions,
    ) -> Result<Self> {
        let search = SearchOptions {
            k: k.max(1),
            mode: Mode::Hybrid,
            ..options.search.clone()
        };
        Ok(Ranked {
            hits: index.search_with_vector(query, Some(vector), &search)?,
            ceiling: index.bm25_ceiling(query)?,
        })
    }

    /// This query's evidence from those of `kept` it ranked itself: its own
    /// similarity and keyword scores are only known for those.
    fn evidence_for(&self, kept: &[Hit]) -> Evidence {
        let mine = self
            .hits
            .iter()
            .filter(|hit| kept.iter().any(|k| k.chunk_id == hit.chunk_id));
        evidence_of(mine, self.ceiling)
    }
}

/// Passages taken from one file beside its best one, at most.
const MORE_PER_FILE: usize = 2;

/// The passages of `deeper` (the ranks after `kept`) that come from the
/// files of `kept`, at most [`MORE_PER_FILE`] a file, best first. A
/// documentation page's best passage for a question is often its
/// introduction or the paragraph that names the thing, and the answer another
/// section of the same page: the configuration line below "Source
/// Replacement", the `--no-deps` flag among `cargo doc`'s options. A page's
/// own passages add no new document to weigh against the others, where more
/// documents did worse (`-k 5` was right less often than `-k 3`).
fn more_of_their_files(kept: &[Hit], deeper: &[Hit]) -> Vec<Hit> {
    let mut more: Vec<Hit> = Vec::new();
    for hit in deeper {
        let taken = more.iter().filter(|h| h.path == hit.path).count();
        let known = kept.iter().chain(&more).any(|h| h.chunk_id == hit.chunk_id);
        if taken < MORE_PER_FILE && !known && kept.iter().any(|h| h.path == hit.path) {
            more.push(hit.clone());
        }
    }
    more
}

/// The best similarity and the best keyword match among `hits` (not
/// necessarily of one passage: either signal alone can carry a question).
fn evidence_of<'h>(hits: impl Iterator<Item = &'h Hit>, ceiling: f32) -> Evidence {
    let (mut bm25, mut similarity) = (0.0f32, 0.0f32);
    for hit in hits {
        bm25 = hit.bm25.map_or(bm25, |s| bm25.max(s));
        similarity = hit.similarity.map_or(similarity, |s| similarity.max(s));
    }
    let keyword_match = if ceiling > 0.0 { bm25 / ceiling } else { 0.0 };
    Evidence::new(similarity, keyword_match)
}

/// The `keep` passages of several rankings, in order of the sum of their
/// scores (a ranking that did not return a passage adds nothing), as the
/// index fuses its keyword and dense sides: hybrid scores are scaled by each
/// query's best, so the two queries weigh alike, and a passage both rank beats
/// one only the history's words found. The best passage of each ranking is
/// kept whatever its sum: after "Which river does Belfast stand on?", the
/// cities that "What is its population?" finds alone are also what the
/// history's query ranks after Belfast, and their sums would push Belfast out.
/// Each passage keeps the record of the query that scored it higher, so its
/// shown similarity and score are its best.
fn fuse(rankings: &[&Ranked], keep: usize) -> Vec<Hit> {
    let mut fused: HashMap<u64, (f32, &Hit)> = HashMap::new();
    for ranked in rankings {
        for hit in &ranked.hits {
            let entry = fused.entry(hit.chunk_id).or_insert((0.0, hit));
            entry.0 += hit.score;
            if hit.score > entry.1.score {
                entry.1 = hit;
            }
        }
    }
    let by_sum = |a: &(f32, &Hit), b: &(f32, &Hit)| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.chunk_id.cmp(&b.1.chunk_id))
    };
    let mut order: Vec<(f32, &Hit)> = fused.into_values().collect();
    order.sort_by(by_sum);
    let tops: Vec<u64> = rankings
        .iter()
        .filter_map(|ranked| ranked.hits.first())
        .map(|hit| hit.chunk_id)
        .collect();
    let (mut chosen, rest): (Vec<_>, Vec<_>) = order
        .into_iter()
        .partition(|(_, hit)| tops.contains(&hit.chunk_id));
    chosen.truncate(keep);
    chosen.extend(rest.into_iter().take(keep.saturating_sub(chosen.len())));
    chosen.sort_by(by_sum);
    chosen.into_iter().map(|(_, hit)| hit.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(chunk_id: u64, score: f32) -> Hit {
        Hit {
            chunk_id,
            score,
            bm25: Some(score * 10.0),
            similarity: Some(score / 2.0),
            path: format!("{chunk_id}.md"),
            line_start: 1,
            line_end: 2,
            heading: String::new(),
            text: String::new(),
            location: None,
            file_lines: Default::default(),
            also_in: Vec::new(),
        }
    }

    fn ranked(hits: &[(u64, f32)]) -> Ranked {
        Ranked {
            hits: hits.iter().map(|&(id, score)| hit(id, score)).collect(),
            ceiling: 20.0,
        }
    }

    #[test]
    fn a_passage_both_queries_rank_beats_the_history_alone() {
        // The question alone finds 7; with the history, the old subject (1)
        // comes first and 7 second.
        let alone = ranked(&[(7, 1.0), (8, 0.6)]);
        let borrowed = ranked(&[(1, 1.0), (7, 0.7), (2, 0.5)]);
        let ids: Vec<u64> = fuse(&[&alone, &borrowed], 3)
            .iter()
            .map(|h| h.chunk_id)
            .collect();
        assert_eq!(ids, vec![7, 1, 8]);
    }

    #[test]
    fn each_query_keeps_its_best_passage() {
        // A follow-up: the history's query finds 1; the question alone finds
        // passages (7, 8) that the history's query also ranks.
        let alone = ranked(&[(7, 1.0), (8, 0.9)]);
        let borrowed = ranked(&[(1, 1.0), (7, 0.8), (8, 0.7)]);
        let ids = |keep| -> Vec<u64> {
            fuse(&[&alone, &borrowed], keep)
                .iter()
                .map(|h| h.chunk_id)
                .collect()
        };
        assert_eq!(ids(2), vec![7, 1]);
        assert_eq!(ids(3), vec![7, 8, 1]);
        assert_eq!(ids(1), vec![7]);
    }

    fn in_file(chunk_id: u64, path: &str, score: f32) -> Hit {
        Hit {
            path: path.into(),
            ..hit(chunk_id, score)
        }
    }

    #[test]
    fn more_passages_come_only_from_the_kept_files_two_a_file() {
        let kept = [in_file(1, "a.html", 1.0), in_file(2, "b.html", 0.9)];
        let deeper = [
            in_file(3, "c.html", 0.8),
            in_file(4, "a.html", 0.7),
            in_file(1, "a.html", 0.7),
            in_file(5, "a.html", 0.6),
            in_file(6, "a.html", 0.5),
            in_file(7, "b.html", 0.4),
        ];
        let more = more_of_their_files(&kept, &deeper);
        let ids: Vec<u64> = more.iter().map(|h| h.chunk_id).collect();
        assert_eq!(ids, vec![4, 5, 7]);

        // The model reads each file's passages together, the best file first;
        // the ranking itself (the gate, the nearest after a refusal) is unchanged.
        let retrieval = Retrieval {
            hits: vec![kept[0].clone(), kept[1].clone(), in_file(8, "a.html", 0.3)],
            more,
            evidence: Evidence::default(),
            millis: 0.0,
        };
        let read: Vec<u64> = retrieval.to_read().iter().map(|h| h.chunk_id).collect();
        assert_eq!(read, vec![1, 4, 5, 2, 7, 8]);
    }

    #[test]
    fn evidence_counts_only_kept_passages_each_query_ranked() {
        let alone = ranked(&[(7, 1.0), (8, 0.9)]);
        let borrowed = ranked(&[(1, 0.4), (7, 0.2)]);
        let kept = fuse(&[&alone, &borrowed], 1);
        assert_eq!(kept[0].chunk_id, 7);
        let evidence = alone.evidence_for(&kept);
        assert!((evidence.similarity - 0.5).abs() < 1e-6, "{evidence:?}");
        assert!((evidence.keyword_match - 0.5).abs() < 1e-6, "{evidence:?}");
        // Passage 1 was not kept: only 7 counts for the history's query.
        let evidence = borrowed.evidence_for(&kept);
        assert!((evidence.keyword_match - 0.1).abs() < 1e-6, "{evidence:?}");
    }
}
