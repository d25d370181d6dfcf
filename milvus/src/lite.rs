//! A milvus-lite server for tests and benchmarks: [`LiteServer::start`] runs
//! `scripts/milvus-lite serve` on a fresh temporary data folder, waits until it
//! accepts connections, and stops it (and deletes the folder) when dropped.
//!
//! The server is milvus-lite from PyPI, in the venv that `scripts/milvus-lite
//! install` creates at `$RAG_MILVUS_LITE` (default
//! `~/.local/share/rag/milvus-lite`). It binds 127.0.0.1 on a port the OS picks,
//! so tests can run servers side by side. If the process that owns a
//! `LiteServer` dies without dropping it, the server notices that its stdin
//! closed and stops too.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to stop after SIGTERM, before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of the server's log that goes into an error.
const LOG_TAIL: usize = 4000;

/// A running milvus-lite server on a temporary data folder. Dropping it stops
/// the server (SIGTERM, then SIGKILL after 10 s) and deletes the folder.
pub struct LiteServer {
    child: Child,
    port: u16,
    /// Kept open: the server stops when it reaches end of file.
    stdin: Option<ChildStdin>,
    /// Holds `data/` (the server's data dir) and `server.log` (its stderr).
    /// Declared last so that it is deleted after the server stopped.
    dir: tempfile::TempDir,
}

impl LiteServer {
    /// Starts `scripts/milvus-lite serve` (the venv at `$RAG_MILVUS_LITE` or
    /// `~/.local/share/rag/milvus-lite` must exist: `scripts/milvus-lite
    /// install`) on a fresh temporary data folder; waits for its `PORT` line
    /// (60 s at most). Errors say what is missing and the command that installs
    /// it, or quote the server's log when it failed.
    pub fn start() -> std::io::Result<LiteServer> {
        let script = script();
        let script = script.canonicalize().unwrap_or(script);
        if !script.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} not found: the milvus-lite launcher ships with rag's sources",
                    script.display()
                ),
            ));
        }
        let venv = venv();
        if !venv.join("bin/python").exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "milvus-lite is not installed: no venv at {} (RAG_MILVUS_LITE names another); install it with `{} install` (needs PyPI)",
                    venv.display(),
                    script.display()
                ),
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("rag-milvus-lite-")
            .tempdir()?;
        let data = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path)?;
        let mut child = Command::new(&script)
            .arg("serve")
            .arg(&data)
            .arg("--watch-stdin")
            .env("RAG_MILVUS_LITE", &venv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot run {}: {e}", script.display()))
            })?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            return Err(fail(child, &log_path, "has no stdout pipe"));
        };
        // The server prints `PORT <n>` then closes its stdout; read it in a
        // thread so that the wait can time out.
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line
                        .strip_prefix("PORT ")
                        .and_then(|p| p.trim().parse().ok())
                    {
                        return Ok(LiteServer {
                            child,
                            port,
                            stdin,
                            dir,
                        });
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(fail(child, &log_path, "exited before it was ready"));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let message = format!("was not ready after {} s", READY_TIMEOUT.as_secs());
                    return Err(fail(child, &log_path, &message));
                }
            }
        }
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The rag index address of a collection on this server:
    /// `milvus://127.0.0.1:{port}/{collection}`.
    pub fn url(&self, collection: &str) -> String {
        format!("milvus://127.0.0.1:{}/{collection}", self.port)
    }

    /// The server's data folder (deleted on drop).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log (its stderr; deleted on drop).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for LiteServer {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // The child is not reaped until it is waited for, so its PID cannot
        // have been reused.
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !signalled {
            // The server also stops, as gracefully, at end of file on stdin.
            drop(self.stdin.take());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scripts/milvus-lite` in rag's sources.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/milvus-lite")
}

/// The venv `scripts/milvus-lite` uses: `$RAG_MILVUS_LITE`, else
/// `~/.local/share/rag/milvus-lite`.
fn venv() -> PathBuf {
    match std::env::var_os("RAG_MILVUS_LITE").filter(|v| !v.is_empty()) {
        Some(venv) => PathBuf::from(venv),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".local/share/rag/milvus-lite")
        }
    }
}

/// Stops a server that failed to start and describes why, with its log.
fn fail(mut child: Child, log_path: &Path, what: &str) -> std::io::Error {
    // A server whose stdout closed is exiting: give it a moment to finish.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                break child.wait().ok();
            }
        }
    };
    let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let log = log.trim();
    let log = match log.char_indices().rev().nth(LOG_TAIL - 1) {
        Some((start, _)) => format!("...{}", &log[start..]),
        None => log.to_string(),
    };
    std::io::Error::other(format!(
        "the milvus-lite server {what}{status}; its log:\n{log}"
    ))
}
