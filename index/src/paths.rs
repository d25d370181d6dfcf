//! Paths as the index stores them: text that maps back to exactly one path.
//!
//! A path that is UTF-8 and holds no backslash is stored as it is. Any other
//! is escaped: `\` as `\\` and each byte that is not UTF-8 as `\xHH`. Escaped
//! forms always hold a backslash and plain ones never do, so two files can
//! never share a stored name (a lossy conversion gave `coll\xff.md` and
//! `coll\xfe.md` the same one).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The stored form of `path`; [`decode`] gives the path back.
pub fn encode(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\\') => text.to_string(),
        _ => escape_bytes(bytes),
    }
}

/// The path a stored name stands for.
pub fn decode(stored: &str) -> PathBuf {
    if !stored.contains('\\') {
        return PathBuf::from(stored);
    }
    let mut bytes = Vec::with_capacity(stored.len());
    let raw = stored.as_bytes();
    let mut at = 0;
    while at < raw.len() {
        match (raw[at], raw.get(at + 1)) {
            (b'\\', Some(b'\\')) => {
                bytes.push(b'\\');
                at += 2;
            }
            (b'\\', Some(b'x')) => match stored
                .get(at + 2..at + 4)
                .map(|h| u8::from_str_radix(h, 16))
            {
                Some(Ok(byte)) => {
                    bytes.push(byte);
                    at += 4;
                }
                _ => {
                    bytes.push(b'\\');
                    at += 1;
                }
            },
            (byte, _) => {
                bytes.push(byte);
                at += 1;
            }
        }
    }
    path_from_bytes(bytes)
}

/// A stored path as it can be shown on one line of a terminal or a report:
/// control characters (a newline in a file name) written as escapes.
pub fn escape_controls(stored: &str) -> Cow<'_, str> {
    if !stored.chars().any(char::is_control) {
        return Cow::Borrowed(stored);
    }
    let mut out = String::with_capacity(stored.len() + 8);
    for c in stored.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(&text.replace('\\', "\\\\"));
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // Checked by from_utf8 just above.
                let valid = std::str::from_utf8(valid).unwrap_or_default();
                out.push_str(&valid.replace('\\', "\\\\"));
                let bad = e.error_len().unwrap_or(after.len()).max(1);
                for byte in &after[..bad] {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
                rest = &after[bad..];
            }
        }
    }
    out
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    // Elsewhere paths come from Unicode, so every stored one is UTF-8.
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_stored_as_they_are() {
        for plain in ["docs/a.md", "notes/ünïcode ✓.txt", "line\nbreak.md"] {
            assert_eq!(encode(Path::new(plain)), plain);
            assert_eq!(decode(plain), Path::new(plain));
        }
    }

    #[cfg(unix)]
    #[test]
    fn every_path_round_trips_and_none_collide() {
        use std::os::unix::ffi::OsStrExt;
        let raw: &[&[u8]] = &[
            b"coll\xff.md",
            b"coll\xfe.md",
            b"coll\\xff.md",
            b"back\\slash",
            b"\\\\x41",
            b"\xe2\x82.txt",
            b"tail\xc3",
        ];
        let mut seen = std::collections::HashSet::new();
        for bytes in raw {
            let path = Path::new(std::ffi::OsStr::from_bytes(bytes));
            let stored = encode(path);
            assert_eq!(decode(&stored), path, "{stored}");
            assert!(seen.insert(stored.clone()), "{stored} collides");
        }
        assert_eq!(
            encode(Path::new(std::ffi::OsStr::from_bytes(b"coll\xff.md"))),
            "coll\\xff.md"
        );
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(escape_controls("a\nb\u{1b}[2J.md"), "a\\nb\\x1b[2J.md");
        assert_eq!(escape_controls("plain.md"), "plain.md");
    }
}
