//! The Milvus backend against a real milvus-lite server: ingest, search,
//! update, delete, forget, refusals, and recovery from an interrupted ingest.
//!
//! Each test starts its own server ([`LiteServer`]). Where none can be
//! started, a test prints `skipped: REASON` and passes, unless `CI` is set.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rag_index::manifest::EmbeddingInfo;
use rag_index::test_embedder::TestEmbedder;
use rag_index::{
    forget_from, ingest_into, Chunk, ChunkerConfig, Embedder, Error, FileUpdate, IndexSink,
    IngestOptions, IngestSummary, Mode, SearchIndex, SearchOptions,
};
use rag_milvus::lite::LiteServer;
use rag_milvus::{MilvusIndex, MilvusUrl, MilvusWriter};

const MODEL: &str = "test/hashed-words@sha256:0000";
const DIMENSION: usize = 384;

const FUGUE: &str = "# Fugue\n\nA fugue is a contrapuntal composition.\nIts voices imitate a subject in counterpoint, as in Zanzibar.\n";
const GARDEN: &str = "# Garden\n\nTomatoes need sunlight, water and compost.\nThe vegetable garden is watered at dawn.\n";
const KETTLE: &str =
    "Descaling the kettle uses vinegar or citric acid.\nRinse it twice afterwards.\n";
const GARDEN_QUERY: &str = "Tomatoes need sunlight, water and compost.";

/// The stand-in model (words hashed into buckets; rag-index's test support)
/// with this file's model identity and dimension.
fn embedder() -> TestEmbedder {
    TestEmbedder::with_model(MODEL, DIMENSION)
}

/// A server for this test, or `None` (after saying why) where none can run.
fn server() -> Option<LiteServer> {
    match LiteServer::start() {
        Ok(server) => Some(server),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("milvus-lite could not be started: {e}")
        }
        Err(e) => {
            eprintln!("skipped: milvus-lite could not be started: {e}");
            None
        }
    }
}

fn url(server: &LiteServer, collection: &str) -> MilvusUrl {
    server.url(collection).parse().unwrap()
}

