//! `ingest`: what it indexes, re-embeds, removes and refuses.

use crate::SearchIndex;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{indexed_files, paths, search, Fixture, FUGUE, GARDEN, KETTLE};
use crate::extract::SkipReason;
use crate::test_embedder::TestEmbedder;
use crate::{forget, ChunkerConfig, Error, Index, IngestEvent, IngestOptions, Mode};

fn committed(events: &[IngestEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::Committed { generation } => Some(*generation),
            _ => None,
        })
        .collect()
}

#[test]
fn first_ingest_indexes_every_file() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    let (summary, events) = fixture
        .ingest_with(&embedder, &IngestOptions::default())
        .unwrap();
    assert_eq!(summary.indexed, 3);
    assert_eq!(
        (summary.unchanged, summary.removed, summary.skipped),
        (0, 0, 0)
    );
    assert_eq!(summary.files_total, 3);
    assert_eq!(summary.chunks_added, 3, "one chunk per small file");
    assert_eq!(summary.chunks_total, 3);
    assert!(!summary.interrupted);
    assert_eq!(embedder.texts_embedded(), summary.chunks_added);

    let bytes = (FUGUE.len() + GARDEN.len() + KETTLE.len()) as u64;
    assert!(
        events.iter().any(|e| matches!(
            e,
            IngestEvent::Planned { to_index: 3, unchanged: 0, removed: 0, bytes: b } if *b == bytes
        )),
        "{events:?}"
    );
    let done: u64 = events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::FileDone { bytes } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(done, bytes, "every file reported done once");
    assert_eq!(committed(&events), vec![1]);

    let index = fixture.open(&embedder);
    assert_eq!(
        indexed_files(&index),
        vec!["docs/fugue.md", "docs/garden.md", "docs/kettle.txt"]
    );
    assert_eq!(index.chunk_count(), 3);
    assert_eq!(index.manifest().generation, 1);
    assert_eq!(index.manifest().files["docs/fugue.md"].title, "Fugue");
    assert_eq!(index.manifest().files["docs/kettle.txt"].title, "kettle");
    assert_eq!(
        index.manifest().files["docs/garden.md"].hash,
        blake3::hash(GARDEN.as_bytes()).to_hex().to_string()
    );
    assert!(index.bm25_in_sync());
    let status = index.status().unwrap();
    assert_eq!(status.roots, vec!["docs".to_string()]);
    assert_eq!((status.files, status.chunks), (3, 3));
    assert_eq!(status.vector_points, 3);
}

#[test]
fn reingest_without_changes_embeds_and_commits_nothing() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let before = embedder.texts_embedded();

    let (summary, events) = fixture
        .ingest_with(&embedder, &IngestOptions::default())
        .unwrap();
    assert_eq!(summary.indexed, 0);
    assert_eq!(summary.unchanged, 3);
    assert_eq!(summary.chunks_added, 0);
    assert_eq!(summary.files_total, 3);
    assert_eq!(embedder.texts_embedded(), before, "nothing re-embedded");
    assert!(committed(&events).is_empty(), "{events:?}");
    assert_eq!(fixture.open(&embedder).manifest().generation, 1);
}

#[test]
fn a_changed_file_alone_is_reembedded() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let before = embedder.texts_embedded();
    // Same length, other words: change detection must look at content.
    let edited = GARDEN.replace("Tomatoes", "Pumpkins");
    assert_eq!(edited.len(), GARDEN.len());
    fixture.write("garden.md", &edited);

    let summary = fixture.ingest(&embedder);
    assert_eq!((summary.indexed, summary.unchanged), (1, 2));
    assert_eq!(summary.chunks_added, 1);
    assert_eq!(summary.chunks_total, 3);
    assert_eq!(embedder.texts_embedded() - before, 1);

    let index = fixture.open(&embedder);
    assert_eq!(index.manifest().generation, 2);
    assert_eq!(index.chunk_count(), 3, "the old chunk is gone");
    let hits = search(&index, &embedder, "pumpkins", Mode::Bm25);
    assert_eq!(paths(&hits), vec!["docs/garden.md"]);
    assert!(hits[0].text.contains("Pumpkins"));
    assert!(search(&index, &embedder, "tomatoes", Mode::Bm25).is_empty());
}

