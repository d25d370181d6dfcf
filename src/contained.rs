//! PDFs, office documents, e-books, notebooks and mail are read in child
//! processes (`rag extract`, hidden) with a memory and a time budget. The
//! PDF parser has no limits of its own, and a small file whose stream
//! inflates to millions of text operators can make it use gigabytes for
//! minutes; the other readers hold zip and XML to limits of their own, and
//! the budget is what catches whatever those limits miss. A file over budget
//! is skipped with one warning; a parser's panic text stays in the child.
//!
//! Starting a process costs more than reading a small document, so a child
//! reads file after file, each sent as one framed request on its stdin and
//! answered by one framed reply on its stdout, while the parent keeps each
//! file's deadline. A child that fails a file is stopped and never reused,
//! and one that read a large file or many files is replaced, so that what a
//! file leaves allocated never eats into another's budget.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
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
/// A child is replaced after this many files...
const FILES_PER_CHILD: usize = 256;
/// ...or after a file at least this large.
const LARGE_FILE: usize = 4 << 20;
/// A child waiting longer than this for its next file leaves (exit status 0),
/// so that a long-lived `rag serve` holds no idle readers.
const CHILD_IDLE_EXIT: Duration = Duration::from_secs(30);
/// The parent does not hand a file to a child idle for longer than this: it
/// may be leaving.
const REUSE_WITHIN: Duration = Duration::from_secs(10);

/// A reader that runs this binary's `extract` for files of contained kinds;
/// `None` when the binary cannot be found (they are then read in this
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
    let pool = ChildPool {
        exe,
        idle: Mutex::new(Vec::new()),
    };
    Some(ContainedReader(Arc::new(
        move |kind: Kind, bytes: &[u8]| pool.read(kind, bytes),
    )))
}

/// The child: limits its own address space, then answers requests (a kind's
/// name and a file's bytes) with what the kind's reader gives, or why the
/// file was skipped, as JSON, until its stdin ends or it has waited
/// [`CHILD_IDLE_EXIT`].
pub fn child_main() -> crate::Result<()> {
    // Where the limit cannot be set, the parent's timeout still holds.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, MEMORY_LIMIT, MEMORY_LIMIT);
    const BUSY: u64 = u64::MAX;
    let started = Instant::now();
    // Milliseconds after `started` when the child last became idle, or BUSY.
    let idle_since_ms = Arc::new(AtomicU64::new(0));
    {
        let idle_since_ms = idle_since_ms.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let idle_since = idle_since_ms.load(Ordering::SeqCst);
            if idle_since != BUSY
                && started.elapsed() > Duration::from_millis(idle_since) + CHILD_IDLE_EXIT
            {
                std::process::exit(0);
            }
        });
    }
    let now_ms = || started.elapsed().as_millis() as u64;
    let io_error = |action: &'static str, path: &str| {
        let path = PathBuf::from(path);
        move |source| crate::Error::Io {
            action,
            path,
            source,
        }
    };
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    loop {
        let Some((kind, bytes)) =
            read_request(&mut input).map_err(io_error("reading", "standard input"))?
        else {
            return Ok(());
        };
        idle_since_ms.store(BUSY, Ordering::SeqCst);
        let result: Result<Contents, SkipReason> = match Kind::from_contained_name(&kind) {
            Some(kind) => rag_index::extract::read_contents(kind, &bytes),
            None => Err(SkipReason::Unreadable(format!(
                "no reader for files of kind {kind}"
            ))),
        };
        drop(bytes);
        let json = serde_json::to_vec(&result)
            .map_err(|e| crate::Error::Internal(format!("extracted text as JSON: {e}")))?;
        drop(result);
        write_framed(&mut output, &json)
            .and_then(|()| output.flush())
            .map_err(io_error("writing", "standard output"))?;
        idle_since_ms.store(now_ms(), Ordering::SeqCst);
    }
}

