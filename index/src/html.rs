//! HTML to the Markdown the chunker reads: the page's main content only, with
//! headings as `#` lines (so sections carry their heading path), code blocks
//! fenced, links as their text and tables as rows.
//!
//! Generated documentation (mdBook, Sphinx, MkDocs, rustdoc, Docusaurus) puts
//! the whole table of contents, search boxes and "next/previous" links around
//! every page; rendered as they are, they outnumber the page's own words and
//! every passage of a book looks alike. The page's `<main>` (or its equivalent)
//! is what a reader reads, so it is what is indexed.
//!
//! The tree is walked with its open and close events, not by recursion, so a
//! page of thousands of nested elements (a long mail thread's quotes) is read
//! like any other.

mod lines;
mod writer;

use ego_tree::NodeRef;
use scraper::{Html, Node, Selector};

use lines::LinedPage;
use writer::Writer;

/// Elements that hold the main content, most specific first. The first
/// selector that matches wins; every match of it is read, in page order.
const MAIN_CONTENT: &[&str] = &[
    "main",
    "[role=main]",
    "article",
    "#main-content",
    "#content",
    ".content",
];

/// Never text a reader reads as the page: code, styling, controls and
/// navigation.
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "canvas", "nav", "form", "button", "input",
    "select", "textarea", "iframe", "object", "embed", "head", "title", "meta", "link",
];

/// Outside the main content (a page without one), the page's chrome.
const CHROME: &[&str] = &["header", "footer", "aside"];

/// Roles and classes of navigation, permalinks and hidden lines.
const DROPPED_ROLES: &[&str] = &["navigation", "search", "banner", "contentinfo"];
const DROPPED_CLASSES: &[&str] = &[
    // Sphinx's "¶" permalinks.
    "headerlink",
    // mdBook's hidden lines of examples (`# fn main() {`), hidden on the page too.
    "boring",
    "sidebar",
    "toc",
    "breadcrumbs",
];

/// Pages nested deeper than this are read as plain text: the HTML parser's
/// time grows with the square of the depth (100,000 nested `<div>`s take most
/// of a minute), and no page a person reads is nested a thousand deep.
pub(crate) const MAX_NESTING: usize = 1000;

/// Elements that never hold content, so never nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Blockquotes deeper than this are shown at this depth: a reply quoted fifty
/// times is still the same words.
const MAX_QUOTE_DEPTH: usize = 6;
const MAX_LIST_DEPTH: usize = 8;

/// A page as the chunker reads it.
pub struct Page {
    /// The `<title>`, entities decoded and whitespace collapsed.
    pub title: Option<String>,
    /// The main content as Markdown (empty when it holds no text).
    pub text: String,
    /// The file's line of each line of `text`.
    pub file_lines: Vec<u32>,
}

pub fn read(source: &str) -> Page {
    if nesting_depth(source) > MAX_NESTING {
        let (text, file_lines) = strip_tags(source);
        return Page {
            title: None,
            text,
            file_lines,
        };
    }
    let page = LinedPage::parse(source);
    let title = Selector::parse("title")
        .ok()
        .and_then(|selector| page.html.select(&selector).next())
        .map(|title| collapse_whitespace(&title.text().collect::<String>()))
        .filter(|title| !title.is_empty());
    let (text, file_lines) = to_markdown(&page);
    Page {
        title,
        text,
        file_lines,
    }
}

fn to_markdown(page: &LinedPage) -> (String, Vec<u32>) {
    let roots = main_content(&page.html);
    let mut writer = Writer::default();
    match roots {
        Some(roots) => {
            for root in roots {
                writer.walk(page, root, false);
            }
        }
        None => writer.walk(page, page.html.tree.root(), true),
    }
    writer.finish()
}

fn main_content(page: &Html) -> Option<Vec<NodeRef<'_, Node>>> {
    for css in MAIN_CONTENT {
        let Ok(selector) = Selector::parse(css) else {
            continue;
        };
        let matches: Vec<_> = page.select(&selector).collect();
        // A match inside another (an article in the main) is read with it.
        let outer: Vec<NodeRef<'_, Node>> = matches
            .iter()
            .filter(|m| !matches.iter().any(|o| o.id() != m.id() && is_inside(m, o)))
            .map(|m| **m)
            .collect();
        let has_text = outer.iter().any(|root| {
            root.descendants()
                .any(|n| n.value().as_text().is_some_and(|t| !t.trim().is_empty()))
        });
        if has_text {
            return Some(outer);
        }
    }
    None
}

fn is_inside(node: &NodeRef<'_, Node>, container: &NodeRef<'_, Node>) -> bool {
    node.ancestors().any(|a| a.id() == container.id())
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_dropped(element: &scraper::node::Element, whole_page: bool) -> bool {
    let name = element.name();
    DROPPED.contains(&name)
        || (whole_page && CHROME.contains(&name))
        || element.attr("hidden").is_some()
        || element.attr("aria-hidden") == Some("true")
        || element.attr("style").is_some_and(hides)
        || element
            .attr("role")
            .is_some_and(|role| DROPPED_ROLES.contains(&role))
        || element.classes().any(|c| DROPPED_CLASSES.contains(&c))
}

/// Whether an inline style hides its element from the reader: text no one sees
/// on the page is where instructions to a model get hidden.
fn hides(style: &str) -> bool {
    let style: String = style
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    style.split(';').any(|declaration| {
        matches!(
            declaration.trim_end_matches("!important"),
            "display:none" | "visibility:hidden" | "font-size:0" | "font-size:0px" | "opacity:0"
        )
    })
}

/// The deepest nesting of elements, by a scan of the tags (an estimate: it
/// ignores the parser's implied closings, which only make pages shallower).
pub(crate) fn nesting_depth(source: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let bytes = source.as_bytes();
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        let start = at + offset + 1;
        at = start;
        match bytes.get(start) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b) if b.is_ascii_alphabetic() => {
                let name_end = bytes[start..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .map_or(bytes.len(), |n| start + n);
                let name = source[start..name_end].to_ascii_lowercase();
                let tag_end = bytes[start..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(bytes.len(), |n| start + n);
                let self_closing = tag_end > start && bytes[tag_end - 1] == b'/';
                if !VOID.contains(&name.as_str()) && !self_closing {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
            }
            _ => {}
        }
    }
    deepest
}

/// The text between the tags, for pages too deep to parse, and the file's
/// line of each of its lines.
fn strip_tags(source: &str) -> (String, Vec<u32>) {
    let mut text = String::with_capacity(source.len() / 2);
    let mut in_tag = false;
    for c in source.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            // Line breaks inside tags are kept: a line of the text is a line of the file.
            '\n' => text.push(c),
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let mut lines: Vec<(String, u32)> = (1..)
        .zip(text.lines())
        .map(|(number, line)| (collapse_whitespace(line), number))
        .filter(|(line, _)| !line.is_empty())
        .collect();
    lines.dedup_by(|a, b| a.0 == b.0);
    let file_lines = lines.iter().map(|(_, number)| *number).collect();
    let text: Vec<String> = lines.into_iter().map(|(line, _)| line).collect();
    let mut out = text.join("\n");
    out.push('\n');
    (out, file_lines)
}
