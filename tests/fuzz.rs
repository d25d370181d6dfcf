//! Fuzzing of everything that reads outside bytes: document extraction (md,
//! text, code, html, pdf), the document readers (office, e-book, mail and
//! notebook files whole; and, inside well-formed packages, Word's body XML, a
//! slide's XML, OpenDocument's content.xml, an e-book's chapter and its
//! package document), the chunker, batch question files, GGUF headers and
//! metadata, and the index manifest and chunk table.
//!
//! Each `fuzz_*` test feeds its target random and mutated inputs for
//! `RAG_FUZZ_SECONDS` (default 3; `scripts/fuzz` runs them for longer). An
//! input that panics fails the test and is saved under
//! `tests/fixtures/fuzz/<target>/`, where `regressions` replays it forever.

mod common;
#[path = "fuzz/harness.rs"]
mod harness;
#[path = "fuzz/seeds.rs"]
mod seeds;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rag_index::extract::{self, Document, Kind};
use rag_index::formats::{self, Format};
use rag_index::{Chunk, Chunker, ChunkerConfig};

use harness::{fuzz, inputs, replay};

/// A target: true when the input got through the parser.
type Target = fn(&[u8]) -> bool;

/// Every target by name (the fixture folder's name too).
const TARGETS: &[(&str, Target)] = &[
    ("extract", extract_target),
    ("pdf", pdf_target),
    ("documents", documents_target),
    ("docx_xml", docx_xml_target),
    ("pptx_xml", pptx_xml_target),
    ("odt_xml", odt_xml_target),
    ("epub_xhtml", epub_xhtml_target),
    ("epub_opf", epub_opf_target),
    ("chunker", chunker_target),
    ("batch", batch_target),
    ("gguf", gguf_target),
    ("manifest", manifest_target),
    ("config", config_target),
    ("lines", lines_target),
];

// ---- targets: each must return normally for any input; true when the
// input got through the parser (for the report) ----

fn extract_target(bytes: &[u8]) -> bool {
    let mut ok = false;
    for kind in [Kind::Markdown, Kind::Text, Kind::Code, Kind::Html] {
        if let Ok(doc) = extract::extract(Path::new("docs/fuzz.txt"), kind, bytes) {
            assert!(!doc.text.trim().is_empty(), "an empty document was kept");
            assert!(doc.places.is_empty());
            if kind == Kind::Html {
                // Every line of the page's text has a line of the file (as
                // the parser counts them: a lone CR ends a line too).
                let file = String::from_utf8_lossy(bytes)
                    .replace("\r\n", "\n")
                    .replace('\r', "\n");
                let file_lines = file.matches('\n').count() as u32 + 1;
                assert_eq!(doc.file_lines.len(), doc.text.lines().count());
                assert!(
                    doc.file_lines
                        .iter()
                        .all(|&l| (1..=file_lines).contains(&l)),
                    "{:?} in a file of {file_lines} lines",
                    doc.file_lines
                );
            } else {
                assert!(doc.file_lines.is_empty());
            }
            ok = true;
        }
    }
    ok
}

/// Any bytes as every document format: an error or a text within the
/// limits, whose places are in order and on lines of the text.
fn documents_target(bytes: &[u8]) -> bool {
    let mut ok = false;
    for format in seeds::FORMATS {
        ok |= read_document(*format, bytes);
    }
    ok
}

/// Bytes as the body XML of a Word document in an intact package: what a
/// whole-file mutation seldom reaches past the zip's checksums.
fn docx_xml_target(bytes: &[u8]) -> bool {
    let xml = String::from_utf8_lossy(bytes);
    read_document(
        Format::Docx,
        &formats::testing::docx_with_document(&xml, &[]),
    )
}

/// Bytes as a slide's XML and as its notes page's, in an intact .pptx
/// before an intact slide.
fn pptx_xml_target(bytes: &[u8]) -> bool {
    let xml = String::from_utf8_lossy(bytes);
    read_document(
        Format::Pptx,
        &formats::testing::pptx(&[(&xml, Some(&xml)), (seeds::SLIDE, None)]),
    )
}

/// Bytes as the content.xml of an intact OpenDocument package, read as a
/// text document and as slides.
fn odt_xml_target(bytes: &[u8]) -> bool {
    let package = formats::testing::odf_with_content(&String::from_utf8_lossy(bytes));
    read_document(Format::Odt, &package) | read_document(Format::Odp, &package)
}

