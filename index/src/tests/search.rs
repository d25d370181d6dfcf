//! `Index::search` over an index built with the test embedder.

use super::{options, paths, search, Fixture, FUGUE};
use crate::test_embedder::TestEmbedder;
use crate::{Embedder, SearchIndex};
use crate::{Error, Fusion, Mode, SearchOptions};

#[test]
fn keyword_search_finds_the_file_holding_the_word_first() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    let hits = search(&index, &embedder, "contrapuntal", Mode::Bm25);
    assert_eq!(paths(&hits), vec!["docs/fugue.md"]);
    let hit = &hits[0];
    assert!(hit.bm25.is_some_and(|s| s > 0.0));
    assert_eq!(hit.similarity, None, "no dense side in keyword mode");
    assert_eq!(Some(hit.score), hit.bm25, "a single mode keeps its score");
    assert_eq!(hit.heading, "Fugue");
    assert_eq!((hit.line_start, hit.line_end), (1, 4));
    assert_eq!(hit.text.trim(), FUGUE.trim());
    assert_eq!(hit.location, None);
    assert!(
        hit.file_lines.lines.is_empty(),
        "Markdown lines are the file's"
    );
    assert_eq!(
        index.resolve(&hit.path),
        fixture.docs.join("fugue.md"),
        "stored paths resolve to the file"
    );
}

#[test]
fn keyword_search_stems_and_ignores_stop_words() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    // "imitating" and "imitate" share a stem; "the" alone is no query.
    let hits = search(&index, &embedder, "imitating", Mode::Bm25);
    assert_eq!(paths(&hits), vec!["docs/fugue.md"]);
    assert!(search(&index, &embedder, "the of and", Mode::Bm25).is_empty());
    // Query syntax is not parsed.
    let hits = search(&index, &embedder, "kettle AND (vinegar", Mode::Bm25);
    assert_eq!(paths(&hits), vec!["docs/kettle.txt"]);
}

#[test]
fn keyword_search_needs_no_embedder() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    let before = embedder.texts_embedded();
    let hits = index
        .search("compost", None, &options(Mode::Bm25, 5))
        .unwrap();
    assert_eq!(paths(&hits), vec!["docs/garden.md"]);
    for mode in [Mode::Vector, Mode::Hybrid] {
        let err = index
            .search("compost", None, &options(mode, 5))
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{mode:?}: {err}");
    }
    // Keyword mode does not embed the query even when it could.
    search(&index, &embedder, "compost", Mode::Bm25);
    assert_eq!(embedder.texts_embedded(), before);
}

#[test]
fn vector_search_ranks_the_file_sharing_words_first() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    let hits = search(&index, &embedder, "sunlight water compost", Mode::Vector);
    assert_eq!(paths(&hits)[0], "docs/garden.md", "{hits:?}");
    let top = &hits[0];
    assert_eq!(top.bm25, None, "no keyword side in vector mode");
    let similarity = top.similarity.unwrap();
    assert_eq!(top.score, similarity);
    let expected = {
        let q = embedder.vector("sunlight water compost");
        let d = embedder.vector(
            &index.chunks_of("docs/garden.md").unwrap()[0]
                .chunk
                .embedding_text(),
        );
        q.iter().zip(&d).map(|(a, b)| a * b).sum::<f32>()
    };
    assert!(
        (similarity - expected).abs() < 1e-4,
        "{similarity} vs {expected}"
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(top.heading, "Garden");
}

#[test]
fn vector_search_finds_what_no_keyword_matches() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    // "is" and "a" are stop words for BM25, but words to the test embedder.
    let query = "a is";
    assert!(search(&index, &embedder, query, Mode::Bm25).is_empty());
    let hits = search(&index, &embedder, query, Mode::Vector);
    assert_eq!(paths(&hits)[0], "docs/fugue.md", "{hits:?}");
}

#[test]
fn hybrid_search_fuses_both_signals() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    for fusion in [Fusion::Convex, Fusion::Rrf] {
        let options = SearchOptions {
            fusion,
            ..options(Mode::Hybrid, 10)
        };
        let hits = index
            .search("vinegar descaling", Some(&embedder), &options)
            .unwrap();
        assert_eq!(paths(&hits)[0], "docs/kettle.txt", "{fusion:?}: {hits:?}");
        let top = &hits[0];
        assert!(top.bm25.is_some() && top.similarity.is_some(), "{top:?}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        if fusion == Fusion::Convex {
            // The best of both sides scores 1 on each: the weighted mean is 1.
            assert!((top.score - 1.0).abs() < 1e-5, "{}", top.score);
        } else {
            assert!((top.score - 2.0 / 61.0).abs() < 1e-6, "{}", top.score);
        }
        // The other files come from the dense side only.
        for hit in &hits[1..] {
            assert_eq!(hit.bm25, None, "{hit:?}");
            assert!(hit.similarity.is_some());
        }
    }
}

