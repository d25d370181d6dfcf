//! Word documents (.docx, Office Open XML): `word/document.xml` read in one
//! pass. Headings come from paragraph styles (by their outline level or
//! their name, since style ids are translated: "berschrift1"), lists from
//! numbering, tables as one `| cell | cell |` line a row, footnotes and
//! endnotes as `[^n]` marks with their text at the end. Tracked deletions
//! and moved-away text are left out; field codes, comments and the fallback
//! copies of drawings are not text.

use std::collections::HashMap;

use quick_xml::events::Event;

use super::container::{attr, dc_title, event_text, local, main_part, relationships, xml, Archive};
use super::markdown::{one_line, Markdown, Table};
use super::{damaged, Limits, Outcome, Read};

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    let mut archive = Archive::open(bytes, limits)?;
    let main = main_part(&mut archive, "word/document.xml")?;
    let document = archive.require_text(&main)?;
    let mut styles = Styles::default();
    let mut notes = HashMap::new();
    for (_, kind, target) in relationships(&mut archive, &main)? {
        let Some(kind) = kind.rsplit('/').next() else {
            continue;
        };
        match kind {
            "styles" | "numbering" | "footnotes" | "endnotes" => {}
            _ => continue,
        }
        let Some(text) = archive.read_text(&target)? else {
            continue;
        };
        match kind {
            "styles" => styles.read_styles(&text),
            "numbering" => styles.read_numbering(&text),
            _ => {
                let mut walker = Walker::new(&styles, Markdown::new());
                walker.walk(&text, &target)?;
                notes.extend(walker.notes);
            }
        }
    }
    let mut walker = Walker::new(&styles, Markdown::limited(limits.max_text));
    walker.all_notes = notes;
    walker.walk(&document, &main)?;
    let core_title = match archive.read_text("docProps/core.xml")? {
        Some(core) => dc_title(&core),
        None => None,
    };
    let title = core_title.or(walker.title.take());
    Ok(Read {
        title,
        text: walker.finish()?,
        places: Vec::new(),
    })
}

/// What a paragraph style makes of its paragraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Heading(usize),
    Title,
    Code,
    Quote,
    /// A list style ("List Bullet", "List Number 2"): bullet or not.
    ListItem(bool),
    Body,
}

#[derive(Default)]
struct Styles {
    /// Style id -> (name, outline level, based on).
    styles: HashMap<String, (String, Option<usize>, Option<String>)>,
    /// numId -> abstractNumId, and (abstractNumId, level) -> bullet?
    nums: HashMap<String, String>,
    bullets: HashMap<(String, usize), bool>,
}

impl Styles {
    fn read_styles(&mut self, text: &str) {
        let mut reader = xml(text);
        let mut current: Option<String> = None;
        loop {
            let (e, empty) = match reader.read_event() {
                Ok(Event::Start(e)) => (e, false),
                Ok(Event::Empty(e)) => (e, true),
                Ok(Event::End(e)) if e.local_name().as_ref() == "style" => {
                    current = None;
                    continue;
                }
                Ok(Event::Eof) | Err(_) => break,
                _ => continue,
            };
            let name = local(&e);
            match (name.as_str(), &current) {
                ("style", _) if !empty => {
                    current = attr(&e, "styleId");
                    if let Some(id) = &current {
                        self.styles.entry(id.clone()).or_default();
                    }
                }
                ("name", Some(id)) => {
                    if let (Some(entry), Some(v)) = (self.styles.get_mut(id), attr(&e, "val")) {
                        entry.0 = v;
                    }
                }
                ("basedOn", Some(id)) => {
                    if let Some(entry) = self.styles.get_mut(id) {
                        entry.2 = attr(&e, "val");
                    }
                }
                ("outlineLvl", Some(id)) => {
                    if let Some(entry) = self.styles.get_mut(id) {
                        entry.1 = attr(&e, "val").and_then(|v| v.parse().ok());
                    }
                }
                _ => {}
            }
        }
    }

