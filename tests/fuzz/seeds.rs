//! Small valid inputs of each format: the fuzzer mutates these, so that most
//! inputs get past the first byte checks into the parsers' interesting parts.

use rag_index::manifest::{self, EmbeddingInfo, FileEntry, FileSum, Manifest, StoredChunk};
use rag_index::{Chunk, ChunkerConfig, FileLines, Location, Unit};

pub const MARKDOWN: &str = "# Fugues and Canons\n\nA *fugue* is a contrapuntal form.\r\n\n\
## Structure\n\nThe subject enters alone.\n\n```rust\n# not a heading\nfn main() {}\n```\n\n\
### Exposition\n\n- item one\n- item [two](http://x)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
Setext heading\n==============\n\n> quoted **bold** `code`\n\n#### Deep ####\n\nend\n";

pub const HTML: &str = "<!DOCTYPE html><html><head><title> A  page </title>\
<style>p{color:red}</style><script>var x = '<p>';</script></head><body>\
<h1>Heading</h1><p>Hello <b>there</b> &amp; &#x263A; &nbsp;<a href=\"#x\">link</a></p>\
<table><tr><td colspan=\"2\">cell</td></tr><tr><td>a</td><td>b</td></tr></table>\
<ul><li>one<ol><li>two</li></ol></li></ul><pre>  code\n  block</pre>\
<blockquote>q</blockquote><img alt=\"x\"></body></html>";

pub const CODE: &str =
    "//! Module.\nfn main() {\n\tlet s = \"caf\u{e9}\";\r\n    println!(\"{s}\");\n}\n";

