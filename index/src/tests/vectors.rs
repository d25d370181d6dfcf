//! The dense side on its own: `VectorIndex` and the raw vector file.

use crate::manifest::{FileSum, HNSW_DATA, HNSW_GRAPH};
use crate::test_embedder::{TestEmbedder, TEST_DIMENSION};
use crate::vectors::{parse_vectors, write_vectors, VectorIndex};
use crate::Error;

const TEXTS: &[&str] = &[
    "fugue subject voices counterpoint",
    "tomatoes compost garden sunlight",
    "kettle vinegar descaling rinse",
    "owl night hunting feathers",
];

/// A graph of [`TEXTS`] under ids 10, 11, 12, 13.
fn graph(embedder: &TestEmbedder) -> VectorIndex {
    let vectors: Vec<Vec<f32>> = TEXTS.iter().map(|t| embedder.vector(t)).collect();
    let items: Vec<(u64, &[f32])> = vectors
        .iter()
        .enumerate()
        .map(|(n, v)| (10 + n as u64, v.as_slice()))
        .collect();
    let index = VectorIndex::new(TEST_DIMENSION, items.len());
    index.insert(&items);
    index
}

#[test]
fn nearest_first_with_cosine_similarities() {
    let embedder = TestEmbedder::new();
    let index = graph(&embedder);
    assert_eq!(index.points(), 4);
    let query = embedder.vector("compost garden");
    let hits = index.search(&query, 4, 32, None);
    assert_eq!(hits.len(), 4);
    assert_eq!(hits[0].0, 11);
    assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "{hits:?}");
    let expected: f32 = query
        .iter()
        .zip(embedder.vector(TEXTS[1]))
        .map(|(a, b)| a * b)
        .sum();
    assert!(
        (hits[0].1 - expected).abs() < 1e-5,
        "{hits:?} vs {expected}"
    );
    // A point's own vector is its own nearest neighbour, at similarity 1.
    let hits = index.search(&embedder.vector(TEXTS[2]), 1, 32, None);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].0, 12);
    assert!((hits[0].1 - 1.0).abs() < 1e-5);
}

#[test]
fn keep_drops_deleted_ids() {
    let embedder = TestEmbedder::new();
    let index = graph(&embedder);
    let keep = |id: &usize| *id != 11;
    let hits = index.search(&embedder.vector(TEXTS[1]), 4, 32, Some(&keep));
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|&(id, _)| id != 11), "{hits:?}");
}

#[test]
fn nothing_to_find_is_no_hits() {
    let embedder = TestEmbedder::new();
    let empty = VectorIndex::new(TEST_DIMENSION, 0);
    assert_eq!(empty.points(), 0);
    assert!(empty.search(&embedder.vector("x"), 5, 32, None).is_empty());
    let index = graph(&embedder);
    assert!(index.search(&embedder.vector("x"), 0, 32, None).is_empty());
    assert!(
        index.search(&[1.0, 0.0], 5, 32, None).is_empty(),
        "a query of another dimension"
    );
}

#[test]
fn a_dump_loads_back_the_same_graph() {
    let embedder = TestEmbedder::new();
    let dir = tempfile::tempdir().unwrap();
    let index = graph(&embedder);
    let (basename, sums) = index.dump(dir.path(), "hnsw-5").unwrap();
    assert_eq!(basename, "hnsw-5");
    let names: Vec<&str> = sums.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, vec!["hnsw-5.hnsw.graph", "hnsw-5.hnsw.data"]);
    for (name, sum) in &sums {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(
            *sum,
            FileSum::of(&bytes),
            "{name}: the sum vouches for the file"
        );
    }
    let graph = std::fs::read(dir.path().join(format!("{basename}.{HNSW_GRAPH}"))).unwrap();
    let data = std::fs::read(dir.path().join(format!("{basename}.{HNSW_DATA}"))).unwrap();
    let loaded = VectorIndex::load(dir.path(), &basename, TEST_DIMENSION, &graph, &data).unwrap();
    assert_eq!(loaded.points(), 4);
    for text in TEXTS {
        let query = embedder.vector(text);
        assert_eq!(
            loaded.search(&query, 4, 32, None),
            index.search(&query, 4, 32, None),
            "{text}"
        );
    }
}

