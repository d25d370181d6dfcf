//! `walk`: which files an ingest considers, and why the others are left out.

use std::path::{Path, PathBuf};

use crate::extract::{Kind, SkipReason};
use crate::walk::{walk, Found, WalkOptions};
use crate::Error;

/// A canonical temporary folder (links are compared with canonical paths).
struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        Tree { _tmp: tmp, root }
    }

    fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    fn dir(&self, relative: &str) -> PathBuf {
        let path = self.root.join(relative);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Walks `roots` (relative), with the index folder at `idx/`.
    fn walk(&self, roots: &[&str], options: &WalkOptions) -> Vec<Found> {
        let roots: Vec<PathBuf> = roots.iter().map(|r| self.root.join(r)).collect();
        walk(&roots, options, &self.root.join("idx")).unwrap()
    }

    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    fn files(&self, found: &[Found]) -> Vec<String> {
        found
            .iter()
            .filter_map(|f| match f {
                Found::File { path, .. } => Some(self.rel(path)),
                _ => None,
            })
            .collect()
    }

    fn skipped(&self, found: &[Found]) -> Vec<(String, SkipReason)> {
        found
            .iter()
            .filter_map(|f| match f {
                Found::Skipped { path, reason } => Some((self.rel(path), reason.clone())),
                _ => None,
            })
            .collect()
    }

    fn unsupported(&self, found: &[Found]) -> Vec<String> {
        found
            .iter()
            .filter_map(|f| match f {
                Found::Unsupported(path) => Some(self.rel(path)),
                _ => None,
            })
            .collect()
    }
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[test]
fn files_come_sorted_with_their_kind_and_size() {
    let tree = Tree::new();
    tree.write("docs/b.md", "# B\n");
    tree.write("docs/a/code.rs", "fn main() {}\n");
    tree.write("docs/notes.txt", "notes");
    tree.write("docs/README", "read me");
    tree.write("docs/page.html", "<p>hi</p>");
    tree.write("docs/changes.1st", "text under an unknown extension");
    tree.write("docs/blob.xyz", b"\x00\x01binary");
    tree.write("docs/picture.png", "png bytes");
    tree.dir("docs/empty-folder");
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(
        tree.files(&found),
        vec![
            "docs/README",
            "docs/a/code.rs",
            "docs/b.md",
            "docs/changes.1st",
            "docs/notes.txt",
            "docs/page.html",
        ]
    );
    assert_eq!(
        tree.unsupported(&found),
        vec!["docs/blob.xyz", "docs/picture.png"]
    );
    assert!(tree.skipped(&found).is_empty());
    let kinds: Vec<(String, Kind, u64)> = found
        .iter()
        .filter_map(|f| match f {
            Found::File { path, kind, size } => Some((tree.rel(path), *kind, *size)),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&("docs/b.md".into(), Kind::Markdown, 4)));
    assert!(kinds.contains(&("docs/a/code.rs".into(), Kind::Code, 13)));
    assert!(kinds.contains(&("docs/README".into(), Kind::Text, 7)));
    assert!(kinds.contains(&("docs/page.html".into(), Kind::Html, 9)));
    assert!(kinds.contains(&("docs/changes.1st".into(), Kind::Text, 31)));
    // Sorted by path, whatever the kind.
    let all: Vec<&Path> = found
        .iter()
        .map(|f| match f {
            Found::File { path, .. }
            | Found::Skipped { path, .. }
            | Found::Unsupported(path)
            | Found::Generated { path, .. } => path.as_path(),
        })
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
}

#[test]
fn excludes_are_gitignore_globs() {
    let tree = Tree::new();
    tree.write("docs/keep.md", "k");
    tree.write("docs/run.log", "l");
    tree.write("docs/deep/er/trace.log", "l");
    tree.write("docs/drafts/wip.md", "w");
    tree.write("docs/sub/drafts/also.md", "w");
    tree.write("docs/secret-plan.md", "s");
    tree.write("docs/top.txt", "t");
    tree.write("docs/sub/top.txt", "t");
    let options = WalkOptions {
        excludes: vec![
            "*.log".into(),
            "drafts/".into(),
            "secret-*".into(),
            "/top.txt".into(),
        ],
        ..Default::default()
    };
    let found = tree.walk(&["docs"], &options);
    assert_eq!(
        tree.files(&found),
        vec!["docs/keep.md", "docs/sub/top.txt"],
        "an anchored glob only matches at the root"
    );
    assert!(tree.skipped(&found).is_empty(), "excluded, not skipped");
}

#[test]
fn an_invalid_exclude_is_a_config_error() {
    let tree = Tree::new();
    tree.write("docs/a.md", "a");
    let options = WalkOptions {
        excludes: vec!["[unclosed".into()],
        ..Default::default()
    };
    let err = walk(&[tree.root.join("docs")], &options, &tree.root.join("idx")).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("[unclosed")),
        "{err}"
    );
}

