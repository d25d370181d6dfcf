//! PDFs are read in a child process (`rag extract-pdf`, hidden) with a memory
//! and a time budget: the PDF parser has no limits of its own, and a small
//! file whose stream inflates to millions of text operators can make it use
//! gigabytes for minutes. A file over budget is skipped with one warning; the
//! parser's panic text stays in the child.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rag_index::extract::SkipReason;
use rag_index::PdfReader;
use serde::{Deserialize, Serialize};

/// The child's address-space limit.
pub const MEMORY_LIMIT: u64 = 1 << 30;
/// How long one PDF may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);
/// The most text one PDF may produce.
const TEXT_LIMIT: u64 = 64 << 20;
const SUBCOMMAND: &str = "extract-pdf";

/// What the child prints.
#[derive(Serialize, Deserialize)]
enum Extracted {
    Pages(Vec<String>),
    Skipped(String),
}

/// A reader that runs this binary's `extract-pdf` for each PDF; `None` when the
/// binary cannot be found (PDFs are then read in this process).
pub fn sandboxed_reader() -> Option<PdfReader> {
    let exe = std::env::current_exe().ok()?;
    Some(PdfReader(Arc::new(move |bytes: &[u8]| {
        read_in_child(&exe, bytes)
    })))
}

/// The child: limits its own address space, reads a PDF on stdin, prints its
/// pages (or why it was skipped) as JSON on stdout.
pub fn child_main() -> crate::Result<()> {
    // Where the limit cannot be set, the parent's timeout still holds.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, MEMORY_LIMIT, MEMORY_LIMIT);
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|source| crate::Error::Io {
            action: "reading",
            path: PathBuf::from("standard input"),
            source,
        })?;
    let result = match rag_index::extract::pdf_pages(&bytes) {
        Ok(pages) => Extracted::Pages(pages),
        Err(reason) => Extracted::Skipped(reason.to_string()),
    };
    let json = serde_json::to_vec(&result)
        .map_err(|e| crate::Error::Internal(format!("PDF pages as JSON: {e}")))?;
    std::io::stdout()
        .write_all(&json)
        .map_err(|source| crate::Error::Io {
            action: "writing",
            path: PathBuf::from("standard output"),
            source,
        })
}

fn read_in_child(exe: &PathBuf, bytes: &[u8]) -> Result<Vec<String>, SkipReason> {
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .env("RAYON_NUM_THREADS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| SkipReason::Unreadable(format!("cannot start the PDF reader: {e}")))?;
    let input = bytes.to_vec();
    let mut stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            // A child that died early closes the pipe; its status says why.
            let _ = stdin.write_all(&input);
        }
    });
    let stdout = child.stdout.take();
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(TEXT_LIMIT + 1).read_to_end(&mut out);
        }
        out
    });

    let deadline = Instant::now() + TIME_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = feeder.join();
    let out = collector.join().unwrap_or_default();
    let over_budget =
        |what: String| SkipReason::BrokenPdf(format!("over the PDF reader's budget: {what}"));
    let Some(status) = status else {
        return Err(over_budget(format!(
            "took longer than {} s",
            TIME_LIMIT.as_secs()
        )));
    };
    if out.len() as u64 > TEXT_LIMIT {
        return Err(over_budget(format!(
            "produced more than {} MB of text",
            TEXT_LIMIT >> 20
        )));
    }
    if !status.success() {
        return Err(over_budget(format!(
            "needed more than {} GB of memory, or crashed the parser",
            MEMORY_LIMIT >> 30
        )));
    }
    match serde_json::from_slice(&out) {
        Ok(Extracted::Pages(pages)) => Ok(pages),
        Ok(Extracted::Skipped(why)) => Err(SkipReason::BrokenPdf(why)),
        Err(e) => Err(SkipReason::BrokenPdf(format!(
            "the PDF reader gave no readable result: {e}"
        ))),
    }
}
