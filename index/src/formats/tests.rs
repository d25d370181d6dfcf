//! Readers tested on documents built here from the XML they hold; documents
//! from the real producers are tested end to end (tests/formats.rs).

use std::time::Instant;

use super::testing::{docx, docx_bomb, encrypted_office_file, entity_bomb_docx, para, zip_of};
use super::{read, Format, Limits, Read};
use crate::extract::SkipReason;

fn read_ok(format: Format, bytes: &[u8]) -> Read {
    read(format, bytes, &Limits::default()).unwrap_or_else(|e| panic!("{format:?}: {e}"))
}

#[test]
fn docx_headings_lists_tables_and_footnotes() {
    let numbering = r#"<w:numbering xmlns:w="w"><w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:numFmt w:val="decimal"/></w:lvl></w:abstractNum><w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/></w:lvl></w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num><w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num></w:numbering>"#;
    let footnotes = r#"<w:footnotes xmlns:w="w"><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t>Measured in 1987.</w:t></w:r></w:p></w:footnote></w:footnotes>"#;
    let list = |num: u32, text: &str| {
        format!(
            r#"<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="{num}"/></w:numPr></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>"#
        )
    };
    let body = [
        para(Some("Title"), "Field Notes"),
        para(Some("berschrift1"), "Birds"),
        r#"<w:p><w:r><w:t>The heron waits</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r><w:r><w:t xml:space="preserve"> by the </w:t></w:r><w:del w:id="9"><w:r><w:delText>muddy </w:delText></w:r></w:del><w:ins w:id="10"><w:r><w:t>reed</w:t></w:r></w:ins><w:r><w:t>bank.</w:t></w:r></w:p>"#.to_string(),
        list(1, "first step"),
        list(1, "second step"),
        list(2, "a bullet"),
        para(Some("berschrift2"), "Counts"),
        r#"<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Species</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Count</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:p><w:r><w:t>Heron</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>3</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#.to_string(),
        para(None, "#hashtag is not a heading"),
    ]
    .concat();
    let bytes = docx(
        &body,
        &[
            ("word/numbering.xml", numbering),
            ("word/footnotes.xml", footnotes),
        ],
    );
    let read = read_ok(Format::Docx, &bytes);
    assert_eq!(read.title.as_deref(), Some("Field Notes"));
    assert_eq!(
        read.text,
        "# Field Notes\n\n# Birds\n\nThe heron waits[^1] by the reedbank.\n\n\
         1. first step\n1. second step\n- a bullet\n\n## Counts\n\n\
         | Species | Count |\n| Heron | 3 |\n\n\\#hashtag is not a heading\n\n\
         [^1]: Measured in 1987.\n\n"
    );
}

