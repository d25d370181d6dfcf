//! The page's Markdown, written as its nodes are walked: paragraphs,
//! headings, lists, quotes, tables and code blocks, each line with the line
//! of the file its text came from.

use ego_tree::iter::Edge;
use ego_tree::NodeRef;
use scraper::Node;

use super::lines::{LinedPage, Marks};
use super::{collapse_whitespace, is_dropped, MAX_LIST_DEPTH, MAX_QUOTE_DEPTH};

#[derive(Default)]
pub(super) struct Writer {
    out: String,
    /// The file's line of each line written to `out`.
    out_marks: Marks,
    /// The paragraph being gathered; `\n` is a hard line break.
    inline: String,
    inline_marks: Marks,
    /// The file's line of the last text read: where text without a line
    /// of its own (a list's bullet, a table's rule) is cited.
    last_line: u32,
    quote_depth: usize,
    /// Open lists: ordered, and the next item's number.
    lists: Vec<(bool, usize)>,
    /// The marker the next written line of a list item starts with.
    bullet: Option<String>,
    /// Open `<code>` elements outside `<pre>`.
    inline_code: usize,
    table: Option<Table>,
    /// Tables inside a table's cell: read as the cell's text.
    nested_tables: usize,
    pre: Option<Pre>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    header_rows: usize,
    row: Option<Vec<String>>,
    row_is_header: bool,
    cell: Option<String>,
    /// The file's line of each row, and of the row being read.
    row_lines: Vec<u32>,
    row_line: Option<u32>,
}

struct Pre {
    language: String,
    text: String,
    marks: Marks,
}

impl Writer {
    pub(super) fn walk(&mut self, page: &LinedPage, root: NodeRef<'_, Node>, whole_page: bool) {
        // The subtree being skipped: events are ignored until it closes.
        let mut skipping: Option<ego_tree::NodeId> = None;
        for edge in root.traverse() {
            match edge {
                Edge::Open(node) => {
                    if skipping.is_some() {
                        continue;
                    }
                    match node.value() {
                        Node::Text(text) => self.text(text, page.line_of(node.id())),
                        Node::Element(element) => {
                            if is_dropped(element, whole_page) {
                                skipping = Some(node.id());
                            } else {
                                self.open(node, element);
                            }
                        }
                        _ => {}
                    }
                }
                Edge::Close(node) => {
                    if skipping == Some(node.id()) {
                        skipping = None;
                    } else if skipping.is_none() {
                        if let Node::Element(element) = node.value() {
                            self.close(element.name());
                        }
                    }
                }
            }
        }
    }

    /// Text of a node whose text starts on the file's line `line`.
    fn text(&mut self, text: &str, line: u32) {
        let blank = text.trim().is_empty();
        let leading = &text[..text.len() - text.trim_start().len()];
        let first_line = line + leading.matches('\n').count() as u32;
        if let Some(pre) = &mut self.pre {
            pre.marks.push(pre.text.len(), line);
            pre.text.push_str(text);
        } else if let Some(table) = self.table.as_mut().filter(|t| t.cell.is_some()) {
            if !blank {
                table.row_line.get_or_insert(first_line);
            }
            if let Some(cell) = table.cell.as_mut() {
                push_collapsed(cell, text);
            }
        } else {
            if !blank {
                self.inline_marks.push(self.inline.len(), first_line);
            }
            push_collapsed(&mut self.inline, text);
        }
        if !blank {
            self.last_line = first_line;
        }
    }

