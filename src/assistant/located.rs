//! How a passage is cited: its file's lines where the file is text (HTML
//! through its line map), else where it is in the document; and the shapes
//! scripts read it in.

use rag_index::extract::Kind;
use rag_index::{FileLines, Location, Unit};
use serde::Serialize;

use super::sources::Source;

/// A source as scripts read it: the file's lines, and what they are.
#[derive(Serialize)]
pub(crate) struct SourceJson {
    n: usize,
    path: String,
    line_start: u32,
    line_end: u32,
    lines_in: LinesIn,
    heading: String,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<LocationJson>,
    also_in: Vec<String>,
}

impl From<Source> for SourceJson {
    fn from(source: Source) -> Self {
        SourceJson {
            n: source.n,
            lines_in: source.lines_in(),
            line_start: source.file_line(source.line_start),
            line_end: source.file_line(source.line_end),
            path: source.path,
            heading: source.heading,
            score: source.score,
            page: page_of(source.location.as_ref()),
            location: source.location.map(LocationJson::from),
            also_in: source.also_in,
        }
    }
}

/// What a passage's line numbers count: the file's lines, or (for a
/// document whose file is not text: PDF, Word, slides...) the lines of the
/// text read from it, which only its location places in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinesIn {
    File,
    Text,
}

impl LinesIn {
    /// What the lines of a passage of `path` count. HTML's are the file's
    /// where the index kept their map (indexes from before it, and Milvus
    /// homes, have none).
    pub fn of(path: &str, file_lines: &FileLines) -> LinesIn {
        match rag_index::extract::kind_of(std::path::Path::new(path)) {
            Some(Kind::Pdf | Kind::Document(_)) => LinesIn::Text,
            Some(Kind::Html) if file_lines.lines.is_empty() => LinesIn::Text,
            _ => LinesIn::File,
        }
    }
}

/// A location as JSON gives it: its parts and how a citation says it.
#[derive(Debug, Clone, Serialize)]
pub struct LocationJson {
    pub unit: Unit,
    pub first: u32,
    pub last: u32,
    pub name: Option<String>,
    pub label: String,
}

impl From<Location> for LocationJson {
    fn from(location: Location) -> Self {
        LocationJson {
            label: location.label(),
            unit: location.unit,
            first: location.first,
            last: location.last,
            name: location.name,
        }
    }
}

/// The page a location starts on, for scripts that read `page`.
pub fn page_of(location: Option<&Location>) -> Option<u32> {
    location.filter(|l| l.unit == Unit::Page).map(|l| l.first)
}

/// How a passage of `path` is cited: its file lines where they are the
/// file's, else [`place_in_document`].
pub fn cited_at(
    path: &str,
    lines_in: LinesIn,
    location: Option<&Location>,
    heading: &str,
    (first, last): (u32, u32),
) -> String {
    let path = rag_index::paths::escape_controls(path);
    match place_in_document(lines_in, location, heading, (first, last)) {
        Some(place) => format!("{path} {place}"),
        None => format!("{path}:{first}-{last}"),
    }
}

/// Where a passage of a document whose lines are not the file's is: its
/// location (`slide 7`), else its section (`§Results`), else the lines of
/// its text, said as such. None for text files, cited by their lines.
pub fn place_in_document(
    lines_in: LinesIn,
    location: Option<&Location>,
    heading: &str,
    (first, last): (u32, u32),
) -> Option<String> {
    if lines_in == LinesIn::File {
        return None;
    }
    if let Some(location) = location {
        return Some(location.label());
    }
    Some(match heading.rsplit_once(" > ") {
        Some((_, section)) if !section.is_empty() => format!("§{section}"),
        _ => format!("text lines {first}-{last}"),
    })
}
