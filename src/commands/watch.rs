//! `rag ingest --watch`: after the first ingest, keep the index current as
//! files change. Events are gathered until the folders are quiet for a moment
//! (an editor's save or a `git checkout` is one burst) and each burst is one
//! incremental ingest, so one commit. Ctrl+C (or SIGTERM) stops: an ingest in
//! progress commits the files it finished, then rag exits; a second Ctrl+C
//! exits at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use rag::{Error, Result};

/// How long the folders must stay quiet before a burst is ingested.
const QUIET: Duration = Duration::from_millis(500);
/// A burst that never goes quiet (a long copy) is ingested after this long.
const LONGEST_BURST: Duration = Duration::from_secs(5);
/// How often the wait looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What a path is on disk (device and inode), to tell a folder made again
/// from the one that was there; `None` while nothing is.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// Sets `flag` on Ctrl+C and SIGTERM; with the flag already set, Ctrl+C exits.
pub fn stop_on_signals(flag: &Arc<AtomicBool>) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let register = |signal| -> std::io::Result<()> {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag))?;
        signal_hook::flag::register(signal, Arc::clone(flag))?;
        Ok(())
    };
    register(SIGINT)
        .and_then(|_| register(SIGTERM))
        .map_err(|e| Error::Unavailable {
            what: "catch Ctrl+C".into(),
            reason: e.to_string(),
        })
}

/// Change events from the watched folders, gathered from the moment it
/// starts (start it before the first ingest, so nothing falls in between).
pub struct Watch {
    // Dropping the watcher stops the events.
    watcher: notify::RecommendedWatcher,
    received: Receiver<notify::Result<notify::Event>>,
    /// Each root with the identity (device, inode) of what is watched there:
    /// a root deleted and made again (a regenerated docs folder) is a new
    /// folder, which the old watch does not see.
    roots: Vec<(PathBuf, Option<(u64, u64)>)>,
    /// A folder index's own folder, whose commits are not changes.
    index_dir: Option<PathBuf>,
}

impl Watch {
    pub fn start(roots: &[PathBuf], index_dir: Option<&Path>) -> Result<Self> {
        let (events, received) = channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = events.send(event);
        })
        .map_err(|e| Error::Unavailable {
            what: "watch for changes".into(),
            reason: e.to_string(),
        })?;
        for root in roots {
            watcher
                .watch(root, RecursiveMode::Recursive)
                .map_err(|e| Error::Unavailable {
                    what: format!("watch {}", root.display()),
                    reason: e.to_string(),
                })?;
        }
        // Canonical, as event paths are, so our own commits never look like changes.
        let index_dir = index_dir.map(|dir| {
            let _ = std::fs::create_dir_all(dir);
            std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
        });
        Ok(Watch {
            watcher,
            received,
            roots: roots
                .iter()
                .map(|root| (root.clone(), identity(root)))
                .collect(),
            index_dir,
        })
    }

    /// Watches again each root that was deleted and made anew since it was
    /// watched; true when any was (its files are to be ingested).
    fn rewatch_recreated_roots(&mut self) -> bool {
        let mut recreated = false;
        for (root, watched) in &mut self.roots {
            let now = identity(root);
            if now == *watched {
                continue;
            }
            if now.is_some() && self.watcher.watch(root, RecursiveMode::Recursive).is_err() {
                // Not ready yet (made and deleted again): looked at next time.
                continue;
            }
            *watched = now;
            recreated |= now.is_some();
        }
        recreated
    }

    fn relevant(&self, event: &notify::Event) -> bool {
        !matches!(event.kind, EventKind::Access(_))
            && event.paths.iter().any(|p| {
                self.index_dir
                    .as_deref()
                    .is_none_or(|dir| !p.starts_with(dir))
            })
    }

    /// Until `stop` is set, calls `ingest` once per burst of changes.
    pub fn run(&mut self, stop: &AtomicBool, mut ingest: impl FnMut() -> Result<()>) -> Result<()> {
        while !stop.load(Ordering::Relaxed) {
            let changed = match self.received.recv_timeout(POLL) {
                Ok(Ok(event)) => self.relevant(&event),
                Ok(Err(e)) => {
                    eprintln!("warning: watching for changes: {e}");
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if self.rewatch_recreated_roots() || changed {
                if !self.wait_for_quiet(stop) {
                    break;
                }
                ingest()?;
            }
        }
        Ok(())
    }

    /// Gathers the rest of a burst; false when it is time to stop instead.
    fn wait_for_quiet(&self, stop: &AtomicBool) -> bool {
        let started = Instant::now();
        let mut last = Instant::now();
        while last.elapsed() < QUIET && started.elapsed() < LONGEST_BURST {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            match self.received.recv_timeout(POLL) {
                Ok(Ok(event)) if self.relevant(&event) => last = Instant::now(),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        !stop.load(Ordering::Relaxed)
    }
}
