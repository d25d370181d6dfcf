//! The keyword index (`Bm25`, `Bm25Writer`) on its own.

use std::path::Path;

use crate::bm25::{Bm25, Bm25Doc};
use crate::Error;

/// Adds `docs` (id, path, text) and commits them as `generation`.
fn add(dir: &Path, docs: &[(u64, &str, &str)], generation: u64) {
    let bm25 = Bm25::open_or_create(dir).unwrap();
    let mut writer = bm25.writer().unwrap();
    for &(chunk_id, path, text) in docs {
        writer
            .add(Bm25Doc {
                chunk_id,
                path,
                text,
            })
            .unwrap();
    }
    writer.commit(generation).unwrap();
    writer.finish().unwrap();
}

fn ids(hits: &[(u64, f32)]) -> Vec<u64> {
    hits.iter().map(|&(id, _)| id).collect()
}

const DOCS: &[(u64, &str, &str)] = &[
    (
        1,
        "a.md",
        "Fugue\nThe fugue runs its subject through every voice.",
    ),
    (2, "a.md", "Fugue > Coda\nThe coda ends the fugue."),
    (3, "b.md", "Café\nThe café serves espresso and croissants."),
    (4, "c.txt", "Kettle\nDescaling the kettle with vinegar."),
];

#[test]
fn a_new_index_is_empty_and_has_no_generation() {
    let dir = tempfile::tempdir().unwrap();
    let bm25 = Bm25::open_or_create(&dir.path().join("bm25")).unwrap();
    assert_eq!(bm25.committed_generation(), None);
    assert_eq!(bm25.num_docs(), 0);
    assert!(bm25.search("anything", 10).unwrap().is_empty());
}

#[test]
fn a_commit_carries_its_generation_and_readers_show_their_own_commit() {
    let dir = tempfile::tempdir().unwrap();
    let before = Bm25::open_or_create(dir.path()).unwrap();
    add(dir.path(), DOCS, 7);
    // A reader shows the commit it was opened on.
    assert_eq!(before.committed_generation(), None);
    assert_eq!(before.num_docs(), 0);
    let after = Bm25::open_or_create(dir.path()).unwrap();
    assert_eq!(after.committed_generation(), Some(7));
    assert_eq!(after.num_docs(), 4);
}

#[test]
fn search_ranks_by_bm25_over_analysed_terms() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), DOCS, 1);
    let bm25 = Bm25::open_or_create(dir.path()).unwrap();
    // Stemmed: "running" finds "runs"; case and accents are folded.
    assert_eq!(ids(&bm25.search("Running", 10).unwrap()), vec![1]);
    assert_eq!(ids(&bm25.search("CAFE", 10).unwrap()), vec![3]);
    // Both fugue chunks match; the one saying it twice (heading and text) in
    // fewer words comes first, and scores are best first.
    let hits = bm25.search("fugue", 10).unwrap();
    assert_eq!(ids(&hits).len(), 2);
    assert!(hits[0].1 >= hits[1].1);
    // Several terms: any may match, more matches rank higher.
    let hits = bm25.search("fugue coda", 10).unwrap();
    assert_eq!(hits[0].0, 2);
    // `limit` caps the hits.
    assert_eq!(bm25.search("fugue coda", 1).unwrap().len(), 1);
    assert!(bm25.search("fugue", 0).unwrap().is_empty());
}

#[test]
fn any_text_is_a_query_and_stop_words_alone_find_nothing() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), DOCS, 1);
    let bm25 = Bm25::open_or_create(dir.path()).unwrap();
    assert!(bm25.search("the and of", 10).unwrap().is_empty());
    assert!(bm25.search("", 10).unwrap().is_empty());
    for query in [
        "kettle AND",
        "\"kettle",
        "kettle:vinegar",
        "(kettle) -x +y*",
    ] {
        let hits = bm25.search(query, 10).unwrap();
        assert_eq!(ids(&hits), vec![4], "{query}");
    }
}

#[test]
fn deleting_a_path_removes_its_chunks_only() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), DOCS, 1);
    let bm25 = Bm25::open_or_create(dir.path()).unwrap();
    let mut writer = bm25.writer().unwrap();
    writer.delete_path("a.md");
    writer.commit(2).unwrap();
    writer.finish().unwrap();
    let bm25 = Bm25::open_or_create(dir.path()).unwrap();
    assert_eq!(bm25.num_docs(), 2);
    assert!(bm25.search("fugue", 10).unwrap().is_empty());
    assert_eq!(ids(&bm25.search("kettle", 10).unwrap()), vec![4]);

    let mut writer = bm25.writer().unwrap();
    writer.delete_all().unwrap();
    writer.commit(3).unwrap();
    writer.finish().unwrap();
    let bm25 = Bm25::open_or_create(dir.path()).unwrap();
    assert_eq!(bm25.num_docs(), 0);
    assert_eq!(bm25.committed_generation(), Some(3));
}

#[test]
fn the_score_ceiling_bounds_real_scores() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), DOCS, 1);
    let bm25 = Bm25::open_or_create(dir.path()).unwrap();
    for query in ["kettle vinegar", "fugue", "fugue coda espresso"] {
        let ceiling = bm25.score_ceiling(query).unwrap();
        let hits = bm25.search(query, 10).unwrap();
        assert!(!hits.is_empty(), "{query}");
        for (id, score) in hits {
            assert!(
                score > 0.0 && score <= ceiling,
                "{query}: {id} {score} > {ceiling}"
            );
        }
    }
    // A rarer term weighs more.
    assert!(bm25.score_ceiling("kettle").unwrap() > bm25.score_ceiling("fugue").unwrap());
    assert_eq!(bm25.score_ceiling("the of").unwrap(), 0.0);
}

#[test]
fn verify_files_names_a_damaged_segment_file() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), DOCS, 1);
    let files = Bm25::open_or_create(dir.path())
        .unwrap()
        .verify_files()
        .unwrap();
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|(_, problem)| problem.is_none()),
        "{files:?}"
    );
    // Flip one byte in the middle of the largest segment file.
    let (victim, _) = files
        .iter()
        .max_by_key(|(path, _)| std::fs::metadata(dir.path().join(path)).unwrap().len())
        .unwrap();
    let path = dir.path().join(victim);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let files = Bm25::open_or_create(dir.path())
        .unwrap()
        .verify_files()
        .unwrap();
    let damaged: Vec<_> = files.iter().filter(|(_, p)| p.is_some()).collect();
    assert_eq!(damaged.len(), 1, "{files:?}");
    assert_eq!(&damaged[0].0, victim);
}

#[test]
fn unreadable_metadata_is_damage_and_wipe_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let bm25_dir = dir.path().join("bm25");
    add(&bm25_dir, DOCS, 1);
    std::fs::write(bm25_dir.join("meta.json"), "not json").unwrap();
    let err = Bm25::open_or_create(&bm25_dir).err().expect("damaged");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.needs_rebuild());

    Bm25::wipe(&bm25_dir).unwrap();
    assert!(!bm25_dir.exists());
    Bm25::wipe(&bm25_dir).unwrap();
    let bm25 = Bm25::open_or_create(&bm25_dir).unwrap();
    assert_eq!(bm25.num_docs(), 0);
}