#[test]
fn hybrid_weights_can_silence_a_side() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    // Keyword side: only "vinegar" counts (the rest are stop words), so the
    // kettle. Dense side: the garden has "and", "is" and "at", the kettle none.
    let query = "vinegar and and is is at at";
    let keyword_only = SearchOptions {
        vector_weight: 0.0,
        ..options(Mode::Hybrid, 10)
    };
    let dense_only = SearchOptions {
        bm25_weight: 0.0,
        ..options(Mode::Hybrid, 10)
    };
    assert_eq!(
        paths(&search(&index, &embedder, query, Mode::Bm25)),
        vec!["docs/kettle.txt"]
    );
    assert_eq!(
        paths(&search(&index, &embedder, query, Mode::Vector))[0],
        "docs/garden.md"
    );
    let bm25 = index.search(query, Some(&embedder), &keyword_only).unwrap();
    let dense = index.search(query, Some(&embedder), &dense_only).unwrap();
    assert_eq!(paths(&bm25)[0], "docs/kettle.txt", "{bm25:?}");
    assert_eq!(paths(&dense)[0], "docs/garden.md", "{dense:?}");
}

#[test]
fn k_limits_the_hits_and_empty_queries_find_nothing() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    let hits = index
        .search(
            "fugue garden kettle",
            Some(&embedder),
            &options(Mode::Hybrid, 2),
        )
        .unwrap();
    assert_eq!(hits.len(), 2);
    let all = index
        .search(
            "fugue garden kettle",
            Some(&embedder),
            &options(Mode::Hybrid, 10),
        )
        .unwrap();
    assert_eq!(all.len(), 3);
    let before = embedder.texts_embedded();
    for mode in [Mode::Bm25, Mode::Vector, Mode::Hybrid] {
        assert!(search(&index, &embedder, "   ", mode).is_empty());
    }
    assert_eq!(
        embedder.texts_embedded(),
        before,
        "blank queries are not embedded"
    );
}

#[test]
fn a_failing_query_embedding_is_an_embedding_error() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    embedder.set_failing(true);
    let err = index
        .search("fugue", Some(&embedder), &options(Mode::Hybrid, 3))
        .unwrap_err();
    assert!(matches!(err, Error::Embedding(_)), "{err}");
    // Keyword mode does not need it.
    assert_eq!(search(&index, &embedder, "fugue", Mode::Bm25).len(), 1);
}

#[test]
fn search_with_vector_uses_the_callers_vector() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    // The words say "kettle", the vector says "garden".
    let vector = embedder.vector("tomatoes sunlight compost vegetable garden");
    let hits = index
        .search_with_vector("kettle", Some(&vector), &options(Mode::Vector, 3))
        .unwrap();
    assert_eq!(paths(&hits)[0], "docs/garden.md");
    // A vector of the wrong dimension finds nothing rather than failing.
    let hits = index
        .search_with_vector("kettle", Some(&[1.0; 3]), &options(Mode::Vector, 3))
        .unwrap();
    assert!(hits.is_empty());
}

#[test]
fn an_empty_index_finds_nothing() {
    let fixture = Fixture::empty();
    let embedder = TestEmbedder::new();
    let summary = fixture.ingest(&embedder);
    assert_eq!(summary.files_total, 0);
    let index = fixture.open(&embedder);
    assert_eq!(index.manifest().hnsw, None);
    for mode in [Mode::Bm25, Mode::Vector, Mode::Hybrid] {
        assert!(search(&index, &embedder, "anything", mode).is_empty());
    }
}

#[test]
fn bm25_ceiling_bounds_real_scores() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    let query = "vinegar kettle";
    let ceiling = index.bm25_ceiling(query).unwrap();
    let hits = search(&index, &embedder, query, Mode::Bm25);
    assert!(ceiling > 0.0);
    assert!(hits[0].bm25.unwrap() <= ceiling, "{hits:?} vs {ceiling}");
    assert_eq!(index.bm25_ceiling("the of").unwrap(), 0.0);
}

#[test]
fn a_passage_only_the_dense_side_returned_keeps_its_keyword_score() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    // One candidate a side: the keyword side's is the kettle (vinegar,
    // citric), the dense side's the garden (water, and the small words).
    let query = "vinegar citric water and and and is is is at at at";
    let vector = embedder.embed_query(query).unwrap();
    let keyword = search(&index, &embedder, query, Mode::Bm25);
    assert_eq!(paths(&keyword), vec!["docs/kettle.txt", "docs/garden.md"]);
    let dense = index
        .ranked(query, Some(&vector), &options(Mode::Vector, 1), 1)
        .unwrap();
    assert_eq!(paths(&dense), vec!["docs/garden.md"]);
    let hybrid = index
        .ranked(query, Some(&vector), &options(Mode::Hybrid, 2), 1)
        .unwrap();
    let garden = hybrid.iter().find(|hit| hit.path == "docs/garden.md");
    // Its keyword score is the one a keyword search gives it, not none.
    assert_eq!(
        garden.and_then(|hit| hit.bm25),
        keyword[1].bm25,
        "{hybrid:?}"
    );
    assert!(keyword[1].bm25.is_some_and(|score| score > 0.0));
}
