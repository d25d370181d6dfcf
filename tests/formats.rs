//! Word, OpenDocument, Rich Text, EPUB, slides, spreadsheets, notebooks and mail, made by
//! their real producers (`tests/fixtures/formats`, `scripts/make-format-fixtures`):
//! each file's own fact is found by `rag search`, a document reads the same
//! whichever format it was saved in, and hostile files (bombs, entities,
//! damage, passwords) are skipped within the reader's budget while the rest
//! of the folder is indexed.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{catalogue_model, json, ok, run, tiny_pdf_pages, Workspace, FIXTURES};
use rag_index::extract::{extract, kind_of};
use rag_index::formats::testing;
use rag_index::{Chunker, ChunkerConfig, Embedder};

fn with_formats() -> Workspace {
    let ws = Workspace::with_wiki();
    for entry in fs::read_dir(Path::new(FIXTURES).join("formats")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), ws.docs().join(entry.file_name())).unwrap();
    }
    ws
}

/// Files of the fixtures folder (README.md included) and the wiki articles.
const FILES: usize = 18 + 6;

#[test]
fn each_format_is_read_and_its_own_fact_found() {
    let ws = with_formats();
    let out = run(ws.rag().args(["ingest", "docs", "--json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("locked.docx") && warnings[0].contains("password"),
        "{}",
        warnings[0]
    );
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(summary["indexed"], FILES - 1, "{summary}");

    let cases: &[(&str, &[&str], &str)] = &[
        (
            "Skerryvore keeper storms",
            &["report.docx"],
            "Lighthouse report",
        ),
        (
            "marmoset grant",
            &["deck.pptx", "deck.odp"],
            "Slide 2: Budget",
        ),
        ("Kerguelen cartographer", &["voyage.epub"], "The Coast"),
        (
            "glassblower Lindqvist annealing",
            &["diary.rtf"],
            "Kiln log",
        ),
        ("pyrometer", &["diary.rtf"], "Kiln log"),
        ("Calypso probe Titan", &["orbits.ipynb"], "Orbits"),
        ("Mersenne answer", &["orbits.ipynb"], "Orbits"),
        ("quince harvest festival", &["minutes.eml"], "Zoo committee"),
        (
            "pangolin enclosure",
            &["minutes.eml"],
            "Attachment: minutes.docx",
        ),
        ("observatory dome locker", &["archive.mbox"], "Keys"),
        ("Ingrid Solberg stocktaking", &["inventory"], "Notes"),
        (
            "queen cells swarm",
            &["same.md", "same.docx", "same.odt", "same.rtf"],
            "Swarm control",
        ),
    ];
    for (query, files, heading) in cases {
        let response = ws.search(query, "bm25");
        let results = response["results"].as_array().unwrap();
        // A passage found in several files is shown once, with the others
        // in `also_in` (the same text read from .md, .docx and .odt is one).
        let found: Vec<&str> = results
            .iter()
            .flat_map(|r| {
                let also = r["also_in"].as_array().unwrap().iter();
                std::iter::once(&r["path"]).chain(also)
            })
            .map(|p| p.as_str().unwrap())
            .collect();
        let top = &found[..files.len().min(found.len())];
        for path in top {
            assert!(
                files.iter().any(|f| path.contains(f)),
                "{query}: {found:?} {response}"
            );
        }
        for file in *files {
            assert!(found.iter().any(|p| p.contains(file)), "{query}: {found:?}");
        }
        // Small sections share a chunk: the section is in its heading path,
        // or its heading line is in its text.
        let first = &results[0];
        assert!(
            first["heading"].as_str().unwrap().contains(heading)
                || first["text"]
                    .as_str()
                    .unwrap()
                    .contains(&format!(" {heading}\n")),
            "{query}: {heading} in {first}"
        );
    }
    // Each says where in the document it is, as the spreadsheet, the deck,
    // the book, the mailbox and the notebook number their parts.
    let places: &[(&str, &str, &str)] = &[
        ("marmoset grant", "deck.", " slides 1-2"),
        ("Kerguelen cartographer", "voyage.epub", " chapters 1-2"),
        ("Calypso probe Titan", "orbits.ipynb", " cells 1-2"),
        ("observatory dome locker", "archive.mbox", " messages 1-2"),
        (
            "Ingrid Solberg stocktaking",
            "inventory",
            " row 1 to Notes row ",
        ),
        ("Skerryvore keeper storms", "report.docx", " text lines 1-"),
        (
            "glassblower Lindqvist annealing",
            "diary.rtf",
            " text lines ",
        ),
    ];
    for (query, file, place) in places {
        let response = ws.search(query, "bm25");
        let first = &response["results"][0];
        let cited = first["cited_at"].as_str().unwrap();
        assert!(
            cited.contains(file) && cited.contains(place),
            "{query}: {place:?} in {first}"
        );
        assert_eq!(first["lines_in"], "text", "{first}");
    }
    // No base64 image in any passage.
    let image = ws.search("iVBORw0KGgoAAAANSUhEUg", "bm25");
    assert!(image["results"].as_array().unwrap().is_empty(), "{image}");
}

/// Each format's own fact, asked with `rag batch`, is answered and cited
/// where in its document the quote backing the answer is: the slide, the
/// chapter, the cell, the message, the row, the page, not the whole span of
/// the passage (the deck's passage holds slides 1-2, the answer is on 2).
#[test]
fn each_format_s_fact_is_answered_and_cited_where_its_quote_is() {
    const MODEL: &str = "qwen2.5-coder-0.5b-instruct";
    catalogue_model(MODEL);
    let ws = with_formats();
    fs::write(
        ws.docs().join("manual.pdf"),
        tiny_pdf_pages(&[
            "The lamp of the Fastnet light is lit at dusk by the keeper.",
            "The spare lens for the Fastnet lamp is kept in cabinet 31.",
        ]),
    )
    .unwrap();
    ok(ws.rag().args(["ingest", "docs"]));
    // (question, a word of the answer, the file, where in it)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "When does the marmoset grant close?",
            "March",
            "deck.",
            " slide 2",
        ),
        (
            "Who mapped the Kerguelen coast?",
            "Brandt",
            "voyage.epub",
            " chapter 2 (The Coast)",
        ),
        (
            "After how many days did the probe Calypso-7 reach Titan?",
            "2291",
            "orbits.ipynb",
            " cell 1",
        ),
        (
            "Where does the spare key for the observatory dome hang?",
            "58",
            "archive.mbox",
            " message 2 (Keys, ",
        ),
        (
            "In which warehouse are the tungsten anvils kept?",
            "Troms",
            "inventory",
            " Inventory row 2",
        ),
        (
            "Where is the spare lens for the Fastnet lamp kept?",
            "31",
            "manual.pdf",
            " page 2",
        ),
        (
            "How many storms did the keeper of Skerryvore log in one winter?",
            "417",
            "report.docx",
            " text lines ",
        ),
        (
            "When does the pangolin enclosure open?",
            "June",
            "minutes.eml",
            " text lines ",
        ),
    ];
    let questions = ws.path().join("questions.txt");
    let lines: Vec<&str> = cases.iter().map(|case| case.0).collect();
    fs::write(&questions, lines.join("\n")).unwrap();
    let out =
        ok(ws
            .rag()
            .arg("batch")
            .arg(&questions)
            .args(["--model", MODEL, "--max-tokens", "48"]));
    let records: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(records.len(), cases.len(), "{out}");
    for ((question, answer, file, place), record) in cases.iter().zip(&records) {
        assert_eq!(record["question"], *question);
        assert!(
            record["answer"].as_str().unwrap().contains(answer),
            "{question}: {record}"
        );
        let cited: Vec<&str> = record["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cited_at"].as_str().unwrap())
            .collect();
        assert!(
            cited.iter().any(|c| c.contains(file) && c.contains(place)),
            "{question}: {place:?} of {file} in {cited:?}"
        );
    }
}