    fn read_numbering(&mut self, text: &str) {
        let mut reader = xml(text);
        let (mut abstract_id, mut level, mut num_id) = (None, 0usize, None);
        loop {
            let e = match reader.read_event() {
                Ok(Event::Start(e)) | Ok(Event::Empty(e)) => e,
                Ok(Event::Eof) | Err(_) => break,
                _ => continue,
            };
            match local(&e).as_str() {
                "abstractNum" => abstract_id = attr(&e, "abstractNumId"),
                "lvl" => level = attr(&e, "ilvl").and_then(|v| v.parse().ok()).unwrap_or(0),
                "numFmt" => {
                    if let (Some(id), Some(format)) = (&abstract_id, attr(&e, "val")) {
                        let bullet = matches!(format.as_str(), "bullet" | "none");
                        self.bullets.insert((id.clone(), level), bullet);
                    }
                }
                "num" => {
                    abstract_id = None;
                    num_id = attr(&e, "numId");
                }
                "abstractNumId" => {
                    if let (Some(num), Some(target)) = (&num_id, attr(&e, "val")) {
                        self.nums.insert(num.clone(), target);
                    }
                }
                _ => {}
            }
        }
    }

    fn role(&self, style: Option<&str>, outline: Option<usize>) -> Role {
        let mut id = style;
        // basedOn chains are short; the bound stops a cycle.
        for _ in 0..8 {
            let Some(current) = id else { break };
            let Some((name, level, based_on)) = self.styles.get(current) else {
                return role_by_name(current);
            };
            match role_by_name(name) {
                Role::Body => {}
                role => return role,
            }
            match role_by_name(current) {
                Role::Body => {}
                role => return role,
            }
            if let Some(level) = level.or(outline).filter(|&l| l < 6) {
                return Role::Heading(level + 1);
            }
            id = based_on.as_deref();
        }
        match outline.filter(|&l| l < 6) {
            Some(level) => Role::Heading(level + 1),
            None => Role::Body,
        }
    }

    fn bullet(&self, num_id: &str, level: usize) -> bool {
        self.nums
            .get(num_id)
            .and_then(|a| self.bullets.get(&(a.clone(), level)))
            .copied()
            .unwrap_or(true)
    }
}

fn role_by_name(name: &str) -> Role {
    let lower = name.to_ascii_lowercase().replace(' ', "");
    if lower == "title" {
        return Role::Title;
    }
    if let Some(n) = lower.strip_prefix("heading") {
        if let Ok(level @ 1..=6) = n.parse::<usize>() {
            return Role::Heading(level);
        }
    }
    if let Some(kind) = lower.strip_prefix("list") {
        if kind.starts_with("bullet") {
            return Role::ListItem(true);
        }
        if kind.starts_with("number") {
            return Role::ListItem(false);
        }
    }
    match lower.as_str() {
        "sourcecode" | "htmlpreformatted" | "code" | "codeblock" | "plaintext" => Role::Code,
        "quote" | "intensequote" | "blocktext" => Role::Quote,
        _ => Role::Body,
    }
}

#[derive(Default)]
struct Paragraph {
    text: String,
    style: Option<String>,
    outline: Option<usize>,
    num: Option<(String, usize)>,
}

struct Walker<'s> {
    styles: &'s Styles,
    md: Markdown,
    paragraph: Option<Paragraph>,
    paragraph_depth: usize,
    run_depth: usize,
    in_text: bool,
    /// Inside deleted or moved-away text, or a fallback copy: not read.
    skip: usize,
    tables: Vec<Table>,
    code: Vec<String>,
    title: Option<String>,
    /// The note being read (in footnotes.xml / endnotes.xml).
    note: Option<String>,
    notes: HashMap<String, String>,
    /// Every note's text, and the ones referred to, in order.
    all_notes: HashMap<String, String>,
    referred: Vec<String>,
    /// Each referred note's number (its place in `referred`, from 1).
    numbers: HashMap<String, usize>,
}

impl<'s> Walker<'s> {
    fn new(styles: &'s Styles, md: Markdown) -> Self {
        Walker {
            styles,
            md,
            paragraph: None,
            paragraph_depth: 0,
            run_depth: 0,
            in_text: false,
            skip: 0,
            tables: Vec::new(),
            code: Vec::new(),
            title: None,
            note: None,
            notes: HashMap::new(),
            all_notes: HashMap::new(),
            referred: Vec::new(),
            numbers: HashMap::new(),
        }
    }