#[test]
fn odt_and_odp_read_their_structure() {
    let content = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:body><office:text>
        <text:tracked-changes><text:changed-region><text:deletion><text:p>deleted words</text:p></text:deletion></text:changed-region></text:tracked-changes>
        <text:h text:outline-level="1">Rivers</text:h>
        <text:p>The Danube<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>Second longest in Europe.</text:p></text:note-body></text:note> flows<text:s text:c="2"/>east.</text:p>
        <text:list><text:list-item><text:p>Vienna</text:p></text:list-item><text:list-item><text:p>Budapest</text:p></text:list-item></text:list>
        <text:h text:outline-level="2">Lengths</text:h>
        <table:table><table:table-row><table:table-cell><text:p>River</text:p></table:table-cell><table:table-cell><text:p>km</text:p></table:table-cell><table:table-cell/></table:table-row><table:table-row><table:table-cell><text:p>Danube</text:p></table:table-cell><table:table-cell><text:p>2850</text:p></table:table-cell></table:table-row></table:table>
        </office:text></office:body></office:document-content>"#;
    let meta = r#"<office:document-meta xmlns:office="o" xmlns:dc="dc"><office:meta><dc:title>Waterways</dc:title></office:meta></office:document-meta>"#;
    let odt = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("meta.xml", meta.as_bytes()),
    ]);
    let read = read_ok(Format::Odt, &odt);
    assert_eq!(read.title.as_deref(), Some("Waterways"));
    assert_eq!(
        read.text,
        "# Rivers\n\nThe Danube[^1] flows  east.\n\n- Vienna\n- Budapest\n\n## Lengths\n\n\
         | River | km |\n| Danube | 2850 |\n\n[^1]: Second longest in Europe.\n\n"
    );
    // The same as flat ODF (.fodt): one XML document, not a zip, with the
    // page footer and an inlined picture that are not the text.
    let body_start = content.find("<office:body>").expect("body");
    let flat = format!(
        r#"<?xml version="1.0"?><office:document xmlns:office="o" xmlns:dc="dc" xmlns:text="t" xmlns:table="tb" xmlns:style="s" xmlns:draw="d"><office:meta><dc:title>Waterways</dc:title></office:meta><office:master-styles><style:master-page><style:footer><text:p>Page footer</text:p></style:footer></style:master-page></office:master-styles>{}"#,
        content[body_start..].replace(
            "</office:document-content>",
            "</office:document>"
        ).replace(
            "<text:h text:outline-level=\"2\">",
            "<text:p><draw:frame><draw:image><office:binary-data>iVBORw0KGgo=</office:binary-data></draw:image></draw:frame></text:p><text:h text:outline-level=\"2\">"
        )
    );
    assert_eq!(read_ok(Format::Odt, flat.as_bytes()), read);

    let slides = r#"<office:document-content xmlns:office="o" xmlns:draw="d" xmlns:text="t" xmlns:presentation="p"><office:body><office:presentation>
        <draw:page draw:name="one"><draw:frame presentation:class="title"><draw:text-box><text:p>Quarterly review</text:p></draw:text-box></draw:frame>
        <draw:frame presentation:class="outline"><draw:text-box><text:list><text:list-item><text:p>Sales up</text:p></text:list-item></text:list></draw:text-box></draw:frame>
        <presentation:notes><draw:page-thumbnail/><draw:frame presentation:class="notes"><draw:text-box><text:p>Mention the otters.</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>
        <draw:page draw:name="blank"><draw:frame><draw:image/></draw:frame></draw:page>
        <draw:page draw:name="two"><draw:frame><draw:text-box><text:p>No title here</text:p></draw:text-box></draw:frame></draw:page>
        </office:presentation></office:body></office:document-content>"#;
    let odp = zip_of(&[("content.xml", slides.as_bytes())]);
    assert_eq!(
        read_ok(Format::Odp, &odp).text,
        "# Slide 1: Quarterly review\n\n- Sales up\n\nNotes: Mention the otters.\n\n\
         # Slide 3\n\nNo title here\n\n"
    );
    let flat = slides
        .replace("office:document-content", "office:document")
        .replace(
            "<office:body>",
            "<office:meta><dc:title>Review</dc:title></office:meta><office:body>",
        )
        .replace("xmlns:office=\"o\"", "xmlns:office=\"o\" xmlns:dc=\"dc\"");
    let flat_read = read_ok(Format::Odp, flat.as_bytes());
    assert_eq!(flat_read.text, read_ok(Format::Odp, &odp).text);
    assert_eq!(flat_read.title.as_deref(), Some("Review"));
}