/// A folder of documents (canonical, as ingests store it).
struct Docs {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Docs {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap().join("docs");
        std::fs::create_dir_all(&dir).unwrap();
        let docs = Docs { _tmp: tmp, dir };
        docs.write("fugue.md", FUGUE);
        docs.write("garden.md", GARDEN);
        docs.write("kettle.txt", KETTLE);
        docs
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// How the index stores the path of `name`.
    fn stored(&self, name: &str) -> String {
        rag_index::stored_path(Path::new(""), &self.dir.join(name))
    }
}

/// A long markdown file: `sections` sections of about 150 words each, so
/// the default chunker (200 tokens) makes one chunk or so per section.
fn long_markdown(sections: usize) -> String {
    let mut text = String::from("# Manual\n\n");
    for s in 0..sections {
        text.push_str(&format!("## Part {s}\n\n"));
        for w in 0..150 {
            text.push_str(&format!("word{} ", (s * 7 + w) % 97));
        }
        text.push_str("\n\n");
    }
    text
}

fn writer(url: &MilvusUrl, embedder: &TestEmbedder) -> MilvusWriter {
    MilvusWriter::open(
        url,
        None,
        EmbeddingInfo::of(embedder),
        ChunkerConfig::default(),
        false,
    )
    .unwrap()
}

fn ingest(url: &MilvusUrl, docs: &Docs, embedder: &TestEmbedder) -> IngestSummary {
    ingest_into(
        Box::new(writer(url, embedder)),
        std::slice::from_ref(&docs.dir),
        embedder,
        &IngestOptions::default(),
        &|_| {},
    )
    .unwrap()
}

fn open(url: &MilvusUrl, embedder: &TestEmbedder) -> MilvusIndex {
    MilvusIndex::open(url, None, Some((embedder.model_id(), embedder.dimension()))).unwrap()
}

fn search(
    index: &MilvusIndex,
    embedder: &TestEmbedder,
    query: &str,
    mode: Mode,
) -> Vec<rag_index::Hit> {
    let options = SearchOptions {
        mode,
        k: 5,
        ..Default::default()
    };
    index.search(query, Some(embedder), &options).unwrap()
}

fn file_name(stored: &str) -> String {
    Path::new(stored)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn ingest_search_update_and_delete() {
    let Some(server) = server() else { return };
    let url = url(&server, "flow");
    let embedder = embedder();
    let docs = Docs::new();
    docs.write("manual.md", &long_markdown(6));

    let summary = ingest(&url, &docs, &embedder);
    assert_eq!(summary.indexed, 4, "{summary:?}");
    assert!(
        summary.chunks_total > 4,
        "the manual has several chunks: {summary:?}"
    );
    let index = open(&url, &embedder);
    let status = index.status().unwrap();
    assert_eq!(status.backend, "milvus");
    assert_eq!(status.index_dir, url.to_string());
    assert_eq!(status.files, 4);
    assert_eq!(status.chunks, summary.chunks_total);
    assert_eq!(status.model_id, MODEL);
    assert_eq!(status.dimension, DIMENSION);
    assert!(status.generation >= 1);
    assert_eq!(status.roots, vec![docs.stored("")]);

    // Keyword: the rare word's file comes first, with its text and lines.
    let hits = search(&index, &embedder, "zanzibar", Mode::Bm25);
    assert_eq!(file_name(&hits[0].path), "fugue.md", "{hits:?}");
    assert_eq!(hits.len(), 1, "one chunk holds the word: {hits:?}");
    let hit = &hits[0];
    assert!(hit.text.contains("Zanzibar"), "{hit:?}");
    assert!(
        !hit.text.starts_with("Fugue\n"),
        "the heading is not part of the text: {hit:?}"
    );
    assert_eq!(hit.heading, "Fugue");
    assert_eq!(hit.location, None);
    assert!(hit.line_start >= 1 && hit.line_end >= hit.line_start);
    assert_eq!(index.resolve(&hit.path), docs.dir.join("fugue.md"));
    let fugue_chunks = index.chunks_of(&hit.path).unwrap();
    assert_eq!(fugue_chunks.len(), 1);
    assert_eq!(fugue_chunks[0].id, hit.chunk_id);
    assert_eq!(fugue_chunks[0].chunk.text, hit.text);

    // The gate's keyword signal: a share of the ceiling.
    let ceiling = index.bm25_ceiling("zanzibar counterpoint").unwrap();
    assert!(ceiling > 0.0);
    let hits = search(&index, &embedder, "zanzibar counterpoint", Mode::Bm25);
    let share = hits[0].bm25.unwrap() / ceiling;
    assert!(share > 0.0 && share <= 1.0, "{share}");
    assert_eq!(
        index.bm25_ceiling("zanzibar counterpoint").unwrap(),
        ceiling,
        "counted again or cached, the same"
    );
    assert_eq!(index.bm25_ceiling("the of and").unwrap(), 0.0);
    assert!(search(&index, &embedder, "the of and", Mode::Bm25).is_empty());
    assert!(search(&index, &embedder, "   ", Mode::Hybrid).is_empty());

    // Dense and hybrid: the file holding the very text comes first.
    let garden = index.chunks_of(&docs.stored("garden.md")).unwrap();
    assert_eq!(garden.len(), 1);
    for mode in [Mode::Vector, Mode::Hybrid] {
        let hits = search(&index, &embedder, GARDEN_QUERY, mode);
        assert_eq!(hits[0].chunk_id, garden[0].id, "{mode:?}: {hits:?}");
        assert!(hits[0].similarity.unwrap() > 0.3, "{mode:?}: {hits:?}");
        let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "{mode:?}: {scores:?}"
        );
    }
    let hybrid = search(&index, &embedder, GARDEN_QUERY, Mode::Hybrid);
    assert!(hybrid[0].bm25.is_some(), "both sides found it: {hybrid:?}");

    // The manual's chunks come back in line order, with their headings.
    let manual = index.chunks_of(&docs.stored("manual.md")).unwrap();
    assert!(manual.len() >= 3, "{}", manual.len());
    assert!(manual
        .windows(2)
        .all(|w| w[0].chunk.line_start <= w[1].chunk.line_start));
    assert!(manual.iter().all(|c| c.chunk.heading.starts_with("Manual")));

    // Nothing changed: nothing is read or embedded again.
    let before = embedder.texts_embedded();
    let again = ingest(&url, &docs, &embedder);
    assert_eq!(again.unchanged, 4, "{again:?}");
    assert_eq!(again.indexed, 0);
    assert_eq!(embedder.texts_embedded(), before);
    assert_eq!(index.status().unwrap().chunks, summary.chunks_total);

    // The manual shrinks to one chunk: its old tail goes.
    docs.write("manual.md", "# Manual\n\nNow a short note.\n");
    // The kettle file goes.
    std::fs::remove_file(docs.dir.join("kettle.txt")).unwrap();
    let changed = ingest(&url, &docs, &embedder);
    assert_eq!(
        (changed.indexed, changed.removed, changed.unchanged),
        (1, 1, 2),
        "{changed:?}"
    );
    let manual = index.chunks_of(&docs.stored("manual.md")).unwrap();
    assert_eq!(manual.len(), 1, "{manual:?}");
    assert!(manual[0].chunk.text.contains("short note"));
    assert!(index
        .chunks_of(&docs.stored("kettle.txt"))
        .unwrap()
        .is_empty());
    let hits = search(&index, &embedder, "descaling kettle vinegar", Mode::Bm25);
    assert!(
        hits.iter().all(|h| file_name(&h.path) != "kettle.txt"),
        "{hits:?}"
    );
    let fewer = index.bm25_ceiling("zanzibar counterpoint").unwrap();
    assert!(
        fewer > 0.0 && fewer != ceiling,
        "fewer chunks, other frequencies: {fewer}"
    );
    let status = index.status().unwrap();
    assert_eq!(status.files, 3);
    assert_eq!(status.chunks, changed.chunks_total);
    assert_eq!(status.chunks, 3);

    // Forgetting a file takes it out of the index, files and chunks.
    let forgotten = forget_from(
        Box::new(writer(&url, &embedder)),
        &[docs.dir.join("fugue.md")],
    )
    .unwrap();
    assert_eq!((forgotten.files, forgotten.chunks), (1, 1));
    assert!(search(&index, &embedder, "zanzibar", Mode::Bm25).is_empty());
    let status = index.status().unwrap();
    assert_eq!((status.files, status.chunks), (2, 2));
    assert_eq!(
        status.roots,
        vec![docs.stored("")],
        "the folder is still covered"
    );
    let err = forget_from(
        Box::new(writer(&url, &embedder)),
        &[docs.dir.join("fugue.md")],
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotIndexed(_)), "{err}");