/// Bytes as a chapter's XHTML in an intact EPUB, before an intact chapter.
fn epub_xhtml_target(bytes: &[u8]) -> bool {
    let xhtml = String::from_utf8_lossy(bytes);
    read_document(
        Format::Epub,
        &formats::testing::epub_of(&[&xhtml, seeds::CHAPTER]),
    )
}

/// Bytes as the package document (OPF) of an EPUB whose other documents
/// are intact.
fn epub_opf_target(bytes: &[u8]) -> bool {
    static FILES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    let files = FILES.get_or_init(seeds::package_files);
    read_document(
        Format::Epub,
        &formats::testing::epub(&String::from_utf8_lossy(bytes), files),
    )
}

fn read_document(format: Format, bytes: &[u8]) -> bool {
    let limits = formats::Limits::default();
    let Ok(read) = formats::read(format, bytes, &limits) else {
        return false;
    };
    assert!(read.text.len() <= limits.max_text, "{format:?}");
    let lines = read.text.split('\n').count() as u32;
    assert!(
        read.places.windows(2).all(|w| w[0].line <= w[1].line)
            && read.places.iter().all(|p| (1..=lines).contains(&p.line)),
        "{format:?}: places {:?} in {lines} lines",
        read.places
    );
    true
}

fn pdf_target(bytes: &[u8]) -> bool {
    // A panic inside the PDF parser is caught and becomes a skip reason: fine.
    // A hang, an abort or unbounded memory is not.
    if let Ok(doc) = extract::extract(Path::new("docs/fuzz.pdf"), Kind::Pdf, bytes) {
        assert!(doc.places.windows(2).all(|w| w[0].line < w[1].line));
        assert_eq!(doc.places.first().map(|p| (p.line, p.number)), Some((1, 1)));
        return true;
    }
    false
}

/// The embedding model's tokenizer, as `rag` loads it.
fn tokenizer() -> &'static tokenizers::Tokenizer {
    static TOKENIZER: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let path = common::models_dir().join("all-MiniLM-L6-v2/tokenizer.json");
        tokenizers::Tokenizer::from_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// The default chunker, and a small one that splits even short inputs.
fn chunkers() -> &'static [Chunker; 2] {
    static CHUNKERS: OnceLock<[Chunker; 2]> = OnceLock::new();
    CHUNKERS.get_or_init(|| {
        let small = ChunkerConfig {
            target_tokens: 12,
            max_tokens: 20,
            overlap_tokens: 4,
        };
        [
            Chunker::new(tokenizer(), ChunkerConfig::default()).unwrap(),
            Chunker::new(tokenizer(), small).unwrap(),
        ]
    })
}

fn chunker_target(bytes: &[u8]) -> bool {
    let lossy = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let mut docs = Vec::new();
    // As ingest produces them: through the extractors...
    for kind in [Kind::Markdown, Kind::Html, Kind::Code] {
        if let Ok(doc) = extract::extract(Path::new("docs/fuzz.md"), kind, bytes) {
            docs.push(doc);
        }
    }
    // ...and PDF pages split at form feeds, which the extractor never sees.
    let pages: Vec<String> = lossy.split('\x0c').map(str::to_string).collect();
    if let Ok(doc) = extract::pdf_document(Path::new("docs/fuzz.pdf"), &pages) {
        docs.push(doc);
    }
    // Raw text straight into the splitters, whatever the extractors think of it.
    for kind in [Kind::Markdown, Kind::Text] {
        docs.push(Document {
            kind,
            title: String::new(),
            text: lossy.clone(),
            places: Vec::new(),
            file_lines: Vec::new(),
        });
    }
    let mut chunks = 0;
    for doc in &docs {
        for chunker in chunkers() {
            let got = chunker.chunk(doc);
            check_chunks(doc, &got);
            chunks += got.len();
        }
    }
    chunks > 0
}

