//! Where a passage sits in its file when the file's text is not the text the
//! chunker read: the file's own lines for a converted page (HTML), and the
//! document's own divisions for the rest (a PDF's pages, a deck's slides, a
//! sheet's rows, an e-book's chapters, a mailbox's messages, a notebook's
//! cells). A citation says `deck.pptx slide 7`, not a line of text that exists
//! only inside the index.

use serde::{Deserialize, Serialize};

/// A division of a document, as citations name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Page,
    Slide,
    /// A spreadsheet's rows, named by their sheet.
    Row,
    Chapter,
    /// A mail message, named by its subject and date.
    Message,
    /// A notebook's cells.
    Cell,
}

impl Unit {
    /// The unit's name; every one takes an "s" for more than one.
    fn noun(self) -> &'static str {
        match self {
            Unit::Page => "page",
            Unit::Slide => "slide",
            Unit::Row => "row",
            Unit::Chapter => "chapter",
            Unit::Message => "message",
            Unit::Cell => "cell",
        }
    }
}

/// Where a division begins in a document's text: it runs from `line` (1-based)
/// to the line before the next place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    pub line: u32,
    pub unit: Unit,
    /// 1-based: page 1, slide 1, a sheet's row as the spreadsheet numbers it.
    pub number: u32,
    /// The sheet, the chapter's title, the message's subject and date.
    pub name: Option<String>,
}

/// A passage's divisions: `slide 7`, `Budget rows 14-20`, `pages 3-4`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    pub unit: Unit,
    pub first: u32,
    pub last: u32,
    /// The first division's name: its sheet, title, or subject and date.
    pub name: Option<String>,
    /// Rows that run into another sheet: the sheet `last` is in.
    pub through: Option<String>,
    /// The places the passage starts in and runs into, so that lines inside
    /// it (a citation's quote) can be placed more narrowly than the whole
    /// passage ([`Location::narrowed`]). Empty in indexes written before
    /// chunks kept them.
    #[serde(default)]
    pub places: Vec<Place>,
}

impl Location {
    /// The divisions that text lines `start..=end` fall in, given `places`
    /// in line order: from the place the passage starts in to the last one
    /// of the same unit that starts inside it. A passage before the first
    /// place (a title above slide 1) starts at the first place inside it.
    pub fn of_lines(places: &[Place], start: u32, end: u32) -> Option<Location> {
        let before = places.partition_point(|place| place.line <= start);
        let first = match before.checked_sub(1) {
            Some(i) => i,
            None => places.iter().position(|place| place.line <= end)?,
        };
        let opening = &places[first];
        let closing = places[first..]
            .iter()
            .take_while(|place| place.line <= end)
            .filter(|place| place.unit == opening.unit)
            .last()
            .unwrap_or(opening);
        let through = (opening.unit == Unit::Row && closing.name != opening.name)
            .then(|| closing.name.clone())
            .flatten();
        let inside = places[first..]
            .iter()
            .take_while(|place| place.line <= end)
            .count()
            .max(1);
        Some(Location {
            unit: opening.unit,
            first: opening.number,
            last: if through.is_some() {
                closing.number
            } else {
                closing.number.max(opening.number)
            },
            name: opening.name.clone(),
            through,
            places: places[first..first + inside].to_vec(),
        })
    }

    /// The divisions of text lines `start..=end` inside this passage: a
    /// quote on page 4 of a passage over pages 3-4 is on page 4. The whole
    /// passage's location when it kept no places.
    pub fn narrowed(&self, start: u32, end: u32) -> Location {
        Location::of_lines(&self.places, start, end).unwrap_or_else(|| self.clone())
    }

    /// Two passages' locations as one, when they are of one unit (and, for
    /// rows, of one sheet).
    pub fn joined(&self, other: &Location) -> Option<Location> {
        let one_sheet = self.unit != Unit::Row
            || (self.name == other.name && self.through.is_none() && other.through.is_none());
        (self.unit == other.unit && one_sheet).then(|| Location {
            unit: self.unit,
            first: self.first.min(other.first),
            last: self.last.max(other.last),
            name: if self.first <= other.first {
                self.name.clone()
            } else {
                other.name.clone()
            },
            through: None,
            places: joined_places(&self.places, &other.places),
        })
    }