/// Inputs for the extractors: markdown, html, code, and UTF-16 with a BOM.
pub fn documents() -> Vec<Vec<u8>> {
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(MARKDOWN.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    vec![
        MARKDOWN.into(),
        HTML.into(),
        CODE.into(),
        utf16,
        "\u{feff}plain text\n\nwith a BOM\n".into(),
    ]
}

pub const DOC_TOKENS: &[&[u8]] = &[
    b"# ",
    b"## ",
    b"###### ",
    b"```",
    b"~~~",
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b"\x0c",
    b"<title>",
    b"</title>",
    b"<TITLE",
    b"<p>",
    b"</p>",
    b"<table>",
    b"<td colspan=\"99999\">",
    b"<td rowspan=\"99999\">",
    b"</td>",
    b"<tr>",
    b"<pre>",
    b"<ol start=\"-1\">",
    b"<li>",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"&#xFFFFFF;",
    b"&#0;",
    b"&",
    b"<svg>",
    b"<math>",
    b"<script>",
    b"</script>",
    b"<a href=\"",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"\x00",
    b"\xcc\x81\xcc\x81\xcc\x81",
    b"\xf0\x9f\x91\xa8\xe2\x80\x8d",
    b"    ",
    b"> ",
    b"- ",
    b"1. ",
    b"|---|",
    b"***",
    b"[x]: ",
    b"<h1>",
    b"<br>",
    b"{\\rtf1 ",
    b"{",
    b"}",
    b"{\\*\\",
    b"\\par ",
    b"\\cell ",
    b"\\row ",
    b"\\bin99999999 ",
    b"\\u-32768?",
    b"\\u2147483647 ",
    b"\\uc99999 ",
    b"\\'f",
    b"\\outlinelevel0 ",
    b"{\\footnote ",
];

/// A one-page PDF with `text` on it, as `tests/common` builds it.
pub fn pdfs() -> Vec<Vec<u8>> {
    vec![
        crate::common::tiny_pdf("Hello fuzz"),
        crate::common::tiny_pdf("two words"),
    ]
}

pub const PDF_TOKENS: &[&[u8]] = &[
    b" obj\n",
    b"endobj\n",
    b"stream\n",
    b"\nendstream",
    b"/Length 99999999999 ",
    b"/Length -1 ",
    b"<< ",
    b" >>",
    b"[",
    b"]",
    b" 0 R ",
    b"99999 0 R ",
    b"1 0 R",
    b"/Type /Pages ",
    b"/Kids [3 0 R 3 0 R] ",
    b"/Count 2147483647 ",
    b"/Parent 3 0 R ",
    b"/Filter /FlateDecode ",
    b"/Filter /ASCIIHexDecode ",
    b"/Filter /LZWDecode ",
    b"/Filter /DCTDecode ",
    b"/DecodeParms << /Predictor 15 /Columns 99999 >> ",
    b"/Encoding /Identity-H ",
    b"/ToUnicode 4 0 R ",
    b"/Subtype /Type0 ",
    b"/Subtype /Type3 ",
    b"/FontMatrix [0 0 0 0 0 0] ",
    b"/Widths [1 2 3] ",
    b"/FirstChar 4294967295 ",
    b"/Differences [0 /a /b] ",
    b"xref\n",
    b"trailer\n",
    b"startxref\n",
    b"%%EOF",
    b"/Prev 0 ",
    b"/Encrypt << >> ",
    b"/ObjStm ",
    b"/N 99999 ",
    b"/First -5 ",
    b"BT ",
    b" ET",
    b"Tj ",
    b"TJ ",
    b"Tf ",
    b"Td ",
    b"Tm ",
    b"' ",
    b"\" ",
    b"(",
    b")",
    b"\\",
    b"<feff>",
    b"<",
    b">",
    b"1e308 ",
    b"-0 ",
    b"q ",
    b"Q ",
    b"cm ",
    b"Do ",
    b"/XObject << /X1 4 0 R >> ",
    b"/Form ",
    b"/Resources 2 0 R ",
];

pub const BATCH: &[&str] = &[
    "# questions\n\nWhat is a fugue?\n  # comment\nWhere is Belfast?\r\n",
    "{\"id\": 7, \"question\": \"Q?\", \"topic\": \"Arts\"}\n\n{\"question\": \"R?\", \"id\": null}\n{\"id\": \"x\", \"question\": \"S\", \"n\": [1, {\"a\": 2}]}\n",
    "id,Question,topic\na1,\"Where, exactly, is \"\"Belfast\"\"?\nOn a river?\",geo\n,Second?,x\n",
    "question\n\"a\"\"b\",\n",
];

pub const BATCH_TOKENS: &[&[u8]] = &[
    b"\"",
    b"\"\"",
    b",",
    b"\n",
    b"\r\n",
    b"\r",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\"question\"",
    b"\"id\"",
    b"null",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"question",
    b"id",
    b"#",
    b"\xef\xbb\xbf",
    b"\t",
    b" ",
];

fn sample_chunk(i: u32) -> StoredChunk {
    StoredChunk {
        id: i as u64,
        path: format!("docs/file-{i}.md"),
        chunk: Chunk {
            line_start: i + 1,
            line_end: i + 3,
            heading: "Title > Section".into(),
            text: format!("chunk number {i} text"),
            location: i.is_multiple_of(2).then(|| Location {
                unit: Unit::Page,
                first: i,
                last: i + 1,
                name: None,
                through: None,
                places: Vec::new(),
            }),
            file_lines: FileLines {
                first: i + 1,
                lines: vec![i + 10, i + 12, i + 13],
            },
        },
    }
}

/// A manifest.json with files and checksums, and a chunk table.
pub fn index_files() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::new(
        EmbeddingInfo {
            model_id: "sentence-transformers/all-MiniLM-L6-v2".into(),
            dimension: 384,
        },
        ChunkerConfig::default(),
    );
    manifest.generation = 3;
    manifest.next_chunk_id = 4;
    manifest.chunk_count = 3;
    manifest.hnsw = Some(manifest::hnsw_basename(3));
    manifest.files.insert(
        "docs/a.md".into(),
        FileEntry {
            hash: "ab".repeat(32),
            size: 1234,
            title: "A \"quoted\" title\u{1F600}".into(),
            chunks: vec![0, 1, 3],
        },
    );
    for name in manifest.data_files() {
        manifest.checksums.insert(name, FileSum::of(b"data"));
    }
    manifest.write(dir.path()).unwrap();
    let json = std::fs::read(dir.path().join(manifest::MANIFEST_FILE)).unwrap();
    let table = dir.path().join(manifest::chunk_table_file(3));
    let chunks: Vec<StoredChunk> = (0..3).map(sample_chunk).collect();
    manifest::write_chunk_table(&table, &chunks).unwrap();
    let table = std::fs::read(&table).unwrap();
    vec![json, table]
}