    // Forgetting the folder forgets it as a root too.
    forget_from(
        Box::new(writer(&url, &embedder)),
        std::slice::from_ref(&docs.dir),
    )
    .unwrap();
    let status = index.status().unwrap();
    assert_eq!((status.files, status.chunks), (0, 0));
    assert!(status.roots.is_empty(), "{:?}", status.roots);
}

#[test]
fn another_model_is_refused() {
    let Some(server) = server() else { return };
    let url = url(&server, "models");
    let embedder = embedder();
    let docs = Docs::new();
    ingest(&url, &docs, &embedder);

    for (model, dimension) in [("other/model", DIMENSION), (MODEL, 768)] {
        let err = match MilvusIndex::open(&url, None, Some((model, dimension))) {
            Err(e) => e,
            Ok(_) => panic!("{model} ({dimension}) was accepted"),
        };
        match &err {
            Error::ModelMismatch {
                path,
                found,
                found_dim,
                ..
            } => {
                assert_eq!(path, &PathBuf::from(url.to_string()));
                assert_eq!((found.as_str(), *found_dim), (MODEL, DIMENSION));
            }
            other => panic!("{other}"),
        }
        let other = TestEmbedder::with_model(model, dimension);
        let err = MilvusWriter::open(
            &url,
            None,
            EmbeddingInfo::of(&other),
            ChunkerConfig::default(),
            false,
        )
        .err()
        .expect("another model may not write");
        assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
    }
    // The same model without its file hash is the same model.
    assert!(MilvusIndex::open(&url, None, Some(("test/hashed-words", DIMENSION))).is_ok());
    assert!(MilvusIndex::open(&url, None, None).is_ok());

    // A rebuild with the other model starts over.
    let other = TestEmbedder::with_model("other/model", 64);
    let writer = MilvusWriter::open(
        &url,
        None,
        EmbeddingInfo::of(&other),
        ChunkerConfig::default(),
        true,
    )
    .unwrap();
    assert!(writer.files().is_empty());
    drop(writer);
    let status = MilvusIndex::open(&url, None, Some(("other/model", 64)))
        .unwrap()
        .status()
        .unwrap();
    assert_eq!((status.files, status.chunks, status.dimension), (0, 0, 64));
}

