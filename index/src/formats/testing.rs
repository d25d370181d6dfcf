//! Documents built in tests: minimal valid ones from their XML, and hostile
//! ones (zip bombs, entity bombs, external entities, truncated and
//! password-protected files) generated rather than committed.

use std::io::Write;

use flate2::{Compress, Compression, FlushCompress};
use zip::write::SimpleFileOptions;

/// A zip archive of `(name, bytes)` entries, deflated.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        writer
            .start_file(*name, SimpleFileOptions::default())
            .expect("zip entry");
        writer.write_all(bytes).expect("zip write");
    }
    writer.finish().expect("zip finish").into_inner()
}

const WORD_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// A .docx whose body is `body` (WordprocessingML inside `<w:body>`), with
/// the usual heading styles and the parts given in `extra`.
pub fn docx(body: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    docx_with_document(
        &format!(
            r#"<?xml version="1.0"?><w:document xmlns:w="{WORD_NS}"><w:body>{body}</w:body></w:document>"#
        ),
        extra,
    )
}

/// A .docx with `document` as its word/document.xml, verbatim.
pub fn docx_with_document(document: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    let mut doc_rels = String::from(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#,
    );
    for (i, (name, _)) in extra.iter().enumerate() {
        if let Some(part) = name.strip_prefix("word/") {
            let kind = part.trim_end_matches(".xml");
            doc_rels.push_str(&format!(
                r#"<Relationship Id="rIdx{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{part}"/>"#
            ));
        }
    }
    doc_rels.push_str("</Relationships>");
    let mut styles = format!(r#"<?xml version="1.0"?><w:styles xmlns:w="{WORD_NS}">"#);
    for level in 1..=3 {
        // Translated ids, as Word writes them in other languages: the name
        // and outline level are what say "heading".
        styles.push_str(&format!(
            r#"<w:style w:type="paragraph" w:styleId="berschrift{level}"><w:name w:val="heading {level}"/><w:pPr><w:outlineLvl w:val="{}"/></w:pPr></w:style>"#,
            level - 1
        ));
    }
    styles.push_str(r#"<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style></w:styles>"#);
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types/>"),
        ("_rels/.rels", rels.as_bytes()),
        ("word/_rels/document.xml.rels", doc_rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
        ("word/styles.xml", styles.as_bytes()),
    ];
    for (name, text) in extra {
        entries.push((name, text.as_bytes()));
    }
    zip_of(&entries)
}

/// One entry of a zip archive, unpacked; `None` when it is absent.
pub fn entry(zip: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).ok()?;
    let mut file = archive.by_name(name).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
    Some(bytes)
}

const RELATIONSHIPS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const RELATIONSHIP: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// A relationships part of `(id, type, target)` entries.
fn rels(entries: &[(String, &str, String)]) -> String {
    let mut xml = format!(r#"<?xml version="1.0"?><Relationships xmlns="{RELATIONSHIPS}">"#);
    for (id, kind, target) in entries {
        xml.push_str(&format!(
            r#"<Relationship Id="{id}" Type="{RELATIONSHIP}/{kind}" Target="{target}"/>"#
        ));
    }
    xml.push_str("</Relationships>");
    xml
}

/// A .pptx of `slides` in order, each `(slide, notes)`: a slide's XML and
/// the XML of its notes page if it has one, both verbatim. Laid out as
/// PowerPoint and python-pptx lay it out: the presentation lists its slides
/// by relationship id, and a slide names its notes page by its own.
pub fn pptx(slides: &[(&str, Option<&str>)]) -> Vec<u8> {
    const MAIN: &str = "http://schemas.openxmlformats.org/presentationml/2006/main";
    let root = rels(&[(
        "rId1".into(),
        "officeDocument",
        "ppt/presentation.xml".into(),
    )]);
    let mut list = String::new();
    let mut slide_rels = Vec::new();
    let mut parts: Vec<(String, String)> = Vec::new();
    for (i, (slide, notes)) in slides.iter().enumerate() {
        let n = i + 1;
        list.push_str(&format!(r#"<p:sldId id="{}" r:id="rId{n}"/>"#, 255 + n));
        slide_rels.push((format!("rId{n}"), "slide", format!("slides/slide{n}.xml")));
        parts.push((format!("ppt/slides/slide{n}.xml"), slide.to_string()));
        if let Some(notes) = notes {
            parts.push((
                format!("ppt/slides/_rels/slide{n}.xml.rels"),
                rels(&[(
                    "rId1".into(),
                    "notesSlide",
                    format!("../notesSlides/notesSlide{n}.xml"),
                )]),
            ));
            parts.push((
                format!("ppt/notesSlides/notesSlide{n}.xml"),
                notes.to_string(),
            ));
        }
    }
    let presentation = format!(
        r#"<?xml version="1.0"?><p:presentation xmlns:p="{MAIN}" xmlns:r="{RELATIONSHIP}"><p:sldIdLst>{list}</p:sldIdLst></p:presentation>"#
    );
    let presentation_rels = rels(&slide_rels);
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types/>"),
        ("_rels/.rels", root.as_bytes()),
        ("ppt/presentation.xml", presentation.as_bytes()),
        (
            "ppt/_rels/presentation.xml.rels",
            presentation_rels.as_bytes(),
        ),
    ];
    for (name, xml) in &parts {
        entries.push((name, xml.as_bytes()));
    }
    zip_of(&entries)
}

/// An OpenDocument package (.odt, or .odp: the readers go by its XML) with
/// `content` as its content.xml, verbatim, beside the manifest and the
/// metadata LibreOffice writes.
pub fn odf_with_content(content: &str) -> Vec<u8> {
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let meta = r#"<?xml version="1.0" encoding="UTF-8"?><office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3"><office:meta><dc:title>Fuzzed</dc:title></office:meta></office:document-meta>"#;
    zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", manifest.as_bytes()),
        ("content.xml", content.as_bytes()),
        ("meta.xml", meta.as_bytes()),
    ])
}

/// An EPUB whose package document (`EPUB/content.opf`) is `package`,
/// verbatim, with `files` beside it (paths relative to `EPUB/`).
pub fn epub(package: &str, files: &[(String, String)]) -> Vec<u8> {
    let container = r#"<?xml version="1.0" encoding="utf-8"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles><rootfile media-type="application/oebps-package+xml" full-path="EPUB/content.opf"/></rootfiles></container>"#;
    let names: Vec<String> = files
        .iter()
        .map(|(name, _)| format!("EPUB/{name}"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", container.as_bytes()),
        ("EPUB/content.opf", package.as_bytes()),
    ];
    for (name, (_, text)) in names.iter().zip(files) {
        entries.push((name, text.as_bytes()));
    }
    zip_of(&entries)
}

/// The package document of an EPUB 3 of `chapters` chapters, as ebooklib
/// writes one: `chapN.xhtml` in order after the navigation document
/// (`nav.xhtml`), and an NCX (`toc.ncx`) for EPUB 2 readers.
pub fn epub_package(chapters: usize) -> String {
    let mut items = String::new();
    let mut spine = String::from(r#"<itemref idref="nav"/>"#);
    for n in 1..=chapters {
        items.push_str(&format!(
            r#"<item href="chap{n}.xhtml" id="chapter_{n}" media-type="application/xhtml+xml"/>"#
        ));
        spine.push_str(&format!(r#"<itemref idref="chapter_{n}"/>"#));
    }
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" unique-identifier="id" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">fuzz</dc:identifier><dc:title>Fuzzed</dc:title><dc:language>en</dc:language></metadata><manifest>{items}<item href="toc.ncx" id="ncx" media-type="application/x-dtbncx+xml"/><item href="nav.xhtml" id="nav" media-type="application/xhtml+xml" properties="nav"/></manifest><spine toc="ncx">{spine}</spine></package>"#
    )
}

/// The files [`epub_package`] names: `chapters` as `chapN.xhtml`
/// (verbatim), a navigation document and an NCX titling them "Chapter N".
pub fn epub_files(chapters: &[&str]) -> Vec<(String, String)> {
    let mut links = String::new();
    let mut points = String::new();
    let mut files = Vec::new();
    for (i, chapter) in chapters.iter().enumerate() {
        let n = i + 1;
        links.push_str(&format!(
            r#"<li><a href="chap{n}.xhtml">Chapter {n}</a></li>"#
        ));
        points.push_str(&format!(
            r#"<navPoint id="chapter_{n}"><navLabel><text>Chapter {n}</text></navLabel><content src="chap{n}.xhtml"/></navPoint>"#
        ));
        files.push((format!("chap{n}.xhtml"), chapter.to_string()));
    }
    files.push((
        "nav.xhtml".into(),
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Fuzzed</title></head><body><nav epub:type="toc" id="id"><h2>Fuzzed</h2><ol>{links}</ol></nav></body></html>"#
        ),
    ));
    files.push((
        "toc.ncx".into(),
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><docTitle><text>Fuzzed</text></docTitle><navMap>{points}</navMap></ncx>"#
        ),
    ));
    files
}

/// An EPUB 3 of `chapters` (XHTML, verbatim) in reading order.
pub fn epub_of(chapters: &[&str]) -> Vec<u8> {
    epub(&epub_package(chapters.len()), &epub_files(chapters))
}

/// A paragraph of WordprocessingML, with a style id if given.
pub fn para(style: Option<&str>, text: &str) -> String {
    let style = style
        .map(|s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#))
        .unwrap_or_default();
    format!("<w:p>{style}<w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")
}

/// A .docx whose document.xml declares entities that expand to about
/// 10^9 copies of "lol" (the billion laughs), and one that names a file.
pub fn entity_bomb_docx(file: &str) -> Vec<u8> {
    let mut doctype = String::from("<!DOCTYPE w:document [<!ENTITY lol \"lol\">");
    doctype.push_str(&format!("<!ENTITY xxe SYSTEM \"file://{file}\">"));
    let mut previous = "lol".to_string();
    for n in 1..=9 {
        let name = format!("lol{n}");
        doctype.push_str(&format!(
            "<!ENTITY {name} \"{}\">",
            format!("&{previous};").repeat(10)
        ));
        previous = name;
    }
    doctype.push_str("]>");
    let document = format!(
        r#"<?xml version="1.0"?>{doctype}<w:document xmlns:w="{WORD_NS}"><w:body>{}{}{}</w:body></w:document>"#,
        para(None, "Before the bomb: quokka."),
        para(None, "&lol9; and &xxe; here"),
        para(None, "After the bomb: wombat."),
    );
    docx_with_document(&document, &[])
}

/// Raw deflate data that inflates to `unpacked` zero bytes (rounded up to
/// MiB), about a thousandth of that in size: full-flushed blocks of zeros
/// repeated, then an empty final block.
fn deflated_zeros(unpacked: u64) -> Vec<u8> {
    const BLOCK: usize = 1 << 20;
    let zeros = vec![0u8; BLOCK];
    let mut compress = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(BLOCK / 100);
    compress
        .compress_vec(&zeros, &mut block, FlushCompress::Full)
        .expect("deflate");
    let copies = unpacked.div_ceil(BLOCK as u64) as usize;
    let mut out = Vec::with_capacity(block.len() * copies + 2);
    for _ in 0..copies {
        out.extend_from_slice(&block);
    }
    // A final fixed-Huffman block holding only its end code.
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

/// A zip (zip64 headers) of the minimal .docx parts whose
/// word/document.xml inflates to `unpacked` bytes of zeros, while its
/// headers say `declared` (an honest bomb says the truth, a lying one less).
pub fn docx_bomb(unpacked: u64, declared: u64) -> Vec<u8> {
    let small = docx(&para(None, "unused"), &[]);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(small)).expect("docx");
    let mut entries: Vec<(String, Vec<u8>, u64, u32)> = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("entry");
        let name = file.name().expect("name").to_string();
        if name == "word/document.xml" {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).expect("read");
        let crc = crc(&bytes);
        let size = bytes.len() as u64;
        let mut compress = Compress::new(Compression::default(), false);
        let mut packed = Vec::with_capacity(bytes.len() + 64);
        compress
            .compress_vec(&bytes, &mut packed, FlushCompress::Finish)
            .expect("deflate");
        entries.push((name, packed, size, crc));
    }
    // CRC of the zeros is not worth computing: readers stop long before it.
    entries.push((
        "word/document.xml".into(),
        deflated_zeros(unpacked),
        declared,
        0,
    ));
    raw_zip64(&entries)
}

fn crc(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// A zip of already-deflated entries `(name, data, unpacked size, crc)`,
/// sizes in zip64 extra fields.
fn raw_zip64(entries: &[(String, Vec<u8>, u64, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, size, crc) in entries {
        let offset = out.len() as u64;
        let mut extra = Vec::new();
        extra.extend(1u16.to_le_bytes());
        extra.extend(16u16.to_le_bytes());
        extra.extend(size.to_le_bytes());
        extra.extend((data.len() as u64).to_le_bytes());
        let header = |signature: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(signature.to_le_bytes());
            if central {
                h.extend(45u16.to_le_bytes());
            }
            h.extend(45u16.to_le_bytes()); // version needed: zip64
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(8u16.to_le_bytes()); // deflate
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend(u32::MAX.to_le_bytes()); // sizes: see zip64 extra
            h.extend(u32::MAX.to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend((extra.len() as u16).to_le_bytes());
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attributes
                h.extend(0u32.to_le_bytes()); // external attributes
                h.extend((offset as u32).to_le_bytes());
            }
            h.extend(name.as_bytes());
            h.extend(&extra);
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(data);
        central.extend(header(0x0201_4b50, true));
    }
    let central_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend(0u32.to_le_bytes()); // disks
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// The shape of a password-protected Office file: a compound file holding
/// an `EncryptedPackage` stream (what Word writes when a password is set).
pub fn encrypted_office_file() -> Vec<u8> {
    let mut bytes = vec![0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
    bytes.resize(1024, 0);
    bytes.extend("EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes));
    bytes.resize(1152, 0);
    bytes.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    bytes.resize(4096, 0xa5);
    bytes
}

/// A sheet of a test workbook: a worksheet of rows of inline strings, or a
/// chart sheet (no cells; what Excel writes for a chart on its own tab).
pub enum TestSheet<'a> {
    Rows(&'a [&'a [&'a str]]),
    Chart,
}

/// An .xlsx of `sheets` in order, each `(name, sheet)`; `shared` are the
/// shared strings, which a cell names as `=sN` (the N-th shared string).
pub fn xlsx(sheets: &[(&str, TestSheet)], shared: &[&str]) -> Vec<u8> {
    const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    );
    let mut workbook =
        format!(r#"<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>"#);
    let mut workbook_rels = String::from(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    let mut parts: Vec<(String, String)> = Vec::new();
    for (i, (name, sheet)) in sheets.iter().enumerate() {
        let n = i + 1;
        workbook.push_str(&format!(
            r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#
        ));
        let (kind, folder, xml) = match sheet {
            TestSheet::Chart => (
                "chartsheet",
                "chartsheets",
                format!(
                    r#"<?xml version="1.0"?><chartsheet xmlns="{MAIN}" xmlns:r="{REL}"><sheetPr/><sheetViews><sheetView workbookViewId="0"/></sheetViews><drawing r:id="rId1"/></chartsheet>"#
                ),
            ),
            TestSheet::Rows(rows) => {
                let mut data = String::new();
                for (r, row) in rows.iter().enumerate() {
                    data.push_str(&format!(r#"<row r="{}">"#, r + 1));
                    for (c, text) in row.iter().enumerate() {
                        let at = format!("{}{}", super::sheets::column_name(c), r + 1);
                        if let Some(index) = text.strip_prefix("=s") {
                            data.push_str(&format!(r#"<c r="{at}" t="s"><v>{index}</v></c>"#));
                        } else {
                            data.push_str(&format!(
                                r#"<c r="{at}" t="inlineStr"><is><t>{text}</t></is></c>"#
                            ));
                        }
                    }
                    data.push_str("</row>");
                }
                (
                    "worksheet",
                    "worksheets",
                    format!(
                        r#"<?xml version="1.0"?><worksheet xmlns="{MAIN}"><sheetData>{data}</sheetData></worksheet>"#
                    ),
                )
            }
        };
        let part = format!("{folder}/sheet{n}.xml");
        workbook_rels.push_str(&format!(
            r#"<Relationship Id="rId{n}" Type="{REL}/{kind}" Target="{part}"/>"#
        ));
        parts.push((format!("xl/{part}"), xml));
    }
    workbook.push_str("</sheets></workbook>");
    workbook_rels.push_str("</Relationships>");
    let mut strings = format!(r#"<?xml version="1.0"?><sst xmlns="{MAIN}">"#);
    for s in shared {
        strings.push_str(&format!("<si><t>{s}</t></si>"));
    }
    strings.push_str("</sst>");
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types/>"),
        ("_rels/.rels", rels.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.as_bytes()),
        ("xl/sharedStrings.xml", strings.as_bytes()),
    ];
    for (name, xml) in &parts {
        entries.push((name, xml.as_bytes()));
    }
    zip_of(&entries)
}

/// A record of Excel's binary format (.xlsb): type and length as 7-bit
/// varints, then the body.
fn xlsb_record(out: &mut Vec<u8>, typ: u16, body: &[u8]) {
    if typ < 0x80 {
        out.push(typ as u8);
    } else {
        out.push((typ as u8 & 0x7f) | 0x80);
        out.push((typ >> 7) as u8 & 0x7f);
    }
    let mut len = body.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(body);
}

fn wide(text: &str) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out = (units.len() as u32).to_le_bytes().to_vec();
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    out
}

/// An .xlsb of one sheet `name` holding the string `cells`, each
/// `(row, column, text)` (zero-based).
pub fn xlsb(name: &str, cells: &[(u32, u32, &str)]) -> Vec<u8> {
    let mut workbook = Vec::new();
    let mut sheet = 0u32.to_le_bytes().to_vec(); // visible
    sheet.extend(1u32.to_le_bytes()); // tab id
    sheet.extend(wide("rId1"));
    sheet.extend(wide(name));
    xlsb_record(&mut workbook, 0x009C, &sheet); // BrtBundleSh
    xlsb_record(&mut workbook, 0x0090, &[]); // BrtEndBundleShs
    xlsb_record(&mut workbook, 0x0084, &[]); // BrtEndBook
    let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.bin"/></Relationships>"#;
    let mut data = Vec::new();
    xlsb_record(&mut data, 0x0081, &[]); // BrtBeginSheet
    let last_row = cells.iter().map(|c| c.0).max().unwrap_or(0);
    let last_column = cells.iter().map(|c| c.1).max().unwrap_or(0);
    let mut dimension = 0u32.to_le_bytes().to_vec();
    dimension.extend(last_row.to_le_bytes());
    dimension.extend(0u32.to_le_bytes());
    dimension.extend(last_column.to_le_bytes());
    xlsb_record(&mut data, 0x0094, &dimension); // BrtWsDim
    xlsb_record(&mut data, 0x0091, &[]); // BrtBeginSheetData
    for (row, column, text) in cells {
        let mut header = row.to_le_bytes().to_vec();
        header.resize(17, 0);
        xlsb_record(&mut data, 0x0000, &header); // BrtRowHdr
        let mut cell = column.to_le_bytes().to_vec();
        cell.extend(0u32.to_le_bytes()); // style
        cell.extend(wide(text));
        xlsb_record(&mut data, 0x0006, &cell); // BrtCellSt
    }
    xlsb_record(&mut data, 0x0092, &[]); // BrtEndSheetData
    zip_of(&[
        ("xl/workbook.bin", &workbook),
        ("xl/_rels/workbook.bin.rels", rels.as_bytes()),
        ("xl/worksheets/sheet1.bin", &data),
    ])
}