#[test]
fn a_deleted_file_is_removed_and_no_longer_found() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let before = embedder.texts_embedded();
    fixture.remove("kettle.txt");

    let (summary, events) = fixture
        .ingest_with(&embedder, &IngestOptions::default())
        .unwrap();
    assert_eq!(summary.removed, 1);
    assert_eq!((summary.indexed, summary.unchanged), (0, 2));
    assert_eq!((summary.files_total, summary.chunks_total), (2, 2));
    assert_eq!(embedder.texts_embedded(), before);
    assert!(events
        .iter()
        .any(|e| matches!(e, IngestEvent::Planned { removed: 1, .. })));

    let index = fixture.open(&embedder);
    assert_eq!(
        indexed_files(&index),
        vec!["docs/fugue.md", "docs/garden.md"]
    );
    assert!(search(&index, &embedder, "kettle vinegar", Mode::Bm25).is_empty());
    for mode in [Mode::Vector, Mode::Hybrid] {
        let hits = search(&index, &embedder, "kettle vinegar", mode);
        assert!(
            hits.iter().all(|h| h.path != "docs/kettle.txt"),
            "{mode:?}: {hits:?}"
        );
    }
}

#[test]
fn rebuild_reembeds_everything_under_a_new_generation() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let before = embedder.texts_embedded();
    let options = IngestOptions {
        rebuild: true,
        ..Default::default()
    };
    let (summary, _) = fixture.ingest_with(&embedder, &options).unwrap();
    assert_eq!((summary.indexed, summary.unchanged), (3, 0));
    assert_eq!(embedder.texts_embedded() - before, 3);
    let index = fixture.open(&embedder);
    assert_eq!(index.manifest().generation, 2);
    assert_eq!(index.chunk_count(), 3, "no chunk kept twice");
    let hits = search(&index, &embedder, "contrapuntal", Mode::Bm25);
    assert_eq!(hits.len(), 1, "{hits:?}");
}

#[test]
fn changed_chunker_settings_rechunk_every_file() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let before = embedder.texts_embedded();
    let options = IngestOptions {
        chunker: ChunkerConfig {
            target_tokens: 6,
            max_tokens: 8,
            overlap_tokens: 0,
        },
        ..Default::default()
    };
    let (summary, _) = fixture.ingest_with(&embedder, &options).unwrap();
    assert_eq!((summary.indexed, summary.unchanged), (3, 0));
    assert!(summary.chunks_total > 3, "smaller chunks: {summary:?}");
    assert_eq!(embedder.texts_embedded() - before, summary.chunks_added);
    let index = fixture.open(&embedder);
    assert_eq!(index.manifest().chunker, options.chunker);
    assert_eq!(index.chunk_count(), summary.chunks_total);
    // The same settings again: nothing to redo.
    let (again, _) = fixture.ingest_with(&embedder, &options).unwrap();
    assert_eq!((again.indexed, again.unchanged), (0, 3));
}

#[test]
fn an_embedder_failure_is_an_error_and_the_last_commit_stays_readable() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    fixture.write("garden.md", "# Garden\n\nPumpkins only this year.\n");
    fixture.remove("kettle.txt");
    embedder.set_failing(true);

    let err = fixture
        .ingest_with(&embedder, &IngestOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Embedding(_)), "{err}");

    let index = fixture.open(&embedder);
    assert_eq!(index.manifest().generation, 1);
    assert_eq!(
        index.file_count(),
        3,
        "the removal was not committed either"
    );
    assert_eq!(
        paths(&search(&index, &embedder, "tomatoes", Mode::Bm25)),
        vec!["docs/garden.md"]
    );
    assert!(search(&index, &embedder, "pumpkins", Mode::Bm25).is_empty());
    drop(index);

    // The failed writer let go of its lock: the next ingest does the work.
    embedder.set_failing(false);
    let summary = fixture.ingest(&embedder);
    assert_eq!((summary.indexed, summary.removed), (1, 1));
    let index = fixture.open(&embedder);
    assert_eq!(
        paths(&search(&index, &embedder, "pumpkins", Mode::Bm25)),
        vec!["docs/garden.md"]
    );
}

