//! Turns a file's bytes into plain text worth indexing, or a reason to skip it.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::formats::{self, Format};
use crate::location::{Place, Unit};

/// How a file's text is read and chunked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Markdown and reStructuredText: headings guide the chunker.
    Markdown,
    Text,
    Html,
    Pdf,
    Code,
    /// Word processor files, e-books, slides, spreadsheets, notebooks and
    /// mail: read by [`crate::formats`] into Markdown.
    Document(Format),
}

impl Kind {
    /// Whether this kind is read by a parser of untrusted containers that a
    /// caller should run in a child process with a budget (see
    /// [`read_contents`]).
    pub fn contained(self) -> bool {
        matches!(self, Kind::Pdf | Kind::Document(_))
    }

    /// A contained kind's name, for a reader in another process.
    pub fn contained_name(self) -> Option<&'static str> {
        match self {
            Kind::Pdf => Some("pdf"),
            Kind::Document(format) => Some(format.name()),
            _ => None,
        }
    }

    pub fn from_contained_name(name: &str) -> Option<Kind> {
        match name {
            "pdf" => Some(Kind::Pdf),
            name => Format::from_name(name).map(Kind::Document),
        }
    }

    /// How a contained kind is named in messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Document(format) => format.label(),
            Kind::Pdf => "PDF",
            Kind::Markdown => "Markdown",
            Kind::Html => "HTML",
            Kind::Text | Kind::Code => "text",
        }
    }
}

const MARKDOWN: &[&str] = &["md", "markdown", "mdx", "rst", "org", "adoc"];
const TEXT: &[&str] = &["txt", "text", "log", "csv", "tsv", "tex"];
const HTML: &[&str] = &["html", "htm", "xhtml"];
const CODE: &[&str] = &[
    "rs", "py", "pyi", "js", "mjs", "cjs", "jsx", "ts", "tsx", "go", "c", "h", "cc", "cpp", "cxx",
    "hpp", "hh", "java", "kt", "kts", "scala", "swift", "rb", "php", "pl", "lua", "r", "jl", "hs",
    "ml", "ex", "exs", "erl", "clj", "cs", "fs", "dart", "zig", "nim", "sh", "bash", "zsh", "fish",
    "ps1", "sql", "toml", "json", "yaml", "yml", "ini", "cfg", "conf", "xml", "css", "scss",
    "proto", "graphql", "cmake", "gradle", "vue", "svelte",
];
/// Extension-less files that are text by convention.
const TEXT_NAMES: &[&str] = &[
    "readme",
    "license",
    "copying",
    "authors",
    "changelog",
    "notice",
    "makefile",
    "dockerfile",
    "justfile",
    "gemfile",
    "rakefile",
    "procfile",
];

/// Which kind a path is, from its extension; `None` for formats we do not read
/// (images, archives...). Extension-less files are sniffed later as text.
pub fn kind_of(path: &Path) -> Option<Kind> {
    let ext = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => ext.to_ascii_lowercase(),
        None => {
            let name = path.file_name()?.to_str()?.to_ascii_lowercase();
            return (TEXT_NAMES.contains(&name.as_str()) || !name.contains('.'))
                .then_some(Kind::Text);
        }
    };
    let ext = ext.as_str();
    if MARKDOWN.contains(&ext) {
        Some(Kind::Markdown)
    } else if TEXT.contains(&ext) {
        Some(Kind::Text)
    } else if HTML.contains(&ext) {
        Some(Kind::Html)
    } else if ext == "pdf" {
        Some(Kind::Pdf)
    } else if CODE.contains(&ext) {
        Some(Kind::Code)
    } else {
        Format::from_extension(ext).map(Kind::Document)
    }
}

/// A file's text as the chunker sees it.
#[derive(Debug, Clone)]
pub struct Document {
    pub kind: Kind,
    pub title: String,
    pub text: String,
    /// Where the document's divisions (pages, slides, sheet rows...) begin in
    /// `text`, in line order.
    pub places: Vec<Place>,
    /// For converted text (HTML): the file's line of each line of `text`.
    pub file_lines: Vec<u32>,
}

