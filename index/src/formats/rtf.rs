//! Rich Text Format (.rtf), through rtf-parser-tt: it decodes the text (code
//! pages, `\uN` escapes, symbol fonts) and sorts it into body, footnotes,
//! headers and footers, but says neither where a paragraph ends (a line
//! break reads the same) nor which paragraphs are headings. So its tokens are
//! marked here before it parses them: each paragraph's end carries the
//! paragraph's heading level (its outline level `\outlinelevelN`, or a style
//! `\sN` that the stylesheet calls "heading N" or gives an outline level), and
//! each table cell's and row's end a mark of its own. Paragraphs become
//! paragraphs, headings `#` headings, table rows `| a | b |` lines, footnotes
//! `[^n]` marks with their text at the end, and the title is the one in the
//! document's information group. Left out: headers and footers, hidden text,
//! pictures and objects, the font, colour and style tables, field
//! instructions, the fallback text of nested tables, and every group the file
//! marks as ignorable (`{\*\...}`: comments, bookmarks, shapes' properties).
//!
//! The file is text, read whole into tokens: the number of control words and
//! groups and how deep groups nest are held to limits before anything is
//! parsed. A file cut short is read as far as it goes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use rtf_parser_tt::{ControlWord, Lexer, Parser, Part, Property, RtfDocument, Token};

use super::markdown::{one_line, Markdown, Table};
use super::{damaged, Limits, Outcome, Problem, Read};

/// Control words, group braces and runs of text in one file, and the marks
/// put among them (tens of bytes each in memory): far past what a long book
/// has (Word writes one control word to about every ten bytes), short of
/// what exhausts the reader's memory.
const MAX_TOKENS: usize = 10_000_000;
/// How deep groups may nest: word processors write a few dozen levels.
const MAX_DEPTH: usize = 100_000;

/// The marks put into the text where the parser gives no sign: the end of a
/// paragraph (of heading level 0, a body paragraph, to 6), of a table cell
/// and of a table row. Unicode noncharacters: no document has a reason to
/// hold them, and one that does muddles only its own paragraphs.
const PARAGRAPH_END: [&str; 7] = [
    "\u{FDD0}", "\u{FDD1}", "\u{FDD2}", "\u{FDD3}", "\u{FDD4}", "\u{FDD5}", "\u{FDD6}",
];
const CELL_END: &str = "\u{FDD7}";
const ROW_END: &str = "\u{FDD8}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Paragraph(usize),
    Cell,
    Row,
}

fn mark(c: char) -> Option<Mark> {
    match c {
        '\u{FDD0}'..='\u{FDD6}' => Some(Mark::Paragraph(c as usize - 0xFDD0)),
        '\u{FDD7}' => Some(Mark::Cell),
        '\u{FDD8}' => Some(Mark::Row),
        _ => None,
    }
}

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let source = source_text(bytes);
    let source = source.trim_start_matches(|c: char| c.is_whitespace() || c == '\0');
    if !looks_like_rtf(source) {
        return damaged("not RTF: it does not begin with {\\rtf");
    }
    // Each control word and brace is a token at least: too many are refused
    // before the lexer spends memory on them.
    let controls = source
        .bytes()
        .filter(|b| matches!(b, b'\\' | b'{' | b'}'))
        .count();
    if controls > MAX_TOKENS {
        return Err(too_many_tokens());
    }
    let mut tokens =
        Lexer::scan(source).map_err(|e| Problem::Damaged(format!("not valid RTF: {e}")))?;
    if tokens.len() > MAX_TOKENS {
        return Err(too_many_tokens());
    }
    let styles = heading_styles(&tokens);
    mark_tokens(&mut tokens, &styles)?;
    let document = Parser::new(tokens)
        .parse()
        .map_err(|e| Problem::Damaged(format!("not valid RTF: {e}")))?;
    render(&document, limits)
}