    /// How a citation says it: `slide 7`, `pages 3-4`, `Budget rows 14-20`,
    /// `message 2 (Re: lunch, 2024-03-01)`.
    pub fn label(&self) -> String {
        let plural = self.last > self.first;
        let numbers = if plural {
            format!("{}-{}", self.first, self.last)
        } else {
            self.first.to_string()
        };
        let noun = match plural {
            true => format!("{}s", self.unit.noun()),
            false => self.unit.noun().to_string(),
        };
        match (&self.name, self.unit) {
            (Some(sheet), Unit::Row) => match &self.through {
                Some(other) => format!("{sheet} row {} to {other} row {}", self.first, self.last),
                None => format!("{sheet} {noun} {numbers}"),
            },
            (Some(name), Unit::Message | Unit::Chapter) if !plural => {
                format!("{noun} {numbers} ({name})")
            }
            _ => format!("{noun} {numbers}"),
        }
    }
}

/// Two passages' places as one list in line order, each place once.
fn joined_places(a: &[Place], b: &[Place]) -> Vec<Place> {
    let mut places = a.to_vec();
    places.extend(b.iter().filter(|place| !a.contains(place)).cloned());
    places.sort_by_key(|place| place.line);
    places
}

/// The file's line of each line of a converted text, kept with a passage
/// for its own lines: `lines[i]` is the file's line of the passage's text
/// line `first + i`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLines {
    pub first: u32,
    pub lines: Vec<u32>,
}

impl FileLines {
    /// The file's line of text line `line`; lines outside the map keep
    /// the nearest one known (a text line is never shown past the file).
    pub fn file_line(&self, line: u32) -> u32 {
        if self.lines.is_empty() {
            return line;
        }
        let index = line.saturating_sub(self.first) as usize;
        self.lines[index.min(self.lines.len() - 1)]
    }

    /// The map of text lines `start..=end` out of a whole text's map
    /// (`of_text[i]` is the file's line of text line `i + 1`).
    pub fn slice(of_text: &[u32], start: u32, end: u32) -> FileLines {
        let from = (start.max(1) - 1) as usize;
        let to = (end as usize).min(of_text.len());
        FileLines {
            first: start,
            lines: of_text
                .get(from..to)
                .map(<[u32]>::to_vec)
                .unwrap_or_default(),
        }
    }

