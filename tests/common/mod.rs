//! Helpers for end-to-end tests: they run the real `rag` binary on real files
//! in temporary folders, with the real models from `scripts/fetch-models`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The model folder the tests use. Missing models fail the test loudly: a
/// suite that skips when the models are absent proves nothing.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("RAG_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share")
                });
            home.join("rag/models")
        });
    let onnx = dir.join("all-MiniLM-L6-v2/model.onnx");
    assert!(
        onnx.is_file(),
        "the embedding model is missing ({}); run scripts/fetch-models first",
        onnx.display()
    );
    dir
}

/// The config the tests run under: it names the fast model, since most tests
/// check behaviour, not answer quality (those name their model themselves).
pub const TEST_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/test-config.toml"
);

/// A catalogue model's file in the test model folder; a missing one fails the
/// test with the command that fetches it.
pub fn catalogue_model(name: &str) -> PathBuf {
    let entry = rag::models::catalogue()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
    let path = entry.path_in(&models_dir());
    assert!(
        path.is_file(),
        "the {name} model is missing ({}); run scripts/fetch-models --model {name}",
        path.display()
    );
    path
}

/// Our tokenizer against llama.cpp's ids of a reference file's `tokenize`
/// cases: special-token text read as text (`ids`) and as the special token
/// (`ids_special`). Returns how many cases were compared.
pub fn assert_tokenizes_like_reference(
    tokenizer: &rag::llm::Tokenizer,
    reference: &serde_json::Value,
    label: &str,
) -> usize {
    let cases = reference["tokenize"].as_array().expect("cases");
    for case in cases {
        let text = case["text"].as_str().expect("text");
        assert_eq!(
            tokenizer.encode_literal(text).unwrap(),
            ids(&case["ids"]),
            "{label}: literal ids of {text:?}"
        );
        assert_eq!(
            tokenizer.encode(text).unwrap(),
            ids(&case["ids_special"]),
            "{label}: ids of {text:?}"
        );
    }
    cases.len()
}

pub fn rag() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
    cmd.env("RAG_MODELS", models_dir())
        .env("RAG_OFFLINE", "1")
        .env("RAG_CONFIG", TEST_CONFIG)
        // Saved prompt starts go under target/, not the user's cache.
        .env("XDG_CACHE_HOME", test_cache())
        .env_remove("RAG_INDEX");
    cmd
}

/// The cache folder every test's `rag` shares.
pub fn test_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache")
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the rag binary runs")
}

/// Runs and asserts success, returning stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout: {}\nstderr: {}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `rag ask ... --json` and checks the exit status against the answer:
/// 0 when it answered, 1 when it refused (as `grep` does when nothing matches).
pub fn asked(cmd: &mut Command) -> serde_json::Value {
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer = json(&stdout);
    let expected = if answer["refused"] == true { 1 } else { 0 };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{:?}: refused is {}, stderr: {}",
        cmd,
        answer["refused"],
        String::from_utf8_lossy(&out.stderr)
    );
    answer
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A temp folder holding a copy of the wiki fixtures in `docs/`; the index goes to `.rag/`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn with_wiki() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        for entry in std::fs::read_dir(Path::new(FIXTURES).join("wiki")).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() == "LICENSE.md" {
                continue;
            }
            std::fs::copy(entry.path(), docs.join(entry.file_name())).unwrap();
        }
        Workspace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn docs(&self) -> PathBuf {
        self.path().join("docs")
    }

    pub fn index(&self) -> PathBuf {
        self.path().join(".rag")
    }

    /// `rag` run inside the workspace.
    pub fn rag(&self) -> Command {
        let mut cmd = rag();
        cmd.current_dir(self.path());
        cmd
    }

    pub fn ingest_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut cmd = self.rag();
        cmd.args(["ingest", "docs", "--json"]).args(extra);
        json(&ok(&mut cmd))
    }

    /// `rag search --json`; checks the exit status: 1 when nothing was found.
    pub fn search(&self, query: &str, mode: &str) -> serde_json::Value {
        let out = run(self
            .rag()
            .args(["search", query, "--json", "-k", "5", "--mode", mode]));
        let response = json(&String::from_utf8_lossy(&out.stdout));
        let found = response["results"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
        assert_eq!(
            out.status.code(),
            Some(if found { 0 } else { 1 }),
            "search {query:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        response
    }

    pub fn result_paths(&self, query: &str, mode: &str) -> Vec<String> {
        self.search(query, mode)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect()
    }

    /// `rag ingest docs --watch`, returned once it says it is watching; its
    /// other stderr lines are read on the side, so it never blocks on them.
    pub fn watch(&self) -> Watching {
        use std::io::{BufRead, BufReader};
        let mut child = self
            .rag()
            .args(["ingest", "docs", "--watch"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("watching for changes") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "exited early");
        }
        let lines = std::thread::spawn(move || {
            stderr
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        Watching { child, lines }
    }
}

/// A running `rag ingest --watch` (see [`Workspace::watch`]).
pub struct Watching {
    child: std::process::Child,
    lines: std::thread::JoinHandle<Vec<String>>,
}

impl Watching {
    /// Ctrl+C: waits for the exit; its status and the stderr lines after
    /// "watching for changes".
    pub fn interrupt(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        (status, self.lines.join().unwrap())
    }
}

/// Waits up to a minute for `ok`, failing with `what`.
pub fn wait_until(what: &str, ok: &dyn Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A minimal, valid one-page PDF showing `text` (for extraction tests).
pub fn tiny_pdf(text: &str) -> Vec<u8> {
    tiny_pdf_pages(&[text])
}

/// A minimal, valid PDF with one page per line of text.
pub fn tiny_pdf_pages(pages: &[&str]) -> Vec<u8> {
    // Objects: 1 catalog, 2 page tree, 3 font, then a page and its contents
    // for each page.
    let page_object = |i: usize| 4 + 2 * i;
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", page_object(i)))
        .collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    for (i, text) in pages.iter().enumerate() {
        let stream = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
            page_object(i) + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ));
    }
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).bytes());
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    pdf
}

/// A JSON file from `tests/fixtures`.
pub fn fixture_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A JSON array of token ids.
pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an array of ids")
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}

/// Ingests the bundled corpus's Wikipedia articles into `dir/index` (quietly)
/// and returns that index folder.
pub fn wikipedia_index(dir: &Path) -> PathBuf {
    let index = dir.join("index");
    ok(rag()
        .arg("--index")
        .arg(&index)
        .args(["ingest", "-q"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/wikipedia")));
    index
}
