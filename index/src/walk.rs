//! Finds the files to index: .gitignore, .ragignore and --exclude respected,
//! hidden files skipped, symlinks followed with loops reported.

use std::path::{Path, PathBuf};

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
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            excludes: Vec::new(),
            max_file_size: 20 * 1000 * 1000,
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
}

/// Every candidate file under `roots`, sorted by path. `index_dir` is never walked.
pub fn walk(roots: &[PathBuf], options: &WalkOptions, index_dir: &Path) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    for root in roots {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(Error::Io {
                action: "reading",
                path: root.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        }
        let mut overrides = OverrideBuilder::new(root);
        for glob in &options.excludes {
            overrides
                .add(&format!("!{glob}"))
                .map_err(|e| Error::Config(format!("--exclude {glob}: {e}")))?;
        }
        let overrides = overrides
            .build()
            .map_err(|e| Error::Config(format!("--exclude: {e}")))?;
        let index_dir = index_dir.to_path_buf();
        let walker = WalkBuilder::new(root)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .require_git(false)
            .add_custom_ignore_filename(".ragignore")
            .follow_links(true)
            .overrides(overrides)
            .filter_entry(move |entry| entry.path() != index_dir)
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
    found.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    found.dedup_by(|a, b| path_of(a) == path_of(b));
    Ok(found)
}

fn path_of(found: &Found) -> &Path {
    match found {
        Found::File { path, .. } | Found::Skipped { path, .. } | Found::Unsupported(path) => path,
    }
}

fn classify(path: &Path, options: &WalkOptions) -> Found {
    let path = path.to_path_buf();
    let Some(kind) = kind_of(&path) else {
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