    fn walk(&mut self, text: &str, part: &str) -> Outcome<()> {
        let mut reader = xml(text);
        loop {
            let event = match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(event) => event,
                Err(e) => return damaged(format!("{part}: {e}")),
            };
            match &event {
                Event::Start(e) => {
                    let name = local(e);
                    match name.as_str() {
                        "del" | "moveFrom" | "Fallback" | "instrText" | "delText" => self.skip += 1,
                        _ if self.skip > 0 => {}
                        "footnote" | "endnote" => {
                            self.note = attr(e, "id").map(|id| format!("{name}:{id}"))
                        }
                        "p" => self.start_paragraph(),
                        "r" => self.run_depth += 1,
                        "t" => self.in_text = true,
                        "tbl" => self.tables.push(Table::default()),
                        _ => self.element(&name, e),
                    }
                }
                Event::Empty(e) if self.skip == 0 => {
                    let name = local(e);
                    if name == "p" {
                        self.start_paragraph();
                        self.end_paragraph();
                    } else {
                        self.element(&name, e);
                    }
                }
                Event::End(e) => {
                    let name = e.local_name().as_ref().to_string();
                    match name.as_str() {
                        "del" | "moveFrom" | "Fallback" | "instrText" | "delText" => {
                            self.skip = self.skip.saturating_sub(1)
                        }
                        _ if self.skip > 0 => {}
                        "footnote" | "endnote" => self.note = None,
                        "p" => self.end_paragraph(),
                        "r" => self.run_depth = self.run_depth.saturating_sub(1),
                        "t" => self.in_text = false,
                        "tc" => {
                            if let Some(table) = self.tables.last_mut() {
                                table.end_cell();
                            }
                        }
                        "tr" => {
                            if let Some(table) = self.tables.last_mut() {
                                table.end_row();
                            }
                        }
                        "tbl" => self.end_table(),
                        _ => {}
                    }
                }
                event if self.in_text && self.skip == 0 => {
                    if let (Some(text), Some(p)) = (event_text(event), self.paragraph.as_mut()) {
                        p.text.push_str(&text);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Elements that matter with their attributes, start or empty.
    fn element(&mut self, name: &str, e: &quick_xml::events::BytesStart<'_>) {
        let in_run = self.run_depth > 0;
        let Some(p) = self.paragraph.as_mut() else {
            return;
        };
        match name {
            "pStyle" if self.paragraph_depth == 1 => p.style = attr(e, "val"),
            "outlineLvl" if self.paragraph_depth == 1 => {
                p.outline = attr(e, "val").and_then(|v| v.parse().ok())
            }
            "ilvl" => {
                let level = attr(e, "val").and_then(|v| v.parse().ok()).unwrap_or(0);
                p.num.get_or_insert_with(Default::default).1 = level;
            }
            "numId" => {
                let id = attr(e, "val").unwrap_or_default();
                p.num.get_or_insert_with(Default::default).0 = id;
            }
            "tab" if in_run => p.text.push('\t'),
            "br" | "cr" if in_run => p.text.push('\n'),
            "noBreakHyphen" => p.text.push('-'),
            "footnoteReference" | "endnoteReference" => {
                // Footnotes and endnotes are numbered apart: "footnote:1", "endnote:1".
                let kind = name.trim_end_matches("Reference");
                if let Some(id) = attr(e, "id").map(|id| format!("{kind}:{id}")) {
                    let next = self.referred.len() + 1;
                    let n = *self.numbers.entry(id.clone()).or_insert(next);
                    if n == next {
                        self.referred.push(id);
                    }
                    p.text.push_str(&format!("[^{n}]"));
                }
            }
            _ => {}
        }
    }

    fn start_paragraph(&mut self) {
        self.paragraph_depth += 1;
        if self.paragraph_depth == 1 {
            self.paragraph = Some(Paragraph::default());
        } else if let Some(p) = self.paragraph.as_mut() {
            // A text box's paragraph inside this one.
            p.text.push(' ');
        }
    }

    fn end_paragraph(&mut self) {
        self.paragraph_depth = self.paragraph_depth.saturating_sub(1);
        if self.paragraph_depth > 0 {
            return;
        }
        let Some(p) = self.paragraph.take() else {
            return;
        };
        if let Some(id) = &self.note {
            let note = self.notes.entry(id.clone()).or_default();
            note.push(' ');
            note.push_str(&p.text);
            return;
        }
        if let Some(table) = self.tables.last_mut() {
            table.push_text(&p.text);
            return;
        }
        let role = self.styles.role(p.style.as_deref(), p.outline);
        if role != Role::Code {
            self.flush_code();
        }
        match role {
            Role::Code => self.code.push(p.text),
            Role::Title => {
                if self.title.is_none() && !p.text.trim().is_empty() {
                    self.title = Some(one_line(&p.text));
                }
                self.md.heading(1, &p.text);
            }
            Role::Heading(level) => self.md.heading(level, &p.text),
            Role::Quote => self.md.paragraph(&format!("> {}", p.text.trim())),
            Role::ListItem(bullet) => {
                let marker = if bullet { "-" } else { "1." };
                self.md.line(&format!("{marker} {}", one_line(&p.text)));
            }
            Role::Body => match p.num.filter(|(id, _)| !id.is_empty() && id != "0") {
                Some((id, level)) => {
                    let marker = if self.styles.bullet(&id, level) {
                        "-"
                    } else {
                        "1."
                    };
                    let indent = "  ".repeat(level.min(8));
                    self.md
                        .line(&format!("{indent}{marker} {}", one_line(&p.text)));
                }
                None => self.md.paragraph(&p.text),
            },
        }
    }

    fn end_table(&mut self) {
        let Some(table) = self.tables.pop() else {
            return;
        };
        let rows = table.lines(false);
        if let Some(outer) = self.tables.last_mut() {
            // A table in a table's cell: its rows become that cell's text.
            outer.push_text(&rows.join(" "));
            return;
        }
        self.flush_code();
        self.md.end_block();
        for row in rows {
            self.md.line(&row);
        }
        self.md.end_block();
    }

    fn flush_code(&mut self) {
        if !self.code.is_empty() {
            let code = std::mem::take(&mut self.code).join("\n");
            self.md.fenced("", &code);
        }
    }

    fn finish(mut self) -> Outcome<String> {
        self.flush_code();
        let mut md = self.md;
        md.end_block();
        for (n, id) in self.referred.iter().enumerate() {
            if let Some(text) = self.all_notes.get(id) {
                md.paragraph(&format!("[^{}]: {}", n + 1, one_line(text)));
            }
        }
        md.finish_within()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::formats::testing::docx;
    use crate::formats::{read, Format, Limits};

    #[test]
    fn many_notes_are_numbered_in_linear_time() {
        // Notes numbered by a search of those seen so far took minutes for
        // a book-length document's tens of thousands.
        let count = 100_000;
        let mut body = String::new();
        let mut notes = String::from(
            r#"<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">"#,
        );
        for i in 0..count {
            body.push_str(&format!(
                r#"<w:p><w:r><w:t>n</w:t></w:r><w:r><w:footnoteReference w:id="{i}"/></w:r></w:p>"#
            ));
            notes.push_str(&format!(
                r#"<w:footnote w:id="{i}"><w:p><w:r><w:t>v{i}</w:t></w:r></w:p></w:footnote>"#
            ));
        }
        // The first note referred to again keeps its number.
        body.push_str(
            r#"<w:p><w:r><w:t>again</w:t></w:r><w:r><w:footnoteReference w:id="0"/></w:r></w:p>"#,
        );
        notes.push_str("</w:footnotes>");
        let bytes = docx(&body, &[("word/footnotes.xml", &notes)]);
        let started = Instant::now();
        let text = match read(Format::Docx, &bytes, &Limits::default()) {
            Ok(read) => read.text,
            Err(e) => panic!("unread: {e}"),
        };
        let took = started.elapsed();
        assert!(text.contains("again[^1]"), "{}", &text[text.len() - 200..]);
        assert!(text.ends_with(&format!("[^{count}]: v{}\n\n", count - 1)));
        assert!(took.as_secs() < 5, "took {took:?}");
    }
}
