//! End-to-end: query handling of `rag search`.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

#[test]
fn hostile_queries_never_fail() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let queries = [
        r#""unbalanced quote"#,
        "title:fugue AND (voices OR",
        "[brackets] {braces} ^2 ~3 *wild? \\escaped -not +must",
        "AND OR NOT",
        "",
        "   ",
        "東京 Ελληνικά 🚀",
        "\u{1b}[31mred\u{1b}[0m",
        // As long as a query may be.
        &"long ".repeat(800),
    ];
    for query in queries {
        for mode in ["hybrid", "bm25", "vector"] {
            let response = ws.search(query, mode);
            assert!(
                response["results"].is_array(),
                "{query:?} {mode}: {response}"
            );
        }
    }
    // Longer is refused by name, before any work: matching a pasted file
    // word by word would take seconds.
    let out = run(ws.rag().args(["search", &"long ".repeat(5000)]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the query is too long"), "{stderr}");
    // Query syntax is just text: a "field:" prefix still finds the word.
    assert_eq!(
        ws.result_paths("title:Belfast", "bm25")[0],
        "docs/belfast.md"
    );
}

#[test]
fn batch_answers_every_line_in_order() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let mut child = ws
        .rag()
        .args(["search", "--batch", "-", "-k", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Student's t-test statistics\n\nrocket propulsion\nEuropean badger\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["query"], "Student's t-test statistics");
    assert_eq!(lines[0]["results"][0]["path"], "docs/students-t-test.md");
    assert_eq!(lines[1]["results"].as_array().unwrap().len(), 0);
    assert_eq!(lines[2]["results"][0]["path"], "docs/rocket.md");
    assert_eq!(lines[3]["results"][0]["path"], "docs/european-badger.md");
    assert!(lines[3]["results"].as_array().unwrap().len() <= 3);

    let file = ws.path().join("queries.txt");
    std::fs::write(&file, "Belfast\n").unwrap();
    let out = ok(ws.rag().args(["search", "--batch"]).arg(&file));
    assert_eq!(json(&out)["results"][0]["path"], "docs/belfast.md");
}

#[test]
fn documents_with_escape_sequences_are_printed_safely() {
    let ws = Workspace::with_wiki();
    std::fs::write(
        ws.docs().join("evil.md"),
        "# Evil\n\nThe glorbnak \u{1b}]0;pwned\u{7}title \u{1b}[2J clears screens.\n",
    )
    .unwrap();
    ws.ingest_json(&[]);
    let human = ok(ws.rag().args(["search", "glorbnak", "--mode", "bm25"]));
    assert!(human.starts_with("docs/evil.md:3: "), "{human}");
    assert!(human.contains("glorbnak"), "{human}");
    assert!(!human.contains('\u{1b}'), "{human:?}");
    assert!(!human.contains('\u{7}'), "{human:?}");
}

#[test]
fn long_documents_cite_the_right_lines_and_sections() {
    let ws = Workspace::with_wiki();
    let mut text = String::from("# Handbook\n\nWelcome to the handbook.\n\n");
    for section in 0..12 {
        text.push_str(&format!("## Chapter {section}\n\n"));
        for line in 0..12 {
            text.push_str(&format!(
                "Chapter {section} paragraph {line} discusses ordinary matters of routine office procedure.\n"
            ));
        }
        if section == 7 {
            text.push_str("The quarterly flibbertigibbet audit happens here.\n");
        }
        text.push('\n');
    }
    std::fs::write(ws.docs().join("handbook.md"), &text).unwrap();
    ws.ingest_json(&[]);
    let response = ws.search("flibbertigibbet audit", "bm25");
    let top = &response["results"][0];
    assert_eq!(top["path"], "docs/handbook.md");
    assert!(
        top["heading"]
            .as_str()
            .unwrap()
            .starts_with("Handbook > Chapter 7"),
        "{top}"
    );
    let line = text
        .lines()
        .position(|l| l.contains("flibbertigibbet"))
        .unwrap() as u64
        + 1;
    let (start, end) = (
        top["line_start"].as_u64().unwrap(),
        top["line_end"].as_u64().unwrap(),
    );
    assert!(
        start <= line && line <= end,
        "{start}-{end} should contain {line}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let span = lines[start as usize - 1..end as usize].join("\n");
    assert_eq!(span.trim(), top["text"].as_str().unwrap().trim());
}

#[test]
fn absurd_numbers_are_refused_by_name_before_any_work() {
    let cases: &[&[&str]] = &[
        &["search", "x", "-k", "18446744073709551615"],
        &["search", "x", "-k", "0"],
        &["search", "x", "--bm25-weight", "NaN"],
        &["search", "x", "--vector-weight", "inf"],
        &["search", "x", "--bm25-weight", "0"],
        &["search", "x", "--rrf-k", "0"],
        &["search", "x", "--ef", "0"],
        &["search", "x", "--candidates", "99999999999"],
        &["generate", "hi", "--max-tokens", "18446744073709551584"],
        &["generate", "hi", "--top-p", "0"],
        &["ask", "q", "--temperature", "nan"],
        &["ask", "q", "--context-tokens", "10"],
        &["ask", "q", "--samples", "1000000"],
        &["ingest", "docs", "--threads", "0"],
    ];
    for args in cases {
        let out = common::run(common::rag().args(*args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let flag = args[2];
        assert!(
            stderr.contains(flag) && stderr.contains("must be"),
            "{args:?} should name {flag} and its range: {stderr}"
        );
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(common::rag().args(["completions", shell]));
        assert!(script.contains("min-evidence"), "{shell}");
        // Catalogue names for --model and the modes for --mode, not file names.
        assert!(script.contains("qwen2.5-coder-1.5b-instruct"), "{shell}");
        assert!(script.contains("hybrid"), "{shell}");
    }
    let bash = ok(common::rag().args(["completions", "bash"]));
    let completes = |flag: &str| {
        bash.split(&format!("{flag})"))
            .nth(1)
            .and_then(|rest| rest.split(";;").next())
            .unwrap_or_default()
            .to_string()
    };
    assert!(completes("--mode").contains("hybrid bm25 vector"), "{bash}");
    assert!(
        completes("--model").contains("smollm2-135m-instruct"),
        "{bash}"
    );
    assert!(!completes("--model").contains("compgen -f"), "{bash}");
    let man = ok(common::rag().arg("man"));
    assert!(man.contains(".TH rag 1"), "{man}");
    let help = ok(common::rag().arg("--help"));
    assert!(
        help.contains("[env:") && !help.contains("RAG_INDEX="),
        "{help}"
    );
}

#[test]
fn results_start_with_path_and_line_and_highlight_the_query() {
    let ws = Workspace::with_wiki();
    std::fs::write(
        ws.docs().join("notes.md"),
        "# Notes\n\nFirst line.\nSecond line.\nThe zanzibar cloves are here.\nLast line.\n",
    )
    .unwrap();
    ws.ingest_json(&[]);
    let plain = ok(ws
        .rag()
        .args(["search", "zanzibar cloves", "--mode", "bm25", "-k", "1"]));
    let mut lines = plain.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("docs/notes.md:5: "), "{plain}");
    assert!(!plain.contains('\x1b'), "no colour in a pipe: {plain}");
    assert!(lines
        .next()
        .unwrap()
        .contains("The zanzibar cloves are here."));

    let coloured = ok(ws.rag().args([
        "search",
        "zanzibar cloves",
        "--mode",
        "bm25",
        "-k",
        "1",
        "--color",
        "always",
    ]));
    assert!(
        coloured.contains("\x1b[1;31mzanzibar\x1b[0m"),
        "{coloured:?}"
    );
    let no_color = ok(ws.rag().env("NO_COLOR", "1").args([
        "search",
        "zanzibar cloves",
        "--mode",
        "bm25",
        "-k",
        "1",
    ]));
    assert!(!no_color.contains('\x1b'));
}

#[test]
fn an_html_page_is_cited_at_the_lines_of_its_file() {
    let ws = Workspace::with_wiki();
    // The page's chrome (head, script, navigation) comes first in the file.
    let head = "<script>\nvar x = 1;\n</script>\n".repeat(20);
    let page = format!(
        "<html><head><title>Pumps</title>\n{head}</head><body>\n<nav>Home</nav>\n<main>\n<h1>Coolant</h1>\n<p>The zorblax loop runs\nat four litres a second.</p>\n</main></body></html>\n"
    );
    let line = page.lines().position(|l| l.contains("zorblax")).unwrap() as u64 + 1;
    std::fs::write(ws.docs().join("pumps.html"), &page).unwrap();
    let out = run(ws.rag().args(["ingest", "docs"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response = ws.search("zorblax", "bm25");
    let hit = &response["results"][0];
    assert_eq!(hit["lines_in"], "file", "{hit}");
    assert_eq!(hit["line_end"].as_u64(), Some(line), "{hit}");
    let out = run(ws.rag().args(["search", "zorblax", "--mode", "bm25"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("docs/pumps.html:{line}:")),
        "{text}"
    );
}