/// One request: the kind's name (a length byte, then the name), then the
/// file (its length as 8 bytes little-endian, then its bytes). `None` when
/// the input ends between requests.
fn read_request(input: &mut impl Read) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut name_len = [0u8; 1];
    if input.read(&mut name_len)? == 0 {
        return Ok(None);
    }
    let mut name = vec![0u8; usize::from(name_len[0])];
    input.read_exact(&mut name)?;
    let len = read_length(input)?;
    let bytes = read_bytes(input, len)?;
    Ok(Some((String::from_utf8_lossy(&name).into_owned(), bytes)))
}

/// A frame's length: 8 bytes, little-endian.
fn read_length(input: &mut impl Read) -> std::io::Result<u64> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    Ok(u64::from_le_bytes(len))
}

/// A frame's `len` bytes; an input that ends before is an error.
fn read_bytes(input: &mut impl Read, len: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

/// Bytes as a frame: their length, then themselves.
fn write_framed(output: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    output.write_all(&(bytes.len() as u64).to_le_bytes())?;
    output.write_all(bytes)
}

fn write_request(output: &mut impl Write, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let name = name.as_bytes();
    let name_len = u8::try_from(name.len())
        .map_err(|_| std::io::Error::other("a kind's name longer than 255 bytes"))?;
    output.write_all(&[name_len])?;
    output.write_all(name)?;
    write_framed(output, bytes)?;
    output.flush()
}

/// Children waiting for their next file.
struct ChildPool {
    exe: PathBuf,
    idle: Mutex<Vec<ReaderChild>>,
}

impl ChildPool {
    fn read(&self, kind: Kind, bytes: &[u8]) -> Result<Contents, SkipReason> {
        let Some(name) = kind.contained_name() else {
            return rag_index::extract::read_contents(kind, bytes);
        };
        let cannot_start = |e: std::io::Error| {
            SkipReason::ReaderUnavailable(format!("cannot start the {} reader: {e}", kind.label()))
        };
        let mut child = match self.take_idle() {
            Some(child) => child,
            None => ReaderChild::start(&self.exe).map_err(cannot_start)?,
        };
        let reused = child.files_read > 0;
        let mut answer = child.read(name, bytes);
        // A reused child that left of its own accord before the file
        // reached it says nothing about the file: a fresh one reads it.
        if reused && matches!(answer, Answer::Ended(Some(status)) if status.success()) {
            child = ReaderChild::start(&self.exe).map_err(cannot_start)?;
            answer = child.read(name, bytes);
        }
        let over_budget = |what: String| match kind {
            // PDFs have said "budget" since before the other formats came.
            Kind::Pdf => SkipReason::BrokenPdf(format!("over the PDF reader's budget: {what}")),
            kind => SkipReason::OverLimit {
                format: kind.label().to_string(),
                why: what,
            },
        };
        let json = match answer {
            Answer::Json(json) => json,
            Answer::TooLong => {
                return Err(over_budget(format!(
                    "produced more than {} MB of text",
                    TEXT_LIMIT >> 20
                )))
            }
            Answer::TimedOut => {
                return Err(over_budget(format!(
                    "took longer than {} s",
                    TIME_LIMIT.as_secs()
                )))
            }
            Answer::Ended(_) => {
                return Err(over_budget(format!(
                    "needed more than {} GB of memory, or crashed the parser",
                    MEMORY_LIMIT >> 30
                )))
            }
        };
        if child.files_read < FILES_PER_CHILD && bytes.len() < LARGE_FILE {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(child);
            }
        }
        match serde_json::from_slice::<Result<Contents, SkipReason>>(&json) {
            Ok(result) => result,
            Err(e) => Err(SkipReason::Unreadable(format!(
                "the {} reader gave no readable result: {e}",
                kind.label()
            ))),
        }
    }

    /// A child that is still there and has waited little enough to be
    /// trusted with a file; the others are stopped.
    fn take_idle(&self) -> Option<ReaderChild> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut child) = idle.pop() {
            let gone = !matches!(child.process.try_wait(), Ok(None));
            if !gone && child.idle_since.elapsed() < REUSE_WITHIN {
                return Some(child);
            }
        }
        None
    }
}