#[test]
fn gitignore_and_ragignore_are_respected_without_a_repository() {
    let tree = Tree::new();
    tree.write("docs/.gitignore", "build/\n*.bak\n");
    tree.write("docs/.ragignore", "private.md\n");
    tree.write("docs/sub/.gitignore", "local.txt\n");
    tree.write("docs/a.md", "a");
    tree.write("docs/a.md.bak", "old a");
    tree.write("docs/build/out.txt", "o");
    tree.write("docs/private.md", "p");
    tree.write("docs/sub/local.txt", "l");
    tree.write("docs/sub/shared.txt", "s");
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/a.md", "docs/sub/shared.txt"]);
}

#[test]
fn hidden_files_and_folders_are_skipped_unless_named() {
    let tree = Tree::new();
    tree.write("docs/seen.md", "s");
    tree.write("docs/.hidden.md", "h");
    tree.write("docs/.cache/inside.md", "i");
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/seen.md"]);
    assert!(tree.skipped(&found).is_empty());
    // A hidden folder given as a root is walked.
    let found = tree.walk(&["docs/.cache"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/.cache/inside.md"]);
}

#[test]
fn files_over_the_size_limit_are_skipped() {
    let tree = Tree::new();
    tree.write("docs/at-limit.txt", "x".repeat(10));
    tree.write("docs/over.txt", "x".repeat(11));
    tree.write("docs/over.png", "x".repeat(11));
    let options = WalkOptions {
        max_file_size: 10,
        ..Default::default()
    };
    let found = tree.walk(&["docs"], &options);
    assert_eq!(tree.files(&found), vec!["docs/at-limit.txt"]);
    assert_eq!(
        tree.skipped(&found),
        vec![(
            "docs/over.txt".to_string(),
            SkipReason::TooLarge {
                size: 11,
                limit: 10
            }
        )]
    );
    assert_eq!(
        tree.unsupported(&found),
        vec!["docs/over.png"],
        "a format that is not read is not reported as too large"
    );
}

#[test]
fn the_index_folder_is_never_walked() {
    let tree = Tree::new();
    tree.write("a.md", "a");
    tree.write("idx/manifest.json", "{}");
    tree.write("idx/bm25/meta.json", "{}");
    let found = walk(
        std::slice::from_ref(&tree.root),
        &WalkOptions::default(),
        &tree.root.join("idx"),
    )
    .unwrap();
    assert_eq!(tree.files(&found), vec!["a.md"]);
    // Another index folder: the same files are candidates.
    let found = walk(
        std::slice::from_ref(&tree.root),
        &WalkOptions::default(),
        &tree.root.join("elsewhere"),
    )
    .unwrap();
    assert_eq!(tree.files(&found).len(), 3, "{found:?}");
}

#[test]
fn a_missing_root_is_an_error() {
    let tree = Tree::new();
    let missing = tree.root.join("nope");
    let err = walk(
        std::slice::from_ref(&missing),
        &WalkOptions::default(),
        &tree.root.join("idx"),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if *path == missing),
        "{err}"
    );
}

#[test]
fn overlapping_roots_list_each_file_once() {
    let tree = Tree::new();
    tree.write("docs/a.md", "a");
    tree.write("docs/sub/b.md", "b");
    let found = tree.walk(
        &["docs/sub", "docs", "docs/sub/b.md"],
        &WalkOptions::default(),
    );
    assert_eq!(tree.files(&found), vec!["docs/a.md", "docs/sub/b.md"]);
}

#[test]
fn links_inside_the_roots_are_followed() {
    let tree = Tree::new();
    tree.write("docs/real/a.md", "a");
    symlink(&tree.root.join("docs/real"), &tree.root.join("docs/alias"));
    symlink(
        &tree.root.join("docs/real/a.md"),
        &tree.root.join("docs/link.md"),
    );
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(
        tree.files(&found),
        vec!["docs/alias/a.md", "docs/link.md", "docs/real/a.md"]
    );
    assert!(tree.skipped(&found).is_empty());
}

#[test]
fn links_into_another_root_are_followed() {
    let tree = Tree::new();
    tree.write("docs/a.md", "a");
    tree.write("more/b.md", "b");
    symlink(&tree.root.join("more"), &tree.root.join("docs/more"));
    let found = tree.walk(&["docs", "more"], &WalkOptions::default());
    assert_eq!(
        tree.files(&found),
        vec!["docs/a.md", "docs/more/b.md", "more/b.md"]
    );
    // Alone, `docs` does not cover `more`: the link leads outside.
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/a.md"]);
}

#[test]
fn links_out_of_the_roots_are_skipped_unless_following_all() {
    let tree = Tree::new();
    tree.write("docs/a.md", "a");
    tree.write("outside/secret.md", "s");
    tree.write("outside/single.txt", "t");
    symlink(&tree.root.join("outside"), &tree.root.join("docs/out"));
    symlink(
        &tree.root.join("outside/single.txt"),
        &tree.root.join("docs/one.txt"),
    );

    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/a.md"]);
    assert_eq!(
        tree.skipped(&found),
        vec![
            (
                "docs/one.txt".to_string(),
                SkipReason::LinkOutside {
                    target: tree.root.join("outside/single.txt")
                }
            ),
            (
                "docs/out".to_string(),
                SkipReason::LinkOutside {
                    target: tree.root.join("outside")
                }
            ),
        ]
    );

    let options = WalkOptions {
        follow_links: true,
        ..Default::default()
    };
    let found = tree.walk(&["docs"], &options);
    assert_eq!(
        tree.files(&found),
        vec![
            "docs/a.md",
            "docs/one.txt",
            "docs/out/secret.md",
            "docs/out/single.txt"
        ]
    );
    assert!(tree.skipped(&found).is_empty());
}

#[test]
fn a_link_loop_is_reported_once_not_followed_forever() {
    let tree = Tree::new();
    tree.write("docs/sub/a.md", "a");
    symlink(&tree.root.join("docs"), &tree.root.join("docs/sub/up"));
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/sub/a.md"]);
    assert_eq!(
        tree.skipped(&found),
        vec![("docs/sub/up".to_string(), SkipReason::SymlinkLoop)]
    );
}

#[test]
fn a_dangling_link_is_skipped_not_fatal() {
    let tree = Tree::new();
    tree.write("docs/a.md", "a");
    symlink(
        &tree.root.join("docs/gone.md"),
        &tree.root.join("docs/dangling.md"),
    );
    let found = tree.walk(&["docs"], &WalkOptions::default());
    assert_eq!(tree.files(&found), vec!["docs/a.md"]);
    let skipped = tree.skipped(&found);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].0, "docs/dangling.md");
    assert!(
        matches!(skipped[0].1, SkipReason::Unreadable(_)),
        "{skipped:?}"
    );
}