/// The file as text for the lexer, mended where it would refuse the whole
/// file for one flaw. RTF is 7-bit text: the bytes past ASCII that some
/// programs write raw are characters of the document's code page (unless
/// the file is UTF-8), so they become `\'hh` escapes, decoded as the escaped
/// ones are. A `\'` without two hex digits is dropped, a number past what 32
/// bits hold is the largest they do, and binary data (`\binN` and its N
/// bytes) is left out.
fn source_text(bytes: &[u8]) -> String {
    let utf8 = std::str::from_utf8(bytes).is_ok();
    let mut out = String::with_capacity(bytes.len() + 64);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            let end = bytes[i..]
                .iter()
                .position(|&b| b == b'\\')
                .map_or(bytes.len(), |n| i + n);
            let run = &bytes[i..end];
            if utf8 {
                // Cut at ASCII bytes only: whole characters.
                out.push_str(&String::from_utf8_lossy(run));
            } else {
                for &byte in run {
                    if byte.is_ascii() {
                        out.push(byte as char);
                    } else {
                        out.push_str(&format!("\\'{byte:02x}"));
                    }
                }
            }
            i = end;
            continue;
        }
        let rest = &bytes[i + 1..];
        match rest.first() {
            Some(b'\'') => {
                match rest
                    .get(1..3)
                    .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                {
                    Some(hex) => {
                        out.push_str("\\'");
                        out.extend(hex.iter().map(|&b| b as char));
                        i += 4;
                    }
                    None => i += 2,
                }
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let letters = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                let negative = rest.get(letters) == Some(&b'-')
                    && rest.get(letters + 1).is_some_and(u8::is_ascii_digit);
                let start = letters + usize::from(negative);
                let digits = rest[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                out.push('\\');
                out.extend(rest[..letters].iter().map(|&b| b as char));
                i += 1 + start + digits;
                if digits == 0 {
                    continue;
                }
                let magnitude = rest[start..start + digits].iter().fold(0i64, |n, d| {
                    n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
                });
                let value = if negative { -magnitude } else { magnitude };
                let value = value.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                if &rest[..letters] == b"bin" {
                    if bytes.get(i) == Some(&b' ') {
                        i += 1;
                    }
                    i = i
                        .saturating_add(usize::try_from(value).unwrap_or(0))
                        .min(bytes.len());
                    out.push_str("0 ");
                } else {
                    out.push_str(&value.to_string());
                }
            }
            Some(&b) if b.is_ascii() => {
                out.push('\\');
                out.push(b as char);
                i += 2;
            }
            // Before a character past ASCII, or at the end: it escapes
            // nothing.
            _ => i += 1,
        }
    }
    out
}

/// Whether the text opens a group with a control word, as RTF does
/// (`{\rtf1`, or `{\pard` in a fragment some converters write).
fn looks_like_rtf(text: &str) -> bool {
    text.strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with('\\'))
}

/// Paragraph properties that decide what a paragraph's end is marked with.
#[derive(Debug, Clone, Copy, Default)]
struct Paragraph {
    style: Option<i32>,
    outline: Option<i32>,
    in_table: bool,
}

impl Paragraph {
    fn level(&self, styles: &HashMap<i32, usize>) -> usize {
        let level = match self.outline {
            // Outline level 9 is body text.
            Some(n @ 0..=8) => n as usize + 1,
            Some(_) => 0,
            None => self
                .style
                .and_then(|s| styles.get(&s))
                .copied()
                .unwrap_or(0),
        };
        level.min(6)
    }
}