/// Why a file was not indexed. Each is reported once, as one warning line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkipReason {
    Binary,
    InvalidUtf8 {
        at_byte: usize,
    },
    /// UTF-16 (it had a byte-order mark) with an unpaired surrogate.
    InvalidUtf16 {
        at_byte: usize,
    },
    Empty,
    TooLarge {
        size: u64,
        limit: u64,
    },
    BrokenPdf(String),
    /// A document its format's reader could not read: damaged, or not what
    /// its extension says.
    Damaged {
        format: String,
        why: String,
    },
    /// Saved with a password, or encrypted (DRM).
    Encrypted {
        format: String,
    },
    /// Over one of the limits untrusted containers are read within (zip
    /// bombs, documents nested in documents, time and memory).
    OverLimit {
        format: String,
        why: String,
    },
    Unreadable(String),
    /// The reader itself could not be started (this program's trouble, not
    /// the file's): what the index holds of the file stays as it was.
    ReaderUnavailable(String),
    SymlinkLoop,
    /// A symbolic link whose target lies outside the folders being ingested.
    LinkOutside {
        target: std::path::PathBuf,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Binary => write!(f, "binary file"),
            SkipReason::InvalidUtf8 { at_byte } => write!(
                f,
                "not valid UTF-8 (first bad byte at offset {at_byte}); convert it to UTF-8 to index it"
            ),
            SkipReason::InvalidUtf16 { at_byte } => write!(
                f,
                "not valid UTF-16 (first bad character at offset {at_byte})"
            ),
            SkipReason::Empty => write!(f, "empty (no text to index)"),
            SkipReason::TooLarge { size, limit } => write!(
                f,
                "{} is over the {} file size limit",
                human_bytes(*size),
                human_bytes(*limit)
            ),
            SkipReason::BrokenPdf(why) => write!(f, "unreadable PDF: {why}"),
            SkipReason::Damaged { format, why } => write!(f, "unreadable {format}: {why}"),
            SkipReason::Encrypted { format } => write!(
                f,
                "encrypted or password-protected {format}; save a copy without the password to index it"
            ),
            SkipReason::OverLimit { format, why } => {
                write!(f, "{format} over the reader's limits: {why}")
            }
            SkipReason::Unreadable(why) => write!(f, "cannot read: {why}"),
            SkipReason::ReaderUnavailable(why) => {
                write!(f, "not read this time (kept as indexed): {why}")
            }
            SkipReason::SymlinkLoop => write!(f, "symbolic link loop"),
            SkipReason::LinkOutside { target } => write!(
                f,
                "symbolic link to {}, outside the folders being ingested",
                crate::paths::escape_controls(&crate::paths::encode(target))
            ),
        }
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Extracts the text of one file from its bytes (PDFs and other contained
/// kinds parsed in this process; see [`read_contents`]).
pub fn extract(path: &Path, kind: Kind, bytes: &[u8]) -> Result<Document, SkipReason> {
    if bytes.is_empty() {
        return Err(SkipReason::Empty);
    }
    match kind {
        Kind::Pdf | Kind::Document(_) => document_from(path, kind, read_contents(kind, bytes)?),
        Kind::Html => {
            let source = decode_utf8(bytes)?;
            let page = read_html(&source)?;
            let title = page.title.map(|title| site_title(title, &page.text));
            let mut doc = document(path, kind, page.text, title, Vec::new())?;
            doc.file_lines = page.file_lines;
            Ok(doc)
        }
        Kind::Markdown => {
            let text = decode_utf8(bytes)?;
            let title = markdown_title(&text);
            document(path, kind, text, title, Vec::new())
        }
        Kind::Text | Kind::Code => document(path, kind, decode_utf8(bytes)?, None, Vec::new()),
    }
}

/// What the reader of a contained kind gives: a PDF's pages, or a
/// document's Markdown. It crosses from a child process as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Contents {
    Pages(Vec<String>),
    Markdown(formats::Read),
}

/// Reads a file of a contained kind ([`Kind::contained`]) in this process.
/// The readers of [`crate::formats`] hold zip and XML to limits of their own,
/// the PDF parser has none: a caller that can should run this in a child
/// process with a memory and time budget.
pub fn read_contents(kind: Kind, bytes: &[u8]) -> Result<Contents, SkipReason> {
    match kind {
        Kind::Pdf => pdf_pages(bytes).map(Contents::Pages),
        Kind::Document(format) => {
            formats::read(format, bytes, &formats::Limits::default()).map(Contents::Markdown)
        }
        other => Err(SkipReason::Unreadable(format!(
            "{} is not read by a contained reader",
            other.label()
        ))),
    }
}

/// A document from what a contained reader gave, wherever it ran.
pub fn document_from(path: &Path, kind: Kind, contents: Contents) -> Result<Document, SkipReason> {
    match contents {
        Contents::Pages(pages) => pdf_document(path, &pages),
        Contents::Markdown(read) => document(path, kind, read.text, read.title, read.places),
    }
}