    fn open(&mut self, node: NodeRef<'_, Node>, element: &scraper::node::Element) {
        let name = element.name();
        if self.pre.is_some() {
            return;
        }
        if self.table.as_ref().is_some_and(|t| t.cell.is_some()) {
            // Everything inside a cell is the cell's text.
            if name == "table" {
                self.nested_tables += 1;
            }
            if let Some(cell) = self.table.as_mut().and_then(|t| t.cell.as_mut()) {
                if is_block(name) || matches!(name, "br" | "td" | "th" | "tr") {
                    push_collapsed(cell, " ");
                }
            }
            return;
        }
        match name {
            "pre" => {
                self.flush();
                self.pre = Some(Pre {
                    language: language_of(node),
                    text: String::new(),
                    marks: Marks::default(),
                });
            }
            "code" => {
                self.inline_code += 1;
                if self.inline_code == 1 {
                    self.mark_code(false);
                }
            }
            "br" => self.inline.push('\n'),
            "li" => {
                self.flush();
                let depth = self.lists.len();
                let marker = match self.lists.last_mut() {
                    Some((true, next)) => {
                        *next += 1;
                        format!("{}. ", *next - 1)
                    }
                    _ => "- ".to_string(),
                };
                self.bullet = (depth > 0).then_some(marker);
            }
            "ul" | "ol" => {
                self.flush();
                let start = element
                    .attr("start")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1);
                self.lists.push((name == "ol", start));
            }
            "blockquote" => {
                self.flush();
                self.quote_depth += 1;
            }
            "table" => {
                self.flush();
                self.table = Some(Table::default());
            }
            "tr" => {
                if let Some(table) = &mut self.table {
                    table.row = Some(Vec::new());
                    table.row_is_header = node
                        .ancestors()
                        .any(|a| a.value().as_element().is_some_and(|e| e.name() == "thead"));
                }
            }
            "td" | "th" => {
                if let Some(table) = &mut self.table {
                    if table.row.is_none() {
                        table.row = Some(Vec::new());
                    }
                    table.row_is_header |= name == "th";
                    table.cell = Some(String::new());
                }
            }
            _ if is_block(name) => self.flush(),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        if self.pre.is_some() {
            if name == "pre" {
                if let Some(pre) = self.pre.take() {
                    self.code_block(&pre);
                }
            }
            return;
        }
        if let Some(table) = &mut self.table {
            if table.cell.is_some() {
                match name {
                    "table" if self.nested_tables > 0 => self.nested_tables -= 1,
                    "td" | "th" if self.nested_tables == 0 => {
                        let cell = table.cell.take().unwrap_or_default();
                        let cell = collapse_whitespace(&cell).replace('|', "\\|");
                        table.row.get_or_insert_with(Vec::new).push(cell);
                    }
                    _ => {}
                }
                return;
            }
        }
        match name {
            "code" => {
                if self.inline_code == 1 {
                    self.mark_code(true);
                }
                self.inline_code = self.inline_code.saturating_sub(1);
            }
            h if heading_level(h).is_some() => {
                let inline = std::mem::take(&mut self.inline);
                let marks = std::mem::take(&mut self.inline_marks);
                let text = collapse_whitespace(&inline);
                if !text.is_empty() {
                    let line = marks
                        .first_within(0, inline.len())
                        .unwrap_or(self.last_line);
                    let level = heading_level(h).unwrap_or(1);
                    self.line_break();
                    let hashes = "#".repeat(level);
                    self.write_lines(&format!("{hashes} {text}"), &[line]);
                    self.out.push('\n');
                }
            }
            "ul" | "ol" => {
                self.flush();
                self.lists.pop();
                self.bullet = None;
                if self.lists.is_empty() {
                    self.out.push('\n');
                }
            }
            "blockquote" => {
                self.flush();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            "tr" => {
                if let Some(table) = &mut self.table {
                    if let Some(row) = table.row.take() {
                        if !row.iter().all(|c| c.is_empty()) {
                            if table.row_is_header && table.rows.len() == table.header_rows {
                                table.header_rows += 1;
                            }
                            table.rows.push(row);
                            table
                                .row_lines
                                .push(table.row_line.unwrap_or(self.last_line));
                        }
                    }
                    table.row_line = None;
                    table.row_is_header = false;
                }
            }
            "table" => {
                if let Some(table) = self.table.take() {
                    self.table_rows(&table);
                }
            }
            _ if is_block(name) => self.flush(),
            _ => {}
        }
    }

    /// Opens or closes an inline code span, without a space inside it.
    fn mark_code(&mut self, closing: bool) {
        if closing && self.inline.ends_with(' ') {
            self.inline.pop();
        }
        self.inline.push('`');
    }

    fn code_block(&mut self, pre: &Pre) {
        let trimmed_end = pre.text.trim_end_matches(['\n', ' ', '\t']);
        let text = trimmed_end.trim_start_matches('\n');
        if text.trim().is_empty() {
            return;
        }
        let start = trimmed_end.len() - text.len();
        let code_lines = pre.marks.lines_of(trimmed_end, start, self.last_line);
        let first = code_lines.first().copied().unwrap_or(self.last_line);
        let last = code_lines.last().copied().unwrap_or(first);
        let mut lines = Vec::with_capacity(code_lines.len() + 2);
        lines.push(first);
        lines.extend(code_lines);
        lines.push(last);
        self.last_line = last;
        let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest_run.max(2) + 1);
        self.line_break();
        self.write_lines(&format!("{fence}{}\n{text}\n{fence}", pre.language), &lines);
        self.out.push('\n');
    }

    fn table_rows(&mut self, table: &Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        self.line_break();
        let mut lines = Vec::with_capacity(table.rows.len() + 1);
        let mut file_lines = Vec::with_capacity(table.rows.len() + 1);
        for (i, row) in table.rows.iter().enumerate() {
            let line = table.row_lines.get(i).copied().unwrap_or(self.last_line);
            lines.push(format!("| {} |", row.join(" | ")));
            file_lines.push(line);
            if i + 1 == table.header_rows {
                lines.push(format!("|{}", "---|".repeat(columns)));
                file_lines.push(line);
            }
        }
        self.write_lines(&lines.join("\n"), &file_lines);
        self.out.push('\n');
    }