#[test]
fn chunker_changes_rechunk_everything() {
    let Some(server) = server() else { return };
    let url = url(&server, "chunker");
    let embedder = embedder();
    let docs = Docs::new();
    ingest(&url, &docs, &embedder);
    assert!(!writer(&url, &embedder).rechunk_all());
    let other = ChunkerConfig {
        target_tokens: 100,
        max_tokens: 120,
        overlap_tokens: 10,
    };
    let writer =
        MilvusWriter::open(&url, None, EmbeddingInfo::of(&embedder), other, false).unwrap();
    assert!(writer.rechunk_all());
    assert_eq!(writer.files().len(), 3);
}

#[test]
fn missing_and_foreign_collections_are_refused() {
    let Some(server) = server() else { return };
    let embedder = embedder();

    let missing = url(&server, "nothing_here");
    let err = MilvusIndex::open(&missing, None, None).err().unwrap();
    assert!(
        matches!(&err, Error::NotFound(p) if p.as_os_str() == missing.to_string().as_str()),
        "{err}"
    );

    // A collection rag did not make: refused, and never dropped.
    let foreign = url(&server, "foreign");
    create_collection(&server, "foreign", &[]);
    let err = MilvusIndex::open(&foreign, None, None).err().unwrap();
    assert!(matches!(err, Error::Incompatible { .. }), "{err}");
    assert!(err.to_string().contains("rag.format"), "{err}");
    for rebuild in [false, true] {
        let err = MilvusWriter::open(
            &foreign,
            None,
            EmbeddingInfo::of(&embedder),
            ChunkerConfig::default(),
            rebuild,
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, Error::Incompatible { .. }),
            "rebuild {rebuild}: {err}"
        );
    }
    assert!(
        has_collection(&server, "foreign"),
        "a rebuild left it alone"
    );
    // Nor is a foreign collection that happens to have the files' name.
    let lone = url(&server, "lone");
    create_collection(&server, "lone_files", &[]);
    let err = MilvusWriter::open(
        &lone,
        None,
        EmbeddingInfo::of(&embedder),
        ChunkerConfig::default(),
        true,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("lone_files"), "{err}");
    assert!(has_collection(&server, "lone_files"));

    // One that claims to be rag's but lacks fields.
    let odd = url(&server, "odd");
    create_collection(
        &server,
        "odd",
        &[("rag.format", "1"), ("rag.dimension", "2")],
    );
    let err = MilvusIndex::open(&odd, None, None).err().unwrap();
    match &err {
        Error::Incompatible { location, reason } => {
            assert_eq!(location, &odd.to_string());
            assert!(
                reason.contains("field") && reason.contains("missing"),
                "{reason}"
            );
        }
        other => panic!("{other}"),
    }
    // Of a later layout.
    let later = url(&server, "later");
    create_collection(&server, "later", &[("rag.format", "3")]);
    let err = MilvusIndex::open(&later, None, None).err().unwrap();
    assert!(err.to_string().contains("version 3"), "{err}");
}

#[test]
fn passages_keep_their_place_in_the_document() {
    let Some(server) = server() else { return };
    let url = url(&server, "places");
    let embedder = embedder();
    let docs = Docs::new();
    // An HTML page whose text starts far down its file, and a mailbox.
    let head = "<script>\nvar x = 1;\n</script>\n".repeat(10);
    let page = format!(
        "<html><head>\n{head}</head><body><main>\n<h1>Pumps</h1>\n<p>The quokka pump\nruns all night.</p>\n</main></body></html>\n"
    );
    let line = page.lines().position(|l| l.contains("quokka")).unwrap() as u32 + 1;
    docs.write("pumps.html", &page);
    docs.write(
        "inbox.mbox",
        "From a@b Mon Apr  1 10:00:00 2025\nFrom: a@b\nSubject: Boiler\nDate: Tue, 1 Apr 2025 10:00:00 +0000\n\nThe boiler hums.\n\nFrom a@b Tue Apr  2 10:00:00 2025\nFrom: a@b\nSubject: Keys\nDate: Wed, 2 Apr 2025 10:00:00 +0000\n\nThe walrus key is under the mat.\n",
    );
    ingest(&url, &docs, &embedder);
    let index = open(&url, &embedder);
    let hits = search(&index, &embedder, "quokka", Mode::Bm25);
    let hit = &hits[0];
    assert_eq!(file_name(&hit.path), "pumps.html", "{hits:?}");
    let file_line = |l| hit.file_lines.file_line(l);
    assert!(
        file_line(hit.line_start) < line && file_line(hit.line_end) >= line,
        "{hit:?}"
    );
    let hits = search(&index, &embedder, "walrus", Mode::Bm25);
    let location = hits[0].location.as_ref().map(|l| l.label());
    assert_eq!(location.as_deref(), Some("messages 1-2"), "{hits:?}");
    // With the places inside it, so a quote on the second message cites it.
    let last_line = hits[0].line_end;
    let quoted = hits[0]
        .location
        .as_ref()
        .map(|l| l.narrowed(last_line, last_line).label());
    assert_eq!(
        quoted.as_deref(),
        Some("message 2 (Keys, 2025-04-02)"),
        "{hits:?}"
    );
    // A file's chunks, as neighbour merging reads them, keep them too.
    let chunks = index.chunks_of(&hits[0].path).unwrap();
    assert!(
        chunks.iter().all(|c| c.chunk.location.is_some()),
        "{chunks:?}"
    );
}

