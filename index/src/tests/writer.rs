//! `IndexWriter` and the manifest it commits: generations, model checks,
//! locking, stale files.

use crate::SearchIndex;
use std::path::Path;

use super::{indexed_files, paths, search, Fixture};
use crate::chunk::{Chunk, ChunkerConfig};
use crate::manifest::{
    chunk_table_file, generation_of, vectors_file, EmbeddingInfo, Manifest, MANIFEST_FILE,
};
use crate::test_embedder::{TestEmbedder, TEST_DIMENSION, TEST_MODEL_ID};
use crate::{Embedder, Error, FileUpdate, Index, IndexWriter, IngestOptions, Mode};

fn info(model_id: &str, dimension: usize) -> EmbeddingInfo {
    EmbeddingInfo {
        model_id: model_id.into(),
        dimension,
    }
}

fn open_writer(dir: &Path) -> IndexWriter {
    IndexWriter::open(
        dir,
        info(TEST_MODEL_ID, TEST_DIMENSION),
        ChunkerConfig::default(),
        false,
    )
    .unwrap()
}

/// A one-chunk file embedded by the test embedder.
fn update(embedder: &TestEmbedder, path: &str, text: &str) -> FileUpdate {
    let chunk = Chunk {
        line_start: 1,
        line_end: text.lines().count().max(1) as u32,
        heading: String::new(),
        text: text.into(),
        location: None,
        file_lines: Default::default(),
    };
    FileUpdate {
        path: path.into(),
        hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
        size: text.len() as u64,
        title: path.into(),
        vectors: vec![embedder.vector(&chunk.embedding_text())],
        chunks: vec![chunk],
    }
}

#[test]
fn each_commit_is_a_new_generation_and_an_empty_one_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(&index_dir);
    assert_eq!(writer.manifest().generation, 0);
    assert!(!writer.has_changes());
    assert!(
        !writer.commit().unwrap(),
        "nothing staged, nothing committed"
    );
    assert!(
        !index_dir.join(MANIFEST_FILE).exists(),
        "no manifest before the first commit"
    );

    writer
        .put_file(update(&embedder, "a.txt", "alpha words"))
        .unwrap();
    assert!(writer.has_changes());
    assert!(writer.commit().unwrap());
    assert_eq!(writer.manifest().generation, 1);
    assert!(!writer.commit().unwrap());
    assert_eq!(writer.manifest().generation, 1);

    writer
        .put_file(update(&embedder, "b.txt", "beta words"))
        .unwrap();
    assert!(writer.commit().unwrap());
    assert_eq!(writer.manifest().generation, 2);
    writer.remove_file("a.txt");
    writer.remove_file("not-there.txt");
    assert!(writer.finish().unwrap());

    let index = Index::open(&index_dir, None).unwrap();
    assert_eq!(index.manifest().generation, 3);
    assert_eq!(indexed_files(&index), vec!["b.txt"]);
    assert_eq!(index.chunk_count(), 1);
    assert_eq!(index.manifest().chunk_count, 1);
    assert_eq!(index.manifest().next_chunk_id, 2, "ids are never reused");
    assert!(index.manifest().has_checksums());
}

#[test]
fn replacing_a_file_drops_its_old_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(dir.path());
    writer
        .put_file(update(&embedder, "a.txt", "old alpha text"))
        .unwrap();
    writer.commit().unwrap();
    writer
        .put_file(update(&embedder, "a.txt", "new omega text"))
        .unwrap();
    writer.finish().unwrap();

    let index = Index::open(dir.path(), None).unwrap();
    assert_eq!(index.chunk_count(), 1);
    assert_eq!(index.manifest().files["a.txt"].chunks, vec![1]);
    assert!(search(&index, &embedder, "alpha", Mode::Bm25).is_empty());
    assert_eq!(
        paths(&search(&index, &embedder, "omega", Mode::Bm25)),
        vec!["a.txt"]
    );
    let hits = search(&index, &embedder, "omega", Mode::Vector);
    assert_eq!(
        hits.len(),
        1,
        "the replaced chunk's point is filtered: {hits:?}"
    );
    assert!(hits[0].similarity.unwrap() > 0.5);
}

#[test]
fn vectors_of_the_wrong_count_or_size_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(dir.path());
    let mut missing = update(&embedder, "a.txt", "alpha");
    missing.vectors.clear();
    let err = writer.put_file(missing).unwrap_err();
    assert!(matches!(err, Error::Embedding(_)), "{err}");
    let mut short = update(&embedder, "a.txt", "alpha");
    short.vectors[0].truncate(TEST_DIMENSION - 1);
    let err = writer.put_file(short).unwrap_err();
    assert!(matches!(err, Error::Embedding(_)), "{err}");
    assert!(!writer.has_changes(), "nothing was staged");
    assert!(writer.manifest().files.is_empty());
}