#[test]
fn formulas_give_their_saved_values_not_their_source() {
    let text = |name: &str| {
        let path = Path::new(FIXTURES).join("formats").join(name);
        let kind = kind_of(&path).unwrap();
        extract(&path, kind, &fs::read(&path).unwrap())
            .unwrap()
            .text
    };
    for name in ["inventory-lo.xlsx", "inventory.ods", "inventory.xls"] {
        let text = text(name);
        assert!(text.contains("Item: tungsten anvil\nWarehouse: Tromsø\nCount: 3\nWeight each: 41\nTotal weight: 123\n"), "{name}: {text}");
        assert!(!text.contains("C2*D2"), "{name}: {text}");
    }
    // openpyxl saves formulas without values: there is no value to give.
    let text = text("inventory.xlsx");
    // Its values are read, on both sheets; only the formula's is missing.
    assert!(
        text.contains("Item: tungsten anvil\nWarehouse: Tromsø\nCount: 3\nWeight each: 41\n\n")
            && text.contains("# Notes\n\nRemark: Stocktaking is done by Ingrid Solberg\n"),
        "{text}"
    );
    assert!(
        !text.contains("Total weight") && !text.contains("C2*D2"),
        "{text}"
    );
}

#[test]
fn unchanged_documents_are_skipped_and_a_changed_one_read_again() {
    let ws = with_formats();
    ws.ingest_json(&[]);
    let again = ws.ingest_json(&[]);
    assert_eq!(again["indexed"], 0, "{again}");
    assert_eq!(again["unchanged"], FILES - 1, "{again}");
    fs::write(
        ws.docs().join("report.docx"),
        testing::docx(&testing::para(None, "Now about a narwhal tusk."), &[]),
    )
    .unwrap();
    let changed = ws.ingest_json(&[]);
    assert_eq!(changed["indexed"], 1, "{changed}");
    assert_eq!(
        ws.result_paths("narwhal tusk", "bm25")[0],
        "docs/report.docx"
    );
    assert!(ws.result_paths("Skerryvore storms", "bm25").is_empty());
}

