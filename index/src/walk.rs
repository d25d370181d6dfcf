//! Finds the files to index: .gitignore, .ragignore and --exclude respected,
//! hidden files skipped, symlinks followed while they stay inside the folders
//! being ingested (all of them with `follow_links`), loops reported.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use crate::extract::{kind_of, Kind, SkipReason};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Globs (gitignore syntax) of paths to leave out.
    pub excludes: Vec<String>,
    /// Files larger than this are skipped with a warning.
    pub max_file_size: u64,
    /// Follow symbolic links that lead out of the roots too (as `rg -L`).
    pub follow_links: bool,
    /// Read generated and asset files too (see [`generated`]).
    pub include_generated: bool,
    /// Paths `rag forget` took out of the index.
    pub forgotten: Forgotten,
}

/// Paths a walk leaves out because `rag forget` took them out of the index,
/// except where a folder or file an ingest was pointed at lies inside one.
#[derive(Debug, Clone, Default)]
pub struct Forgotten {
    pub paths: Vec<PathBuf>,
    /// Roots inside forgotten paths: walked all the same.
    pub kept: Vec<PathBuf>,
}

impl Forgotten {
    /// Whether the walk leaves `path` (and what is under it) out.
    pub fn leaves_out(&self, path: &Path) -> bool {
        self.paths.iter().any(|forgotten| {
            path.starts_with(forgotten)
                && !self.kept.iter().any(|kept| {
                    kept.starts_with(forgotten)
                        && (kept.starts_with(path) || path.starts_with(kept))
                })
        })
    }
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            excludes: Vec::new(),
            max_file_size: 20 * 1000 * 1000,
            follow_links: false,
            include_generated: false,
            forgotten: Forgotten::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Found {
    File {
        path: PathBuf,
        kind: Kind,
        size: u64,
    },
    Skipped {
        path: PathBuf,
        reason: SkipReason,
    },
    /// A file of a format we do not read; counted, not warned about.
    Unsupported(PathBuf),
    /// A file made by a tool or for a browser (minified code, a search index,
    /// a stylesheet, a redirect page...): text, but nothing a person asks
    /// about. Counted, not warned about; `what` says which kind it is.
    Generated {
        path: PathBuf,
        what: &'static str,
    },
}

/// Every candidate file under `roots`, sorted by path. `index_dir` is never walked.
pub fn walk(roots: &[PathBuf], options: &WalkOptions, index_dir: &Path) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let links_outside: Arc<Mutex<Vec<(PathBuf, PathBuf)>>> = Arc::default();
    for root in roots {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(Error::Io {
                action: "reading",
                path: root.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        }
        // A root that cannot be read is an error, as a missing one is: walking
        // it would find nothing, as if every file in it had been deleted.
        if root.is_dir() {
            if let Err(source) = std::fs::read_dir(root) {
                return Err(Error::Io {
                    action: "reading",
                    path: root.clone(),
                    source,
                });
            }
        }
        let mut overrides = OverrideBuilder::new(root);
        for glob in &options.excludes {
            overrides
                .add(&format!("!{glob}"))
                .map_err(|e| Error::Config(format!("exclude pattern {glob}: {e}")))?;
        }
        let overrides = overrides
            .build()
            .map_err(|e| Error::Config(format!("exclude patterns: {e}")))?;
        let index_dir = index_dir.to_path_buf();
        let inside: Vec<PathBuf> = roots.iter().map(|r| crate::index::canonical(r)).collect();
        let follow_all = options.follow_links;
        let forgotten = options.forgotten.clone();
        // Forgotten paths are absolute; the walk's are as the root was given.
        let given_root = root.clone();
        let canonical_root = crate::index::canonical(root);
        let outside = Arc::clone(&links_outside);
        let walker = WalkBuilder::new(root)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .require_git(false)
            .add_custom_ignore_filename(".ragignore")
            .follow_links(true)
            .overrides(overrides)
            .filter_entry(move |entry| {
                if entry.path() == index_dir {
                    return false;
                }
                if !forgotten.paths.is_empty() {
                    let relative = entry
                        .path()
                        .strip_prefix(&given_root)
                        .unwrap_or(entry.path());
                    if forgotten.leaves_out(&canonical_root.join(relative)) {
                        return false;
                    }
                }
                if follow_all || !entry.path_is_symlink() {
                    return true;
                }
                // A link that leads out of the roots would put files the user
                // never named (`ln -s /etc docs/etc`) into the index.
                let target = crate::index::canonical(entry.path());
                if inside.iter().any(|root| target.starts_with(root)) {
                    return true;
                }
                if let Ok(mut outside) = outside.lock() {
                    outside.push((entry.path().to_path_buf(), target));
                }
                false
            })
            .build();
        for entry in walker {
            match entry {
                Ok(entry) => {
                    let Some(file_type) = entry.file_type() else {
                        continue;
                    };
                    if file_type.is_dir() {
                        continue;
                    }
                    found.push(classify(entry.path(), options));
                }
                Err(err) => {
                    if let Some(skipped) = walk_error(err) {
                        found.push(skipped);
                    }
                }
            }
        }
    }
    let links_outside = links_outside
        .lock()
        .map(|mut links| std::mem::take(&mut *links))
        .unwrap_or_default();
    for (path, target) in links_outside {
        found.push(Found::Skipped {
            path,
            reason: SkipReason::LinkOutside { target },
        });
    }
    found.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    found.dedup_by(|a, b| path_of(a) == path_of(b));
    Ok(found)
}

fn path_of(found: &Found) -> &Path {
    match found {
        Found::File { path, .. }
        | Found::Skipped { path, .. }
        | Found::Unsupported(path)
        | Found::Generated { path, .. } => path,
    }
}

fn classify(path: &Path, options: &WalkOptions) -> Found {
    let path = path.to_path_buf();
    if !options.include_generated {
        if let Some(what) = generated(&path) {
            return Found::Generated { path, what };
        }
    }
    let Some(kind) = kind_of(&path).or_else(|| sniff_text(&path)) else {
        return Found::Unsupported(path);
    };
    match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => Found::Unsupported(path),
        Ok(meta) if meta.len() > options.max_file_size => Found::Skipped {
            path,
            reason: SkipReason::TooLarge {
                size: meta.len(),
                limit: options.max_file_size,
            },
        },
        Ok(meta) => Found::File {
            path,
            kind,
            size: meta.len(),
        },
        Err(e) => Found::Skipped {
            path,
            reason: SkipReason::Unreadable(e.to_string()),
        },
    }
}

