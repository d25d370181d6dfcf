//! The Markdown every reader writes: what the chunker takes for a heading,
//! a paragraph or a block is decided here once.

use super::{Outcome, Problem};
use crate::location::{Place, Unit};

/// Markdown written block by block.
pub(crate) struct Markdown {
    text: String,
    /// Past this many bytes nothing more is written and the text is over
    /// the limit: a document's text is held to it as it grows, not after.
    limit: usize,
    over: bool,
    /// Line breaks in `text`, so that a place's line is known without a rescan.
    newlines: usize,
    places: Vec<Place>,
    /// Places that begin with the next text written, whatever line breaks
    /// the next block puts before it.
    pending: Vec<Place>,
}

impl Default for Markdown {
    fn default() -> Self {
        Markdown {
            text: String::new(),
            limit: usize::MAX,
            over: false,
            newlines: 0,
            places: Vec::new(),
            pending: Vec::new(),
        }
    }
}

impl Markdown {
    pub fn new() -> Self {
        Markdown::default()
    }

    /// Markdown of at most `limit` bytes: a document's whole text.
    pub fn limited(limit: usize) -> Self {
        Markdown {
            limit,
            ..Markdown::default()
        }
    }

    /// Whether something written went past the limit (and was dropped).
    pub fn over_limit(&self) -> bool {
        self.over
    }

    fn push_str(&mut self, text: &str) {
        if self.over {
            return;
        }
        if self.text.len().saturating_add(text.len()) > self.limit {
            self.over = true;
            return;
        }
        if !self.pending.is_empty() {
            if let Some(start) = text.find(|c| c != '\n') {
                let line = self.newlines + 1 + start;
                let line = u32::try_from(line).unwrap_or(u32::MAX);
                for mut place in self.pending.drain(..) {
                    place.line = line;
                    self.places.push(place);
                }
            }
        }
        self.newlines += text.matches('\n').count();
        self.text.push_str(text);
    }

    /// Marks where a division of the document (a slide, a sheet's row, a
    /// chapter, a message, a cell) begins: with the next text written.
    pub fn place(&mut self, unit: Unit, number: usize, name: Option<String>) {
        self.pending.push(Place {
            line: 0,
            unit,
            number: u32::try_from(number).unwrap_or(u32::MAX),
            name,
        });
    }

    fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// A `#` heading of `level` (1 to 6); blank titles are left out.
    pub fn heading(&mut self, level: usize, title: &str) {
        let title = one_line(title);
        if title.is_empty() {
            return;
        }
        self.end_block();
        self.push_str(&"#".repeat(level.clamp(1, 6)));
        self.push(' ');
        self.push_str(&title);
        self.push_str("\n\n");
    }

    /// A paragraph: its own lines kept, blank lines inside dropped (one
    /// paragraph stays one block), a line that would read as Markdown syntax
    /// (a heading, a fence) escaped.
    pub fn paragraph(&mut self, text: &str) {
        let lines: Vec<String> = text
            .lines()
            .map(|l| escape_line(l.trim_end()))
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            return;
        }
        self.end_block();
        self.push_str(&lines.join("\n"));
        self.push_str("\n\n");
    }

    /// A line of a block of lines (list items, table rows, `key: value`
    /// rows): consecutive lines stay together until [`Markdown::end_block`].
    pub fn line(&mut self, text: &str) {
        let text = one_line(text);
        if text.trim().is_empty() {
            return;
        }
        if self.text.ends_with("\n\n") || self.text.is_empty() {
            // Already at a block boundary.
        } else if !self.text.ends_with('\n') {
            self.push('\n');
        }
        self.push_str(&escape_line(&text));
        self.push('\n');
    }

    /// A fenced block (code, program output) kept as it is.
    pub fn fenced(&mut self, info: &str, body: &str) {
        let body = body.trim_matches('\n');
        if body.trim().is_empty() {
            return;
        }
        // A fence longer than any run of backticks inside cannot be closed early.
        let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        self.end_block();
        self.push_str(&format!("{fence}{}\n{body}\n{fence}\n\n", one_line(info)));
    }

    /// Markdown from another reader (an HTML chapter, a notebook's cell),
    /// taken as it is.
    pub fn raw(&mut self, markdown: &str) {
        let markdown = markdown.trim_matches('\n');
        if markdown.trim().is_empty() {
            return;
        }
        self.end_block();
        self.push_str(markdown);
        self.push_str("\n\n");
    }

    pub fn end_block(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            if !self.text.ends_with('\n') {
                self.push('\n');
            }
            self.push('\n');
        }
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn finish(self) -> String {
        self.text
    }

    /// The text, or the over-limit reason if any of it went past the limit.
    pub fn finish_within(self) -> Outcome<String> {
        self.finish_placed().map(|(text, _)| text)
    }

    /// The text and its places, or the over-limit reason.
    pub fn finish_placed(self) -> Outcome<(String, Vec<Place>)> {
        if self.over {
            return Err(text_over(self.limit));
        }
        Ok((self.text, self.places))
    }
}