/// The text of each page of a PDF, parsed in this process. The parser has no
/// limits: a small hostile file can make it use gigabytes and minutes, so a
/// caller that can should run this in a child process with a budget.
pub fn pdf_pages(bytes: &[u8]) -> Result<Vec<String>, SkipReason> {
    // pdf-extract panics on some malformed files; one bad PDF must not end the ingest.
    std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| SkipReason::BrokenPdf("the PDF parser failed on this file".into()))?
        .map_err(|e| SkipReason::BrokenPdf(e.to_string()))
}

/// A PDF's document from the text of its pages, however they were extracted.
pub fn pdf_document(path: &Path, pages: &[String]) -> Result<Document, SkipReason> {
    let mut text = String::new();
    let mut places = Vec::with_capacity(pages.len());
    let mut line = 1u32;
    for (number, page) in (1..).zip(pages) {
        let page = page.trim_matches('\n');
        places.push(Place {
            line,
            unit: Unit::Page,
            number,
            name: None,
        });
        text.push_str(page);
        text.push_str("\n\n");
        line += page.matches('\n').count() as u32 + 2;
    }
    document(path, Kind::Pdf, text, None, places)
}

fn document(
    path: &Path,
    kind: Kind,
    text: String,
    title: Option<String>,
    places: Vec<Place>,
) -> Result<Document, SkipReason> {
    let text = text.replace("\r\n", "\n");
    if text.trim().is_empty() {
        return Err(SkipReason::Empty);
    }
    let title = title.unwrap_or_else(|| file_title(path, kind));
    Ok(Document {
        kind,
        title,
        text,
        places,
        file_lines: Vec::new(),
    })
}

/// An HTML page's title and main content. The parser is not known to
/// panic, but one hostile page must not end an ingest if it does.
fn read_html(source: &str) -> Result<crate::html::Page, SkipReason> {
    std::panic::catch_unwind(|| crate::html::read(source))
        .map_err(|_| SkipReason::Unreadable("HTML: the HTML parser failed on this file".into()))
}

fn decode_utf8(bytes: &[u8]) -> Result<String, SkipReason> {
    // Windows tools write UTF-16 with a byte-order mark; its zero bytes would
    // otherwise look binary.
    if let Some(text) = decode_utf16_with_bom(bytes) {
        return text;
    }
    let sniff = &bytes[..bytes.len().min(8192)];
    if sniff.contains(&0) {
        return Err(SkipReason::Binary);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text).to_string()),
        Err(e) => {
            // Mostly-unprintable content is binary whatever its extension says.
            let control = sniff
                .iter()
                .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
                .count();
            if control * 10 > sniff.len() {
                Err(SkipReason::Binary)
            } else {
                Err(SkipReason::InvalidUtf8 {
                    at_byte: e.valid_up_to(),
                })
            }
        }
    }
}

fn decode_utf16_with_bom(bytes: &[u8]) -> Option<Result<String, SkipReason>> {
    let (body, little_endian) = match bytes {
        [0xff, 0xfe, body @ ..] => (body, true),
        [0xfe, 0xff, body @ ..] => (body, false),
        _ => return None,
    };
    let units = body.chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    let mut text = String::with_capacity(body.len() / 2);
    for (i, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok(c) => text.push(c),
            Err(_) => return Some(Err(SkipReason::InvalidUtf16 { at_byte: 2 + 2 * i })),
        }
    }
    if text.contains('\0') {
        return Some(Err(SkipReason::Binary));
    }
    Some(Ok(text))
}

pub(crate) fn markdown_title(text: &str) -> Option<String> {
    let mut in_fence = false;
    for line in text.lines().take(200) {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        } else if !in_fence {
            if let Some(title) = trimmed.strip_prefix("# ") {
                let title = title.trim().trim_end_matches('#').trim();
                if !title.is_empty() {
                    return Some(title.to_string());
                }
            }
        }
    }
    None
}

/// A page titled "Page - Site" whose text starts with the heading "Page" is
/// titled "Site": the heading path then reads "Site > Page > Section" instead
/// of naming the page twice. The heading may be of any level (a book's
/// sections begin at `##`) and may differ from the title in markup and
/// punctuation ("`Rc<T>`, the Reference-Counted ..." under the title
/// "Rc<T>, the Reference Counted ... - Book").
fn site_title(title: String, text: &str) -> String {
    let Some(heading) = crate::chunk::markdown_headings(text).into_iter().next() else {
        return title;
    };
    let page = comparable(&heading.title);
    if page.is_empty() {
        return title;
    }
    for separator in [" - ", " \u{2014} ", " \u{2013} ", " | ", " \u{b7} "] {
        let split = [title.split_once(separator), title.rsplit_once(separator)];
        for (first, last) in split.into_iter().flatten() {
            let site = if comparable(first) == page {
                last
            } else if comparable(last) == page {
                first
            } else {
                continue;
            };
            let site = site.trim();
            if !site.is_empty() {
                return site.to_string();
            }
        }
    }
    title
}

