//! End-to-end: `rag ingest` on real files, then `rag search` and `rag status`.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::*;
use sha2::Digest;

#[test]
fn ingest_then_search_finds_the_right_file_in_every_mode() {
    let ws = Workspace::with_wiki();
    let summary = ws.ingest_json(&[]);
    assert_eq!(summary["indexed"], 6, "{summary}");
    assert_eq!(summary["skipped"], 0, "{summary}");
    assert!(summary["chunks_total"].as_u64().unwrap() >= 6);

    for mode in ["hybrid", "bm25", "vector"] {
        let paths = ws.result_paths(
            "subject that recurs in imitation across several voices",
            mode,
        );
        assert_eq!(paths[0], "docs/fugue.md", "mode {mode}: {paths:?}");
    }
    // Meaning, not words: no keyword of this query is in the badger article.
    let paths = ws.result_paths("a striped nocturnal mammal that digs burrows", "vector");
    assert_eq!(paths[0], "docs/european-badger.md", "{paths:?}");

    let response = ws.search("temperature scale where water freezes at zero", "hybrid");
    let top = &response["results"][0];
    assert_eq!(top["path"], "docs/celsius.md");
    assert_eq!(top["rank"], 1);
    assert_eq!(top["line_start"], 1);
    assert!(top["line_end"].as_u64().unwrap() >= 3);
    assert_eq!(top["heading"], "Celsius");
    assert!(top["text"].as_str().unwrap().contains("Celsius"));
    assert!(response["took_ms"].as_f64().unwrap() > 0.0);

    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["files"], 6);
    assert!(
        status["model_id"]
            .as_str()
            .unwrap()
            .starts_with("sentence-transformers/all-MiniLM-L6-v2@sha256:"),
        "{status}"
    );
    assert_eq!(status["dimension"], 384);
    assert!(status["size_bytes"].as_u64().unwrap() > 0);
    let human = ok(ws.rag().arg("status"));
    assert!(human.contains("files        6"), "{human}");
}

#[test]
fn reingest_touches_only_what_changed() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let generation =
        |ws: &Workspace| json(&ok(ws.rag().args(["status", "--json"])))["generation"].clone();
    let before = generation(&ws);

    let again = ws.ingest_json(&[]);
    assert_eq!(again["indexed"], 0, "{again}");
    assert_eq!(again["unchanged"], 6, "{again}");
    assert_eq!(
        generation(&ws),
        before,
        "nothing changed, nothing committed"
    );

    fs::write(
        ws.docs().join("fugue.md"),
        "# Fugue\n\nA fugue now mentions the zyxwvut quartet of Bach.\n",
    )
    .unwrap();
    fs::remove_file(ws.docs().join("rocket.md")).unwrap();
    fs::write(
        ws.docs().join("teapot.md"),
        "# Teapot\n\nA teapot is a vessel for steeping tea leaves in boiling water.\n",
    )
    .unwrap();
    let summary = ws.ingest_json(&[]);
    assert_eq!(summary["indexed"], 2, "changed + added: {summary}");
    assert_eq!(summary["removed"], 1, "{summary}");
    assert_eq!(summary["unchanged"], 4, "{summary}");
    assert_eq!(summary["files_total"], 6, "{summary}");

    assert_eq!(ws.result_paths("zyxwvut", "bm25")[0], "docs/fugue.md");
    assert_eq!(
        ws.result_paths("vessel for steeping tea", "hybrid")[0],
        "docs/teapot.md"
    );
    for mode in ["bm25", "vector", "hybrid"] {
        let paths = ws.result_paths("rocket engine propellant thrust spacecraft launch", mode);
        assert!(
            !paths.iter().any(|p| p.contains("rocket")),
            "{mode}: {paths:?}"
        );
        // The old version of the changed file is gone too.
        let response = ws.search("contrapuntal polyphonic compositional technique", mode);
        for result in response["results"].as_array().unwrap() {
            assert!(
                !result["text"].as_str().unwrap().contains("contrapuntal"),
                "{mode}: {result}"
            );
        }
    }

    // Ingesting another folder into the same index leaves the first one alone.
    fs::create_dir(ws.path().join("notes")).unwrap();
    fs::write(
        ws.path().join("notes/a.txt"),
        "Notes about gardening and compost heaps.\n",
    )
    .unwrap();
    json(&ok(ws.rag().args(["ingest", "notes", "--json"])));
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["files"], 7);

    let rebuilt = ws.ingest_json(&["--rebuild"]);
    assert_eq!(rebuilt["indexed"], 6, "{rebuilt}");
    assert_eq!(
        rebuilt["files_total"], 6,
        "--rebuild starts over: {rebuilt}"
    );
}