#[test]
fn pptx_slides_in_deck_order_with_notes() {
    let rel = |id: &str, kind: &str, target: &str| {
        format!(
            r#"<Relationship Id="{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>"#
        )
    };
    let rels = |body: String| format!("<Relationships>{body}</Relationships>");
    let slide = |title: &str, body: &str| {
        format!(
            r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{title}</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{body}</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>99</a:t></a:r></a:p></p:txBody></p:sp><p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>cell of {title}</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>2</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></a:graphicData></a:graphic></p:graphicFrame><mc:AlternateContent xmlns:mc="mc"><mc:Choice Requires="p14"><p:sp><p:txBody><a:p><a:r><a:t>shape once</a:t></a:r></a:p></p:txBody></p:sp></mc:Choice><mc:Fallback><p:sp><p:txBody><a:p><a:r><a:t>shape once</a:t></a:r></a:p></p:txBody></p:sp></mc:Fallback></mc:AlternateContent></p:spTree></p:cSld></p:sld>"#
        )
    };
    let notes = r#"<p:notes xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="sldImg"/></p:nvPr></p:nvSpPr></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Say it slowly.</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#;
    let root = rels(rel("rId1", "officeDocument", "ppt/presentation.xml"));
    let presentation = r#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>"#;
    let presentation_rels = rels(
        rel("rId2", "slide", "slides/slide1.xml") + &rel("rId3", "slide", "slides/slide2.xml"),
    );
    let slide2_rels = rels(rel("rId1", "notesSlide", "../notesSlides/notesSlide1.xml"));
    let (one, two) = (
        slide("Later", "second in the deck"),
        slide("Opening", "first &amp; foremost"),
    );
    let bytes = zip_of(&[
        ("_rels/.rels", root.as_bytes()),
        ("ppt/presentation.xml", presentation.as_bytes()),
        (
            "ppt/_rels/presentation.xml.rels",
            presentation_rels.as_bytes(),
        ),
        ("ppt/slides/slide1.xml", one.as_bytes()),
        ("ppt/slides/slide2.xml", two.as_bytes()),
        ("ppt/slides/_rels/slide2.xml.rels", slide2_rels.as_bytes()),
        ("ppt/notesSlides/notesSlide1.xml", notes.as_bytes()),
    ]);
    assert_eq!(
        read_ok(Format::Pptx, &bytes).text,
        "# Slide 1: Opening\n\nfirst & foremost\n\n| cell of Opening | 2 |\n\nshape once\n\n\
         Notes: Say it slowly.\n\n\
         # Slide 2: Later\n\nsecond in the deck\n\n| cell of Later | 2 |\n\nshape once\n\n"
    );
}

#[test]
fn epub_chapters_in_spine_order_under_their_titles() {
    let container = r#"<container><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>"#;
    let opf = r#"<package xmlns:dc="dc"><metadata><dc:title>Sea Stories</dc:title></metadata><manifest>
        <item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/>
        <item id="c2" href="text/two%20b.xhtml" media-type="application/xhtml+xml"/>
        <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
        </manifest><spine><itemref idref="c2"/><itemref idref="c1"/></spine></package>"#;
    let nav = r#"<html><body><nav><ol><li><a href="text/one.xhtml">The Squid</a></li><li><a href="text/two%20b.xhtml#top">The Whale</a></li></ol></nav></body></html>"#;
    let one = "<html><body><p>A giant squid rose.</p><h2>Aftermath</h2><p>Calm.</p></body></html>";
    let two = "<html><head><title>ignored</title></head><body><h1>Chapter One</h1><p>The whale sang&nbsp;low.</p></body></html>";
    let bytes = zip_of(&[
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", container.as_bytes()),
        ("OEBPS/content.opf", opf.as_bytes()),
        ("OEBPS/nav.xhtml", nav.as_bytes()),
        ("OEBPS/text/one.xhtml", one.as_bytes()),
        ("OEBPS/text/two b.xhtml", two.as_bytes()),
    ]);
    let read = read_ok(Format::Epub, &bytes);
    assert_eq!(read.title.as_deref(), Some("Sea Stories"));
    assert_eq!(
        read.text,
        "# Chapter One\n\nThe whale sang low.\n\n# The Squid\n\nA giant squid rose.\n\n\
         ### Aftermath\n\nCalm.\n\n"
    );
}