#[test]
fn a_failure_on_the_first_ingest_leaves_no_index() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    embedder.set_failing(true);
    let err = fixture
        .ingest_with(&embedder, &IngestOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Embedding(_)), "{err}");
    assert!(matches!(
        Index::open(&fixture.index, None),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn ingesting_the_index_folder_is_refused() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let before = embedder.texts_embedded();
    for root in [fixture.index.clone(), fixture.index.join("bm25")] {
        let err = fixture
            .ingest_roots(
                std::slice::from_ref(&root),
                &embedder,
                &IngestOptions::default(),
            )
            .unwrap_err();
        match err {
            Error::IngestsIndexFolder { root: r, index } => {
                assert_eq!(r, root);
                assert_eq!(index, fixture.index);
            }
            other => panic!("{root:?}: {other}"),
        }
    }
    // Refused even next to an acceptable root, before anything is written.
    let err = fixture
        .ingest_roots(
            &[fixture.docs.clone(), fixture.index.clone()],
            &embedder,
            &IngestOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::IngestsIndexFolder { .. }), "{err}");
    assert_eq!(embedder.texts_embedded(), before);
    assert_eq!(fixture.open(&embedder).manifest().generation, 1);
}

#[test]
fn ingesting_the_folder_holding_the_index_skips_the_index_files() {
    // An index folder that is not hidden, so only the walk's own rule keeps it out.
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    let index_dir = fixture.root.join("index");
    let summary = crate::ingest(
        &index_dir,
        std::slice::from_ref(&fixture.root),
        &embedder,
        &IngestOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(summary.indexed, 3, "{summary:?}");
    // Twice: the second walk sees a manifest, chunk tables, a keyword index.
    let summary = crate::ingest(
        &index_dir,
        std::slice::from_ref(&fixture.root),
        &embedder,
        &IngestOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!((summary.indexed, summary.unchanged), (0, 3), "{summary:?}");
    assert_eq!((summary.skipped, summary.unsupported), (0, 0));
    let index = Index::open(&index_dir, None).unwrap();
    assert_eq!(
        indexed_files(&index),
        vec!["docs/fugue.md", "docs/garden.md", "docs/kettle.txt"]
    );
    assert_eq!(index.status().unwrap().roots, vec![".".to_string()]);
}

#[test]
fn skipped_and_unsupported_files_are_counted_not_indexed() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.write("empty.md", "  \n\n");
    fixture.write("picture.png", "not really a picture");
    fixture.write("big.txt", &"words ".repeat(100));
    let options = IngestOptions {
        walk: crate::walk::WalkOptions {
            max_file_size: 200,
            ..Default::default()
        },
        ..Default::default()
    };
    let (summary, events) = fixture.ingest_with(&embedder, &options).unwrap();
    assert_eq!(summary.indexed, 3);
    assert_eq!(summary.skipped, 2, "{events:?}");
    assert_eq!(summary.unsupported, 1);
    assert!(events.iter().any(|e| matches!(
        e,
        IngestEvent::Skipped { path, reason: SkipReason::Empty } if path.ends_with("empty.md")
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        IngestEvent::Skipped { path, reason: SkipReason::TooLarge { size: 600, limit: 200 } }
            if path.ends_with("big.txt")
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, IngestEvent::Unsupported { path } if path.ends_with("picture.png"))));
    let index = fixture.open(&embedder);
    assert_eq!(index.file_count(), 3);
    let status = index.status().unwrap();
    assert_eq!((status.skipped, status.unsupported), (2, 1));
}

#[test]
fn a_file_that_becomes_empty_leaves_the_index() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    fixture.write("kettle.txt", "");
    let summary = fixture.ingest(&embedder);
    assert_eq!(summary.skipped, 1);
    assert_eq!(summary.files_total, 2);
    let index = fixture.open(&embedder);
    assert!(!index.manifest().files.contains_key("docs/kettle.txt"));
    assert!(search(&index, &embedder, "kettle", Mode::Bm25).is_empty());
}