    /// Writes the gathered paragraph, if any.
    fn flush(&mut self) {
        let paragraph = std::mem::take(&mut self.inline);
        let marks = std::mem::take(&mut self.inline_marks);
        let mut lines = Vec::new();
        let mut file_lines = Vec::new();
        let mut start = 0;
        for segment in paragraph.split('\n') {
            let trimmed = segment.trim();
            if !trimmed.is_empty() {
                let first = start + segment.len() - segment.trim_start().len();
                let line = marks
                    .first_within(start, start + segment.len() + 1)
                    .unwrap_or_else(|| marks.line_at(&paragraph, first, self.last_line));
                file_lines.push(line);
                lines.push(trimmed);
            }
            start += segment.len() + 1;
        }
        if lines.is_empty() {
            return;
        }
        self.line_break();
        self.write_lines(&lines.join("\n"), &file_lines);
        if self.lists.is_empty() {
            self.out.push('\n');
        }
    }

    /// Ends the line being written, so that a block starts on its own line.
    fn line_break(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// Writes `text`'s lines with the quote and list prefixes in force;
    /// `file_lines` are the file's lines of them (the last one goes on).
    fn write_lines(&mut self, text: &str, file_lines: &[u32]) {
        let quote = "> ".repeat(self.quote_depth.min(MAX_QUOTE_DEPTH));
        let depth = self.lists.len().min(MAX_LIST_DEPTH);
        let indent = "  ".repeat(depth.saturating_sub(1));
        for (i, line) in text.split('\n').enumerate() {
            let file_line = file_lines
                .get(i)
                .or(file_lines.last())
                .copied()
                .unwrap_or(self.last_line);
            // Text before any text of the file (a made-up element) is at its first line.
            self.out_marks.push(self.out.len(), file_line.max(1));
            self.out.push_str(&quote);
            if depth > 0 {
                self.out.push_str(&indent);
                match (i, self.bullet.take()) {
                    (0, Some(bullet)) => self.out.push_str(&bullet),
                    _ => self.out.push_str("  "),
                }
            }
            self.out.push_str(line);
            self.out.push('\n');
        }
    }

    /// The Markdown, and the file's line of each of its lines.
    pub(super) fn finish(mut self) -> (String, Vec<u32>) {
        self.flush();
        if let Some(table) = self.table.take() {
            self.table_rows(&table);
        }
        let mut text = String::with_capacity(self.out.len());
        let mut file_lines = Vec::new();
        let mut blank = 0;
        let mut offset = 0;
        let mut previous = 1;
        for line in self.out.split('\n') {
            let at = offset;
            offset += line.len() + 1;
            let line = line.trim_end();
            if line.is_empty() {
                blank += 1;
                if blank > 1 || text.is_empty() {
                    continue;
                }
            } else {
                blank = 0;
                previous = self.out_marks.line_at(&self.out, at, previous);
            }
            text.push_str(line);
            text.push('\n');
            file_lines.push(previous);
        }
        while text.ends_with("\n\n") {
            text.pop();
            file_lines.pop();
        }
        (text, file_lines)
    }
}

fn push_collapsed(buffer: &mut String, text: &str) {
    for (i, word) in text.split_whitespace().enumerate() {
        let starts_with_space = i > 0 || text.starts_with(char::is_whitespace);
        if starts_with_space && !buffer.is_empty() && !buffer.ends_with([' ', '\n']) {
            buffer.push(' ');
        }
        buffer.push_str(word);
    }
    if text.ends_with(char::is_whitespace) && !buffer.is_empty() && !buffer.ends_with([' ', '\n']) {
        buffer.push(' ');
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "main"
            | "header"
            | "footer"
            | "aside"
            | "li"
            | "dl"
            | "dt"
            | "dd"
            | "figure"
            | "figcaption"
            | "details"
            | "summary"
            | "hr"
            | "address"
            | "center"
            | "fieldset"
            | "legend"
            | "body"
            | "html"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "caption"
    )
}

/// The language a code block names: `language-toml` (mdBook, highlight.js),
/// `lang-x`, or Sphinx's `highlight-python` on an enclosing element.
fn language_of(pre: NodeRef<'_, Node>) -> String {
    let own = pre
        .children()
        .filter_map(|c| c.value().as_element())
        .chain(pre.value().as_element());
    let enclosing = pre
        .ancestors()
        .take(2)
        .filter_map(|a| a.value().as_element());
    for element in own.chain(enclosing) {
        for class in element.classes() {
            for prefix in ["language-", "lang-", "highlight-"] {
                if let Some(language) = class.strip_prefix(prefix) {
                    if !language.is_empty()
                        && language
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-_#".contains(c))
                        && !matches!(language, "default" | "none" | "text")
                    {
                        return language.to_string();
                    }
                }
            }
        }
    }
    String::new()
}