pub const INDEX_TOKENS: &[&[u8]] = &[
    b"\"format_version\": 1",
    b"\"generation\": 18446744073709551615",
    b"\"chunks\": [",
    b"\"checksums\": {}",
    b"\"hnsw\": null",
    b"\"hnsw\": \"../../etc\"",
    b"null",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\u0000",
    b"\\ud800",
    b"1e999",
    b"-1",
    b"18446744073709551616",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x80\x80\x80\x80\x10",
    b"\x00",
];

/// GGUF builder: just enough of the format (v3, little-endian) for seeds.
#[derive(Default)]
struct Gguf {
    n_kv: u64,
    kv: Vec<u8>,
    n_tensors: u64,
    tensors: Vec<u8>,
    data: Vec<u8>,
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

impl Gguf {
    fn key(&mut self, key: &str, value_type: u32) -> &mut Vec<u8> {
        self.n_kv += 1;
        string(&mut self.kv, key);
        self.kv.extend(value_type.to_le_bytes());
        &mut self.kv
    }

    fn string(&mut self, key: &str, value: &str) {
        string(self.key(key, 8), value);
    }

    fn u32(&mut self, key: &str, value: u32) {
        self.key(key, 4).extend(value.to_le_bytes());
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key, 7).push(value as u8);
    }

    fn strings(&mut self, key: &str, values: &[&str]) {
        let out = self.key(key, 9);
        out.extend(8u32.to_le_bytes());
        out.extend((values.len() as u64).to_le_bytes());
        for v in values {
            string(out, v);
        }
    }

    /// An array of `value_type` items already encoded in `items`.
    fn array(&mut self, key: &str, value_type: u32, len: usize, items: &[u8]) {
        let out = self.key(key, 9);
        out.extend(value_type.to_le_bytes());
        out.extend((len as u64).to_le_bytes());
        out.extend(items);
    }

    /// An F32 tensor (dims in GGUF order, fastest first), its data zeroed.
    fn tensor(&mut self, name: &str, dims: &[u64]) {
        self.n_tensors += 1;
        string(&mut self.tensors, name);
        self.tensors.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            self.tensors.extend(d.to_le_bytes());
        }
        self.tensors.extend(0u32.to_le_bytes());
        self.tensors.extend((self.data.len() as u64).to_le_bytes());
        let elems: u64 = dims.iter().product();
        self.data.extend(vec![0u8; elems as usize * 4]);
    }

    fn finish(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        out.extend(&self.tensors);
        out.resize(out.len().div_ceil(32) * 32, 0);
        out.extend(&self.data);
        out
    }
}

const TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}\
<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Two tiny models: a byte-level BPE one with a chat template, and a
/// SentencePiece one.
pub fn ggufs() -> Vec<Vec<u8>> {
    let mut bpe = Gguf::default();
    bpe.string("general.architecture", "llama");
    bpe.u32("general.alignment", 32);
    bpe.u32("llama.embedding_length", 8);
    bpe.u32("llama.attention.head_count", 2);
    bpe.u32("llama.attention.head_count_kv", 1);
    bpe.u32("llama.block_count", 1);
    bpe.u32("llama.feed_forward_length", 16);
    bpe.u32("llama.context_length", 64);
    bpe.string("tokenizer.ggml.model", "gpt2");
    bpe.string("tokenizer.ggml.pre", "smollm");
    let tokens = [
        "<|im_start|>",
        "<|im_end|>",
        "h",
        "e",
        "l",
        "o",
        "Ġ",
        "w",
        "r",
        "d",
        "he",
        "ll",
        "hell",
        "hello",
        "Ġw",
        "Ġwo",
    ];
    bpe.strings("tokenizer.ggml.tokens", &tokens);
    let types: Vec<u8> = [3i32, 3]
        .into_iter()
        .chain([1; 14])
        .flat_map(i32::to_le_bytes)
        .collect();
    bpe.array("tokenizer.ggml.token_type", 5, tokens.len(), &types);
    bpe.strings(
        "tokenizer.ggml.merges",
        &["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"],
    );
    bpe.u32("tokenizer.ggml.bos_token_id", 0);
    bpe.u32("tokenizer.ggml.eos_token_id", 1);
    bpe.string("tokenizer.chat_template", TEMPLATE);
    bpe.tensor("token_embd.weight", &[8, tokens.len() as u64]);
    bpe.tensor("output_norm.weight", &[8]);

    let mut spm = Gguf::default();
    spm.string("general.architecture", "gemma3");
    spm.u32("gemma3.embedding_length", 8);
    spm.u32("gemma3.attention.head_count", 2);
    spm.u32("gemma3.attention.key_length", 4);
    spm.u32("gemma3.attention.sliding_window", 4);
    spm.u32("gemma3.block_count", 62);
    spm.u32("gemma3.feed_forward_length", 16);
    spm.u32("gemma3.context_length", 64);
    spm.string("tokenizer.ggml.model", "llama");
    let tokens = [
        "<unk>", "<s>", "</s>", "<0x41>", "<0xE2>", "▁", "▁h", "e", "l", "o", "▁hello", "w",
    ];
    spm.strings("tokenizer.ggml.tokens", &tokens);
    let scores: Vec<u8> = (0..tokens.len())
        .flat_map(|i| (-(i as f32)).to_le_bytes())
        .collect();
    spm.array("tokenizer.ggml.scores", 6, tokens.len(), &scores);
    let types: Vec<u8> = [2i32, 3, 3, 6, 6]
        .into_iter()
        .chain([1; 7])
        .flat_map(i32::to_le_bytes)
        .collect();
    spm.array("tokenizer.ggml.token_type", 5, tokens.len(), &types);
    spm.u32("tokenizer.ggml.unknown_token_id", 0);
    spm.u32("tokenizer.ggml.bos_token_id", 1);
    spm.u32("tokenizer.ggml.eos_token_id", 2);
    spm.bool("tokenizer.ggml.add_bos_token", true);
    spm.bool("tokenizer.ggml.add_space_prefix", false);
    spm.tensor("token_embd.weight", &[8, tokens.len() as u64]);
    vec![bpe.finish(), spm.finish()]
}

pub const GGUF_TOKENS: &[&[u8]] = &[
    b"general.alignment",
    b"tokenizer.ggml.model",
    b"llama",
    b"gpt2",
    b"tokenizer.chat_template",
    b"{% for i in range(999999999) %}x{% endfor %}",
    b"{{ messages[0].content * 999999999 }}",
    b"{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    b"{{ raise_exception('no') }}",
    b"{{ messages[0].content.split('e') }}",
    b"\x09\x00\x00\x00",
    b"\x08\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
];

pub const CONFIG: &[&str] = &[
    "model = \"qwen2.5-coder-1.5b-instruct\"\nmodels = \"/m\"\nindex = \"milvus://h:19530/c\"\n\n[answer]\nk = 3\ncontext_tokens = 1000\ntemperature = 0.2\nmin_evidence = 0.5\n",
    "[answer]\nsamples = 2\ntop_p = 0.9\nrepeat_penalty = 1.1\n",
    "index = \"\"\n",
];