#[test]
fn a_reader_that_cannot_start_keeps_the_file_as_indexed() {
    use crate::formats::testing::{docx, para};
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    let path = fixture.docs.join("notes.docx");
    std::fs::write(&path, docx(&para(None, "The wombat digs."), &[])).unwrap();
    fixture.ingest(&embedder);
    std::fs::write(&path, docx(&para(None, "The quokka smiles."), &[])).unwrap();
    let broken = crate::ContainedReader(Arc::new(|_, _: &[u8]| {
        Err(SkipReason::ReaderUnavailable(
            "cannot start the reader".into(),
        ))
    }));
    let options = IngestOptions {
        contained_reader: Some(broken),
        ..IngestOptions::default()
    };
    let (summary, _) = fixture.ingest_with(&embedder, &options).unwrap();
    assert_eq!((summary.skipped, summary.files_total), (1, 4));
    let index = fixture.open(&embedder);
    assert!(index.manifest().files.contains_key("docs/notes.docx"));
    assert!(!search(&index, &embedder, "wombat", Mode::Bm25).is_empty());
    drop(index);
    // Its old hash kept, the file is read again once the reader can start.
    let summary = fixture.ingest(&embedder);
    assert_eq!(summary.indexed, 1);
    let index = fixture.open(&embedder);
    assert!(!search(&index, &embedder, "quokka", Mode::Bm25).is_empty());
}

#[test]
fn files_from_other_roots_are_left_alone() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    let other = fixture.root.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("owl.md"), "# Owl\n\nThe owl hunts at night.\n").unwrap();
    fixture.ingest(&embedder);
    fixture
        .ingest_roots(
            std::slice::from_ref(&other),
            &embedder,
            &IngestOptions::default(),
        )
        .unwrap();
    fixture.remove("fugue.md");

    let summary = fixture.ingest(&embedder);
    assert_eq!(summary.removed, 1, "only the file gone from docs/");
    assert_eq!(summary.files_total, 3);
    let index = fixture.open(&embedder);
    assert_eq!(
        indexed_files(&index),
        vec!["docs/garden.md", "docs/kettle.txt", "other/owl.md"]
    );
    assert_eq!(
        index.status().unwrap().roots,
        vec!["docs".to_string(), "other".to_string()]
    );
}

#[test]
fn a_single_file_can_be_a_root() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    let (summary, _) = fixture
        .ingest_roots(
            &[fixture.docs.join("garden.md")],
            &embedder,
            &IngestOptions::default(),
        )
        .unwrap();
    assert_eq!(summary.indexed, 1);
    let index = fixture.open(&embedder);
    assert_eq!(indexed_files(&index), vec!["docs/garden.md"]);
}

#[test]
fn cancelling_keeps_the_previous_state_of_the_files_left() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    fixture.write("garden.md", "# Garden\n\nPumpkins only this year.\n");
    let before = embedder.texts_embedded();
    let cancel = Arc::new(AtomicBool::new(true));
    let options = IngestOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..Default::default()
    };
    let (summary, _) = fixture.ingest_with(&embedder, &options).unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.indexed, 0);
    assert_eq!(embedder.texts_embedded(), before);
    let index = fixture.open(&embedder);
    assert_eq!(
        index.manifest().files["docs/garden.md"].hash,
        blake3::hash(GARDEN.as_bytes()).to_hex().to_string(),
        "the old version stays"
    );
    assert_eq!(
        paths(&search(&index, &embedder, "tomatoes", Mode::Bm25)),
        vec!["docs/garden.md"]
    );
    drop(index);

    cancel.store(false, std::sync::atomic::Ordering::SeqCst);
    let (summary, _) = fixture.ingest_with(&embedder, &options).unwrap();
    assert!(!summary.interrupted);
    assert_eq!((summary.indexed, summary.unchanged), (1, 2));
}