#[test]
fn a_passage_only_the_dense_side_returned_keeps_its_keyword_score() {
    let Some(server) = server() else { return };
    let url = url(&server, "sides");
    let embedder = embedder();
    let docs = Docs::new();
    // The keyword side ranks the zoo first (both rare words), the dense
    // side the burrow (the query's small words, which BM25 leaves out).
    docs.write(
        "zoo.md",
        "Quokka and wombat keepers feed seven hundred animals daily, counting \
         penguins, lemurs, otters, tapirs, bison, cranes and ibex by noon.\n",
    );
    docs.write(
        "burrow.md",
        "The wombat is at home and is at rest and is at ease.\n",
    );
    ingest(&url, &docs, &embedder);
    let index = open(&url, &embedder);
    let query = "quokka wombat and and and is is is at at at";
    let keyword = search(&index, &embedder, query, Mode::Bm25);
    assert_eq!(file_name(&keyword[0].path), "zoo.md", "{keyword:?}");
    let burrow_bm25 = keyword
        .iter()
        .find(|hit| file_name(&hit.path) == "burrow.md")
        .and_then(|hit| hit.bm25);
    assert!(burrow_bm25.is_some_and(|score| score > 0.0), "{keyword:?}");
    let dense = search(&index, &embedder, query, Mode::Vector);
    assert_eq!(file_name(&dense[0].path), "burrow.md", "{dense:?}");
    // One candidate a side: the burrow's keyword score comes from a search
    // of its own, and with it the burrow ranks first.
    let one_a_side = SearchOptions {
        k: 1,
        candidates: 1,
        ..Default::default()
    };
    let hybrid = index.search(query, Some(&embedder), &one_a_side).unwrap();
    assert_eq!(file_name(&hybrid[0].path), "burrow.md", "{hybrid:?}");
    assert_eq!(hybrid[0].bm25, burrow_bm25, "{hybrid:?}");
}

#[test]
fn an_unreachable_server_fails_fast() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url: MilvusUrl = format!("milvus://127.0.0.1:{port}/nothing")
        .parse()
        .unwrap();
    let started = Instant::now();
    let err = MilvusIndex::open(&url, None, None).err().unwrap();
    assert!(
        matches!(&err, Error::Unreachable { location, .. } if *location == url.to_string()),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let embedder = embedder();
    let err = MilvusWriter::open(
        &url,
        None,
        EmbeddingInfo::of(&embedder),
        ChunkerConfig::default(),
        false,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[test]
fn an_interrupted_ingest_leaves_no_duplicates() {
    let Some(server) = server() else { return };
    let url = url(&server, "interrupted");
    let embedder = embedder();
    let docs = Docs::new();
    ingest(&url, &docs, &embedder);

    // An ingest of a new, long file dies after sending most of its chunks
    // and before its commit: no record of the file, its rows on the server.
    let big = docs.write("big.md", "# Big\n\nIt became short again.\n");
    let stored = docs.stored("big.md");
    let mut writer = writer(&url, &embedder);
    put_long_version(&mut writer, &embedder, &stored);
    // And one for a file that is deleted before the next ingest.
    let gone = docs.write("gone.md", "# Gone\n\nSoon gone.\n");
    put_long_version(&mut writer, &embedder, &docs.stored("gone.md"));
    std::fs::remove_file(gone).unwrap();
    // Meanwhile the garden file changes on disk.
    docs.write("garden.md", "# Garden\n\nOnly roses now.\n");
    drop(writer);
    let index = open(&url, &embedder);
    assert_eq!(index.status().unwrap().files, 3, "nothing was committed");
    assert!(
        index.status().unwrap().chunks >= 2 * 512 + 3,
        "the chunks were sent"
    );

    // The next ingest redoes big.md and garden.md (the same ids; the tail
    // beyond goes), and deletes the rows of gone.md, which no record names.
    let summary = ingest(&url, &docs, &embedder);
    assert_eq!(summary.indexed, 2, "{summary:?}");
    let status = index.status().unwrap();
    assert_eq!(status.files, 4);
    assert_eq!(
        status.chunks, summary.chunks_total,
        "no duplicate or stale chunk"
    );
    let total: usize = writer_files_chunks(&url, &embedder);
    assert_eq!(status.chunks, total);
    let rows = index.chunks_of(&stored).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].chunk.text.contains("short again"));
    assert!(big.exists());
}

