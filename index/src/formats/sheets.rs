//! Spreadsheets (.xlsx, .xlsm, .xlsb, .xls, .ods) through calamine: one
//! section a sheet, and each row below the header row as `header: value`
//! lines, a blank line between rows, so that a row is one unit the chunker
//! keeps whole and a passage says what each value is. Formulas give the
//! value they had when the file was saved, never their source.

use std::io::Cursor;

use std::collections::BTreeMap;

use calamine::{open_workbook_auto_from_rs, Data, Reader, SheetType, Sheets};

use super::container::{is_encrypted_ooxml, Archive};
use super::markdown::{one_line, text_over, Markdown};
use super::{Limits, Outcome, Problem, Read};
use crate::location::Unit;

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    // calamine panics on some damaged files (a truncated .xls's sector
    // table): one bad workbook is a damaged file, not a crash.
    std::panic::catch_unwind(|| read_workbook(bytes, limits)).unwrap_or_else(|_| {
        Err(Problem::Damaged(
            "the spreadsheet parser failed on this file".into(),
        ))
    })
}

fn read_workbook(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    if is_encrypted_ooxml(bytes) {
        return Err(Problem::Encrypted);
    }
    // calamine follows an .xls's sector chains and allocates its sheets'
    // grids as the file says: both are measured first.
    super::xls::check(bytes)?;
    if bytes.starts_with(b"PK") {
        // calamine unpacks entries without limits of its own: the archive's
        // directory is checked here first.
        let mut archive = Archive::open(bytes, limits)?;
        for name in archive.names() {
            if name.ends_with(".xml") {
                archive.check(&name)?;
            }
        }
    }
    let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(problem)?;
    // Chart, dialog and macro sheets hold no cells to read (calamine's cell
    // readers fail on them), and one of them must not cost the workbook.
    let names: Vec<String> = workbook
        .sheets_metadata()
        .iter()
        .filter(|sheet| sheet.typ == SheetType::WorkSheet)
        .map(|sheet| sheet.name.clone())
        .collect();
    let mut md = Markdown::limited(limits.max_text);
    let mut first_problem = None;
    let mut any_read = false;
    for name in names {
        let rows = match sheet_rows(&mut workbook, &name, md.len(), limits.max_text) {
            Ok(rows) => rows,
            // A damaged sheet is left out; the others are still worth reading.
            Err(Problem::Damaged(why)) => {
                first_problem.get_or_insert(Problem::Damaged(format!("sheet {name}: {why}")));
                continue;
            }
            Err(other) => return Err(other),
        };
        any_read = true;
        let mut rows = rows.into_iter();
        let Some((header_row, header)) = rows.next() else {
            continue;
        };
        // Rows are cited as the spreadsheet numbers them, from 1.
        md.place(Unit::Row, header_row as usize + 1, Some(name.clone()));
        md.heading(1, &name);
        let header: BTreeMap<u32, String> = header.into_iter().collect();
        let mut any_row = false;
        for (number, row) in rows {
            any_row = true;
            md.place(Unit::Row, number as usize + 1, Some(name.clone()));
            for (column, value) in row {
                let key = header
                    .get(&column)
                    .filter(|h| !h.is_empty())
                    .cloned()
                    .unwrap_or_else(|| column_name(column as usize));
                md.line(&format!("{key}: {value}"));
            }
            md.end_block();
            if md.over_limit() {
                break;
            }
        }
        if !any_row {
            // A sheet of one row (a list, a title) is its own text.
            let cells: Vec<String> = header.into_values().collect();
            md.line(&cells.join(" | "));
            md.end_block();
        }
        if md.over_limit() {
            break;
        }
    }
    if let (false, Some(problem)) = (any_read, first_problem) {
        return Err(problem);
    }
    let (text, places) = md.finish_placed()?;
    Ok(Read {
        title: None,
        text,
        places,
    })
}

/// A sheet's non-empty rows (0-based row, its non-empty cells' (column, text)),
/// or the over-limit reason once the cells' text and the `written` bytes
/// before it pass `max_text` (the text made of cells is never shorter).
/// .xlsx and .xlsb sheets are streamed cell by cell: calamine's `Range`
/// allocates every cell between the first and the last, and two cells in
/// opposite corners of a sheet would ask for half a terabyte.
fn sheet_rows(
    workbook: &mut Sheets<Cursor<&[u8]>>,
    name: &str,
    written: usize,
    max_text: usize,
) -> Outcome<Vec<SheetRow>> {
    let mut rows = Rows::new(written, max_text);
    match workbook {
        Sheets::Xlsx(xlsx) => {
            let mut cells = xlsx
                .worksheet_cells_reader(name)
                .map_err(|e| problem(e.into()))?;
            while let Some(cell) = cells.next_cell().map_err(|e| problem(e.into()))? {
                let (row, column) = cell.get_position();
                rows.add(row, column, value(&Data::from(cell.get_value().clone())))?;
            }
        }
        Sheets::Xlsb(xlsb) => {
            let mut cells = xlsb
                .worksheet_cells_reader(name)
                .map_err(|e| problem(e.into()))?;
            while let Some(cell) = cells.next_cell().map_err(|e| problem(e.into()))? {
                let (row, column) = cell.get_position();
                rows.add(row, column, value(&Data::from(cell.get_value().clone())))?;
            }
        }
        _ => {
            let range = workbook.worksheet_range(name).map_err(problem)?;
            let (top, left) = range.start().unwrap_or((0, 0));
            for (r, row) in range.rows().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    rows.add(top + r as u32, left + c as u32, value(cell))?;
                }
            }
        }
    }
    Ok(rows.finish())
}