#[test]
fn a_long_file_is_embedded_chunk_by_chunk() {
    let fixture = Fixture::empty();
    let embedder = TestEmbedder::new();
    let mut text = String::from("# Almanac\n\n");
    for i in 0..40 {
        text.push_str(&format!("Entry {i} records ordinary weather.\n"));
    }
    text.push_str("\n## Storms\n\nA hailstorm flattened the barley.\n");
    fixture.write("almanac.md", &text);
    let options = IngestOptions {
        chunker: ChunkerConfig {
            target_tokens: 20,
            max_tokens: 30,
            overlap_tokens: 0,
        },
        embed_batch: 3,
        ..Default::default()
    };
    let (summary, events) = fixture.ingest_with(&embedder, &options).unwrap();
    assert!(summary.chunks_added > 5, "{summary:?}");
    assert_eq!(embedder.texts_embedded(), summary.chunks_added);
    let embedded: usize = events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::Embedded { chunks } => Some(*chunks),
            _ => None,
        })
        .inspect(|&n| assert!(n <= 3, "batches of at most embed_batch"))
        .sum();
    assert_eq!(embedded, summary.chunks_added);

    let index = fixture.open(&embedder);
    let chunks = index.chunks_of("docs/almanac.md").unwrap();
    assert_eq!(chunks.len(), summary.chunks_added);
    assert!(chunks
        .windows(2)
        .all(|w| w[0].chunk.line_start < w[1].chunk.line_start));
    let hits = search(&index, &embedder, "hailstorm barley", Mode::Bm25);
    let line = text.lines().position(|l| l.contains("hailstorm")).unwrap() as u32 + 1;
    assert!(
        hits[0].line_start <= line && line <= hits[0].line_end,
        "{hits:?}"
    );
    assert_eq!(hits[0].heading, "Almanac > Storms");
}

#[test]
fn forget_removes_files_under_a_path_and_refuses_unknown_ones() {
    let fixture = Fixture::new();
    let embedder = TestEmbedder::new();
    fixture.ingest(&embedder);
    let summary = forget(&fixture.index, &[fixture.docs.join("kettle.txt")]).unwrap();
    assert_eq!((summary.files, summary.chunks), (1, 1));
    let index = fixture.open(&embedder);
    assert_eq!(
        indexed_files(&index),
        vec!["docs/fugue.md", "docs/garden.md"]
    );
    assert!(search(&index, &embedder, "kettle", Mode::Bm25).is_empty());
    drop(index);

    let err = forget(&fixture.index, &[fixture.root.join("nowhere")]).unwrap_err();
    assert!(matches!(err, Error::NotIndexed(_)), "{err}");

    let summary = forget(&fixture.index, std::slice::from_ref(&fixture.docs)).unwrap();
    assert_eq!(summary.files, 2);
    let index = fixture.open(&embedder);
    assert_eq!(index.file_count(), 0);
    assert!(index.status().unwrap().roots.is_empty());
    assert!(search(&index, &embedder, "fugue", Mode::Hybrid).is_empty());
}

#[test]
fn documents_read_through_the_html_reader_are_reread_when_it_changes() {
    use crate::extract::Kind;
    use crate::formats::Format;
    use crate::ingest::{content_hash, FORMAT_READERS, HTML_READER, PDF_READER};
    let hash = |parts: &[&[u8]]| {
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().to_hex().to_string()
    };
    for format in [Format::Epub, Format::Eml, Format::Mbox] {
        assert_eq!(
            content_hash(Kind::Document(format), b"bytes"),
            hash(&[HTML_READER, FORMAT_READERS, b"bytes"]),
            "{format:?}"
        );
    }
    assert_eq!(
        content_hash(Kind::Document(Format::Docx), b"bytes"),
        hash(&[FORMAT_READERS, b"bytes"])
    );
    assert_eq!(
        content_hash(Kind::Pdf, b"bytes"),
        hash(&[PDF_READER, b"bytes"])
    );
}