pub const CONFIG_TOKENS: &[&[u8]] = &[
    b"=",
    b"\"",
    b"\n",
    b"[answer]",
    b"[[answer]]",
    b"k = ",
    b"1e999",
    b"-1",
    b"nan",
    b"18446744073709551616",
    b"'''",
    b"{",
    b"}",
    b"\\u0000",
    b"\xff",
];

pub const LINES: &[&str] = &["tea\nport backup\r\n\n", "a query without its newline"];

pub const LINES_TOKENS: &[&[u8]] = &[b"\n", b"\r", b"\r\n", b"\xff", b"\xe2\x82", b" "];

/// Every format of the document readers.
pub const FORMATS: &[rag_index::formats::Format] = rag_index::formats::Format::ALL;

/// The document fixtures (made by LibreOffice, pandoc and the formats' own
/// producers: `tests/fixtures/formats`), whole.
pub fn document_files() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(crate::common::FIXTURES).join("formats");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

pub const CONTAINER_TOKENS: &[&[u8]] = &[
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"<?xml version=\"1.0\"?>",
    b"<!DOCTYPE x [<!ENTITY e \"ee\">]>",
    b"&e;",
    b"From a@b Mon Apr  1 10:00:00 2025\n",
    b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n",
    b"{\"cells\": [",
    b"\"cell_type\": \"code\"",
];

const WORD_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// Word bodies: headings, a list, a table, a footnote, a tracked deletion.
pub fn word_xml() -> Vec<Vec<u8>> {
    use rag_index::formats::testing::para;
    let bodies = [
        format!(
            "{}{}{}",
            para(Some("berschrift1"), "Results"),
            para(None, "The pumps ran <w:del><w:r><w:delText>never</w:delText></w:r></w:del>well."),
            para(Some("Title"), "Report")
        ),
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc></w:tr></w:tbl>".to_string(),
        format!(
            "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"1\"/></w:numPr></w:pPr><w:r><w:t>item</w:t></w:r><w:r><w:footnoteReference w:id=\"1\"/></w:r></w:p>{}",
            para(None, "after")
        ),
    ];
    bodies
        .iter()
        .map(|body| {
            format!("<?xml version=\"1.0\"?><w:document xmlns:w=\"{WORD_NS}\"><w:body>{body}</w:body></w:document>")
                .into_bytes()
        })
        .collect()
}

pub const WORD_TOKENS: &[&[u8]] = &[
    b"<w:p>",
    b"</w:p>",
    b"<w:r><w:t>",
    b"</w:t></w:r>",
    b"<w:tbl><w:tr><w:tc>",
    b"</w:tc></w:tr></w:tbl>",
    b"<w:pPr><w:pStyle w:val=\"berschrift2\"/></w:pPr>",
    b"<w:del>",
    b"</w:del>",
    b"<w:br/>",
    b"<w:tab/>",
    b"&lt;",
    b"&#0;",
    b"<!ENTITY",
    b"<![CDATA[",
    b"]]>",
    b"\n",
];

/// A part of a document fixture (real producer output), unpacked.
fn fixture_part(file: &str, part: &str) -> Vec<u8> {
    let path = std::path::Path::new(crate::common::FIXTURES)
        .join("formats")
        .join(file);
    let zip = std::fs::read(&path).unwrap();
    rag_index::formats::testing::entry(&zip, part)
        .unwrap_or_else(|| panic!("no {part} in {}", path.display()))
}

