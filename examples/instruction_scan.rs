//! How much real prose the prompt-injection defence removes: every file
//! given (or found under a folder given) is extracted as `rag ingest` reads
//! it, neutralised as the prompt shows it, and each document that lost text
//! is printed, then (indented) the sentences judged instructions. A JSONL file of
//! `{"title", "text"}` rows (`../shared/data/wiki-vital-10k.jsonl`) is read
//! row by row.
//!
//! cargo run --release --example instruction_scan -- corpus \
//!     $(rustc --print sysroot)/share/doc/rust/html/{book,cargo}

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rag::assistant::instructions::{is_instruction, neutralised, REMOVED};

#[derive(Default)]
struct Tally {
    documents: usize,
    changed: usize,
}

impl Tally {
    fn scan(&mut self, name: &str, text: &str) {
        self.documents += 1;
        if !neutralised(text).contains(REMOVED) {
            return;
        }
        self.changed += 1;
        println!("{name}");
        for paragraph in text.split("\n\n") {
            let joined = paragraph.replace('\n', " ");
            for sentence in joined.split(". ").filter(|s| is_instruction(s)) {
                println!("\t{}", sentence.trim());
            }
        }
    }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(path) = folders.pop() {
        match std::fs::read_dir(&path) {
            Ok(entries) => folders.extend(entries.flatten().map(|e| e.path())),
            Err(_) => files.push(path),
        }
    }
    files.sort();
    files
}

fn main() -> ExitCode {
    let mut tally = Tally::default();
    for arg in std::env::args().skip(1) {
        if arg.ends_with(".jsonl") {
            let Ok(rows) = std::fs::read_to_string(&arg) else {
                eprintln!("cannot read {arg}");
                return ExitCode::FAILURE;
            };
            for row in rows.lines() {
                let Ok(row) = serde_json::from_str::<serde_json::Value>(row) else {
                    continue;
                };
                let title = row["title"].as_str().unwrap_or("?");
                tally.scan(title, row["text"].as_str().unwrap_or_default());
            }
            continue;
        }
        for path in files_under(Path::new(&arg)) {
            let Some(kind) = rag_index::extract::kind_of(&path) else {
                continue;
            };
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if let Ok(document) = rag_index::extract::extract(&path, kind, &bytes) {
                tally.scan(&path.display().to_string(), &document.text);
            }
        }
    }
    eprintln!(
        "{} of {} documents had text removed",
        tally.changed, tally.documents
    );
    ExitCode::SUCCESS
}