    /// One map of two passages' that overlap or touch.
    pub fn joined(&self, other: &FileLines) -> FileLines {
        if self.lines.is_empty() || other.lines.is_empty() {
            return if self.lines.is_empty() {
                other.clone()
            } else {
                self.clone()
            };
        }
        let first = self.first.min(other.first);
        let last =
            (self.first + self.lines.len() as u32).max(other.first + other.lines.len() as u32);
        let lines = (first..last)
            .map(|line| {
                let from = |map: &FileLines| {
                    let index = line.checked_sub(map.first)? as usize;
                    map.lines.get(index).copied()
                };
                from(self)
                    .or_else(|| from(other))
                    .unwrap_or_else(|| self.file_line(line).max(other.file_line(line)))
            })
            .collect();
        FileLines { first, lines }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(line: u32, unit: Unit, number: u32, name: Option<&str>) -> Place {
        Place {
            line,
            unit,
            number,
            name: name.map(str::to_string),
        }
    }

    #[test]
    fn a_passage_spans_the_places_that_start_inside_it() {
        let slides = [
            place(3, Unit::Slide, 1, None),
            place(9, Unit::Slide, 2, None),
            place(20, Unit::Slide, 3, None),
        ];
        let at = |start, end| Location::of_lines(&slides, start, end).map(|l| l.label());
        assert_eq!(at(3, 8).as_deref(), Some("slide 1"));
        assert_eq!(at(5, 12).as_deref(), Some("slides 1-2"));
        assert_eq!(at(21, 30).as_deref(), Some("slide 3"));
        // The deck's title, above its first slide.
        assert_eq!(at(1, 4).as_deref(), Some("slide 1"));
        assert_eq!(at(1, 2), None);
        assert_eq!(Location::of_lines(&[], 1, 5), None);
    }

    #[test]
    fn lines_inside_a_passage_are_placed_on_their_own_divisions() {
        let pages = [
            place(1, Unit::Page, 1, None),
            place(10, Unit::Page, 2, None),
            place(20, Unit::Page, 3, None),
            place(30, Unit::Page, 4, None),
        ];
        let passage = Location::of_lines(&pages, 15, 33).unwrap();
        assert_eq!(passage.label(), "pages 2-4");
        // It keeps the places it starts in and runs into, no others.
        assert_eq!(passage.places, pages[1..].to_vec());
        assert_eq!(passage.narrowed(21, 24).label(), "page 3");
        assert_eq!(passage.narrowed(18, 22).label(), "pages 2-3");
        assert_eq!(passage.narrowed(15, 15).label(), "page 2");
        // Joined with the passage before it, either one's lines still place.
        let before = Location::of_lines(&pages, 2, 12).unwrap();
        let both = before.joined(&passage).unwrap();
        assert_eq!(both.label(), "pages 1-4");
        assert_eq!(both.places, pages.to_vec());
        assert_eq!(both.narrowed(3, 4).label(), "page 1");
        assert_eq!(both.narrowed(31, 31).label(), "page 4");
    }

    #[test]
    fn rows_stay_in_their_sheet() {
        let rows = [
            place(1, Unit::Row, 1, Some("Stock")),
            place(3, Unit::Row, 2, Some("Stock")),
            place(6, Unit::Row, 3, Some("Stock")),
            place(9, Unit::Row, 1, Some("Prices")),
            place(11, Unit::Row, 2, Some("Prices")),
        ];
        let at = |start, end| Location::of_lines(&rows, start, end).map(|l| l.label());
        assert_eq!(at(3, 7).as_deref(), Some("Stock rows 2-3"));
        assert_eq!(at(6, 12).as_deref(), Some("Stock row 3 to Prices row 2"));
        assert_eq!(at(6, 8).as_deref(), Some("Stock row 3"));
        assert_eq!(at(9, 12).as_deref(), Some("Prices rows 1-2"));
    }

    #[test]
    fn labels_name_messages_and_join_ranges() {
        let message = Location {
            unit: Unit::Message,
            first: 2,
            last: 2,
            name: Some("Re: lunch, 2024-03-01".into()),
            through: None,
            places: Vec::new(),
        };
        assert_eq!(message.label(), "message 2 (Re: lunch, 2024-03-01)");
        let mailbox = [
            place(1, Unit::Message, 1, Some("Boiler, 2025-04-01")),
            place(8, Unit::Message, 2, Some("Keys, 2025-04-02")),
        ];
        let both = Location::of_lines(&mailbox, 1, 12).map(|l| l.label());
        assert_eq!(both.as_deref(), Some("messages 1-2"));
        let page = |n| Location {
            unit: Unit::Page,
            first: n,
            last: n,
            name: None,
            through: None,
            places: Vec::new(),
        };
        assert_eq!(
            page(4).joined(&page(3)).map(|l| l.label()).as_deref(),
            Some("pages 3-4")
        );
        assert_eq!(page(4).joined(&message), None);
    }

    #[test]
    fn file_lines_map_text_lines_and_join() {
        let of_text = [10, 11, 15, 40, 41, 42];
        let head = FileLines::slice(&of_text, 1, 3);
        let tail = FileLines::slice(&of_text, 3, 6);
        assert_eq!(head.file_line(2), 11);
        assert_eq!(tail.file_line(4), 40);
        // Past the map: the nearest line known.
        assert_eq!(head.file_line(9), 15);
        let both = head.joined(&tail);
        assert_eq!((both.first, both.lines.as_slice()), (1, &of_text[..]));
        assert_eq!(FileLines::default().file_line(7), 7);
    }
}