#[test]
fn bad_files_are_skipped_with_one_warning_each() {
    let ws = Workspace::with_wiki();
    let docs = ws.docs();
    fs::write(
        docs.join("binary.txt"),
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0",
    )
    .unwrap();
    fs::write(docs.join("latin1.txt"), b"caf\xe9 cr\xe8me br\xfbl\xe9e\n").unwrap();
    fs::write(docs.join("empty.md"), b"").unwrap();
    fs::write(docs.join("huge.txt"), "word ".repeat(2000)).unwrap();
    fs::write(
        docs.join("broken.pdf"),
        b"%PDF-1.7\n1 0 obj << /Type /Catalog",
    )
    .unwrap();
    symlink(docs.join("does-not-exist.md"), docs.join("dangling.md")).unwrap();
    fs::create_dir(docs.join("loop")).unwrap();
    symlink(&docs, docs.join("loop/back")).unwrap();
    fs::write(docs.join("picture.png"), b"\x89PNG\r\n").unwrap();
    fs::write(
        docs.join("good.pdf"),
        tiny_pdf("Zanzibar cloves and nutmeg"),
    )
    .unwrap();

    let out = run(ws
        .rag()
        .args(["ingest", "docs", "--json", "--max-file-size", "5KB"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    let bad = [
        ("binary.txt", "binary"),
        ("latin1.txt", "UTF-8"),
        ("empty.md", "empty"),
        ("huge.txt", "limit"),
        ("broken.pdf", "PDF"),
        ("dangling.md", "cannot read"),
        ("back", "loop"),
    ];
    for (name, why) in bad {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "one warning for {name}:\n{stderr}");
        assert!(lines[0].starts_with("warning: skipped"), "{}", lines[0]);
        assert!(lines[0].contains(why), "{name}: {}", lines[0]);
    }
    assert_eq!(summary["skipped"], bad.len(), "{summary}\n{stderr}");
    assert_eq!(summary["unsupported"], 1, "the png: {summary}");
    assert_eq!(
        summary["indexed"], 7,
        "6 articles + the good PDF: {summary}"
    );

    let response = ws.search("Zanzibar cloves", "bm25");
    let top = &response["results"][0];
    assert_eq!(top["path"], "docs/good.pdf");
    assert_eq!(top["page"], 1);
}

#[test]
fn ignore_files_exclude_globs_and_hidden_files_are_respected() {
    let ws = Workspace::with_wiki();
    let docs = ws.docs();
    fs::write(docs.join(".gitignore"), "secret.md\n").unwrap();
    fs::write(
        docs.join("secret.md"),
        "# Secret\n\nquuxplover in the gitignored file\n",
    )
    .unwrap();
    fs::create_dir(docs.join("drafts")).unwrap();
    fs::write(docs.join(".ragignore"), "drafts/\n").unwrap();
    fs::write(docs.join("drafts/d.md"), "quuxplover in a draft\n").unwrap();
    fs::write(docs.join(".hidden.md"), "quuxplover hidden\n").unwrap();
    fs::create_dir(docs.join("build")).unwrap();
    fs::write(docs.join("build/out.txt"), "quuxplover build output\n").unwrap();
    fs::write(docs.join("kept.md"), "quuxplover kept\n").unwrap();

    let summary = ws.ingest_json(&["--exclude", "build/**"]);
    assert_eq!(summary["indexed"], 7, "{summary}");
    let paths = ws.result_paths("quuxplover", "bm25");
    assert_eq!(paths, vec!["docs/kept.md"]);
}

#[test]
fn a_second_writer_gets_a_clear_error() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let lock = fs::File::options()
        .write(true)
        .open(ws.index().join("lock"))
        .unwrap();
    lock.try_lock().expect("the test takes the writer lock");
    let out = run(ws.rag().args(["ingest", "docs"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another process is writing the index at")
            && stderr.contains("wait for the other `rag ingest` to finish"),
        "{stderr}"
    );
    // Readers are not blocked by a writer.
    assert_eq!(ws.result_paths("Belfast", "bm25")[0], "docs/belfast.md");
    drop(lock);
    ws.ingest_json(&[]);
}

#[test]
fn an_index_from_another_embedding_model_is_refused() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let manifest = ws.index().join("manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(
            "sentence-transformers/all-MiniLM-L6-v2",
            "BAAI/bge-small-en-v1.5",
        ),
    )
    .unwrap();
    for args in [&["search", "fugue"][..], &["ingest", "docs"][..]] {
        let out = run(ws.rag().args(args));
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("BAAI/bge-small-en-v1.5"), "{stderr}");
        assert!(stderr.contains("--rebuild"), "{stderr}");
    }
    let rebuilt = ws.ingest_json(&["--rebuild"]);
    assert_eq!(rebuilt["indexed"], 6);
}

