//! Spreadsheets (.xlsx, .xlsm, .xlsb, .xls, .ods) through calamine: one
//! section a sheet, and each row below the header row as `header: value`
//! lines, a blank line between rows, so that a row is one unit the chunker
//! keeps whole and a passage says what each value is. Formulas give the
//! value they had when the file was saved, never their source.

use std::io::Cursor;

use std::collections::BTreeMap;

use calamine::{open_workbook_auto_from_rs, Data, Reader, Sheets};

use super::container::{is_encrypted_ooxml, Archive};
use super::markdown::{one_line, Markdown};
use super::{Limits, Outcome, Problem, Read};

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    if is_encrypted_ooxml(bytes) {
        return Err(Problem::Encrypted);
    }
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
    let mut md = Markdown::new();
    for name in workbook.sheet_names() {
        md.heading(1, &name);
        let mut rows = sheet_rows(&mut workbook, &name)?.into_iter();
        let Some(header) = rows.next() else {
            continue;
        };
        let header: BTreeMap<u32, String> = header.into_iter().collect();
        let mut any_row = false;
        for row in rows {
            any_row = true;
            for (column, value) in row {
                let key = header
                    .get(&column)
                    .filter(|h| !h.is_empty())
                    .cloned()
                    .unwrap_or_else(|| column_name(column as usize));
                md.line(&format!("{key}: {value}"));
            }
            md.end_block();
            if md.len() > limits.max_text {
                return Err(Problem::OverLimit(format!(
                    "sheet {name} gives more than {} of text",
                    crate::extract::human_bytes(limits.max_text as u64)
                )));
            }
        }
        if !any_row {
            // A sheet of one row (a list, a title) is its own text.
            let cells: Vec<String> = header.into_values().collect();
            md.line(&cells.join(" | "));
            md.end_block();
        }
    }
    Ok(Read {
        title: None,
        text: md.finish(),
    })
}

/// A sheet's non-empty rows, each as its non-empty cells' (column, text).
/// An .xlsx sheet is streamed cell by cell: calamine's `Range` allocates
/// every cell between the first and the last, and two cells in opposite
/// corners of a sheet would ask for half a terabyte.
fn sheet_rows(
    workbook: &mut Sheets<Cursor<&[u8]>>,
    name: &str,
) -> Outcome<Vec<Vec<(u32, String)>>> {
    let mut rows: BTreeMap<u32, Vec<(u32, String)>> = BTreeMap::new();
    if let Sheets::Xlsx(xlsx) = workbook {
        let mut cells = xlsx
            .worksheet_cells_reader(name)
            .map_err(|e| problem(e.into()))?;
        while let Some(cell) = cells.next_cell().map_err(|e| problem(e.into()))? {
            let (row, column) = cell.get_position();
            let text = value(&Data::from(cell.get_value().clone()));
            if !text.is_empty() {
                rows.entry(row).or_default().push((column, text));
            }
        }
    } else {
        let range = workbook.worksheet_range(name).map_err(problem)?;
        let (top, left) = range.start().unwrap_or((0, 0));
        for (r, row) in range.rows().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let text = value(cell);
                if !text.is_empty() {
                    rows.entry(top + r as u32)
                        .or_default()
                        .push((left + c as u32, text));
                }
            }
        }
    }
    Ok(rows
        .into_values()
        .map(|mut row| {
            row.sort_by_key(|(column, _)| *column);
            row
        })
        .collect())
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
fn column_name(mut column: usize) -> String {
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
    #[test]
    fn column_names() {
        let names: Vec<String> = [0, 25, 26, 27, 701, 702]
            .into_iter()
            .map(super::column_name)
            .collect();
        assert_eq!(names, ["A", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