/// A line longer than this in the first bytes of a script or stylesheet
/// means it was minified or generated.
const MINIFIED_LINE: usize = 1000;
/// Redirect pages are a few lines; a longer page with a refresh is a page.
const REDIRECT_MAX_BYTES: u64 = 4096;

/// What kind of generated or asset file `path` is, if it is one: files that
/// docs generators, bundlers and browsers need and nobody reads (mdBook's and
/// Sphinx's search indexes, minified scripts, stylesheets, SVG drawings,
/// source maps, redirect stubs), and office programs' lock files. They are text, so they would be indexed, and
/// one search index makes thousands of passages of nothing.
pub fn generated(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let ext = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let script = matches!(ext, "js" | "mjs" | "cjs");
    let what = match ext {
        // Word, Excel and PowerPoint keep who has a file open in `~$name`
        // beside it: a few bytes that are not the document.
        _ if name.starts_with("~$") => "an office lock file",
        "svg" => "an SVG drawing",
        "map" => "a source map",
        "css" | "scss" | "sass" | "less" => "a stylesheet",
        _ if (script || ext == "json")
            && ["searchindex", "search_index", "search-index", "search-data"]
                .iter()
                .any(|prefix| name.starts_with(prefix)) =>
        {
            "a search index"
        }
        _ if script && name.contains(".min.") => "minified code",
        _ if script && fingerprinted(&name) => "a fingerprinted build asset",
        _ if script && has_a_minified_line(path) => "minified or generated code",
        "html" | "htm" if is_redirect_page(path) => "a redirect page",
        _ => return None,
    };
    Some(what)
}