/// Why a document whose text passed `max_text` bytes is not read.
pub(crate) fn text_over(max_text: usize) -> Problem {
    Problem::OverLimit(format!(
        "its text is over {}",
        crate::extract::human_bytes(max_text as u64)
    ))
}

/// A table being read: cells are written into, rows closed, and at its end
/// the rows become Markdown table lines (a table inside a cell becomes that
/// cell's text).
#[derive(Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
}

impl Table {
    /// Text of a paragraph inside the current cell.
    pub(crate) fn push_text(&mut self, text: &str) {
        self.cell.push(' ');
        self.cell.push_str(text);
    }

    pub(crate) fn end_cell(&mut self) {
        let cell = one_line(&std::mem::take(&mut self.cell));
        self.row.push(cell);
    }

    pub(crate) fn end_row(&mut self) {
        let row = std::mem::take(&mut self.row);
        self.rows.push(row);
    }

    /// The table's non-empty rows as `| a | b |` lines; with `trim_padding`,
    /// trailing empty cells are left out (how ODF pads a row to the table's
    /// width).
    pub(crate) fn lines(&self, trim_padding: bool) -> Vec<String> {
        self.rows
            .iter()
            .filter(|row| row.iter().any(|c| !c.is_empty()))
            .map(|row| {
                let used = if trim_padding {
                    row.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1)
                } else {
                    row.len()
                };
                format!("| {} |", row[..used].join(" | "))
            })
            .collect()
    }
}

/// Whitespace (line breaks included) collapsed to single spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A line of document text that Markdown would read as a heading or a code
/// fence gets a backslash: a paragraph that starts with "#1 priority" is not
/// a section.
fn escape_line(line: &str) -> String {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with("```") || trimmed.starts_with("~~~") {
        format!("\\{trimmed}")
    } else {
        line.to_string()
    }
}

/// `markdown` with each heading (outside code fences) `levels` deeper, so a
/// document read inside another (a chapter under its title, an attachment
/// under its message) sits below it. Headings never go past level 6.
pub(crate) fn demote_headings(markdown: &str, levels: usize) -> String {
    if levels == 0 {
        return markdown.to_string();
    }
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut fence: Option<String> = None;
    for line in markdown.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        if marker.len() >= 3 {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
            }
        } else if fence.is_none() && trimmed.starts_with('#') {
            let level = trimmed.bytes().take_while(|&b| b == b'#').count();
            let rest = &trimmed[level..];
            if level <= 6 && (rest.starts_with(' ') || rest.starts_with('\t')) {
                out.push_str(&"#".repeat((level + levels).min(6)));
                out.push_str(rest);
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_headings_and_escapes() {
        let mut md = Markdown::new();
        md.heading(2, " Install\n now ");
        md.paragraph("#1 priority\n\n\nsecond line");
        md.line("| a | b |");
        md.line("| c | d |");
        md.fenced("python", "print('```')");
        md.heading(9, "Deep");
        assert_eq!(
            md.finish(),
            "## Install now\n\n\\#1 priority\nsecond line\n\n| a | b |\n| c | d |\n\n\
             ````python\nprint('```')\n````\n\n###### Deep\n\n"
        );
    }

    #[test]
    fn text_past_the_limit_is_dropped_and_reported() {
        let mut md = Markdown::limited(20);
        md.paragraph("twelve bytes");
        assert!(!md.over_limit());
        md.paragraph("and twelve more");
        assert!(md.over_limit());
        md.line("x");
        assert_eq!(md.len(), "twelve bytes\n\n".len());
        assert!(matches!(md.finish_within(), Err(Problem::OverLimit(_))));
    }

    #[test]
    fn demoting_leaves_code_alone() {
        let text = "# A\n\n```sh\n# comment\n```\n\n###### F\n#not\n";
        assert_eq!(
            demote_headings(text, 1),
            "## A\n\n```sh\n# comment\n```\n\n###### F\n#not\n"
        );
    }
}