#[test]
fn generated_and_asset_files_are_left_out_unless_asked_for() {
    let tree = Tree::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/docs/cargo");
    for name in [
        "reference/workspaces.html",
        "old-trait-objects.html",
        "searchindex-7a90acc2.js",
        "elasticlunr-ef4e11c1.min.js",
        "book-a0b12cfe.js",
        "css/general-2459343d.css",
        "images/winapi-features.svg",
    ] {
        tree.write(
            &format!("book/{name}"),
            std::fs::read(fixtures.join(name)).unwrap(),
        );
    }
    tree.write("book/app.js.map", "{\"version\":3}");
    tree.write("book/~$report.docx", "\u{5}Ann Author");
    tree.write("book/bundle.js", format!("var a={};\n", "1,".repeat(600)));
    // Names that only look hashed are code someone wrote.
    tree.write("book/migration-20240101.js", "export const up = 1;\n");
    tree.write("book/use-deadbeef.js", "export const x = 1;\n");
    // A page that mentions a refresh in its text is a page.
    tree.write(
        "book/meta.html",
        "<p>Write <code>&lt;meta http-equiv=\"refresh\"&gt;</code> to redirect.</p>",
    );
    let found = tree.walk(&["book"], &WalkOptions::default());
    let generated: Vec<(String, &str)> = found
        .iter()
        .filter_map(|f| match f {
            Found::Generated { path, what } => Some((tree.rel(path), *what)),
            _ => None,
        })
        .collect();
    assert_eq!(
        generated,
        [
            ("book/app.js.map".to_string(), "a source map"),
            (
                "book/book-a0b12cfe.js".into(),
                "a fingerprinted build asset"
            ),
            ("book/bundle.js".into(), "minified or generated code"),
            ("book/css/general-2459343d.css".into(), "a stylesheet"),
            ("book/elasticlunr-ef4e11c1.min.js".into(), "minified code"),
            ("book/images/winapi-features.svg".into(), "an SVG drawing"),
            ("book/old-trait-objects.html".into(), "a redirect page"),
            ("book/searchindex-7a90acc2.js".into(), "a search index"),
            ("book/~$report.docx".into(), "an office lock file"),
        ]
    );
    assert_eq!(
        tree.files(&found),
        [
            "book/meta.html",
            "book/migration-20240101.js",
            "book/reference/workspaces.html",
            "book/use-deadbeef.js"
        ]
    );
    let everything = WalkOptions {
        include_generated: true,
        ..Default::default()
    };
    let found = tree.walk(&["book"], &everything);
    assert_eq!(tree.files(&found).len(), 13);
}
