//! Real documentation as the toolchain and docs generators ship it
//! (`tests/fixtures/docs`: four pages of the Cargo Book with mdBook's print page
//! and assets, four pages of a Sphinx site): what is read, which copy of a
//! passage is shown, and the answers of the default model.

mod common;

use std::path::{Path, PathBuf};

use common::{json, ok, rag};

/// Measured at the commit that set them (`rag eval qa tests/fixtures/qa-docs.jsonl`
/// over an index of tests/fixtures/docs, default model, greedy). Raise them
/// when answers get better; never lower them to make a change pass.
const RIGHT_ANSWERS: usize = 5;
const SOURCES_CITED: usize = 5;
const CITED_BY_THE_MODEL: usize = 5;
const REFUSED: usize = 1;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Ingests the docs fixtures from the repository root (so paths read
/// `tests/fixtures/docs/...`) and returns the index and the summary.
fn docs_index(dir: &Path) -> (PathBuf, serde_json::Value) {
    let index = dir.join("index");
    let summary = json(&ok(rag()
        .current_dir(root())
        .arg("--index")
        .arg(&index)
        .args(["ingest", "tests/fixtures/docs", "--json"])));
    (index, summary)
}

#[test]
fn a_docs_site_is_read_without_its_assets_and_each_passage_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let (index, summary) = docs_index(dir.path());
    // searchindex.js twice, a minified script, a fingerprinted theme script
    // (book-a0b12cfe.js), two stylesheets, an SVG, a redirect page.
    assert_eq!(summary["generated"], 8, "{summary}");
    assert_eq!(summary["skipped"], 0, "{summary}");

    let out = ok(rag().current_dir(root()).arg("--index").arg(&index).args([
        "search",
        "add a dependency from a git repository",
        "--json",
        "-k",
        "5",
    ]));
    let results = json(&out)["results"].as_array().unwrap().clone();
    let paths: Vec<&str> = results
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths[0], "tests/fixtures/docs/cargo/reference/specifying-dependencies.html",
        "{paths:?}"
    );
    assert_eq!(
        results[0]["also_in"],
        serde_json::json!(["tests/fixtures/docs/cargo/print.html"])
    );
    // Every chapter of this print page is also a page of its own.
    assert!(
        !paths.iter().any(|p| p.ends_with("print.html")),
        "{paths:?}"
    );
    assert!(
        results[0]["heading"]
            .as_str()
            .unwrap()
            .starts_with("The Cargo Book > Specifying Dependencies > "),
        "{}",
        results[0]["heading"]
    );
    for result in &results {
        let text = result["text"].as_str().unwrap();
        assert!(!text.contains("]["), "link syntax in {text}");
    }
}

#[test]
fn docs_questions_with_the_default_model_do_not_regress() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = docs_index(dir.path());
    let empty_config = dir.path().join("config.toml");
    std::fs::write(&empty_config, "").unwrap();
    let out = ok(rag()
        .current_dir(root())
        .env("RAG_CONFIG", &empty_config)
        .arg("--index")
        .arg(&index)
        .args(["eval", "qa", "--json", "tests/fixtures/qa-docs.jsonl"]));
    let result = json(&out);
    let rows = result["questions"].as_array().expect("rows");
    let count = |key: &str| rows.iter().filter(|r| r[key] == true).count();
    let (right, cited, cited_by_model) = (
        count("correct"),
        count("source_cited"),
        count("source_cited_by_model"),
    );
    let refused = rows
        .iter()
        .filter(|r| r["answerable"] == false && r["refused"] == true)
        .count();
    eprintln!(
        "qa-docs: {right} right, {cited} sources cited ({cited_by_model} by the model), \
         {refused} refused; {}",
        result["report"]
    );
    for row in rows {
        eprintln!(
            "{} right={} refused={} cited={}: {}",
            row["id"], row["correct"], row["refused"], row["source_cited"], row["answer"]
        );
        let citations = row["citations"].as_array().unwrap();
        assert!(
            !citations
                .iter()
                .any(|c| c.as_str().unwrap().contains("print.html")),
            "a citation of the print page: {row}"
        );
    }
    assert!(right >= RIGHT_ANSWERS, "{right} right, was {RIGHT_ANSWERS}");
    assert!(cited >= SOURCES_CITED, "{cited} cited, was {SOURCES_CITED}");
    assert!(
        cited_by_model >= CITED_BY_THE_MODEL,
        "{cited_by_model} cited by the model, was {CITED_BY_THE_MODEL}"
    );
    assert!(refused >= REFUSED, "{refused} refused, was {REFUSED}");
}