/// What the chunker promises: line spans inside the document that hold the
/// chunk's text, pages for PDFs only, and the title leading every heading.
fn check_chunks(doc: &Document, chunks: &[Chunk]) {
    let lines: Vec<&str> = doc.text.split('\n').collect();
    for chunk in chunks {
        let (start, end) = (chunk.line_start as usize, chunk.line_end as usize);
        assert!(
            1 <= start && start <= end && end <= lines.len(),
            "lines {start}..={end} of a {}-line document: {chunk:?}",
            lines.len()
        );
        assert!(!chunk.text.trim().is_empty(), "blank chunk {chunk:?}");
        let span = lines[start - 1..end].join("\n");
        let text = chunk.text.strip_suffix('\n').unwrap_or(&chunk.text);
        assert!(
            span.contains(text),
            "chunk text is not on its lines {start}..={end}: {chunk:?}"
        );
        match &chunk.location {
            None => assert!(
                doc.places.first().is_none_or(|p| p.line > end as u32),
                "a chunk among places without a location: {chunk:?}"
            ),
            Some(location) => assert!(
                location.first <= location.last
                    && doc.places.iter().any(|p| p.number == location.first)
                    && doc.places.iter().any(|p| p.number == location.last),
                "{location:?} of {:?}",
                doc.places
            ),
        }
        if !doc.file_lines.is_empty() {
            assert_eq!(chunk.file_lines.lines.len(), end - start + 1, "{chunk:?}");
        }
        assert!(chunk.heading.starts_with(&doc.title), "{chunk:?}");
    }
}

fn batch_target(bytes: &[u8]) -> bool {
    use rag::batch::input::{parse_csv, parse_jsonl, parse_text};
    let text = String::from_utf8_lossy(bytes);
    for q in parse_text(&text) {
        assert!(!q.question.is_empty() && q.question == q.question.trim());
    }
    let jsonl = parse_jsonl(&text, Path::new("q.jsonl")).is_ok_and(|q| !q.is_empty());
    let csv = parse_csv(&text, Path::new("q.csv")).is_ok_and(|q| !q.is_empty());
    jsonl || csv
}

fn config_target(bytes: &[u8]) -> bool {
    use rag::config::{Config, ConfigSource};
    let path = scratch().join("config.toml");
    std::fs::write(&path, bytes).unwrap();
    Config::load(&ConfigSource {
        path: Some(path),
        explicit: true,
    })
    .is_ok()
}

/// The bounded line reader: every byte but the line ends is in exactly one
/// line, none held longer than its bound, and reading stops at the end.
fn lines_target(bytes: &[u8]) -> bool {
    use rag::limited::{lines, read_to_limit, LineProblem};
    const MAX: usize = 16;
    let mut count = 0;
    let mut text_lines = 0;
    for line in lines(std::io::BufReader::with_capacity(7, bytes), MAX) {
        let line = line.unwrap();
        count += 1;
        assert_eq!(line.number, count);
        match line.text {
            Ok(text) => {
                assert!(text.len() <= MAX && !text.contains('\n'));
                text_lines += 1;
            }
            Err(LineProblem::TooLong { limit }) => assert_eq!(limit, MAX),
            Err(LineProblem::NotUtf8) => {}
        }
    }
    let breaks = bytes.iter().filter(|&&b| b == b'\n').count();
    let expected = breaks + usize::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'));
    assert_eq!(count, expected);
    let whole = read_to_limit(bytes, 64).unwrap();
    assert_eq!(whole.is_some(), bytes.len() <= 64);
    text_lines > 0
}

thread_local! {
    /// One scratch folder per thread for the targets that read files.
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

fn scratch() -> PathBuf {
    SCRATCH.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| tempfile::tempdir_in(harness::scratch_root()).unwrap())
            .path()
            .to_path_buf()
    })
}

fn gguf_target(bytes: &[u8]) -> bool {
    use rag::llm::gguf::Gguf;
    use rag::llm::{model::Config, Message, PromptFormat, Tokenizer};
    let path = scratch().join("model.gguf");
    std::fs::write(&path, bytes).unwrap();
    let Ok(gguf) = Gguf::open(&path) else {
        return false;
    };
    let _ = Config::from_gguf(&gguf);
    let Ok(tokenizer) = Tokenizer::from_gguf(&gguf) else {
        return false;
    };
    for text in ["hello world <|im_end|>", "", " \u{e9}\u{1F600}\n\n\t"] {
        if let Ok(ids) = tokenizer.encode(text) {
            tokenizer.decode(&ids);
        }
        let _ = tokenizer.encode_literal(text);
        let _ = tokenizer.encode_prompt(text);
    }
    let every: Vec<u32> = (0..tokenizer.vocab_size() as u32 + 2).collect();
    tokenizer.decode(&every);
    tokenizer.end_of_generation_ids();
    if let Ok(format) = PromptFormat::from_gguf(&gguf, &tokenizer) {
        let _ = format.render(&[
            Message::new("system", "Be brief."),
            Message::new("user", "hello"),
        ]);
    }
    true
}