fn xlsx(sheet: &str) -> Vec<u8> {
    let workbook = r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Stock" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let rels = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let root = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let types = r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    zip_of(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", root.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

#[test]
fn xlsx_rows_as_header_value_lines_with_cached_formula_values() {
    let sheet = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
        <row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c><c r="B1" t="inlineStr"><is><t>Price</t></is></c><c r="C1" t="inlineStr"><is><t>Double</t></is></c></row>
        <row r="2"><c r="A2" t="inlineStr"><is><t>Marmalade</t></is></c><c r="B2"><v>4.5</v></c><c r="C2"><f>B2*2</f><v>9</v></c></row>
        </sheetData></worksheet>"#;
    assert_eq!(
        read_ok(Format::Spreadsheet, &xlsx(sheet)).text,
        "# Stock\n\nItem: Marmalade\nPrice: 4.5\nDouble: 9\n\n"
    );
    // Cells in opposite corners: read as two cells, not as the half a
    // terabyte of a range between them.
    let corners = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Note</t></is></c></row><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far corner</t></is></c></row></sheetData></worksheet>"#;
    assert_eq!(
        read_ok(Format::Spreadsheet, &xlsx(corners)).text,
        "# Stock\n\nXFD: far corner\n\n"
    );
}

#[test]
fn notebooks_keep_markdown_code_and_text_output() {
    let notebook = serde_json::json!({
        "nbformat": 4,
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "cells": [
            {"cell_type": "markdown", "source": ["# Orbits\n", "Kepler's third law."]},
            {"cell_type": "code", "source": "print(2 ** 10)", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["1024\n"]},
                {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}}
            ]}
        ]
    });
    let read = read_ok(Format::Notebook, notebook.to_string().as_bytes());
    assert_eq!(
        read.text,
        "# Orbits\nKepler's third law.\n\n```python\nprint(2 ** 10)\n```\n\n\
         ```output\n1024\n```\n\n```output\n<Figure>\n```\n\n"
    );
    assert!(!read.text.contains("iVBOR"));
}

#[test]
fn mail_messages_with_headers_bodies_and_attachments() {
    let attachment = docx(&para(None, "The attached minutes mention a pangolin."), &[]);
    let encoded = base64(&attachment);
    let eml = format!(
        "From: Ada <ada@example.org>\r\nTo: bob@example.org\r\nSubject: =?UTF-8?Q?Caf=C3=A9_plans?=\r\nDate: Tue, 1 Apr 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Meet at <b>noon</b>.</p>\r\n--XX\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=minutes.docx\r\nContent-Disposition: attachment; filename=minutes.docx\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--XX\r\nContent-Type: image/png; name=a.png\r\nContent-Disposition: attachment; filename=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--XX--\r\n"
    );
    let read = read_ok(Format::Eml, eml.as_bytes());
    assert_eq!(read.title.as_deref(), Some("Café plans"));
    assert_eq!(
        read.text,
        "# Café plans\n\nFrom: Ada <ada@example.org>\nTo: bob@example.org\n\
         Date: 2025-04-01T10:00:00Z\nSubject: Café plans\n\nMeet at noon.\n\n\
         ## Attachment: minutes.docx\n\nThe attached minutes mention a pangolin.\n\n"
    );

    let mbox = "From a@x Tue Apr  1 10:00:00 2025\nFrom: a@x\nSubject: One\n\nfirst body\n\n\
                From b@x Tue Apr  1 11:00:00 2025\nFrom: b@x\nSubject: Two\n\nsecond body\n";
    let read = read_ok(Format::Mbox, mbox.as_bytes());
    assert!(
        read.text
            .starts_with("# One\n\nFrom: a@x\nSubject: One\n\nfirst body\n\n# Two\n"),
        "{}",
        read.text
    );
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        if out.len().is_multiple_of(76) {
            out.push_str("\r\n");
        }
    }
    out
}

fn skip(format: Format, bytes: &[u8]) -> SkipReason {
    match read(format, bytes, &Limits::default()) {
        Ok(read) => panic!("read: {}", read.text),
        Err(reason) => reason,
    }
}

#[test]
fn entity_bombs_and_external_entities_are_never_expanded() {
    let started = Instant::now();
    let read = read_ok(Format::Docx, &entity_bomb_docx("/etc/passwd"));
    assert!(started.elapsed().as_secs() < 5);
    assert!(
        read.text.contains("quokka") && read.text.contains("wombat"),
        "{}",
        read.text
    );
    assert!(!read.text.contains("lollol"), "{}", read.text);
    assert!(!read.text.contains("root:"), "{}", read.text);
}

