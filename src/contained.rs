//! PDFs, office documents, e-books, notebooks and mail are read in a child
//! process (`rag extract KIND`, hidden) with a memory and a time budget. The
//! PDF parser has no limits of its own, and a small file whose stream
//! inflates to millions of text operators can make it use gigabytes for
//! minutes; the other readers hold zip and XML to limits of their own, and
//! the budget is what catches whatever those limits miss. A file over budget
//! is skipped with one warning; a parser's panic text stays in the child.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rag_index::extract::{Contents, Kind, SkipReason};
use rag_index::ContainedReader;

/// The child's address-space limit.
pub const MEMORY_LIMIT: u64 = 1 << 30;
/// How long one file may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);
/// The most text one file may produce.
const TEXT_LIMIT: u64 = 64 << 20;
const SUBCOMMAND: &str = "extract";

/// A reader that runs this binary's `extract` for each file of a contained
/// kind; `None` when the binary cannot be found (they are then read in this
/// process).
pub fn sandboxed_reader() -> Option<ContainedReader> {
    // Linux's link to the running binary still leads to it after the file
    // is replaced or removed (an upgrade during `rag serve` or `--watch`),
    // where the path current_exe gives would start another binary or none.
    let own = PathBuf::from("/proc/self/exe");
    let exe = if own.exists() {
        own
    } else {
        std::env::current_exe().ok()?
    };
    Some(ContainedReader(Arc::new(
        move |kind: Kind, bytes: &[u8]| read_in_child(&exe, kind, bytes),
    )))
}

/// The child: limits its own address space, reads a file of `kind` on
/// stdin, prints what its reader gives (or why it was skipped) as JSON on
/// stdout.
pub fn child_main(kind: &str) -> crate::Result<()> {
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
    let result: Result<Contents, SkipReason> = match Kind::from_contained_name(kind) {
        Some(kind) => rag_index::extract::read_contents(kind, &bytes),
        None => Err(SkipReason::Unreadable(format!(
            "no reader for files of kind {kind}"
        ))),
    };
    let json = serde_json::to_vec(&result)
        .map_err(|e| crate::Error::Internal(format!("extracted text as JSON: {e}")))?;
    std::io::stdout()
        .write_all(&json)
        .map_err(|source| crate::Error::Io {
            action: "writing",
            path: PathBuf::from("standard output"),
            source,
        })
}

fn read_in_child(exe: &PathBuf, kind: Kind, bytes: &[u8]) -> Result<Contents, SkipReason> {
    let Some(name) = kind.contained_name() else {
        return rag_index::extract::read_contents(kind, bytes);
    };
    let mut child = Command::new(exe)
        .args([SUBCOMMAND, name])
        .env("RAYON_NUM_THREADS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            SkipReason::ReaderUnavailable(format!("cannot start the {} reader: {e}", kind.label()))
        })?;
    let input = bytes.to_vec();
    let mut stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            // A child that died early closes the pipe; its status says why.
            let _ = stdin.write_all(&input);
        }
    });
    let stdout = child.stdout.take();
    let (read_all, output_ended) = std::sync::mpsc::channel();
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(TEXT_LIMIT + 1).read_to_end(&mut out);
        }
        let _ = read_all.send(out.len() as u64 > TEXT_LIMIT);
        out
    });

    let deadline = Instant::now() + TIME_LIMIT;
    // The child's output ends when it exits: waiting for that hears of it at
    // once, where polling its status alone cost up to a tick on every file.
    // Past the text limit it is stopped there and then.
    let over_text_limit = output_ended.recv_timeout(TIME_LIMIT).unwrap_or(false);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline && !over_text_limit => {
                std::thread::sleep(Duration::from_millis(1));
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
    let over_budget = |what: String| match kind {
        // PDFs have said "budget" since before the other formats came.
        Kind::Pdf => SkipReason::BrokenPdf(format!("over the PDF reader's budget: {what}")),
        kind => SkipReason::OverLimit {
            format: kind.label().to_string(),
            why: what,
        },
    };
    if out.len() as u64 > TEXT_LIMIT {
        return Err(over_budget(format!(
            "produced more than {} MB of text",
            TEXT_LIMIT >> 20
        )));
    }
    let Some(status) = status else {
        return Err(over_budget(format!(
            "took longer than {} s",
            TIME_LIMIT.as_secs()
        )));
    };
    if !status.success() {
        return Err(over_budget(format!(
            "needed more than {} GB of memory, or crashed the parser",
            MEMORY_LIMIT >> 30
        )));
    }
    match serde_json::from_slice::<Result<Contents, SkipReason>>(&out) {
        Ok(result) => result,
        Err(e) => Err(SkipReason::Unreadable(format!(
            "the {} reader gave no readable result: {e}",
            kind.label()
        ))),
    }
}