/// A title's letters and digits, lowercased: what two spellings of one
/// title share.
fn comparable(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn file_title(path: &Path, kind: Kind) -> String {
    let name = match kind {
        Kind::Code => path.file_name(),
        _ => path.file_stem(),
    };
    name.map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension() {
        assert_eq!(kind_of(Path::new("a/b.MD")), Some(Kind::Markdown));
        assert_eq!(kind_of(Path::new("x.rs")), Some(Kind::Code));
        assert_eq!(kind_of(Path::new("x.png")), None);
        assert_eq!(kind_of(Path::new("Makefile")), Some(Kind::Text));
        assert_eq!(kind_of(Path::new("page.HTML")), Some(Kind::Html));
    }

    #[test]
    fn bad_inputs_are_skip_reasons() {
        let p = Path::new("f.txt");
        assert_eq!(extract(p, Kind::Text, b"").unwrap_err(), SkipReason::Empty);
        assert_eq!(
            extract(p, Kind::Text, b"  \n\t\n").unwrap_err(),
            SkipReason::Empty
        );
        assert_eq!(
            extract(p, Kind::Text, b"ab\0cd").unwrap_err(),
            SkipReason::Binary
        );
        assert_eq!(
            extract(p, Kind::Text, b"caf\xe9 au lait").unwrap_err(),
            SkipReason::InvalidUtf8 { at_byte: 3 }
        );
        assert!(matches!(
            extract(Path::new("x.pdf"), Kind::Pdf, b"%PDF-1.4 garbage").unwrap_err(),
            SkipReason::BrokenPdf(_)
        ));
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_text() {
        let text = "Ünïcode notes\r\nsecond line";
        let le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xfe, 0xff]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        for bytes in [le, be] {
            let doc = extract(Path::new("w.txt"), Kind::Text, &bytes).unwrap();
            assert_eq!(doc.text, "Ünïcode notes\nsecond line");
        }
        assert_eq!(
            extract(
                Path::new("w.txt"),
                Kind::Text,
                &[0xff, 0xfe, 0x00, 0xd8, 0x41, 0x00]
            )
            .unwrap_err(),
            SkipReason::InvalidUtf16 { at_byte: 2 }
        );
    }

    #[test]
    fn titles() {
        let doc = extract(
            Path::new("n.md"),
            Kind::Markdown,
            b"intro\n# The Title #\nbody",
        )
        .unwrap();
        assert_eq!(doc.title, "The Title");
        let doc = extract(
            Path::new("p.html"),
            Kind::Html,
            b"<html><head><TITLE> A  page </title><script>var x=1;</script></head><body><p>Hello there</p></body></html>",
        )
        .unwrap();
        assert_eq!(doc.title, "A page");
        assert!(doc.text.contains("Hello there"));
        assert!(!doc.text.contains("var x"));
        for (title, heading, site) in [
            ("Page - Site", "# Page", "Site"),
            ("Site | Page", "## Page", "Site"),
            (
                "Rc&lt;T&gt;, the Reference Counted Pointer - The Book",
                "## <code>Rc&lt;T&gt;</code>, the Reference-Counted Pointer",
                "The Book",
            ),
            ("A - B - Site", "# A - B", "Site"),
            ("Page - Site", "# Another page", "Page - Site"),
        ] {
            let level = heading.split(' ').next().unwrap_or("#");
            let heading = heading.split_once(' ').map_or("", |(_, h)| h);
            let tag = format!("h{}", level.len());
            let html = format!(
                "<html><head><title>{title}</title></head><body><{tag}>{heading}</{tag}><p>Text.</p></body></html>"
            );
            let doc = extract(Path::new("p.html"), Kind::Html, html.as_bytes()).unwrap();
            assert_eq!(doc.title, site, "{title} / {heading}");
        }
        let doc = extract(Path::new("src/lib.rs"), Kind::Code, b"fn main() {}\r\n").unwrap();
        assert_eq!(doc.title, "lib.rs");
        assert_eq!(doc.text, "fn main() {}\n");
    }
}