#[test]
fn missing_models_say_what_to_run() {
    let ws = Workspace::with_wiki();
    let out = run(ws
        .rag()
        .env("RAG_MODELS", ws.path().join("no-models"))
        .args(["ingest", "docs"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.onnx"), "{stderr}");
    assert!(stderr.contains("scripts/fetch-models"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!ws.index().join("manifest.json").exists());
}

/// As `ask` does: the bundled corpus's index, saying so and how to make one's own.
#[test]
fn search_without_an_index_uses_the_bundled_corpus_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = run(rag()
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", home.path())
        .env("RAG_CORPUS", std::path::Path::new(FIXTURES).join("wiki"))
        .args(["search", "fugue", "-k", "1"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no index here"), "{stderr}");
    assert!(stderr.contains("bundled corpus"), "{stderr}");
    assert!(stderr.contains("rag ingest"), "{stderr}");
    // A named index that is not there is an error, never the corpus.
    let out = run(rag()
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", home.path())
        .args(["search", "anything", "--index", "nothing-here"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no index found"), "{stderr}");
    assert!(stderr.contains("rag ingest"), "{stderr}");
}

#[test]
fn links_out_of_the_ingested_folders_are_skipped_unless_follow() {
    let ws = Workspace::with_wiki();
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("shadow.md"),
        "root:quixotic-pangolin-secret:19000:0:99999:7:::\n",
    )
    .unwrap();
    symlink(outside.path(), ws.docs().join("etclink")).unwrap();
    symlink(ws.docs().join("fugue.md"), ws.docs().join("inside-link.md")).unwrap();

    let out = run(ws.rag().args(["ingest", "docs", "--json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("etclink")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("outside") && warnings[0].contains("--follow"));
    assert_eq!(
        summary["indexed"], 7,
        "6 articles + the inside link: {summary}"
    );
    let found = ws.search("quixotic pangolin secret", "bm25");
    assert_eq!(found["results"].as_array().unwrap().len(), 0, "{found}");

    ws.ingest_json(&["--follow"]);
    let paths = ws.result_paths("quixotic pangolin secret", "bm25");
    assert_eq!(paths[0], "docs/etclink/shadow.md", "{paths:?}");
}

#[test]
fn the_index_folder_is_never_ingested() {
    let ws = Workspace::with_wiki();
    let out = run(ws.rag().args(["ingest", "docs", "--index", "docs"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("index folder"), "{stderr}");
    assert!(!ws.docs().join("manifest.json").exists());

    // An index inside the ingested folder is left out of it.
    ok(ws.rag().args(["ingest", ".", "--index", "idx"]));
    let again = json(&ok(ws
        .rag()
        .args(["ingest", ".", "--index", "idx", "--json"])));
    assert_eq!(again["indexed"], 0, "{again}");
    assert_eq!(again["files_total"], 6, "{again}");
}

#[test]
fn odd_file_names_and_utf16_are_indexed_losslessly() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let ws = Workspace::with_wiki();
    let docs = ws.docs();
    fs::write(
        docs.join(OsStr::from_bytes(b"coll\xff.md")),
        "Vermilion okapi notes, first file.\n",
    )
    .unwrap();
    fs::write(
        docs.join(OsStr::from_bytes(b"coll\xfe.md")),
        "Vermilion okapi notes, second file.\n",
    )
    .unwrap();
    fs::write(docs.join("new\nline.md"), "Tangerine axolotl husbandry.\n").unwrap();
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(
            "Cerulean narwhal migration, written by Notepad.\r\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    fs::write(docs.join("windows.txt"), utf16).unwrap();

    let first = ws.ingest_json(&[]);
    assert_eq!(first["indexed"], 10, "{first}");
    assert_eq!(first["files_total"], 10, "{first}");
    let again = ws.ingest_json(&[]);
    assert_eq!(again["indexed"], 0, "nothing re-indexed: {again}");

    let mut okapi = ws.result_paths("vermilion okapi", "bm25");
    okapi.sort();
    assert_eq!(okapi, ["docs/coll\\xfe.md", "docs/coll\\xff.md"]);
    assert_eq!(
        ws.result_paths("cerulean narwhal", "bm25")[0],
        "docs/windows.txt"
    );

    // JSON names the real file; the terminal shows it on one line.
    assert_eq!(
        ws.result_paths("tangerine axolotl", "bm25")[0],
        "docs/new\nline.md"
    );
    let shown = ok(ws
        .rag()
        .args(["search", "tangerine axolotl", "--mode", "bm25", "-k", "1"]));
    let first_line = shown.lines().next().unwrap();
    assert!(first_line.starts_with("docs/new\\nline.md:1:"), "{shown}");
}

/// A one-page PDF whose compressed content stream inflates to `operators`
/// text-showing operators (a "PDF bomb": small on disk, huge to parse).
fn pdf_bomb(operators: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(b"BT /F1 12 Tf 72 720 Td\n").unwrap();
    for _ in 0..operators {
        encoder.write_all(b"(ab) Tj\n").unwrap();
    }
    encoder.write_all(b"ET\n").unwrap();
    let stream = encoder.finish().unwrap();
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let mut object = |pdf: &mut Vec<u8>, n: usize, body: &[u8]| {
        offsets.push(pdf.len());
        pdf.extend(format!("{n} 0 obj\n").bytes());
        pdf.extend(body);
        pdf.extend(b"\nendobj\n");
    };
    object(&mut pdf, 1, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(&mut pdf, 2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    object(&mut pdf, 3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>");
    let mut body = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        stream.len()
    )
    .into_bytes();
    body.extend(&stream);
    body.extend(b"\nendstream");
    object(&mut pdf, 4, &body);
    object(
        &mut pdf,
        5,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    );
    let xref = pdf.len();
    pdf.extend(b"xref\n0 6\n0000000000 65535 f \n");
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").bytes());
    }
    pdf.extend(format!("trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").bytes());
    pdf
}

/// Readers are kept from file to file (`src/contained.rs`): the bomb's
/// reader is stopped, and the files read before and after it, by that reader
/// or another, each keep their own text.
#[test]
fn a_pdf_bomb_is_skipped_within_the_readers_budget_and_its_neighbours_read() {
    let ws = Workspace::with_wiki();
    let bomb = pdf_bomb(15_000_000);
    assert!(
        bomb.len() < 1_000_000,
        "small on disk: {} bytes",
        bomb.len()
    );
    fs::write(ws.docs().join("p10-bomb.pdf"), &bomb).unwrap();
    let word = |i: usize| format!("zanzibar{i}clove");
    for i in 0..20 {
        fs::write(
            ws.docs().join(format!("p{i:02}.pdf")),
            tiny_pdf(&format!("Spice note {} on nutmeg", word(i))),
        )
        .unwrap();
    }

    let out = run(ws.rag().args(["ingest", "docs", "--json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("bomb.pdf")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("budget"), "{}", warnings[0]);
    assert!(
        !stderr.contains("panicked"),
        "parser panics stay in the child: {stderr}"
    );
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(summary["indexed"], 6 + 20, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");
    for i in 0..20 {
        assert_eq!(
            ws.result_paths(&word(i), "bm25")[0],
            format!("docs/p{i:02}.pdf")
        );
    }
}

#[test]
fn text_without_a_known_extension_is_read_and_the_rest_is_listed() {
    let ws = Workspace::with_wiki();
    fs::write(
        ws.docs().join("README.Debian"),
        "Saffron lemur packaging notes for Debian.\n",
    )
    .unwrap();
    fs::write(ws.docs().join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    fs::write(ws.docs().join("data.weird"), b"\0\x01\x02binary").unwrap();
    fs::write(ws.docs().join("site.css"), "body { color: saffron; }\n").unwrap();
    let out = run(ws.rag().args(["ingest", "docs", "--verbose"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "indexed 7 files (0 unchanged, 0 removed, 0 skipped, 2 unsupported, 1 generated)"
        ),
        "{stderr}"
    );
    let css: Vec<&str> = stderr.lines().filter(|l| l.contains("site.css")).collect();
    assert_eq!(css.len(), 1, "{stderr}");
    assert!(
        css[0].starts_with("left out") && css[0].contains("a stylesheet"),
        "{}",
        css[0]
    );
    for name in ["logo.png", "data.weird"] {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(lines[0].starts_with("left out"), "{}", lines[0]);
    }
    assert_eq!(
        ws.result_paths("saffron lemur", "bm25")[0],
        "docs/README.Debian"
    );

    fs::write(ws.docs().join("one.md"), "Just one more file.\n").unwrap();
    let out = run(ws.rag().args(["ingest", "docs"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("indexed 1 file ("), "{stderr}");
}

#[test]
fn a_dry_run_lists_what_ingest_would_read_and_leave_out_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    fs::create_dir(&docs).unwrap();
    fs::write(docs.join("notes.md"), "# Notes\n\nSaffron.\n").unwrap();
    fs::write(docs.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    fs::write(docs.join("site.css"), "body { color: saffron; }\n").unwrap();
    fs::write(
        docs.join("searchindex-12ab.js"),
        "Object.assign(window.search, {});\n",
    )
    .unwrap();
    let out = run(rag()
        .current_dir(dir.path())
        .args(["ingest", "--dry-run", "docs"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{stdout}"))
            .to_string()
    };
    assert!(line("notes.md").starts_with("read "), "{stdout}");
    assert!(line("logo.png").starts_with("unsupported "), "{stdout}");
    assert!(
        line("site.css").starts_with("generated ") && line("site.css").contains("a stylesheet")
    );
    assert!(
        line("searchindex-12ab.js").contains("a search index"),
        "{stdout}"
    );
    assert!(
        stderr.contains("would read 1 file") && stderr.contains("2 generated, 1 unsupported"),
        "{stderr}"
    );
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "a dry run wrote an index");

    let out = run(rag()
        .current_dir(dir.path())
        .args(["ingest", "--dry-run", "--json", "docs"]));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "generated" && r["path"] == "docs/site.css"));
}

#[test]
fn watch_keeps_the_index_current_and_ctrl_c_exits_cleanly() {
    use std::time::Duration;
    let ws = Workspace::with_wiki();
    let watching = ws.watch();
    let found = |query: &str| !ws.result_paths(query, "bm25").is_empty();
    fs::write(ws.docs().join("new.md"), "Periwinkle quokka sightings.\n").unwrap();
    wait_until("a new file is found", &|| found("periwinkle quokka"));
    fs::remove_file(ws.docs().join("new.md")).unwrap();
    wait_until("a deleted file is gone", &|| !found("periwinkle quokka"));
    // The folder deleted and made again (a regenerated docs site) is a new
    // folder to watch.
    fs::remove_dir_all(ws.docs()).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    fs::create_dir(ws.docs()).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    fs::write(ws.docs().join("w.md"), "A wombat digs burrows.\n").unwrap();
    wait_until("a file in the new folder is found", &|| {
        found("wombat burrows")
    });
    assert!(!found("fugue"), "the old folder's files are gone");

    let (status, lines) = watching.interrupt();
    assert!(status.success(), "{status:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("indexed 1 file")),
        "{lines:?}"
    );
}

/// A long first ingest: committed early (status sees it, and says an ingest
/// runs), Ctrl+C answered at once, what was embedded kept, exit 130.
#[test]
fn a_long_ingest_commits_early_and_stops_on_ctrl_c_keeping_its_work() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    fs::create_dir(&docs).unwrap();
    for i in 0..2000 {
        fs::write(
            docs.join(format!("note-{i:04}.md")),
            format!(
                "Field note {i}: the heron count at pond {i} was {}.\n",
                i * 7 % 31
            ),
        )
        .unwrap();
    }
    let index = dir.path().join("idx");
    let mut child = rag()
        .current_dir(dir.path())
        .args(["ingest", "docs", "--threads", "1", "--index"])
        .arg(&index)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !index.join("manifest.json").exists() {
        assert!(
            Instant::now() < deadline,
            "no early commit within two minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest ended before its first commit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = ok(rag().args(["status", "--index"]).arg(&index));
    let running = child.try_wait().unwrap().is_none();
    if running {
        assert!(status.contains("an ingest is running"), "{status}");
    }
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    if !running {
        return; // finished first: nothing left to interrupt on this machine
    }
    assert_eq!(status.code(), Some(130), "{stderr}");
    // ("stopping:" is said at once unless the ingest stopped even sooner.)
    assert!(stderr.contains("stopped: indexed"), "{stderr}");
    let after = json(&ok(rag().args(["status", "--json", "--index"]).arg(&index)));
    let files = after["files"].as_u64().unwrap_or_default();
    assert!(files > 0 && files < 2000, "{after}");
    assert_eq!(after["ingesting"], false);
    // The next ingest carries on with the rest.
    let summary = json(&ok(rag()
        .current_dir(dir.path())
        .args(["ingest", "docs", "--json", "--index"])
        .arg(&index)));
    assert_eq!(summary["files_total"], 2000, "{summary}");
    assert_eq!(summary["unchanged"].as_u64(), Some(files), "{summary}");
}

#[test]
fn status_says_what_the_index_covers_and_forget_drops_a_folder() {
    let ws = Workspace::with_wiki();
    fs::create_dir(ws.path().join("more")).unwrap();
    fs::write(ws.path().join("more/p.md"), "Ochre pangolin field notes.\n").unwrap();
    fs::write(ws.path().join("more/logo.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    ok(ws.rag().args(["ingest", "docs", "more"]));
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(
        status["roots"],
        serde_json::json!(["docs", "more"]),
        "{status}"
    );
    assert_eq!(status["unsupported"], 1, "{status}");
    assert_eq!(status["answer_model"], "smollm2-135m-instruct", "{status}");
    let human = ok(ws.rag().arg("status"));
    assert!(
        human.contains("covers       docs\n             more\n"),
        "{human}"
    );

    let forgot = json(&ok(ws.rag().args(["forget", "more", "--json"])));
    assert_eq!(
        (forgot["files"].as_u64(), forgot["chunks"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        ws.path().join("more/p.md").exists(),
        "the file itself stays"
    );
    assert!(ws.result_paths("ochre pangolin", "bm25").is_empty());
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    assert_eq!(status["roots"], serde_json::json!(["docs"]));
    assert_eq!(status["files"], 6);
    let again = run(ws.rag().args(["forget", "more"]));
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing under more"));
    // The next ingest of the rest does not bring it back.
    assert_eq!(ws.ingest_json(&[])["files_total"], 6);
}

/// The index carries the embedding weight file's hash: vectors from another
/// file of the same model (int8 or fp32) are refused with the remedy, and an
/// index stamped by name alone (before hashes) still opens.
#[test]
fn the_index_names_the_embedding_file_it_was_built_with() {
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let status = json(&ok(ws.rag().args(["status", "--json"])));
    let id = status["model_id"].as_str().unwrap().to_string();
    let (name, hash) = id.split_once("@sha256:").expect("a file hash");
    assert_eq!(name, "sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(hash.len(), 16, "{id}");
    let onnx = models_dir().join("all-MiniLM-L6-v2").join("model.onnx");
    let digest = sha2::Sha256::digest(std::fs::read(&onnx).unwrap());
    let full: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, &full[..16], "the hash of {}", onnx.display());

    let manifest = ws.index().join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains(&id), "{text}");
    std::fs::write(&manifest, text.replace(hash, "0123456789abcdef")).unwrap();
    let out = run(ws.rag().args(["search", "badger"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was built with the embedding model")
            && stderr.contains("rag ingest --rebuild"),
        "{stderr}"
    );

    std::fs::write(&manifest, text.replace(&format!("@sha256:{hash}"), "")).unwrap();
    assert_eq!(
        ws.result_paths("badger", "hybrid")[0],
        "docs/european-badger.md"
    );
}