/// Heading levels of the stylesheet's paragraph styles, by number: an
/// outline level, or the name "heading N" (the name Word and LibreOffice
/// write whatever the user's language).
fn heading_styles(tokens: &[Token]) -> HashMap<i32, usize> {
    let mut styles = HashMap::new();
    let Some(start) = tokens.windows(2).position(|pair| {
        matches!(
            pair,
            [
                Token::OpeningBracket,
                Token::ControlSymbol((ControlWord::StyleSheet, _))
            ]
        )
    }) else {
        return styles;
    };
    #[derive(Default)]
    struct Entry {
        number: Option<i32>,
        outline: Option<i32>,
        name: String,
        ignorable: bool,
    }
    let mut depth = 0usize;
    let mut entry = Entry::default();
    for token in &tokens[start..] {
        match token {
            Token::OpeningBracket => {
                depth += 1;
                if depth == 2 {
                    entry = Entry::default();
                }
            }
            Token::ClosingBracket => {
                if depth == 2 && !entry.ignorable {
                    let name = entry.name.split(';').next().unwrap_or("").trim();
                    let level = match entry.outline {
                        Some(n @ 0..=8) => Some(n as usize + 1),
                        _ => heading_name_level(name),
                    };
                    if let Some(level) = level {
                        // An entry without `\s` is style 0, "Normal".
                        styles.insert(entry.number.unwrap_or(0), level);
                    }
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Token::IgnorableDestination if depth == 2 => entry.ignorable = true,
            Token::ControlSymbol((ControlWord::ParStyle, Property::Value(n))) if depth == 2 => {
                entry.number = Some(*n);
            }
            Token::ControlSymbol((ControlWord::Unknown(r"\outlinelevel"), Property::Value(n)))
                if depth == 2 =>
            {
                entry.outline = Some(*n);
            }
            Token::PlainText(text) if depth == 2 && entry.name.len() < 256 => {
                entry.name.push_str(text);
            }
            _ => {}
        }
    }
    styles
}

/// 1 to 9 for a style named "heading 1" to "heading 9", in any case.
fn heading_name_level(name: &str) -> Option<usize> {
    let rest = name.get(..8)?;
    if !rest.eq_ignore_ascii_case("heading ") {
        return None;
    }
    match name[8..].trim().parse::<usize>() {
        Ok(n @ 1..=9) => Some(n),
        _ => None,
    }
}

/// Marks the ends of paragraphs, cells and rows in `tokens` (as groups of
/// their own, `{mark}`, which take the destination they are in, so a mark
/// in a footnote lands in the footnote and one in a picture nowhere), drops
/// the fallback text of nested tables and a footnote's own copy of its
/// number, and mends what the parser would refuse: stray closing braces,
/// groups left open at the end (a file cut short), text after the last
/// group, numbers out of the range it reads.
fn mark_tokens(tokens: &mut Vec<Token<'_>>, styles: &HashMap<i32, usize>) -> Outcome<()> {
    /// A group's state: its paragraph's properties, and whether it is (in)
    /// a footnote.
    #[derive(Clone, Copy, Default)]
    struct Group {
        paragraph: Paragraph,
        note: bool,
    }
    let paragraph_end = |group: Group| {
        let paragraph = group.paragraph;
        (!paragraph.in_table).then(|| PARAGRAPH_END[paragraph.level(styles)])
    };
    let mut stack = vec![Group::default()];
    let mut marks: Vec<(usize, &'static str)> = Vec::new();
    // The last brace that closed a top-level group, and that group's state.
    let mut last_close: Option<(usize, Group)> = None;
    let mut i = 0;
    while i < tokens.len() {
        let top = stack.last().copied().unwrap_or_default();
        let mut end = None;
        match tokens[i] {
            Token::OpeningBracket => {
                // `{\<line break>\fonttbl`: the parser finds the table but
                // then reads it from the line break, and refuses it.
                let words = tokens[i + 1..]
                    .iter()
                    .take_while(|t| **t == Token::CRLF)
                    .count();
                if words > 0
                    && matches!(
                        tokens.get(i + 1 + words),
                        Some(Token::ControlSymbol((
                            ControlWord::FontTable
                                | ControlWord::ColorTable
                                | ControlWord::StyleSheet,
                            _
                        )))
                    )
                {
                    tokens[i + 1..=i + 1 + words].rotate_right(1);
                }
                let starred = tokens.get(i + 1) == Some(&Token::IgnorableDestination);
                let first = match tokens.get(i + 1 + usize::from(starred)) {
                    Some(Token::ControlSymbol((ControlWord::Unknown(word), _))) => *word,
                    _ => "",
                };
                if first == r"\nonesttables" && i > 0 {
                    i = blank_group(tokens, i);
                    continue;
                }
                if first == r"\footnote" && starred {
                    // Pandoc writes `{\*\footnote`: a footnote all the same.
                    tokens[i + 1] = Token::Empty;
                }
                if stack.len() > MAX_DEPTH {
                    return Err(Problem::OverLimit(format!(
                        "groups nested more than {MAX_DEPTH} deep"
                    )));
                }
                stack.push(Group {
                    note: top.note || first == r"\footnote",
                    ..top
                });
            }
            Token::ClosingBracket => {
                if stack.len() <= 1 {
                    // Closes nothing: the parser would lose its footing.
                    tokens[i] = Token::Empty;
                } else {
                    stack.pop();
                    if stack.len() == 1 {
                        last_close = Some((i, top));
                    }
                }
            }
            // `\` before a line break is a paragraph's end, as `\par` is.
            Token::CRLF => end = paragraph_end(top),
            Token::ControlSymbol((word, mut property)) => {
                if mend_number(&word, &mut property) {
                    tokens[i] = Token::ControlSymbol((word, property));
                }
                let paragraph = &mut stack.last_mut().expect("the root stays").paragraph;
                match word {
                    ControlWord::Pard => *paragraph = Paragraph::default(),
                    ControlWord::ParStyle => paragraph.style = Some(property.get_value()),
                    ControlWord::Unknown(r"\outlinelevel") => {
                        paragraph.outline = Some(property.get_value());
                    }
                    ControlWord::Unknown(r"\intbl") => paragraph.in_table = property.as_bool(),
                    ControlWord::Unknown(r"\itap") => paragraph.in_table = property.get_value() > 0,
                    ControlWord::Par | ControlWord::Sect | ControlWord::Page => {
                        end = paragraph_end(top);
                    }
                    ControlWord::Cell => end = Some(CELL_END),
                    // Cells of a table in a cell are words of that cell.
                    ControlWord::NestCell | ControlWord::NestRow => end = Some(" "),
                    ControlWord::Row => end = Some(ROW_END),
                    // The footnote's number again, before its text.
                    ControlWord::Unknown(r"\chftn") if top.note => tokens[i] = Token::Empty,
                    _ => {}
                }
            }
            _ => {}
        }
        if let Some(mark) = end {
            // A brace (and `\*`) just before opens the group this token
            // begins: the mark goes before them, or that group would take
            // the mark's place as its first token.
            let mut at = i;
            while at > 1
                && matches!(
                    tokens[at - 1],
                    Token::OpeningBracket | Token::IgnorableDestination
                )
            {
                at -= 1;
            }
            marks.push((at, mark));
        }
        i += 1;
    }
    let open = stack.len() - 1;
    if let Some(&top) = stack.last().filter(|_| open > 0) {
        // Cut short: its last paragraph ends, and its groups close, here.
        if let Some(mark) = paragraph_end(top) {
            marks.push((tokens.len(), mark));
        }
        tokens.extend(std::iter::repeat_n(Token::ClosingBracket, open));
    } else if let Some((close, group)) = last_close {
        // Whatever follows the last group is not the document's.
        tokens.truncate(close + 1);
        marks.retain(|(at, _)| *at <= close);
        if let Some(mark) = paragraph_end(group) {
            marks.push((close, mark));
        }
    }
    if tokens.len().saturating_add(3 * marks.len()) > MAX_TOKENS {
        return Err(too_many_tokens());
    }
    marks.sort_by_key(|(at, _)| *at);
    insert_marks(tokens, &marks);
    Ok(())
}

fn too_many_tokens() -> Problem {
    Problem::OverLimit(format!(
        "more than {MAX_TOKENS} control words, groups, paragraphs and runs of text"
    ))
}

/// Numbers the parser casts to a font, colour, size or style number (and
/// refuses the whole file for when they do not fit) brought into range;
/// whether `property` changed.
fn mend_number(word: &ControlWord, property: &mut Property) -> bool {
    let max = match word {
        ControlWord::FontNumber
        | ControlWord::DefaultFont
        | ControlWord::FontSize
        | ControlWord::ColorNumber
        | ControlWord::ParStyle => i32::from(u16::MAX),
        ControlWord::ColorRed | ControlWord::ColorGreen | ControlWord::ColorBlue => {
            i32::from(u8::MAX)
        }
        _ => return false,
    };
    let mended = match *property {
        Property::Value(n) => Property::Value(n.clamp(0, max)),
        // `\f` alone in the font table is refused too.
        Property::None if *word == ControlWord::FontNumber => Property::Value(0),
        other => other,
    };
    std::mem::replace(property, mended) != mended
}

/// Blanks the group that opens at `start`; the index after it.
fn blank_group(tokens: &mut [Token], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < tokens.len() {
        match tokens[i] {
            Token::OpeningBracket => depth += 1,
            Token::ClosingBracket => depth -= 1,
            _ => {}
        }
        tokens[i] = Token::Empty;
        i += 1;
        if depth == 0 {
            break;
        }
    }
    i
}

/// Puts each mark, as a group `{mark}`, before the token at its index
/// (`marks` in order of index), moving the tokens up once.
fn insert_marks<'a>(tokens: &mut Vec<Token<'a>>, marks: &[(usize, &'static str)]) {
    if marks.is_empty() {
        return;
    }
    let mut read = tokens.len();
    tokens.resize(read + 3 * marks.len(), Token::Empty);
    let mut write = tokens.len();
    for &(at, mark) in marks.iter().rev() {
        while read > at {
            read -= 1;
            write -= 1;
            tokens.swap(read, write);
        }
        for token in [
            Token::ClosingBracket,
            Token::PlainText(mark),
            Token::OpeningBracket,
        ] {
            write -= 1;
            tokens[write] = token;
        }
    }
}

/// The parsed document as Markdown.
fn render(document: &RtfDocument, limits: &Limits) -> Outcome<Read> {
    let mut body = String::new();
    let mut notes: BTreeMap<u32, String> = BTreeMap::new();
    for block in &document.body {
        // Hidden text is left out, but not the ends of paragraphs in it.
        let text: Cow<str> = if block.painter.hidden {
            Cow::Owned(block.text.chars().filter(|&c| mark(c).is_some()).collect())
        } else {
            Cow::Borrowed(&block.text)
        };
        match block.part {
            Part::Body => body.push_str(&text),
            Part::NoteReference(n) if !block.painter.hidden => {
                body.push_str(&format!("[^{n}]"));
            }
            Part::Note(n) => notes.entry(n).or_default().push_str(&text),
            // Headers and footers.
            _ => {}
        }
        if body.len() > limits.max_text {
            return Err(super::markdown::text_over(limits.max_text));
        }
    }

    let mut md = Markdown::limited(limits.max_text);
    let mut text = String::new();
    let mut table = Table::default();
    let mut in_table = false;
    for c in body.chars() {
        match mark(c) {
            Some(Mark::Paragraph(level)) => {
                if in_table {
                    end_table(&mut md, &mut table);
                    in_table = false;
                }
                paragraph(&mut md, level, &text);
                text.clear();
            }
            Some(Mark::Cell) => {
                table.push_text(&text);
                table.end_cell();
                text.clear();
                in_table = true;
            }
            Some(Mark::Row) => {
                // Text after a row's last cell is the row's.
                if !text.trim().is_empty() {
                    table.push_text(&text);
                    table.end_cell();
                }
                table.end_row();
                text.clear();
                in_table = true;
            }
            // Soft hyphens (`\-`) would cut words in two for search.
            None if c == '\u{AD}' => {}
            None => text.push(c),
        }
        if md.over_limit() {
            break;
        }
    }
    if in_table {
        end_table(&mut md, &mut table);
    }
    paragraph(&mut md, 0, &text);
    for (n, note) in notes {
        // Its own copy of its number was left out with the tokens.
        let note = one_line(&note.replace(|c| mark(c).is_some(), " "));
        if !note.is_empty() {
            md.paragraph(&format!("[^{n}]: {note}"));
        }
    }
    let title = document
        .info
        .title
        .as_deref()
        .map(|t| one_line(&t.replace(|c| mark(c).is_some(), " ")))
        .filter(|t| !t.is_empty());
    Ok(Read {
        title,
        text: md.finish_within()?,
        places: Vec::new(),
    })
}

/// A paragraph's text (its lines kept, each line's runs of spaces and tabs
/// made one space) as a paragraph, or as a heading of `level`.
fn paragraph(md: &mut Markdown, level: usize, text: &str) {
    let lines: Vec<String> = text
        .lines()
        .map(one_line)
        .filter(|l| !l.is_empty())
        .collect();
    if level > 0 {
        md.heading(level, &lines.join(" "));
    } else {
        md.paragraph(&lines.join("\n"));
    }
}

fn end_table(md: &mut Markdown, table: &mut Table) {
    // A row its writer never ended (an empty one is left out).
    table.end_row();
    md.end_block();
    for line in std::mem::take(table).lines(false) {
        md.line(&line);
    }
    md.end_block();
}

#[cfg(test)]
mod tests;
