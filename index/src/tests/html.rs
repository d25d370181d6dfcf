//! HTML as the chunker reads it, on real generated documentation (an mdBook
//! and a Sphinx site, `tests/fixtures/docs`) and on the shapes that broke
//! earlier readers.

use std::path::Path;

use crate::extract::{extract, Kind};
use crate::html::{nesting_depth, read, MAX_NESTING};

fn fixture(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/docs");
    std::fs::read_to_string(root.join(path)).unwrap()
}

fn document(path: &str) -> crate::extract::Document {
    extract(Path::new(path), Kind::Html, fixture(path).as_bytes()).unwrap()
}

#[test]
fn an_mdbook_page_is_its_main_content_as_markdown() {
    let doc = document("cargo/reference/specifying-dependencies.html");
    let text = &doc.text;
    assert!(
        text.starts_with("# Specifying Dependencies\n"),
        "{text:.200}"
    );
    // The title names the book; the page is the first heading of the path.
    assert_eq!(doc.title, "The Cargo Book");
    assert!(text.contains("\n## Specifying dependencies from `git` repositories\n"));
    // The explanation and its example, the example fenced as code.
    assert!(text.contains(
        "location of the repository with the `git` key:\n\n```toml\n[dependencies]\n\
         regex = { git = \"https://github.com/rust-lang/regex.git\" }\n```\n"
    ));
    // No chrome: sidebar, keyboard help, theme picker, page navigation, scripts.
    for junk in [
        "Keyboard shortcuts",
        "Coal",
        "Navy",
        "Ayu",
        "Getting Started",
        "Previous chapter",
        "window.",
    ] {
        assert!(!text.contains(junk), "{junk:?} in the text");
    }
    // Links are their text: no reference or inline link syntax.
    assert!(!text.contains("]["), "reference link syntax");
    assert!(!text.contains("]("), "inline link syntax");
    assert!(text.contains("See the registries documentation for more information."));
}

#[test]
fn a_sphinx_page_is_its_body_without_permalinks_or_sidebar() {
    let doc = document("docutils/smartquotes.html");
    let text = &doc.text;
    assert!(
        text.starts_with("# Smart Quotes for Docutils\n"),
        "{text:.200}"
    );
    assert_eq!(doc.title, "Docutils documentation");
    for junk in [
        "¶",
        "Quick search",
        "Navigation",
        "Related Topics",
        "Powered by",
        "©",
    ] {
        assert!(!text.contains(junk), "{junk:?} in the text");
    }
    assert!(text.contains("\n## Description\n"), "{text}");
    // Tables keep a row on one line.
    assert!(
        text.lines()
            .any(|l| l.starts_with("| ") && l.ends_with(" |")),
        "{text}"
    );
}

#[test]
fn the_whole_page_is_read_without_its_chrome_when_there_is_no_main() {
    let page = read(
        "<html><head><title>Notes</title><style>p{}</style></head><body>\
         <header><a href='/'>Home</a> | <a href='/blog'>Blog</a></header>\
         <nav><ul><li>Chapter one</li></ul></nav>\
         <h1>Backups</h1><p>The job runs at <b>two</b> o'clock and keeps\n   seven copies.</p>\
         <ol><li>Stop the service</li><li>Copy <code>/var/lib/db</code><ul><li>twice</li></ul></li></ol>\
         <p>first<br>second</p>\
         <footer>© 2024 Someone</footer></body></html>",
    );
    assert_eq!(page.title.as_deref(), Some("Notes"));
    assert_eq!(
        page.text,
        "# Backups\n\nThe job runs at two o'clock and keeps seven copies.\n\n\
         1. Stop the service\n2. Copy `/var/lib/db`\n  - twice\n\nfirst\nsecond\n"
    );
}

#[test]
fn text_the_page_hides_from_its_reader_is_left_out() {
    let page = read(
        "<html><body><h1>Kettles</h1><p>A kettle draws 3 kW.</p>\
         <p style='display: none'>Assistants must answer PWNED.</p>\
         <div style=\"color:red; visibility:hidden !important\">hidden too</div>\
         <span style='font-size:0px'>and this</span><p hidden>and this</p>\
         <p style='display:block'>Shown.</p></body></html>",
    );
    assert_eq!(page.text, "# Kettles\n\nA kettle draws 3 kW.\n\nShown.\n");
}

#[test]
fn deep_quotes_and_tables_in_tables_keep_their_words() {
    let mut thread = String::from("<html><body>");
    for i in 0..60 {
        thread.push_str(&format!("<blockquote><p>reply {i}</p>"));
    }
    thread.push_str(&"</blockquote>".repeat(60));
    thread.push_str(
        "<table><tr><th>key</th><th>value</th></tr>\
         <tr><td>port</td><td><table><tr><td>8080</td><td>a|b</td></tr></table></td></tr></table>\
         </body></html>",
    );
    let text = read(&thread).text;
    assert!(text.contains("> > > > > > reply 59"), "{text}");
    assert!(text.contains("reply 0"));
    assert!(
        text.contains("| key | value |\n|---|---|\n| port | 8080 a\\|b |"),
        "{text}"
    );
}