/// `book-a0b12cfe.js`: a build tool put a hash of the content in the name so
/// browsers cache it; nobody writes such a name by hand. The hash has letters
/// and digits both, so a date (`migration-20240101.js`) is not one.
fn fingerprinted(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    let Some((_, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    (8..=20).contains(&hash.len())
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && hash.bytes().any(|b| b.is_ascii_digit())
        && hash.bytes().any(|b| b.is_ascii_alphabetic())
}

fn read_head(path: &Path, limit: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(limit);
    std::fs::File::open(path)
        .ok()?
        .take(limit as u64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

fn has_a_minified_line(path: &Path) -> bool {
    read_head(path, 4096).is_some_and(|head| {
        head.split(|&b| b == b'\n')
            .any(|line| line.len() > MINIFIED_LINE)
    })
}

/// A small page whose only job is to send the browser elsewhere
/// (`<meta http-equiv="refresh">`).
fn is_redirect_page(path: &Path) -> bool {
    if std::fs::metadata(path).map_or(true, |m| m.len() > REDIRECT_MAX_BYTES) {
        return false;
    }
    read_head(path, REDIRECT_MAX_BYTES as usize).is_some_and(|head| {
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        text.split("<meta").skip(1).any(|tag| {
            let tag: String = tag
                .split('>')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '\''))
                .collect();
            tag.contains("http-equiv=refresh")
        })
    })
}

/// Extensions of formats that hold no text worth reading, never sniffed.
const NOT_TEXT: &[&str] = &[
    "png",
    "jpg",
    "jpeg",
    "gif",
    "bmp",
    "ico",
    "webp",
    "tif",
    "tiff",
    "svgz",
    "psd",
    "zip",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "zst",
    "7z",
    "rar",
    "tar",
    "jar",
    "deb",
    "rpm",
    "iso",
    "dmg",
    "exe",
    "dll",
    "so",
    "dylib",
    "o",
    "a",
    "class",
    "pyc",
    "wasm",
    "bin",
    "dat",
    "db",
    "sqlite",
    "mp3",
    "mp4",
    "wav",
    "flac",
    "ogg",
    "mkv",
    "mov",
    "avi",
    "webm",
    "ttf",
    "otf",
    "woff",
    "woff2",
    "gguf",
    "onnx",
    "safetensors",
    "pt",
    "npy",
    "parquet",
    "doc",
    "ppt",
    "pages",
    "key",
    "numbers",
];

/// Text by content: a file with an unknown extension (`README.Debian`,
/// `notes.1st`) whose first bytes are UTF-8 (or UTF-16 with a byte-order mark)
/// without NUL bytes.
fn sniff_text(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if NOT_TEXT.contains(&ext.as_str()) {
        return None;
    }
    let mut head = [0u8; 4096];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
        .ok()?;
    let head = &head[..read];
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Some(Kind::Text);
    }
    if head.is_empty() || head.contains(&0) {
        return None;
    }
    match std::str::from_utf8(head) {
        Ok(_) => Some(Kind::Text),
        // Cut inside a character at the end of the sample: still text.
        Err(e) if e.error_len().is_none() => Some(Kind::Text),
        Err(_) => None,
    }
}

fn walk_error(err: ignore::Error) -> Option<Found> {
    match err {
        ignore::Error::Loop { child, .. } => Some(Found::Skipped {
            path: child,
            reason: SkipReason::SymlinkLoop,
        }),
        ignore::Error::WithPath { path, err } => {
            let reason = match *err {
                ignore::Error::Loop { .. } => SkipReason::SymlinkLoop,
                ignore::Error::Io(io) => SkipReason::Unreadable(io.to_string()),
                other => SkipReason::Unreadable(other.to_string()),
            };
            Some(Found::Skipped { path, reason })
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(*err)
        }
        other => Some(Found::Skipped {
            path: PathBuf::from("?"),
            reason: SkipReason::Unreadable(other.to_string()),
        }),
    }
}
