//! OpenDocument text (.odt) and presentations (.odp): `content.xml` read in
//! one pass. Text documents give headings by outline level, paragraphs, list
//! items, table rows and footnotes; presentations give one section a slide
//! (its title, its text, its speaker notes). Tracked changes (where deleted
//! text is kept), annotations, a generated table of contents and the
//! descriptions of drawings are left out. Spreadsheets (.ods) are read by
//! [`super::sheets`]. Flat files (.fodt, .fodp) are the same XML unzipped:
//! one document holding meta, styles and content.

use quick_xml::events::{BytesStart, Event};

use super::container::{attr, dc_title, event_text, local, xml, Archive};
use super::markdown::{one_line, Markdown, Table};
use super::{damaged, Limits, Outcome, Problem, Read};
use crate::location::{Place, Unit};

pub(crate) fn read_text(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    read(bytes, limits, false)
}

pub(crate) fn read_slides(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    read(bytes, limits, true)
}

fn read(bytes: &[u8], limits: &Limits, slides: bool) -> Outcome<Read> {
    if is_flat(bytes) {
        return read_flat(bytes, limits, slides);
    }
    let mut archive = Archive::open(bytes, limits)?;
    if let Some(manifest) = archive.read_text("META-INF/manifest.xml")? {
        // Encrypted entries are listed with how they were encrypted; their
        // bytes are ciphertext that no XML reader should see.
        if manifest.contains("encryption-data") {
            return Err(Problem::Encrypted);
        }
    }
    let content = archive.require_text("content.xml")?;
    let mut walker = Walker::new(slides, limits.max_text);
    walker.walk(&content)?;
    let title = match archive.read_text("meta.xml")? {
        Some(meta) => dc_title(&meta),
        None => None,
    };
    let (text, places) = walker.finish()?;
    Ok(Read {
        title,
        text,
        places,
    })
}

/// Whether `bytes` is flat ODF XML rather than a zip archive.
fn is_flat(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    start.trim_ascii_start().starts_with(b"<")
}

fn read_flat(bytes: &[u8], limits: &Limits, slides: bool) -> Outcome<Read> {
    // The file is what content.xml would be unpacked, and held to its limit.
    if bytes.len() as u64 > limits.max_entry_bytes {
        return Err(Problem::OverLimit(format!(
            "its XML is over {}",
            crate::extract::human_bytes(limits.max_entry_bytes)
        )));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return damaged("flat ODF XML that is not UTF-8");
    };
    let mut walker = Walker::new(slides, limits.max_text);
    walker.walk(text)?;
    // Only the document's own metadata names it, not a title in its body.
    let title = match (text.find("<office:meta"), text.find("</office:meta>")) {
        (Some(start), Some(end)) if start < end => dc_title(&text[start..end]),
        _ => None,
    };
    let (text, places) = walker.finish()?;
    Ok(Read {
        title,
        text,
        places,
    })
}

/// Elements whose text is not the document's.
const SKIPPED: &[&str] = &[
    // In a flat file, besides the body: metadata, the page styles' headers
    // and footers, settings, and pictures inlined as base64.
    "meta",
    "master-styles",
    "settings",
    "binary-data",
    "tracked-changes",
    "annotation",
    "table-of-content",
    "illustration-index",
    "sequence-decls",
    "note-citation",
    // Fields a slide's notes page or a page's footer shows: "<number>".
    "page-number",
    "title",
    "desc",
    "forms",
    "script",
];

#[derive(Default)]
struct Slide {
    title: String,
    body: Markdown,
    notes: String,
}

struct Walker {
    slides: bool,
    md: Markdown,
    /// Open paragraphs and headings (a text box's paragraph sits inside
    /// another): (heading level, text).
    open: Vec<(Option<usize>, String)>,
    lists: usize,
    /// The next paragraph is the first of a list item.
    item_starts: bool,
    tables: Vec<Table>,
    skip: usize,
    /// Inside a footnote's body: its paragraphs go to the note.
    note_body: bool,
    note: String,
    notes: Vec<String>,
    slide: Option<Slide>,
    slide_count: usize,
    /// Open frames, each whether it is a slide's title.
    frames: Vec<bool>,
    in_notes: bool,
}

impl Walker {
    fn new(slides: bool, max_text: usize) -> Self {
        Walker {
            slides,
            md: Markdown::limited(max_text),
            open: Vec::new(),
            lists: 0,
            item_starts: false,
            tables: Vec::new(),
            skip: 0,
            note_body: false,
            note: String::new(),
            notes: Vec::new(),
            slide: None,
            slide_count: 0,
            frames: Vec::new(),
            in_notes: false,
        }
    }