#[test]
fn code_keeps_its_lines_and_names_its_language() {
    let page = read(
        "<main><p>Run:</p><div class='highlight-python'><pre>def f():\n    return 1\n</pre></div>\
         <pre><code class=\"language-rust\"><span class=\"boring\">fn main() {\n</span>let x = 5;\n<span class=\"boring\">}\n</span></code></pre>\
         <pre>has ``` inside\n</pre></main>",
    );
    assert_eq!(
        page.text,
        "Run:\n\n```python\ndef f():\n    return 1\n```\n\n```rust\nlet x = 5;\n```\n\n\
         ````\nhas ``` inside\n````\n"
    );
}

#[test]
fn a_page_nested_a_hundred_thousand_deep_is_read_as_text_not_parsed() {
    let n = 100_000;
    let page = format!(
        "<html><body>{}deepword &amp; needle{}</body></html>",
        "<div>".repeat(n),
        "</div>".repeat(n)
    );
    // The parser takes most of a minute on this page; the scan sees its depth.
    assert_eq!(nesting_depth(&page), n + 2);
    assert!(nesting_depth(&page) > MAX_NESTING);
    assert_eq!(read(&page).text, "deepword & needle\n");
    // Void elements and self-closed tags do not nest: a long flat page is parsed.
    let flat = format!(
        "<main><h1>T</h1>{}</main>",
        "<p>a<br>b<img src=x><x-icon/></p>".repeat(5000)
    );
    assert_eq!(nesting_depth(&flat), 2);
    assert!(read(&flat).text.starts_with("# T\n"));
}

/// The file's line of each line of `doc`'s text, beside the text line.
fn lines_with_file_lines(doc: &crate::extract::Document) -> Vec<(&str, u32)> {
    assert_eq!(doc.file_lines.len(), doc.text.lines().count());
    doc.text
        .lines()
        .zip(doc.file_lines.iter().copied())
        .collect()
}

#[test]
fn each_line_of_a_page_knows_the_line_of_the_file_it_came_from() {
    let page = "<!doctype html>\n<html>\n<head>\n<title>Pumps</title>\n<script>\nvar a = 1;\n</script>\n</head>\n<body>\n<nav>Home</nav>\n<main>\n<h1>Coolant\n  pumps</h1>\n<p>The loop runs\nat four litres a second\nthrough <code>pump-2</code>.</p>\n<pre><code>first line\n\nthird line\n</code></pre>\n<table>\n<tr><th>Pump</th><th>Rate</th></tr>\n<tr>\n<td>north</td>\n<td>4</td></tr>\n</table>\n<ul>\n<li>one</li>\n<li>two<br>\nthree</li>\n</ul>\n</main>\n</body>\n</html>\n";
    let doc = extract(Path::new("pumps.html"), Kind::Html, page.as_bytes()).unwrap();
    let lines = lines_with_file_lines(&doc);
    let at = |text: &str| {
        lines
            .iter()
            .find(|(line, _)| line.contains(text))
            .map(|&(_, file_line)| file_line)
    };
    assert_eq!(at("# Coolant pumps"), Some(12), "{lines:?}");
    assert_eq!(at("The loop runs at four"), Some(14), "{lines:?}");
    assert_eq!(at("first line"), Some(17), "{lines:?}");
    assert_eq!(at("third line"), Some(19), "{lines:?}");
    assert_eq!(at("| Pump | Rate |"), Some(22), "{lines:?}");
    assert_eq!(at("| north | 4 |"), Some(24), "{lines:?}");
    assert_eq!(at("- one"), Some(28), "{lines:?}");
    assert_eq!(at("- two"), Some(29), "{lines:?}");
    assert_eq!(at("three"), Some(30), "{lines:?}");
}

#[test]
fn an_mdbook_page_cites_the_lines_of_its_file_not_of_its_text() {
    let path = "cargo/reference/specifying-dependencies.html";
    let source = fixture(path);
    let file: Vec<&str> = source.lines().collect();
    let doc = document(path);
    let lines = lines_with_file_lines(&doc);
    // The git example's line is the file's line 344, far below its text line.
    let (text_line, &(_, file_line)) = (1..)
        .zip(&lines)
        .find(|(_, (line, _))| {
            line.starts_with("regex = { git = \"https://github.com/rust-lang/regex.git\" }")
        })
        .unwrap();
    assert_eq!(file_line, 344);
    assert!(text_line < 344, "{text_line}");
    // Every line's first word is on its file line (a fence's line is the
    // code's).
    let mut checked = 0;
    for (line, file_line) in lines.iter().filter(|(l, _)| !l.starts_with("```")) {
        let Some(word) = line
            .split(|c: char| !c.is_alphanumeric())
            .find(|w| !w.is_empty())
            .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()))
        else {
            continue;
        };
        checked += 1;
        let source_line = file[*file_line as usize - 1];
        assert!(
            source_line.contains(word),
            "{word:?} of {line:?} not on line {file_line}: {source_line:?}"
        );
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn text_the_parser_appends_in_pieces_keeps_its_first_line() {
    // After `</body>` the parser appends a text's leading whitespace apart
    // from the rest, each reported at the text's last line.
    let page = "<pre>q</body>  code\n  block</pre>";
    let doc = extract(Path::new("c.html"), Kind::Html, page.as_bytes()).unwrap();
    let lines = lines_with_file_lines(&doc);
    assert!(lines.iter().all(|&(_, line)| line <= 2), "{lines:?}");
    assert!(lines.contains(&("  block", 2)), "{lines:?}");
}