/// How a child answered one request.
enum Answer {
    Json(Vec<u8>),
    /// Its reply was over [`TEXT_LIMIT`]; it has been stopped.
    TooLong,
    /// It ran past [`TIME_LIMIT`]; it has been stopped.
    TimedOut,
    /// It exited (with this status, where known) before replying.
    Ended(Option<ExitStatus>),
}

/// Replies as the child's stdout gives them, read on a thread of their own
/// so that the parent can wait for one with a deadline.
enum Reply {
    Json(Vec<u8>),
    TooLong,
    Ended,
}

/// One `rag extract` child and what it has read.
struct ReaderChild {
    process: Child,
    stdin: ChildStdin,
    replies: Receiver<Reply>,
    files_read: usize,
    idle_since: Instant,
}

impl ReaderChild {
    fn start(exe: &PathBuf) -> std::io::Result<ReaderChild> {
        let mut process = Command::new(exe)
            .arg(SUBCOMMAND)
            .env("RAYON_NUM_THREADS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(mut stdout)) = (process.stdin.take(), process.stdout.take()) else {
            let _ = process.kill();
            let _ = process.wait();
            return Err(std::io::Error::other("the reader's pipes were not opened"));
        };
        let (send, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || loop {
            let reply = match read_length(&mut stdout) {
                Ok(len) if len > TEXT_LIMIT => Reply::TooLong,
                Ok(len) => read_bytes(&mut stdout, len).map_or(Reply::Ended, Reply::Json),
                Err(_) => Reply::Ended,
            };
            let last = !matches!(reply, Reply::Json(_));
            if send.send(reply).is_err() || last {
                return;
            }
        });
        Ok(ReaderChild {
            process,
            stdin,
            replies,
            files_read: 0,
            idle_since: Instant::now(),
        })
    }

    /// Sends one file and waits for the reply until the file's deadline; a
    /// child that fails is stopped and should not be used again.
    fn read(&mut self, name: &str, bytes: &[u8]) -> Answer {
        let deadline = Instant::now() + TIME_LIMIT;
        // The child takes in the whole request before it starts to read the
        // file, so this write cannot wait on the child's own output; if the
        // child is gone, the reply says so.
        let _ = write_request(&mut self.stdin, name, bytes);
        let reply = self
            .replies
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        self.files_read += 1;
        self.idle_since = Instant::now();
        match reply {
            Ok(Reply::Json(json)) => Answer::Json(json),
            Ok(Reply::TooLong) => {
                self.stop();
                Answer::TooLong
            }
            Err(RecvTimeoutError::Timeout) => {
                self.stop();
                Answer::TimedOut
            }
            Ok(Reply::Ended) | Err(RecvTimeoutError::Disconnected) => {
                Answer::Ended(self.process.wait().ok())
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for ReaderChild {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_written_and_end_between_them() {
        let mut wire = Vec::new();
        write_request(&mut wire, "docx", b"PK\x03\x04 first").unwrap();
        write_request(&mut wire, "pdf", b"").unwrap();
        let mut input = wire.as_slice();
        let first = read_request(&mut input).unwrap().unwrap();
        assert_eq!(
            (first.0.as_str(), first.1.as_slice()),
            ("docx", &b"PK\x03\x04 first"[..])
        );
        let second = read_request(&mut input).unwrap().unwrap();
        assert_eq!((second.0.as_str(), second.1.len()), ("pdf", 0));
        assert!(read_request(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_request_cut_short_is_an_error_not_a_shorter_file() {
        let mut wire = Vec::new();
        write_request(&mut wire, "epub", b"0123456789").unwrap();
        for cut in 1..wire.len() {
            assert!(read_request(&mut &wire[..cut]).is_err(), "cut at {cut}");
        }
    }
}
