//! The choices an index keeps between ingests ([`Remembered`]): the walk an
//! ingest makes on it, and what `rag forget` adds to them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::ingest::is_under;
use crate::manifest::Remembered;
use crate::walk::{Forgotten, WalkOptions};
use crate::{Error, Result};

/// The walk an ingest of `roots` (stored forms) makes on an index that
/// remembers `remembered` and covers `index_roots`, and what the index
/// remembers after it: the given excludes join the remembered ones, less
/// `dropped`; a forgotten path that is named again is taken back; forgotten
/// paths are left out of the walk except the roots inside them. `root` is
/// the folder stored paths are relative to.
pub fn planned_walk(
    remembered: &Remembered,
    root: &Path,
    index_roots: &BTreeSet<String>,
    roots: &[String],
    walk: &WalkOptions,
    dropped: &[String],
) -> Result<(WalkOptions, Remembered)> {
    let mut next = remembered.clone();
    for pattern in dropped {
        if !next.excludes.remove(pattern) {
            let known: Vec<&str> = remembered.excludes.iter().map(String::as_str).collect();
            return Err(Error::Config(format!(
                "exclude pattern {pattern} is not one the index remembers ({})",
                if known.is_empty() {
                    "it remembers none".to_string()
                } else {
                    format!("it remembers {}", known.join(", "))
                }
            )));
        }
    }
    next.excludes.extend(walk.excludes.iter().cloned());
    next.forgotten
        .retain(|forgotten| !roots.contains(forgotten));

    let absolute = |stored: &str| -> PathBuf { root.join(crate::paths::decode(stored)) };
    let covered: BTreeSet<&String> = index_roots.iter().chain(roots).collect();
    let kept = covered
        .iter()
        .filter(|r| {
            next.forgotten
                .iter()
                .any(|forgotten| is_under(r, forgotten) && r.as_str() != forgotten)
        })
        .map(|r| absolute(r))
        .collect();
    let mut options = walk.clone();
    options.excludes = next.excludes.iter().cloned().collect();
    options.forgotten = Forgotten {
        paths: next.forgotten.iter().map(|f| absolute(f)).collect(),
        kept,
    };
    Ok((options, next))
}

/// [`planned_walk`] for an ingest of `roots` into the folder index at
/// `index_dir` (none there yet: nothing remembered), for a dry run.
pub fn planned_walk_of_folder(
    index_dir: &Path,
    roots: &[PathBuf],
    walk: &WalkOptions,
    dropped: &[String],
) -> Result<WalkOptions> {
    let manifest = crate::manifest::Manifest::read(index_dir)?;
    let (root, remembered, index_roots) = match &manifest {
        Some(manifest) => (
            crate::index::files_root(index_dir, manifest),
            manifest.remembered.clone(),
            manifest.roots.clone(),
        ),
        None => (
            crate::index::index_root(index_dir),
            Remembered::default(),
            BTreeSet::new(),
        ),
    };
    let stored: Vec<String> = roots
        .iter()
        .map(|r| crate::ingest::stored_path(&root, &crate::index::canonical(r)))
        .collect();
    let (options, _) = planned_walk(&remembered, &root, &index_roots, &stored, walk, dropped)?;
    Ok(options)
}

/// Records that `rag forget` took `stored` out of the index, whose roots
/// after it are `roots`: remembered when a remaining root covers it (so the
/// next ingest of that root leaves it out); forgotten paths inside it are
/// folded into it.
pub fn forgot(remembered: &mut Remembered, stored: &str, roots: &BTreeSet<String>) {
    remembered
        .forgotten
        .retain(|forgotten| !is_under(forgotten, stored));
    if roots.iter().any(|root| is_under(stored, root)) {
        remembered.forgotten.insert(stored.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn excludes_accumulate_and_can_be_dropped() {
        let remembered = Remembered {
            excludes: set(&["*.log"]),
            ..Remembered::default()
        };
        let walk = WalkOptions {
            excludes: vec!["drafts/".into()],
            ..WalkOptions::default()
        };
        let (options, next) =
            planned_walk(&remembered, Path::new("/r"), &set(&[]), &[], &walk, &[]).unwrap();
        assert_eq!(options.excludes, ["*.log", "drafts/"]);
        assert_eq!(next.excludes, set(&["*.log", "drafts/"]));

        let (options, next) = planned_walk(
            &next,
            Path::new("/r"),
            &set(&[]),
            &[],
            &WalkOptions::default(),
            &["*.log".into()],
        )
        .unwrap();
        assert_eq!(options.excludes, ["drafts/"]);
        assert_eq!(next.excludes, set(&["drafts/"]));

        let err = planned_walk(
            &next,
            Path::new("/r"),
            &set(&[]),
            &[],
            &WalkOptions::default(),
            &["*.tmp".into()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("it remembers drafts/"), "{err}");
    }

    #[test]
    fn a_forgotten_folder_stays_out_until_it_is_named_again() {
        let mut remembered = Remembered::default();
        forgot(&mut remembered, "docs/old", &set(&["docs"]));
        assert_eq!(remembered.forgotten, set(&["docs/old"]));
        // Forgetting a root itself leaves nothing to remember.
        forgot(&mut remembered, "notes", &set(&["docs"]));
        assert_eq!(remembered.forgotten, set(&["docs/old"]));

        let walk = WalkOptions::default();
        let root = Path::new("/r");
        let (options, _) = planned_walk(
            &remembered,
            root,
            &set(&["docs"]),
            &["docs".into()],
            &walk,
            &[],
        )
        .unwrap();
        assert!(options.forgotten.leaves_out(Path::new("/r/docs/old")));
        assert!(options.forgotten.leaves_out(Path::new("/r/docs/old/a.md")));
        assert!(!options.forgotten.leaves_out(Path::new("/r/docs/older.md")));
        assert!(!options.forgotten.leaves_out(Path::new("/r/docs/new.md")));

        // A file inside it, named: kept, and its folders walked to reach it.
        let (options, next) = planned_walk(
            &remembered,
            root,
            &set(&["docs"]),
            &["docs/old/keep.md".into()],
            &walk,
            &[],
        )
        .unwrap();
        assert_eq!(next.forgotten, set(&["docs/old"]));
        assert!(!options.forgotten.leaves_out(Path::new("/r/docs/old")));
        assert!(!options
            .forgotten
            .leaves_out(Path::new("/r/docs/old/keep.md")));
        assert!(options.forgotten.leaves_out(Path::new("/r/docs/old/a.md")));

        // The folder itself, named: taken back.
        let (options, next) = planned_walk(
            &remembered,
            root,
            &set(&["docs"]),
            &["docs/old".into()],
            &walk,
            &[],
        )
        .unwrap();
        assert!(next.forgotten.is_empty());
        assert!(!options.forgotten.leaves_out(Path::new("/r/docs/old/a.md")));

        // Forgetting the parent folds the forgotten path into it.
        let mut remembered = next;
        forgot(&mut remembered, "docs/old/x", &set(&["docs"]));
        forgot(&mut remembered, "docs", &set(&["."]));
        assert_eq!(remembered.forgotten, set(&["docs"]));
    }
}