    fn walk(&mut self, content: &str) -> Outcome<()> {
        let mut reader = xml(content);
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Start(e)) => self.start(&e),
                Ok(Event::Empty(e)) => {
                    if self.skip == 0 {
                        self.empty(&e);
                    }
                }
                Ok(Event::End(e)) => {
                    let name = e.local_name().as_ref().to_string();
                    self.end(&name);
                }
                Ok(event) if self.skip == 0 => {
                    if let (Some(text), Some((_, open))) =
                        (event_text(&event), self.open.last_mut())
                    {
                        open.push_str(&text);
                    }
                }
                Ok(_) => {}
                Err(e) => return damaged(format!("content.xml: {e}")),
            }
        }
        Ok(())
    }

    fn start(&mut self, e: &BytesStart<'_>) {
        let name = local(e);
        if SKIPPED.contains(&name.as_str()) || self.skip > 0 {
            self.skip += 1;
            return;
        }
        match name.as_str() {
            "h" => {
                let level = attr(e, "outline-level")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                self.open.push((Some(level), String::new()));
            }
            "p" => self.open.push((None, String::new())),
            "list" => self.lists += 1,
            "list-item" | "list-header" => self.item_starts = true,
            "table" => self.tables.push(Table::default()),
            "note-body" => {
                self.note_body = true;
                self.note.clear();
            }
            "page" if self.slides => {
                self.slide_count += 1;
                self.slide = Some(Slide::default());
            }
            "frame" => {
                let title = matches!(attr(e, "class").as_deref(), Some("title" | "subtitle"));
                self.frames.push(title);
            }
            "notes" if self.slides => self.in_notes = true,
            _ => self.empty(e),
        }
    }

    fn empty(&mut self, e: &BytesStart<'_>) {
        let Some((_, text)) = self.open.last_mut() else {
            return;
        };
        match local(e).as_str() {
            "s" => {
                let n = attr(e, "c").and_then(|c| c.parse().ok()).unwrap_or(1usize);
                text.push_str(&" ".repeat(n.min(100)));
            }
            "tab" => text.push('\t'),
            "line-break" => text.push('\n'),
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        match name {
            "h" | "p" => self.end_paragraph(),
            "list" => self.lists = self.lists.saturating_sub(1),
            "table-cell" => {
                if let Some(table) = self.tables.last_mut() {
                    table.end_cell();
                }
            }
            "table-row" => {
                if let Some(table) = self.tables.last_mut() {
                    table.end_row();
                }
            }
            "table" => self.end_table(),
            "note-body" => {
                self.note_body = false;
                self.notes.push(one_line(&self.note));
                let mark = format!("[^{}]", self.notes.len());
                if let Some((_, text)) = self.open.last_mut() {
                    text.push_str(&mark);
                }
            }
            "frame" => {
                self.frames.pop();
            }
            "notes" => self.in_notes = false,
            "page" if self.slides => self.end_slide(),
            _ => {}
        }
    }

    fn end_paragraph(&mut self) {
        let Some((level, text)) = self.open.pop() else {
            return;
        };
        if self.note_body {
            self.note.push(' ');
            self.note.push_str(&text);
            return;
        }
        if let Some((_, outer)) = self.open.last_mut() {
            outer.push(' ');
            outer.push_str(&text);
            return;
        }
        if let Some(table) = self.tables.last_mut() {
            table.push_text(&text);
            return;
        }
        if let Some(slide) = self.slide.as_mut() {
            if self.in_notes {
                slide.notes.push(' ');
                slide.notes.push_str(&text);
            } else if self.frames.iter().any(|&title| title) && slide.title.is_empty() {
                slide.title.push(' ');
                slide.title.push_str(&text);
            } else if self.lists > 0 {
                slide.body.line(&format!("- {}", one_line(&text)));
            } else {
                slide.body.paragraph(&text);
            }
            return;
        }
        match level {
            Some(level) => self.md.heading(level, &text),
            None if self.lists > 0 => {
                let indent = "  ".repeat(self.lists.saturating_sub(1).min(8));
                let line = if std::mem::take(&mut self.item_starts) {
                    format!("{indent}- {}", one_line(&text))
                } else {
                    format!("{indent}  {}", one_line(&text))
                };
                self.md.line(&line);
            }
            None => self.md.paragraph(&text),
        }
    }

    fn end_table(&mut self) {
        let Some(table) = self.tables.pop() else {
            return;
        };
        // Trailing empty cells are how ODF pads a row to the table's width.
        let rows = table.lines(true);
        if let Some(outer) = self.tables.last_mut() {
            outer.push_text(&rows.join(" "));
            return;
        }
        let md = match self.slide.as_mut() {
            Some(slide) => &mut slide.body,
            None => &mut self.md,
        };
        md.end_block();
        for row in rows {
            md.line(&row);
        }
        md.end_block();
    }

    fn end_slide(&mut self) {
        let Some(slide) = self.slide.take() else {
            return;
        };
        let body = slide.body.finish();
        let notes = one_line(&slide.notes);
        // A slide with nothing on it (a picture, a blank) is no passage.
        if slide.title.trim().is_empty() && body.trim().is_empty() && notes.is_empty() {
            return;
        }
        self.md.place(Unit::Slide, self.slide_count, None);
        self.md
            .heading(1, &slide_heading(self.slide_count, &slide.title));
        self.md.raw(&body);
        if !notes.is_empty() {
            self.md.paragraph(&format!("Notes: {notes}"));
        }
    }

    fn finish(self) -> Outcome<(String, Vec<Place>)> {
        let mut md = self.md;
        for (n, note) in self.notes.iter().enumerate() {
            md.paragraph(&format!("[^{}]: {note}", n + 1));
        }
        md.finish_placed()
    }
}

/// "Slide 3: Results", or "Slide 3" for a slide without a title.
pub(crate) fn slide_heading(number: usize, title: &str) -> String {
    let title = one_line(title);
    if title.is_empty() {
        format!("Slide {number}")
    } else {
        format!("Slide {number}: {title}")
    }
}