/// Lower-case words: what a document says, whatever its format's markup.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn the_same_text_saved_as_docx_odt_and_rtf_gives_the_chunks_of_its_markdown() {
    let embedder = rag_index::test_embedder::TestEmbedder::new();
    let config = ChunkerConfig {
        target_tokens: 40,
        max_tokens: 60,
        overlap_tokens: 0,
    };
    let chunker = Chunker::new(embedder.tokenizer(), config).unwrap();
    let chunks = |name: &str| {
        let path = Path::new(FIXTURES).join("formats").join(name);
        let kind = kind_of(&path).unwrap();
        let doc = extract(&path, kind, &fs::read(&path).unwrap()).unwrap();
        chunker
            .chunk(&doc)
            .into_iter()
            .map(|c| (c.heading, words(&c.text)))
            .collect::<Vec<_>>()
    };
    let markdown = chunks("same.md");
    assert!(markdown.len() > 2, "{markdown:?}");
    for other in ["same.docx", "same.odt", "same.rtf"] {
        assert_eq!(chunks(other), markdown, "{other}");
    }
}

/// Zips of four zips each, `levels` deep, 10 MB of zeros at the bottom.
fn nested_zips(levels: usize) -> Vec<u8> {
    let mut archive = testing::zip_of(&[("zeros", &vec![0u8; 10 << 20])]);
    for _ in 0..levels {
        let names = ["0.zip", "1.zip", "2.zip", "3.zip"];
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, archive.as_slice())).collect();
        archive = testing::zip_of(&entries);
    }
    archive
}