#[test]
fn a_second_writer_is_locked_out_until_the_first_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let writer = open_writer(dir.path());
    let err = IndexWriter::open(
        dir.path(),
        info(TEST_MODEL_ID, TEST_DIMENSION),
        ChunkerConfig::default(),
        false,
    )
    .err()
    .expect("the lock is held");
    assert!(matches!(err, Error::Locked(_)), "{err}");
    assert!(crate::writer::writer_active(dir.path()));
    drop(writer);
    assert!(!crate::writer::writer_active(dir.path()));
    open_writer(dir.path());
}

#[test]
fn an_ingest_while_a_writer_holds_the_lock_fails_as_locked() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    let _writer = open_writer(&fixture.index);
    let err = fixture
        .ingest_with(&embedder, &IngestOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Locked(_)), "{err}");
    assert_eq!(embedder.texts_embedded(), 0);
}

#[test]
fn another_model_or_dimension_is_refused() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    for (model, dimension) in [
        ("test/hashed-words@sha256:1111111111111111", TEST_DIMENSION),
        ("other-model", TEST_DIMENSION),
        (TEST_MODEL_ID, 32),
    ] {
        match Index::open(&fixture.index, Some((model, dimension))) {
            Err(Error::ModelMismatch {
                found,
                found_dim,
                expected,
                expected_dim,
                ..
            }) => {
                assert_eq!((found.as_str(), found_dim), (TEST_MODEL_ID, TEST_DIMENSION));
                assert_eq!((expected.as_str(), expected_dim), (model, dimension));
            }
            Err(other) => panic!("{model} {dimension}: {other}"),
            Ok(_) => panic!("{model} {dimension}: opened"),
        }
        // An ingest with that model is refused before it embeds anything.
        let other = TestEmbedder::with_model(model, dimension);
        let err = fixture
            .ingest_with(&other, &IngestOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
        assert_eq!(other.texts_embedded(), 0);
    }
    // Without a model to check, any index opens.
    assert!(Index::open(&fixture.index, None).is_ok());
    assert_eq!(fixture.open(&embedder).manifest().generation, 1);
}

#[test]
fn a_rebuild_may_switch_models() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let other = TestEmbedder::with_model("other-model@sha256:2222", 32);
    let options = IngestOptions {
        rebuild: true,
        ..Default::default()
    };
    let (summary, _) = fixture.ingest_with(&other, &options).unwrap();
    assert_eq!(summary.indexed, 3);
    let index = Index::open(&fixture.index, Some(("other-model@sha256:2222", 32))).unwrap();
    assert_eq!(index.manifest().generation, 2);
    assert_eq!(index.status().unwrap().dimension, 32);
    let hits = search(&index, &other, "vinegar", Mode::Hybrid);
    assert_eq!(paths(&hits)[0], "docs/kettle.txt");
    assert!(matches!(
        Index::open(&fixture.index, Some((TEST_MODEL_ID, TEST_DIMENSION))),
        Err(Error::ModelMismatch { .. })
    ));
}

#[test]
fn an_identity_without_hash_matches_the_same_name() {
    // An index stamped with the name only (before identities held a hash).
    let fixture = Fixture::new();
    let old = TestEmbedder::with_model("test/hashed-words", TEST_DIMENSION);
    fixture.ingest(&old);
    let current = TestEmbedder::new();
    let index = Index::open(&fixture.index, Some((TEST_MODEL_ID, TEST_DIMENSION))).unwrap();
    assert_eq!(index.manifest().embedding.model_id, "test/hashed-words");
    drop(index);
    let summary = fixture.ingest(&current);
    assert_eq!(
        summary.unchanged, 3,
        "nothing re-embedded for the same model"
    );
    assert_eq!(current.texts_embedded(), 0);

    // And the other way: a hashed index opened by a run without the hash.
    let fixture = Fixture::new();
    fixture.ingest(&current);
    assert!(Index::open(&fixture.index, Some(("test/hashed-words", TEST_DIMENSION))).is_ok());
    assert!(matches!(
        Index::open(&fixture.index, Some(("test/other-words", TEST_DIMENSION))),
        Err(Error::ModelMismatch { .. })
    ));
}