/// A row's 0-based number and its non-empty cells' (column, text).
type SheetRow = (u32, Vec<(u32, String)>);

/// Rows gathered cell by cell, within a limit of text bytes.
struct Rows {
    rows: BTreeMap<u32, Vec<(u32, String)>>,
    bytes: usize,
    max_text: usize,
}

impl Rows {
    fn new(written: usize, max_text: usize) -> Self {
        Rows {
            rows: BTreeMap::new(),
            bytes: written,
            max_text,
        }
    }

    fn add(&mut self, row: u32, column: u32, text: String) -> Outcome<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.bytes = self.bytes.saturating_add(text.len());
        if self.bytes > self.max_text {
            return Err(text_over(self.max_text));
        }
        self.rows.entry(row).or_default().push((column, text));
        Ok(())
    }

    fn finish(self) -> Vec<SheetRow> {
        self.rows
            .into_iter()
            .map(|(number, mut row)| {
                row.sort_by_key(|(column, _)| *column);
                (number, row)
            })
            .collect()
    }
}

fn problem(e: calamine::Error) -> Problem {
    use calamine::{Error, OdsError, XlsError, XlsxError};
    match e {
        Error::Xlsx(XlsxError::Password)
        | Error::Xls(XlsError::Password)
        | Error::Ods(OdsError::Password) => Problem::Encrypted,
        other => Problem::Damaged(other.to_string()),
    }
}

/// A cell as text: numbers without a needless `.0`, dates as ISO dates.
fn value(cell: &Data) -> String {
    match cell {
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        Data::Error(_) => String::new(),
        other => one_line(&other.to_string()),
    }
}

/// `A`, `B`, ... `Z`, `AA`: how a column without a header is named.
pub(crate) fn column_name(mut column: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (column % 26) as u8);
        if column < 26 {
            break;
        }
        column = column / 26 - 1;
    }
    name.reverse();
    String::from_utf8_lossy(&name).into_owned()
}

#[cfg(test)]
mod tests {
    use crate::formats::testing::{xlsb, xlsx, TestSheet};
    use crate::formats::{read, Format, Limits};

    fn text(bytes: &[u8]) -> String {
        match read(Format::Spreadsheet, bytes, &Limits::default()) {
            Ok(read) => read.text,
            Err(e) => panic!("unread: {e}"),
        }
    }

    #[test]
    fn chart_sheets_are_passed_over_and_the_rest_read() {
        let book = xlsx(
            &[
                ("Chart1", TestSheet::Chart),
                (
                    "Stock",
                    TestSheet::Rows(&[&["Item", "Count"], &["wombat", "3"]]),
                ),
            ],
            &[],
        );
        assert_eq!(
            text(&book),
            "# Stock

Item: wombat
Count: 3

"
        );
    }

    #[test]
    fn empty_sheets_get_no_heading() {
        let book = xlsx(
            &[
                ("Stock", TestSheet::Rows(&[&["Item"], &["quokka"]])),
                ("Sheet2", TestSheet::Rows(&[])),
            ],
            &[],
        );
        assert_eq!(
            text(&book),
            "# Stock

Item: quokka

"
        );
    }

    #[test]
    fn xlsb_cells_far_apart_are_streamed() {
        // As a `Range` these two cells are 2^20 x 2^14 cells: hundreds of GB.
        let book = xlsb("Far", &[(0, 0, "Note"), (1_048_575, 16_383, "far corner")]);
        assert_eq!(
            text(&book),
            "# Far

XFD: far corner

"
        );
    }

    #[test]
    fn text_past_the_limit_stops_the_sheet_as_it_is_read() {
        // One long shared string referenced by many cells: small on disk,
        // large as text. The limit is reached while cells are gathered.
        let long = "lorem ipsum ".repeat(400);
        let row: Vec<&str> = vec!["=s0"; 200];
        let rows: Vec<&[&str]> = vec![&row[..]];
        let book = xlsx(&[("Big", TestSheet::Rows(&rows))], &[&long]);
        let limits = Limits {
            max_text: 100_000,
            ..Limits::default()
        };
        let mut workbook =
            calamine::open_workbook_auto_from_rs(std::io::Cursor::new(&book[..])).expect("xlsx");
        let gathered = super::sheet_rows(&mut workbook, "Big", 0, limits.max_text);
        assert!(matches!(gathered, Err(super::Problem::OverLimit(_))));
        match read(Format::Spreadsheet, &book, &limits) {
            Err(e) => assert!(e.to_string().contains("over"), "{e}"),
            Ok(_) => panic!("read past the limit"),
        }
    }

    #[test]
    fn column_names() {
        let names: Vec<String> = [0, 25, 26, 27, 701, 702]
            .into_iter()
            .map(super::column_name)
            .collect();
        assert_eq!(names, ["A", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