/// Two messages, the first with an attachment of `bytes` zero bytes in base64.
fn mailbox_with_attachment(bytes: usize) -> Vec<u8> {
    let mut mbox = String::from(
        "From ada@example.org Tue Apr  1 10:00:00 2025\r\nFrom: Ada <ada@example.org>\r\nSubject: Survey\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nThe heron survey data is attached.\r\n--XX\r\nContent-Type: application/octet-stream; name=survey.bin\r\nContent-Disposition: attachment; filename=survey.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    let line = "A".repeat(76) + "\r\n";
    for _ in 0..(bytes / 3 * 4).div_ceil(76) {
        mbox.push_str(&line);
    }
    mbox.push_str("--XX--\r\n\r\nFrom bob@example.org Tue Apr  1 11:00:00 2025\r\nFrom: Bob <bob@example.org>\r\nSubject: Zoo\r\n\r\nThe keeper saw an ocelot.\r\n");
    mbox.into_bytes()
}

#[test]
fn hostile_documents_are_skipped_within_budget_and_the_rest_kept() {
    let ws = Workspace::with_wiki();
    let docs = ws.docs();
    let good = testing::docx(&testing::para(None, "A harmless note on kingfishers."), &[]);
    let hostile: Vec<(&str, Vec<u8>, &str)> = vec![
        // 10 GB in its header, about 10 MB on disk.
        (
            "bomb-10gb.docx",
            testing::docx_bomb(10 << 30, 10 << 30),
            "10.7 GB",
        ),
        // The header says 1 MB; the data inflates to 10 GB.
        (
            "bomb-lying.docx",
            testing::docx_bomb(10 << 30, 1 << 20),
            "declared",
        ),
        (
            "bomb-ratio.xlsx",
            testing::zip_of(&[("xl/worksheets/sheet1.xml", &vec![b' '; 100 << 20])]),
            "zip bombs",
        ),
        ("truncated.docx", good[..good.len() / 2].to_vec(), "zip"),
        ("locked.pptx", testing::encrypted_office_file(), "password"),
        ("garbage.epub", b"PK\x03\x04 not really".to_vec(), "EPUB"),
        (
            "plain.rtf",
            b"Plain words saved as .rtf".to_vec(),
            "not RTF",
        ),
        (
            "deep.rtf",
            format!("{{\\rtf1 {}", "{".repeat(200_000)).into_bytes(),
            "nested more than",
        ),
        // 42.zip's layers: zips of zips, 640 MB of zeros inside; no reader
        // opens an archive found in an archive.
        ("nested.docx", nested_zips(3), "no word/document.xml"),
    ];
    for (name, bytes, _) in &hostile {
        fs::write(docs.join(name), bytes).unwrap();
    }
    fs::write(
        docs.join("laughs.docx"),
        testing::entity_bomb_docx("/etc/passwd"),
    )
    .unwrap();
    fs::write(docs.join("good.docx"), &good).unwrap();
    fs::write(docs.join("big.mbox"), mailbox_with_attachment(50 << 20)).unwrap();

    let started = Instant::now();
    let out = run(ws
        .rag()
        .args(["ingest", "docs", "--json", "--max-file-size", "100MB"]));
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    for (name, _, why) in &hostile {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "one warning for {name}:\n{stderr}");
        assert!(lines[0].starts_with("warning: skipped"), "{}", lines[0]);
        assert!(lines[0].contains(why), "{name}: {}", lines[0]);
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(summary["skipped"], hostile.len(), "{summary}");
    assert_eq!(summary["indexed"], 6 + 3, "{summary}");

    assert_eq!(ws.result_paths("kingfishers", "bm25")[0], "docs/good.docx");
    // Both messages of the mailbox, the large attachment (of a kind rag
    // does not read) left out.
    assert_eq!(ws.result_paths("heron survey", "bm25")[0], "docs/big.mbox");
    assert_eq!(ws.result_paths("ocelot", "bm25")[0], "docs/big.mbox");
    let laughs = ws.search("quokka wombat", "bm25");
    let text = laughs["results"][0]["text"].as_str().unwrap().to_string();
    assert_eq!(laughs["results"][0]["path"], "docs/laughs.docx");
    assert!(
        !text.contains("lollol") && !text.contains("root:"),
        "{text}"
    );
    let passwd = ws.search("root", "bm25");
    assert!(
        !passwd["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "docs/laughs.docx"),
        "{passwd}"
    );
}