/// A slide with what python-pptx's decks lack: a table, a footer
/// placeholder, a group, a line break and PowerPoint's alternate content.
pub const SLIDE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="ctrTitle"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Tides</a:t></a:r><a:br/><a:r><a:t>and moons</a:t></a:r></a:p></p:txBody></p:sp><p:grpSp><p:sp><p:txBody><a:p><a:r><a:t>grouped</a:t></a:r></a:p></p:txBody></p:sp></p:grpSp><p:sp><p:nvSpPr><p:nvPr><p:ph type="ftr"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>footer</a:t></a:r></a:p></p:txBody></p:sp><p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Port</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Range</a:t></a:r></a:p></a:txBody></a:tc></a:tr><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Brest</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>7 m</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></a:graphicData></a:graphic></p:graphicFrame><mc:AlternateContent><mc:Choice Requires="p14"><p:sp><p:txBody><a:p><a:r><a:t>once</a:t></a:r></a:p></p:txBody></p:sp></mc:Choice><mc:Fallback><p:sp><p:txBody><a:p><a:r><a:t>once</a:t></a:r></a:p></p:txBody></p:sp></mc:Fallback></mc:AlternateContent></p:spTree></p:cSld></p:sld>"#;

/// Slides and a notes page: python-pptx's (`deck.pptx`), and [`SLIDE`].
pub fn slide_xml() -> Vec<Vec<u8>> {
    vec![
        fixture_part("deck.pptx", "ppt/slides/slide1.xml"),
        fixture_part("deck.pptx", "ppt/slides/slide2.xml"),
        fixture_part("deck.pptx", "ppt/notesSlides/notesSlide1.xml"),
        SLIDE.into(),
    ]
}

pub const SLIDE_TOKENS: &[&[u8]] = &[
    b"<p:sp>",
    b"</p:sp>",
    b"<p:txBody><a:p><a:r><a:t>",
    b"</a:t></a:r></a:p></p:txBody>",
    b"<p:nvSpPr><p:nvPr><p:ph type=\"title\"/></p:nvPr></p:nvSpPr>",
    b"<p:ph type=\"body\"/>",
    b"<p:ph type=\"sldNum\"/>",
    b"<a:tbl><a:tr><a:tc>",
    b"</a:tc></a:tr></a:tbl>",
    b"<mc:AlternateContent><mc:Choice>",
    b"<mc:Fallback>",
    b"</mc:Fallback>",
    b"<a:br/>",
    b"<p:grpSp>",
    b"&amp;",
    b"&#0;",
    b"<![CDATA[",
    b"]]>",
    b"\n",
];

/// A text document with what pandoc's lacks: a note, tracked changes, a
/// nested list, a table, spaces and tabs as elements.
pub const ODF_TEXT: &str = r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:text><text:tracked-changes><text:changed-region><text:deletion><text:p>gone</text:p></text:deletion></text:changed-region></text:tracked-changes><text:h text:outline-level="1">Rivers</text:h><text:p>The Danube<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>Second longest.</text:p></text:note-body></text:note> flows<text:s text:c="2"/>east<text:tab/>fast.</text:p><text:list><text:list-item><text:p>Vienna</text:p><text:list><text:list-item><text:p>Wachau</text:p></text:list-item></text:list></text:list-item></text:list><text:h text:outline-level="2">Lengths</text:h><table:table><table:table-row><table:table-cell><text:p>River</text:p></table:table-cell><table:table-cell><text:p>km</text:p></table:table-cell></table:table-row></table:table></office:text></office:body></office:document-content>"#;

/// content.xml as pandoc (`same.odt`) and LibreOffice (`deck.odp`) write
/// it, and [`ODF_TEXT`].
pub fn odf_xml() -> Vec<Vec<u8>> {
    vec![
        fixture_part("same.odt", "content.xml"),
        fixture_part("deck.odp", "content.xml"),
        ODF_TEXT.into(),
    ]
}

pub const ODF_TOKENS: &[&[u8]] = &[
    b"<text:p>",
    b"</text:p>",
    b"<text:h text:outline-level=\"2\">",
    b"<text:h text:outline-level=\"99999999999\">",
    b"</text:h>",
    b"<text:list><text:list-item>",
    b"</text:list-item></text:list>",
    b"<table:table><table:table-row><table:table-cell>",
    b"</table:table-cell></table:table-row></table:table>",
    b"<table:table-cell table:number-columns-repeated=\"1000000\"/>",
    b"<table:table-row table:number-rows-repeated=\"1000000\">",
    b"<text:note><text:note-body>",
    b"</text:note-body></text:note>",
    b"<text:s text:c=\"4294967295\"/>",
    b"<text:tab/>",
    b"<draw:page draw:name=\"p\">",
    b"</draw:page>",
    b"<draw:frame presentation:class=\"title\"><draw:text-box>",
    b"<presentation:notes>",
    b"<office:annotation>",
    b"&#0;",
    b"\n",
];

