//! A prompt's start prefilled once and kept on disk: every open-book prompt
//! begins with the same instructions and worked examples, and a one-shot
//! `rag ask` would otherwise run them through the model again each time.
//!
//! A saved start is only used by the model file, the program and the kernel
//! that computed it (the file records them; anything else is a miss), and
//! [`Generator::prefill_after`] reruns its last token, so a prompt prefilled
//! after one gives bit for bit what a full prefill gives. Reading or writing
//! the file never fails an answer: it is a cache.

use std::io::Write;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::generate::{Generator, Prefilled};

/// The file's first bytes: the format and its version.
const MAGIC: &[u8; 8] = b"ragkv\x00\x00\x01";

/// What a saved start is valid for: the model file, this program, and the
/// kernel its products ran on, each as its path, size and modification time.
pub(super) fn identity(model: &Path) -> Option<String> {
    let stamp = |path: &Path| -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(format!(
            "{}:{}:{}",
            path.canonicalize().ok()?.display(),
            meta.len(),
            modified.as_nanos()
        ))
    };
    let program = std::env::current_exe().ok()?;
    Some(format!(
        "model={} program={} kernel={}",
        stamp(model)?,
        stamp(&program)?,
        super::quant::kernel_name()
    ))
}

impl Generator {
    /// Writes the first `len` positions of `prefilled` to `path` (through a
    /// temporary file renamed over it, so that a reader never sees half a
    /// file). Nothing is written for a model whose identity is unknown.
    pub fn save_start(
        &self,
        prefilled: &Prefilled,
        len: usize,
        path: &Path,
    ) -> std::io::Result<()> {
        let Some(identity) = self.identity() else {
            return Ok(());
        };
        let ids = prefilled.prompt_ids();
        let len = len.min(ids.len()).min(prefilled.cache().len());
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(identity.len() as u64).to_le_bytes());
        bytes.extend_from_slice(identity.as_bytes());
        bytes.extend_from_slice(&(len as u64).to_le_bytes());
        bytes.extend(ids[..len].iter().flat_map(|id| id.to_le_bytes()));
        prefilled.cache().write_positions(len, &mut bytes);
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&bytes)?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The start saved at `path`, ready for [`Generator::prefill_after`];
    /// None when there is none, or it was saved for another model, program
    /// or kernel, or the file is not whole.
    pub fn load_start(&self, path: &Path) -> Option<Prefilled> {
        let identity = self.identity()?;
        let bytes = std::fs::read(path).ok()?;
        let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (taken, left) = rest.split_at_checked(n)?;
            rest = left;
            Some(taken)
        };
        let number = |bytes: &[u8]| -> Option<usize> {
            usize::try_from(u64::from_le_bytes(bytes.try_into().ok()?)).ok()
        };
        let identity_len = number(take(8)?)?;
        if take(identity_len)? != identity.as_bytes() {
            return None;
        }
        let len = number(take(8)?)?;
        if len == 0 {
            return None;
        }
        let ids: Vec<u32> = take(len.checked_mul(4)?)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let cache = self.model().cache_from_bytes(rest, len, len)?;
        Some(Prefilled::started(ids, cache))
    }
}

/// The file of `model`'s saved start in `dir`: one per model file, so that
/// a newer program or another start overwrites it rather than adding one.
pub fn start_file(dir: &Path, model: &Path) -> std::path::PathBuf {
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    dir.join(format!("{name}.start"))
}