#[test]
fn no_index_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Index::open(dir.path(), None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        crate::forget(dir.path(), &[dir.path().to_path_buf()]),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn old_generations_files_are_deleted_but_the_previous_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(dir.path());
    for (n, word) in ["alpha", "beta", "gamma"].iter().enumerate() {
        writer
            .put_file(update(&embedder, &format!("{n}.txt"), word))
            .unwrap();
        writer.commit().unwrap();
    }
    drop(writer);
    let generations: Vec<u64> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| generation_of(e.unwrap().file_name().to_str()?))
        .collect();
    assert!(!generations.contains(&1), "{generations:?}");
    assert!(
        generations.contains(&2),
        "kept for readers of the previous one"
    );
    let exists = |name: String| dir.path().join(name).exists();
    assert!(exists(chunk_table_file(2)) && exists(vectors_file(2)));
    let manifest = Manifest::read(dir.path()).unwrap().unwrap();
    assert_eq!(manifest.data_files().len(), 4, "chunks, vectors, graph");
    for name in manifest.data_files() {
        assert!(exists(name.clone()), "{name}");
    }
}

#[test]
fn a_reopened_writer_continues_from_the_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(dir.path());
    writer
        .put_file(update(&embedder, "a.txt", "alpha"))
        .unwrap();
    writer.finish().unwrap();

    let mut writer = open_writer(dir.path());
    assert!(!writer.has_changes());
    assert!(!writer.rechunk_all());
    assert_eq!(writer.manifest().generation, 1);
    writer.put_file(update(&embedder, "b.txt", "beta")).unwrap();
    writer.finish().unwrap();

    let index = Index::open(dir.path(), None).unwrap();
    assert_eq!(indexed_files(&index), vec!["a.txt", "b.txt"]);
    for word in ["alpha", "beta"] {
        assert_eq!(
            search(&index, &embedder, word, Mode::Bm25).len(),
            1,
            "{word}"
        );
        let hits = search(&index, &embedder, word, Mode::Vector);
        assert!(
            (hits[0].similarity.unwrap() - 1.0).abs() < 1e-4,
            "{word}: {hits:?}"
        );
    }

    let writer = IndexWriter::open(
        dir.path(),
        info(TEST_MODEL_ID, TEST_DIMENSION),
        ChunkerConfig {
            target_tokens: 10,
            ..ChunkerConfig::default()
        },
        false,
    )
    .unwrap();
    assert!(writer.rechunk_all(), "new chunker settings");
}

#[test]
fn deleted_points_are_filtered_until_the_graph_is_rebuilt() {
    let fixture = Fixture::empty();
    let embedder = TestEmbedder::new();
    let words = [
        "amber", "birch", "cedar", "dahlia", "elm", "fern", "ginkgo", "hazel", "iris", "juniper",
    ];
    for word in words {
        fixture.write(&format!("{word}.txt"), &format!("{word} grows here\n"));
    }
    fixture.ingest(&embedder);
    // One of ten removed: under the rebuild threshold, so the graph keeps its point.
    fixture.remove("cedar.txt");
    fixture.ingest(&embedder);
    let index = fixture.open(&embedder);
    let status = index.status().unwrap();
    assert_eq!((status.chunks, status.vector_points), (9, 10));
    assert_eq!(status.deleted_points, 1);
    for mode in [Mode::Vector, Mode::Hybrid] {
        let hits = search(&index, &embedder, "cedar", mode);
        assert_eq!(hits.len(), 9, "{mode:?}");
        assert!(hits.iter().all(|h| h.path != "docs/cedar.txt"), "{hits:?}");
        // The deleted point, nearest of all, must not take the only place.
        let top = index
            .search("cedar", Some(&embedder), &super::options(mode, 1))
            .unwrap();
        assert_eq!(top.len(), 1, "{mode:?}");
    }
    drop(index);

    // Three more removed: over a quarter deleted, so the graph is rebuilt.
    for word in ["amber", "birch", "dahlia"] {
        fixture.remove(&format!("{word}.txt"));
    }
    fixture.ingest(&embedder);
    let status = fixture.open(&embedder).status().unwrap();
    assert_eq!((status.chunks, status.vector_points), (6, 6));
    assert_eq!(status.deleted_points, 0);
}

#[test]
fn the_manifest_records_the_embedding_model() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let text = std::fs::read_to_string(fixture.index.join(MANIFEST_FILE)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["embedding"]["model_id"], embedder.model_id());
    assert_eq!(value["embedding"]["dimension"], TEST_DIMENSION);
    assert_eq!(value["generation"], 1);
}