#[test]
fn zip_bombs_are_refused_by_their_size_or_their_lie() {
    let started = Instant::now();
    // Honest: the header says 10 GB.
    let honest = docx_bomb(10 << 30, 10 << 30);
    assert!(honest.len() < 20 << 20, "{} bytes", honest.len());
    let reason = skip(Format::Docx, &honest).to_string();
    assert!(reason.contains("unpacks to 10.7 GB"), "{reason}");
    // Lying: the header says 1 MB, the data inflates to 10 GB.
    let lying = docx_bomb(10 << 30, 1 << 20);
    let reason = skip(Format::Docx, &lying).to_string();
    // zip itself notices, or the reader's own bound does.
    assert!(
        reason.contains("larger than its declared") || reason.contains("more than its header says"),
        "{reason}"
    );
    // A plain bomb under the size limit: 100 MiB of zeros, refused for its ratio.
    let zeros = vec![0u8; 100 << 20];
    let bomb = zip_of(&[("word/document.xml", &zeros)]);
    let reason = skip(Format::Docx, &bomb).to_string();
    assert!(reason.contains("zip bombs"), "{reason}");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn damaged_and_encrypted_files_are_skip_reasons() {
    let good = docx(&para(None, "fine"), &[]);
    let truncated = &good[..good.len() / 2];
    assert!(matches!(
        skip(Format::Docx, truncated),
        SkipReason::Damaged { .. }
    ));
    assert!(matches!(
        skip(Format::Pptx, b"not a zip at all"),
        SkipReason::Damaged { .. }
    ));
    for format in [Format::Docx, Format::Pptx, Format::Spreadsheet] {
        assert_eq!(
            skip(format, &encrypted_office_file()),
            SkipReason::Encrypted {
                format: format.label().into()
            }
        );
    }
    let odt = zip_of(&[
        (
            "META-INF/manifest.xml",
            b"<manifest><file-entry><encryption-data/></file-entry></manifest>",
        ),
        ("content.xml", b"\x8f\x12binary"),
    ]);
    assert!(matches!(
        skip(Format::Odt, &odt),
        SkipReason::Encrypted { .. }
    ));
    assert!(matches!(
        skip(Format::Notebook, b"{\"cells\": ["),
        SkipReason::Damaged { .. }
    ));
}

#[test]
fn mail_nested_past_the_limit_is_not_read() {
    // Each message carries the previous one as its attachment.
    let mut message = "Subject: innermost\r\n\r\nthe core\r\n".to_string();
    for n in 0..6 {
        message = format!(
            "Subject: level {n}\r\nContent-Type: multipart/mixed; boundary=B{n}\r\n\r\n--B{n}\r\nContent-Type: text/plain\r\n\r\nwrapper {n}\r\n--B{n}\r\nContent-Type: message/rfc822\r\n\r\n{message}\r\n--B{n}--\r\n"
        );
    }
    let read = read_ok(Format::Eml, message.as_bytes());
    assert!(
        read.text.contains("wrapper 5") && read.text.contains("nested too deep"),
        "{}",
        read.text
    );
    assert!(!read.text.contains("the core"), "{}", read.text);
}

#[test]
fn the_package_builders_make_what_the_readers_read() {
    use super::testing::{epub_of, odf_with_content, pptx};
    let slide = |text: &str| {
        format!(
            r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#
        )
    };
    let notes = r#"<p:notes xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="body"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Slowly.</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#;
    let deck = pptx(&[(&slide("One"), Some(notes)), (&slide("Two"), None)]);
    assert_eq!(
        read_ok(Format::Pptx, &deck).text,
        "# Slide 1: One\n\nNotes: Slowly.\n\n# Slide 2: Two\n\n"
    );
    let content = r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:h text:outline-level="1">Tides</text:h><text:p>Twice a day.</text:p></office:text></office:body></office:document-content>"#;
    let read = read_ok(Format::Odt, &odf_with_content(content));
    assert_eq!(read.text, "# Tides\n\nTwice a day.\n\n");
    assert_eq!(read.title.as_deref(), Some("Fuzzed"));
    let book = epub_of(&[
        "<html><body><p>First.</p></body></html>",
        "<html><body><p>Second.</p></body></html>",
    ]);
    let read = read_ok(Format::Epub, &book);
    assert_eq!(
        read.text,
        "# Chapter 1\n\nFirst.\n\n# Chapter 2\n\nSecond.\n\n"
    );
}
