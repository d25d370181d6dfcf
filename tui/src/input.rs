//! The question being typed: a small multi-line editor, plus the history of
//! questions sent (Up/Down when the box is empty, as in a shell).

use unicode_width::UnicodeWidthChar;

/// Lines of text and a cursor (line, char index within it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    lines: Vec<String>,
    row: usize,
    col: usize,
}

impl Input {
    pub fn new() -> Self {
        Input {
            lines: vec![String::new()],
            row: 0,
            col: 0,
        }
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.is_empty())
    }

    pub fn clear(&mut self) {
        *self = Input::new();
    }

    /// Replaces the text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        self.lines = text.split('\n').map(str::to_string).collect();
        self.row = self.lines.len() - 1;
        self.col = self.lines[self.row].chars().count();
    }

    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    fn byte_at(&self, row: usize, col: usize) -> usize {
        let line = &self.lines[row];
        line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    fn line_chars(&self, row: usize) -> usize {
        self.lines[row].chars().count()
    }

    pub fn insert(&mut self, c: char) {
        if c == '\n' {
            self.newline();
            return;
        }
        if c.is_control() {
            return;
        }
        let at = self.byte_at(self.row, self.col);
        self.lines[self.row].insert(at, c);
        self.col += 1;
    }

    /// Inserts pasted text (newlines kept, control characters dropped).
    pub fn paste(&mut self, text: &str) {
        // Terminals send pasted line breaks as CR (xterm, VTE, iTerm) or CRLF.
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = crate::text::sanitize(&text).replace('\t', "    ");
        for c in text.chars() {
            self.insert(c);
        }
    }

    pub fn newline(&mut self) {
        let at = self.byte_at(self.row, self.col);
        let rest = self.lines[self.row].split_off(at);
        self.row += 1;
        self.lines.insert(self.row, rest);
        self.col = 0;
    }

    pub fn backspace(&mut self) {
        if self.col > 0 {
            let at = self.byte_at(self.row, self.col - 1);
            self.lines[self.row].remove(at);
            self.col -= 1;
        } else if self.row > 0 {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.line_chars(self.row);
            self.lines[self.row].push_str(&line);
        }
    }

    pub fn delete(&mut self) {
        if self.col < self.line_chars(self.row) {
            let at = self.byte_at(self.row, self.col);
            self.lines[self.row].remove(at);
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.lines[self.row].push_str(&next);
        }
    }

    /// Deletes the word before the cursor (Ctrl+W).
    pub fn delete_word(&mut self) {
        while self.col > 0 && self.char_before().is_some_and(char::is_whitespace) {
            self.backspace();
        }
        while self.col > 0 && self.char_before().is_some_and(|c| !c.is_whitespace()) {
            self.backspace();
        }
    }

    fn char_before(&self) -> Option<char> {
        self.lines[self.row].chars().nth(self.col.checked_sub(1)?)
    }

    pub fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = self.line_chars(self.row);
        }
    }

    pub fn right(&mut self) {
        if self.col < self.line_chars(self.row) {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }

    pub fn home(&mut self) {
        self.col = 0;
    }

    pub fn end(&mut self) {
        self.col = self.line_chars(self.row);
    }

    /// Moves up a line; false when already on the first.
    pub fn up(&mut self) -> bool {
        if self.row == 0 {
            return false;
        }
        self.row -= 1;
        self.col = self.col.min(self.line_chars(self.row));
        true
    }

    /// Moves down a line; false when already on the last.
    pub fn down(&mut self) -> bool {
        if self.row + 1 >= self.lines.len() {
            return false;
        }
        self.row += 1;
        self.col = self.col.min(self.line_chars(self.row));
        true
    }

    /// The text hard-wrapped to `width` columns, and the cursor's (row, column)
    /// in it. Hard wrapping keeps every character where the cursor expects it.
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(2);
        let mut rows = Vec::new();
        let mut cursor = (0, 0);
        for (i, line) in self.lines.iter().enumerate() {
            let mut row = String::new();
            let mut used = 0;
            for (j, c) in line.chars().enumerate() {
                let w = c.width().unwrap_or(0);
                if used + w > width {
                    rows.push(std::mem::take(&mut row));
                    used = 0;
                }
                if i == self.row && j == self.col {
                    cursor = (rows.len(), used);
                }
                row.push(c);
                used += w;
            }
            if i == self.row && self.col >= line.chars().count() {
                if used >= width {
                    rows.push(std::mem::take(&mut row));
                    used = 0;
                }
                cursor = (rows.len(), used);
            }
            rows.push(row);
        }
        (rows, cursor)
    }
}

/// Questions sent, oldest first, and where Up/Down browsing stands.
#[derive(Debug, Clone, Default)]
pub struct History {
    entries: Vec<String>,
    /// Index into `entries` while browsing.
    at: Option<usize>,
}

impl History {
    pub fn push(&mut self, question: &str) {
        if self.entries.last().map(String::as_str) != Some(question) {
            self.entries.push(question.to_string());
        }
        self.at = None;
    }

    pub fn older(&mut self) -> Option<&str> {
        let at = match self.at {
            None => self.entries.len().checked_sub(1)?,
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.at = Some(at);
        self.entries.get(at).map(String::as_str)
    }

    /// The next newer entry; None past the newest (back to an empty box).
    pub fn newer(&mut self) -> Option<&str> {
        let at = self.at? + 1;
        if at >= self.entries.len() {
            self.at = None;
            return None;
        }
        self.at = Some(at);
        self.entries.get(at).map(String::as_str)
    }

    pub fn is_browsing(&self) -> bool {
        self.at.is_some()
    }

    pub fn stop_browsing(&mut self) {
        self.at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Input {
        let mut input = Input::new();
        for c in text.chars() {
            input.insert(c);
        }
        input
    }

    #[test]
    fn edits_across_lines() {
        let mut input = typed("ab\ncd");
        assert_eq!(input.text(), "ab\ncd");
        input.home();
        input.backspace();
        assert_eq!(input.text(), "abcd");
        assert_eq!(input.cursor(), (0, 2));
        input.newline();
        input.up();
        input.end();
        input.delete();
        assert_eq!(input.text(), "abcd");
        input.set("one two  ");
        input.delete_word();
        assert_eq!(input.text(), "one ");
    }

    #[test]
    fn multibyte_characters_are_one_step() {
        let mut input = typed("東京🚀");
        input.left();
        input.backspace();
        assert_eq!(input.text(), "東🚀");
        input.insert('é');
        assert_eq!(input.text(), "東é🚀");
    }

    #[test]
    fn layout_wraps_by_width_and_tracks_the_cursor() {
        let input = typed("abcdef");
        let (rows, cursor) = input.layout(4);
        assert_eq!(rows, vec!["abcd", "ef"]);
        assert_eq!(cursor, (1, 2));
        let input = typed("東京東京");
        let (rows, cursor) = input.layout(4);
        assert_eq!(rows, vec!["東京", "東京", ""]);
        assert_eq!(cursor, (2, 0));
        let mut input = typed("ab\ncd");
        input.up();
        input.home();
        assert_eq!(input.layout(10), (vec!["ab".into(), "cd".into()], (0, 0)));
    }

    #[test]
    fn history_browses_back_and_forth() {
        let mut history = History::default();
        assert_eq!(history.older(), None);
        history.push("first");
        history.push("second");
        history.push("second");
        assert_eq!(history.older(), Some("second"));
        assert_eq!(history.older(), Some("first"));
        assert_eq!(history.older(), Some("first"));
        assert_eq!(history.newer(), Some("second"));
        assert_eq!(history.newer(), None);
        assert!(!history.is_browsing());
    }
}