#[test]
fn a_keyword_index_ahead_of_the_manifest_is_ignored_then_rebuilt() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    // A crash between the two commits: the keyword index holds a chunk (and
    // names a generation) the manifest never committed.
    let bm25 = crate::bm25::Bm25::open_or_create(&fixture.index.join("bm25")).unwrap();
    let mut writer = bm25.writer().unwrap();
    writer
        .add(crate::bm25::Bm25Doc {
            chunk_id: 999,
            path: "docs/ghost.md",
            text: "phantom vinegar vinegar vinegar",
        })
        .unwrap();
    writer.commit(2).unwrap();
    writer.finish().unwrap();
    drop(bm25);

    let index = fixture.open(&embedder);
    assert!(!index.bm25_in_sync());
    assert_eq!(index.manifest().generation, 1);
    assert!(search(&index, &embedder, "phantom", Mode::Bm25).is_empty());
    assert_eq!(
        paths(&search(&index, &embedder, "vinegar", Mode::Bm25)),
        vec!["docs/kettle.txt"],
        "the uncommitted chunk outranks nothing"
    );
    let top = index
        .search("vinegar", None, &super::options(Mode::Bm25, 1))
        .unwrap();
    assert_eq!(paths(&top), vec!["docs/kettle.txt"]);
    drop(index);

    // The next writer rebuilds the keyword index from the chunk table.
    let summary = fixture.ingest(&embedder);
    assert_eq!((summary.indexed, summary.unchanged), (0, 3));
    assert_eq!(embedder.texts_embedded(), 3, "nothing re-embedded");
    let index = fixture.open(&embedder);
    assert!(index.bm25_in_sync());
    assert_eq!(index.manifest().generation, 2);
    assert!(search(&index, &embedder, "phantom", Mode::Bm25).is_empty());
    assert_eq!(
        paths(&search(&index, &embedder, "vinegar", Mode::Bm25)),
        vec!["docs/kettle.txt"]
    );
}

#[test]
fn a_folder_of_someone_elses_files_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("proj");
    std::fs::create_dir_all(&folder).unwrap();
    // Names that look like index files, and another program's manifest.
    let files = [
        ("chunks-7.txt", "my chunks"),
        ("vectors-2024.csv", "a,b"),
        ("hnsw-1.md", "# notes"),
        (MANIFEST_FILE, r#"{"name": "my web app", "start_url": "/"}"#),
    ];
    for (name, text) in files {
        std::fs::write(folder.join(name), text).unwrap();
    }
    for rebuild in [false, true] {
        let refused = IndexWriter::open(
            &folder,
            info(TEST_MODEL_ID, TEST_DIMENSION),
            ChunkerConfig::default(),
            rebuild,
        );
        assert!(
            matches!(&refused, Err(Error::NotAnIndex { path, .. }) if path == &folder),
            "{:?}",
            refused.err()
        );
    }
    // Reading it says the same, not "damaged, rebuild it".
    assert!(matches!(
        Index::open(&folder, None),
        Err(Error::NotAnIndex { .. })
    ));
    assert!(matches!(
        crate::check(&folder),
        Err(Error::NotAnIndex { .. })
    ));
    let mut left: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected: Vec<String> = files.iter().map(|(name, _)| name.to_string()).collect();
    expected.sort();
    assert_eq!(left, expected, "nothing written, nothing removed");
    for (name, text) in files {
        assert_eq!(std::fs::read_to_string(folder.join(name)).unwrap(), text);
    }
}

#[test]
fn an_index_from_before_the_marker_is_still_ours_and_look_alikes_in_it_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(&index_dir);
    writer.put_file(update(&embedder, "a.md", "alpha")).unwrap();
    writer.commit().unwrap();
    drop(writer);
    std::fs::remove_file(index_dir.join(crate::manifest::INDEX_MARKER)).unwrap();
    std::fs::write(index_dir.join("chunks-1.txt"), "mine").unwrap();
    let mut writer = open_writer(&index_dir);
    assert!(index_dir.join(crate::manifest::INDEX_MARKER).is_file());
    for generation in 0..3 {
        writer
            .put_file(update(&embedder, "a.md", &format!("alpha {generation}")))
            .unwrap();
        writer.commit().unwrap();
    }
    drop(writer);
    assert_eq!(
        std::fs::read_to_string(index_dir.join("chunks-1.txt")).unwrap(),
        "mine"
    );
    assert!(!index_dir.join(chunk_table_file(1)).exists());
}

#[test]
fn a_commit_that_fails_leaves_no_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let embedder = TestEmbedder::new();
    let mut writer = open_writer(&index_dir);
    writer.put_file(update(&embedder, "a.md", "alpha")).unwrap();
    writer.commit().unwrap();
    let files = |path: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let keyword_files = files(&index_dir.join("bm25"));
    // The next generation's vectors cannot be written (as on a full disk).
    std::fs::create_dir(index_dir.join(vectors_file(2))).unwrap();
    writer.put_file(update(&embedder, "b.md", "beta")).unwrap();
    assert!(writer.commit().is_err());
    drop(writer);
    assert!(!index_dir.join(chunk_table_file(2)).exists());
    assert_eq!(files(&index_dir.join("bm25")), keyword_files);
    std::fs::remove_dir(index_dir.join(vectors_file(2))).unwrap();
    let index = Index::open(&index_dir, None).unwrap();
    assert_eq!(index.manifest().generation, 1);
    assert_eq!(indexed_files(&index), ["a.md"]);
}