/// A chapter with what ebooklib's lack: a table, lists, preformatted text,
/// a heading below the first.
pub const CHAPTER: &str = r#"<?xml version="1.0" encoding="utf-8"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Charts</title></head><body><h1>Charts</h1><p>Soundings in <em>fathoms</em>.</p><h2>Depths</h2><table><tr><th>Bay</th><th>Depth</th></tr><tr><td>Royal Sound</td><td>12</td></tr></table><ul><li>lead line</li><li>log</li></ul><pre>  50 S
  70 E</pre></body></html>"#;

/// Chapters and a navigation document as ebooklib writes them
/// (`voyage.epub`), and [`CHAPTER`].
pub fn chapters() -> Vec<Vec<u8>> {
    vec![
        fixture_part("voyage.epub", "EPUB/chap1.xhtml"),
        fixture_part("voyage.epub", "EPUB/chap2.xhtml"),
        fixture_part("voyage.epub", "EPUB/nav.xhtml"),
        CHAPTER.into(),
    ]
}

pub const XHTML_TOKENS: &[&[u8]] = &[
    b"<h1>",
    b"</h1>",
    b"<h3>",
    b"<p>",
    b"</p>",
    b"<table><tr><td>",
    b"</td></tr></table>",
    b"<td colspan=\"99999\">",
    b"<ol start=\"-1\"><li>",
    b"</li></ol>",
    b"<pre>",
    b"</pre>",
    b"<title>",
    b"</title>",
    b"<script>",
    b"<!DOCTYPE x [<!ENTITY e \"ee\">]>",
    b"&e;",
    b"&nbsp;",
    b"<![CDATA[",
    b"\n",
];

/// The package document as ebooklib writes it (`voyage.epub`), and as
/// `formats::testing` does, each naming chap1.xhtml, chap2.xhtml, nav.xhtml
/// and toc.ncx.
pub fn packages() -> Vec<Vec<u8>> {
    vec![
        fixture_part("voyage.epub", "EPUB/content.opf"),
        rag_index::formats::testing::epub_package(2).into_bytes(),
    ]
}

/// What the package target's documents are: ebooklib's chapters,
/// navigation document and NCX.
pub fn package_files() -> Vec<(String, String)> {
    ["chap1.xhtml", "chap2.xhtml", "nav.xhtml", "toc.ncx"]
        .into_iter()
        .map(|name| {
            let text = fixture_part("voyage.epub", &format!("EPUB/{name}"));
            (name.to_string(), String::from_utf8(text).unwrap())
        })
        .collect()
}

pub const OPF_TOKENS: &[&[u8]] = &[
    b"<item href=\"chap1.xhtml\" id=\"c\" media-type=\"application/xhtml+xml\"/>",
    b"<item href=\"toc.ncx\" id=\"t\" media-type=\"application/x-dtbncx+xml\"/>",
    b"<item href=\"nav.xhtml\" id=\"n\" properties=\"nav\"/>",
    b"<item href=\"../../../etc/passwd\" id=\"x\"/>",
    b"<item href=\"chap2.xhtml#frag\" id=\"d\"/>",
    b"<itemref idref=\"chapter_0\"/>",
    b"<itemref idref=\"c\"/>",
    b"<spine toc=\"t\">",
    b"</spine>",
    b"<dc:title>",
    b"</dc:title>",
    b"href=\"%2e%2e/chap1.xhtml\"",
    b"&amp;",
    b"\n",
];