#[test]
fn rows_survive_a_writer_that_is_reopened() {
    let Some(server) = server() else { return };
    let url = url(&server, "reopen");
    let embedder = embedder();
    let docs = Docs::new();
    let first = ingest(&url, &docs, &embedder);
    let writer = writer(&url, &embedder);
    assert_eq!(writer.files().len(), 3);
    assert_eq!(writer.roots().len(), 1);
    assert!(writer.generation() >= 1);
    let garden = &writer.files()[&docs.stored("garden.md")];
    assert_eq!(garden.chunks.len(), 1);
    assert!(!garden.hash.is_empty());
    assert_eq!(garden.size, GARDEN.len() as u64);
    assert_eq!(
        writer
            .files()
            .values()
            .map(|f| f.chunks.len())
            .sum::<usize>(),
        first.chunks_total
    );
    // A commit with nothing staged commits nothing.
    let mut writer = writer;
    assert!(!writer.commit().unwrap());
    assert!(!Box::new(writer).finish().unwrap());
}

/// Puts a 600-chunk version of `stored` (512 rows are sent at once).
fn put_long_version(writer: &mut MilvusWriter, embedder: &TestEmbedder, stored: &str) {
    let chunks: Vec<Chunk> = (0..600u32)
        .map(|n| Chunk {
            line_start: n + 1,
            line_end: n + 1,
            heading: "Long".into(),
            text: format!("line {n} of a long version"),
            location: None,
            file_lines: Default::default(),
        })
        .collect();
    let vectors = chunks.iter().map(|c| embedder.vector(&c.text)).collect();
    writer
        .put_file(FileUpdate {
            path: stored.to_string(),
            hash: "an earlier version".into(),
            size: 1,
            title: "Long".into(),
            chunks,
            vectors,
        })
        .unwrap();
}

fn writer_files_chunks(url: &MilvusUrl, embedder: &TestEmbedder) -> usize {
    writer(url, embedder)
        .files()
        .values()
        .map(|f| f.chunks.len())
        .sum()
}

/// Creates a collection with a layout of its own (a key, a 2-d vector) and
/// the given properties, straight through the SDK.
fn create_collection(server: &LiteServer, name: &str, properties: &[(&str, &str)]) {
    use milvus::v2::prelude::*;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ConnectConfig::new()
            .uri(format!("http://127.0.0.1:{}", server.port()))
            .telemetry(TelemetryConfig::new().enabled(false));
        let client = ClientV2::new(&config).await.unwrap();
        let schema = CollectionSchema::new()
            .add_field(
                FieldSchema::new()
                    .name("key")
                    .data_type(DataType::VarChar)
                    .max_length(64)
                    .primary_key(true),
            )
            .add_field(
                FieldSchema::new()
                    .name("v")
                    .data_type(DataType::FloatVector)
                    .dimension(2),
            );
        let properties = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        client
            .create_collection(
                CreateCollectionRequest::builder()
                    .collection_name(name)
                    .schema(schema)
                    .index_params(vec![IndexParam::new()
                        .field_name("v")
                        .index_type(IndexType::Flat)
                        .metric_type(MetricType::L2)])
                    .properties(properties)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    });
}

fn has_collection(server: &LiteServer, name: &str) -> bool {
    use milvus::v2::prelude::*;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ConnectConfig::new()
            .uri(format!("http://127.0.0.1:{}", server.port()))
            .telemetry(TelemetryConfig::new().enabled(false));
        let client = ClientV2::new(&config).await.unwrap();
        client
            .has_collection(
                HasCollectionRequest::builder()
                    .collection_name(name)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap()
            .exists()
    })
}