#[test]
fn a_garbled_or_short_dump_is_corrupt_not_a_crash() {
    let embedder = TestEmbedder::new();
    let dir = tempfile::tempdir().unwrap();
    let (basename, _) = graph(&embedder).dump(dir.path(), "hnsw-1").unwrap();
    let graph_file = dir.path().join(format!("{basename}.{HNSW_GRAPH}"));
    let data_file = dir.path().join(format!("{basename}.{HNSW_DATA}"));
    let graph = std::fs::read(&graph_file).unwrap();
    let data = std::fs::read(&data_file).unwrap();
    let load = |graph: &[u8], data: &[u8], dimension: usize| {
        VectorIndex::load(dir.path(), &basename, dimension, graph, data)
            .err()
            .expect("refused")
    };

    let err = load(b"nope, not a graph", &data, TEST_DIMENSION);
    assert!(
        matches!(&err, Error::Corrupt { path, reason } if *path == graph_file && reason.contains("HNSW dump")),
        "{err}"
    );
    let err = load(&graph[..2], &data, TEST_DIMENSION);
    assert!(
        matches!(&err, Error::Corrupt { path, reason } if *path == graph_file && reason.contains("cut short")),
        "{err}"
    );
    let err = load(&graph, b"\0\0\0\0rest", TEST_DIMENSION);
    assert!(
        matches!(&err, Error::Corrupt { path, .. } if *path == data_file),
        "{err}"
    );
    let err = load(&graph, &data, TEST_DIMENSION / 2);
    assert!(
        matches!(&err, Error::Corrupt { reason, .. } if reason.contains("dimension")),
        "{err}"
    );
    assert!(err.needs_rebuild());
}

#[test]
fn raw_vectors_round_trip_and_their_size_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors-1.f32");
    let vectors: Vec<f32> = (0..12).map(|n| n as f32 / 7.0 - 0.5).collect();
    let sum = write_vectors(&path, &vectors).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 48, "little-endian f32 rows, no header");
    assert_eq!(sum, FileSum::of(&bytes));
    assert_eq!(&bytes[..4], &vectors[0].to_le_bytes());
    assert_eq!(parse_vectors(&path, &bytes, 3, 4).unwrap(), vectors);
    assert_eq!(parse_vectors(&path, &bytes, 4, 3).unwrap(), vectors);
    for (dimension, rows) in [(3, 5), (4, 4), (5, 2)] {
        let err = parse_vectors(&path, &bytes, dimension, rows).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { path: p, .. } if *p == path),
            "{dimension}x{rows}: {err}"
        );
    }
    assert!(parse_vectors(&path, &[], 3, 0).unwrap().is_empty());
}

#[test]
fn copies_of_one_vector_leave_the_graph_navigable() {
    let embedder = TestEmbedder::new();
    let copy = embedder.vector("quarterly report revenue flat costs stable");
    let topics = [
        "volcano eruption lava",
        "chess opening gambit",
        "sourdough bread starter",
        "jazz saxophone improvisation",
        "glacier melting arctic",
    ];
    let topic_vectors: Vec<Vec<f32>> = topics.iter().map(|t| embedder.vector(t)).collect();
    let mut items: Vec<(u64, &[f32])> = (0..100).map(|id| (id, copy.as_slice())).collect();
    items.extend(
        topic_vectors
            .iter()
            .enumerate()
            .map(|(n, v)| (100 + n as u64, v.as_slice())),
    );
    let index = VectorIndex::new(TEST_DIMENSION, items.len());
    index.insert(&items);
    assert_eq!(index.points(), 105);
    for (n, topic) in topics.iter().enumerate() {
        let hits = index.search(&embedder.vector(topic), 3, 64, None);
        assert_eq!(hits[0].0, 100 + n as u64, "{topic}: {hits:?}");
    }
    // Every copy is answered for, at the copy's similarity; deleted ones are not.
    let hits = index.search(&copy, 1, 64, None);
    assert_eq!(hits.len(), 100);
    assert!(hits.iter().all(|h| (h.1 - 1.0).abs() < 1e-5));
    let keep = |id: &usize| *id >= 50;
    let hits = index.search(&copy, 1, 64, Some(&keep));
    assert_eq!(hits.len(), 50);
    let keep = |id: &usize| *id == 99;
    assert_eq!(index.search(&copy, 1, 64, Some(&keep)), [(99, hits[0].1)]);

    // Written and read back, the copies are found again from the live rows.
    let dir = tempfile::tempdir().unwrap();
    let (basename, _) = index.dump(dir.path(), "graph").unwrap();
    let graph = std::fs::read(dir.path().join(format!("{basename}.{HNSW_GRAPH}"))).unwrap();
    let data = std::fs::read(dir.path().join(format!("{basename}.{HNSW_DATA}"))).unwrap();
    let loaded = VectorIndex::load(dir.path(), &basename, TEST_DIMENSION, &graph, &data).unwrap();
    assert_eq!(loaded.points(), 6);
    loaded.restore_copies(items.iter().copied());
    assert_eq!(loaded.points(), 105);
    assert_eq!(loaded.search(&copy, 1, 64, None).len(), 100);
}