fn manifest_target(bytes: &[u8]) -> bool {
    use rag_index::manifest::{self, Manifest};
    let dir = scratch();
    std::fs::write(dir.join(manifest::MANIFEST_FILE), bytes).unwrap();
    let mut ok = false;
    if let Ok(Some(manifest)) = Manifest::read(&dir) {
        manifest.data_files();
        manifest.has_checksums();
        ok = true;
    }
    // Both layouts: the current one, and the one read from older indexes.
    ok | manifest::parse_chunk_table(Path::new("chunks-1.bin"), bytes, 2).is_ok()
        | manifest::parse_chunk_table(Path::new("chunks-1.bin"), bytes, 1).is_ok()
}

// ---- the tests ----

fn seeds_of(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

#[test]
fn fuzz_extract() {
    fuzz(
        "extract",
        inputs(seeds::documents(), seeds::DOC_TOKENS, 512),
        extract_target,
    );
}

#[test]
fn fuzz_documents() {
    fuzz(
        "documents",
        inputs(seeds::document_files(), seeds::CONTAINER_TOKENS, 512),
        documents_target,
    );
}

#[test]
fn fuzz_docx_xml() {
    fuzz(
        "docx_xml",
        inputs(seeds::word_xml(), seeds::WORD_TOKENS, 512),
        docx_xml_target,
    );
}

#[test]
fn fuzz_pptx_xml() {
    fuzz(
        "pptx_xml",
        inputs(seeds::slide_xml(), seeds::SLIDE_TOKENS, 512),
        pptx_xml_target,
    );
}

#[test]
fn fuzz_odt_xml() {
    fuzz(
        "odt_xml",
        inputs(seeds::odf_xml(), seeds::ODF_TOKENS, 512),
        odt_xml_target,
    );
}

#[test]
fn fuzz_epub_xhtml() {
    fuzz(
        "epub_xhtml",
        inputs(seeds::chapters(), seeds::XHTML_TOKENS, 512),
        epub_xhtml_target,
    );
}

#[test]
fn fuzz_epub_opf() {
    fuzz(
        "epub_opf",
        inputs(seeds::packages(), seeds::OPF_TOKENS, 512),
        epub_opf_target,
    );
}

#[test]
fn fuzz_pdf() {
    fuzz(
        "pdf",
        inputs(seeds::pdfs(), seeds::PDF_TOKENS, 512),
        pdf_target,
    );
}

#[test]
fn fuzz_chunker() {
    chunkers();
    let mut docs = seeds::documents();
    docs.push("page one\x0cpage two\n\nmore\x0c\x0c\x0clast page".into());
    docs.push("word ".repeat(300).into_bytes());
    fuzz(
        "chunker",
        inputs(docs, seeds::DOC_TOKENS, 1024),
        chunker_target,
    );
}

#[test]
fn fuzz_batch() {
    fuzz(
        "batch",
        inputs(seeds_of(seeds::BATCH), seeds::BATCH_TOKENS, 256),
        batch_target,
    );
}

#[test]
fn fuzz_gguf() {
    fuzz(
        "gguf",
        inputs(seeds::ggufs(), seeds::GGUF_TOKENS, 256),
        gguf_target,
    );
}

#[test]
fn fuzz_manifest() {
    fuzz(
        "manifest",
        inputs(seeds::index_files(), seeds::INDEX_TOKENS, 256),
        manifest_target,
    );
}

#[test]
fn fuzz_config() {
    fuzz(
        "config",
        inputs(seeds_of(seeds::CONFIG), seeds::CONFIG_TOKENS, 256),
        config_target,
    );
}

#[test]
fn fuzz_lines() {
    fuzz(
        "lines",
        inputs(seeds_of(seeds::LINES), seeds::LINES_TOKENS, 256),
        lines_target,
    );
}

/// Every input a fuzz run ever saved, replayed through its target.
#[test]
fn regressions() {
    let mut total = 0;
    for (target, run) in TARGETS {
        total += replay(target, *run);
    }
    eprintln!("replayed {total} saved inputs");
}

/// The seeds themselves must be accepted, or the fuzzer starts from nothing.
#[test]
fn seeds_are_valid_inputs() {
    let path = Path::new("docs/seed.md");
    for doc in seeds::documents() {
        assert!(extract::extract(path, Kind::Markdown, &doc).is_ok());
    }
    for pdf in seeds::pdfs() {
        let doc = extract::extract(Path::new("seed.pdf"), Kind::Pdf, &pdf).unwrap();
        assert!(doc.text.contains("Hello") || doc.text.contains("two"));
    }
    let dir = tempfile::tempdir().unwrap();
    for gguf in seeds::ggufs() {
        use rag::llm::gguf::Gguf;
        let file = dir.path().join("seed.gguf");
        std::fs::write(&file, gguf).unwrap();
        let gguf = Gguf::open(&file).unwrap();
        rag::llm::model::Config::from_gguf(&gguf).unwrap();
        let tokenizer = rag::llm::Tokenizer::from_gguf(&gguf).unwrap();
        assert!(!tokenizer.encode("hello").unwrap().is_empty());
        rag::llm::PromptFormat::from_gguf(&gguf, &tokenizer).unwrap();
    }
    let index = seeds::index_files();
    std::fs::write(dir.path().join("manifest.json"), &index[0]).unwrap();
    assert!(rag_index::manifest::Manifest::read(dir.path())
        .unwrap()
        .is_some());
    let table = rag_index::manifest::parse_chunk_table(
        Path::new("t"),
        &index[1],
        rag_index::manifest::FORMAT_VERSION,
    )
    .unwrap();
    assert_eq!(table.len(), 3);
    let q = rag::batch::input::parse_csv(seeds::BATCH[2], Path::new("q.csv")).unwrap();
    assert_eq!(q.len(), 2);
    // The XML targets read every seed in its package.
    let xml: [(&str, Target, Vec<Vec<u8>>); 5] = [
        ("docx_xml", docx_xml_target, seeds::word_xml()),
        ("pptx_xml", pptx_xml_target, seeds::slide_xml()),
        ("odt_xml", odt_xml_target, seeds::odf_xml()),
        ("epub_xhtml", epub_xhtml_target, seeds::chapters()),
        ("epub_opf", epub_opf_target, seeds::packages()),
    ];
    for (target, run, seeds) in xml {
        for (i, seed) in seeds.iter().enumerate() {
            assert!(run(seed), "{target}: seed {i} was not read");
        }
    }
    // Whole documents: each fixture is read as its own format, the .xls
    // in this process too.
    let limits = formats::Limits::default();
    for (name, format) in [
        ("inventory.xls", Format::Spreadsheet),
        ("deck.pptx", Format::Pptx),
        ("same.odt", Format::Odt),
        ("voyage.epub", Format::Epub),
    ] {
        let bytes = std::fs::read(Path::new(common::FIXTURES).join("formats").join(name)).unwrap();
        let read = formats::read(format, &bytes, &limits).unwrap();
        assert!(!read.text.trim().is_empty(), "{name}");
    }
}

/// candle divides by `general.alignment`: 0 must be an error, not a panic.
#[test]
fn gguf_with_zero_alignment_is_an_error() {
    let mut bytes = seeds::ggufs().remove(0);
    let key = b"general.alignment";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    // After the key: the value type (u32 = 4), then the value.
    bytes[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.gguf");
    std::fs::write(&path, bytes).unwrap();
    let err = rag::llm::gguf::Gguf::open(&path).err().unwrap();
    assert!(err.to_string().contains("header"), "{err}");
}

#[test]
fn a_damaged_xls_that_panics_the_spreadsheet_parser_is_a_damaged_file() {
    // Found by fuzz_documents: calamine indexes past a truncated sector
    // table (now refused before calamine sees it).
    let path = Path::new(common::FIXTURES).join("fuzz/documents/crash-1ac988c5ca89e8ad.bin");
    let bytes = std::fs::read(path).unwrap();
    let read = formats::read(Format::Spreadsheet, &bytes, &formats::Limits::default());
    assert!(
        matches!(read, Err(extract::SkipReason::Damaged { .. })),
        "{read:?}"
    );
}
