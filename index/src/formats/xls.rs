//! Old Excel workbooks (.xls), measured before calamine reads them. calamine
//! 0.38 trusts the file twice over. It follows a compound file's sector
//! chains as far as they go, the directory's with no bound at all, so a
//! chain that comes back on itself grows memory until the process dies. And
//! it holds each sheet as a dense grid of every cell between the corners its
//! records name, after reserving what a sheet's dimensions record asks for,
//! so a few bytes saying 2^32 rows ask for terabytes. Both are measured here
//! on the bytes, in time and memory of the order of the file's size.
//!
//! The file is walked as calamine walks it (its `cfb` module and
//! `Xls::parse_workbook`), not as the specifications would have it: a
//! stricter walk would refuse files calamine reads, a looser one would miss a
//! loop calamine falls into.

use super::container::COMPOUND_FILE;
use super::{damaged, Outcome, Problem};

const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
/// calamine walks the DIFAT's own chain until an id from here up...
const DIFAT_END: u32 = 0xFFFF_FFFA;
/// ...and reads every DIFAT entry below this one as a FAT sector.
const NOT_A_FAT_SECTOR: u32 = 0xFFFF_FFFC;
/// Streams shorter than this live in the mini stream: calamine's cutoff,
/// whatever the header says.
const MINI_CUTOFF: u64 = 4096;
const MINI_SECTOR: usize = 64;
const DIRECTORY_ENTRY: usize = 128;

/// Cells calamine may hold for one workbook, counting what dimensions
/// records have it reserve (40 bytes a cell) and the dense grids of values
/// and formulas (24 to 32 bytes a cell): under 200 MB. A full BIFF8 sheet
/// (65536 rows of 256 columns) is four times this, and over the text limit
/// long before it is full.
const MAX_CELLS: u64 = 1 << 22;

/// Refuses an .xls that calamine would follow into a loop or that would have
/// it allocate more than [`MAX_CELLS`]; anything else (other formats
/// included) is left for calamine to read or refuse.
pub(crate) fn check(bytes: &[u8]) -> Outcome<()> {
    if !bytes.starts_with(COMPOUND_FILE) {
        return Ok(());
    }
    match workbook_stream(bytes)? {
        Some(stream) => sheets_fit(&stream),
        None => Ok(()),
    }
}

/// `n` little-endian bytes at `at`, 0 where the input is too short.
fn le(bytes: &[u8], at: usize, n: usize) -> u64 {
    bytes
        .get(at..at.saturating_add(n))
        .map_or(0, |b| b.iter().rev().fold(0, |v, &x| v << 8 | u64::from(x)))
}

fn ids(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

struct Compound<'a> {
    bytes: &'a [u8],
    sector: usize,
    /// Sectors that start inside the file.
    sectors: usize,
}

impl<'a> Compound<'a> {
    fn open(bytes: &'a [u8]) -> Outcome<Self> {
        if bytes.len() < 512 {
            return damaged("a compound file cut short in its header");
        }
        let sector = match le(bytes, 30, 2) {
            9 => 512,
            12 => 4096,
            shift => return damaged(format!("a compound file with a sector shift of {shift}")),
        };
        if le(bytes, 32, 2) != 6 {
            return damaged("a compound file whose mini sectors are not 64 bytes");
        }
        if bytes.len() < sector {
            return damaged("a compound file cut short in its header");
        }
        Ok(Compound {
            bytes,
            sector,
            sectors: (bytes.len() - sector).div_ceil(sector),
        })
    }

    /// Sector `id` as far as the file holds it: the last may be cut short,
    /// and calamine reads what there is of it.
    fn sector(&self, id: u32) -> Option<&'a [u8]> {
        let id = id as usize;
        if id >= self.sectors {
            return None;
        }
        let start = (id + 1) * self.sector;
        self.bytes
            .get(start..(start + self.sector).min(self.bytes.len()))
    }

    /// A sector read as a table of ids: calamine fails on a cut one.
    fn table(&self, id: u32) -> Option<&'a [u8]> {
        self.sector(id).filter(|s| s.len() == self.sector)
    }

    /// The FAT as calamine assembles it: the header's 109 DIFAT entries and
    /// the DIFAT sectors' (each one's last entry chains to the next), every
    /// entry that can be a sector id read as a FAT sector.
    fn fat(&self) -> Outcome<Vec<u32>> {
        let mut difat: Vec<u32> = ids(self.bytes.get(76..512).unwrap_or_default()).collect();
        let mut seen = vec![false; self.sectors];
        let mut id = le(self.bytes, 68, 4) as u32;
        while id < DIFAT_END {
            let Some(sector) = self.table(id) else {
                return damaged(format!("the DIFAT runs to sector {id}, outside the file"));
            };
            if std::mem::replace(&mut seen[id as usize], true) {
                return damaged(format!("the DIFAT comes back to sector {id}"));
            }
            difat.extend(ids(sector));
            id = difat.pop().unwrap_or(END_OF_CHAIN);
        }
        // Each FAT sector once: one named over and over would have calamine
        // hold the same sector as often, 127 times the file's size.
        let mut seen = vec![false; self.sectors];
        let mut fat = Vec::new();
        for id in difat.into_iter().filter(|&id| id < NOT_A_FAT_SECTOR) {
            let Some(sector) = self.table(id) else {
                return damaged(format!("FAT sector {id} is outside the file"));
            };
            if std::mem::replace(&mut seen[id as usize], true) {
                return damaged(format!("sector {id} is named twice as a FAT sector"));
            }
            fat.extend(ids(sector));
        }
        Ok(fat)
    }

    /// [`walk`] through the FAT.
    fn walk(&self, start: u32, fat: &[u32], len: Option<u64>, what: &str) -> Outcome<Vec<u32>> {
        let size = |id: u32| self.sector(id).map_or(0, <[u8]>::len);
        walk(start, fat, len, self.sectors, size, what)
    }

    /// The bytes of a chain, up to `len`.
    fn gather(&self, chain: &[u32], len: u64) -> Vec<u8> {
        let mut bytes: Vec<u8> = chain
            .iter()
            .filter_map(|&id| self.sector(id))
            .flatten()
            .copied()
            .collect();
        bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        bytes
    }
}

/// Follows a chain from `start` through `next`, as calamine does: to its
/// end, or (given a stream's `len`) until it holds `len` bytes. Each of the
/// `count` sectors (`size` bytes each) may be visited once; a chain that
/// ends before its stream does is damaged too. Returns the sectors in order.
fn walk(
    start: u32,
    next: &[u32],
    len: Option<u64>,
    count: usize,
    size: impl Fn(u32) -> usize,
    what: &str,
) -> Outcome<Vec<u32>> {
    let mut seen = vec![false; count];
    let mut chain = Vec::new();
    let mut held = 0u64;
    let mut id = start;
    loop {
        if id == END_OF_CHAIN {
            return match len {
                Some(len) if held < len => {
                    damaged(format!("{what} ends after {held} of its {len} bytes"))
                }
                _ => Ok(chain),
            };
        }
        let Some(visited) = seen.get_mut(id as usize) else {
            return damaged(format!("{what} runs to sector {id}, outside the file"));
        };
        if std::mem::replace(visited, true) {
            return damaged(format!("{what} comes back to sector {id}"));
        }
        chain.push(id);
        held += size(id) as u64;
        if len.is_some_and(|len| held >= len) {
            return Ok(chain);
        }
        let Some(&following) = next.get(id as usize) else {
            return damaged(format!("{what} runs past the end of its allocation table"));
        };
        id = following;
    }
}

struct Entry {
    name: String,
    start: u32,
    len: u64,
}

impl Entry {
    fn read(bytes: &[u8], sector: usize) -> Entry {
        // Decoded as calamine decodes it: a byte order mark switches the
        // encoding, so "Workbook" has more than one spelling.
        let raw = bytes.get(..64).unwrap_or_default();
        let mut name = encoding_rs::UTF_16LE.decode(raw).0.into_owned();
        if let Some(end) = name.find('\0') {
            name.truncate(end);
        }
        Entry {
            name,
            start: le(bytes, 116, 4) as u32,
            len: le(bytes, 120, if sector == 512 { 4 } else { 8 }),
        }
    }
}

/// The workbook stream as calamine will read it, after every chain it
/// follows on the way has been walked; `None` where calamine will find no
/// workbook (and say so itself).
fn workbook_stream(bytes: &[u8]) -> Outcome<Option<Vec<u8>>> {
    let file = Compound::open(bytes)?;
    let fat = file.fat()?;
    let directory = file.walk(le(bytes, 48, 4) as u32, &fat, None, "the directory")?;
    let directory = file.gather(&directory, u64::MAX);
    let entries: Vec<Entry> = directory
        .chunks_exact(DIRECTORY_ENTRY)
        .map(|e| Entry::read(e, file.sector))
        .collect();
    let Some(root) = entries.first() else {
        return Ok(None);
    };
    let mini_fat_sectors = le(bytes, 64, 4);
    let (mini, mini_fat) = if mini_fat_sectors > 0 {
        let chain = file.walk(root.start, &fat, Some(root.len), "the mini stream")?;
        let mini = file.gather(&chain, root.len);
        let len = mini_fat_sectors * file.sector as u64;
        let start = le(bytes, 60, 4) as u32;
        let chain = file.walk(start, &fat, Some(len), "the mini stream's FAT")?;
        let mini_fat: Vec<u32> = ids(&file.gather(&chain, len)).collect();
        (mini, mini_fat)
    } else {
        (Vec::new(), Vec::new())
    };
    // The first entry of either name, wherever it is in the directory.
    let Some(book) = ["Workbook", "Book"]
        .iter()
        .find_map(|name| entries.iter().find(|e| e.name.eq_ignore_ascii_case(name)))
    else {
        return Ok(None);
    };
    let what = "the workbook stream";
    let stream = if book.len < MINI_CUTOFF {
        let count = mini.len() / MINI_SECTOR;
        let chain = walk(
            book.start,
            &mini_fat,
            Some(book.len),
            count,
            |_| MINI_SECTOR,
            what,
        )?;
        let mut stream: Vec<u8> = chain
            .iter()
            .filter_map(|&id| {
                let start = id as usize * MINI_SECTOR;
                mini.get(start..start + MINI_SECTOR)
            })
            .flatten()
            .copied()
            .collect();
        stream.truncate(book.len as usize);
        stream
    } else {
        let chain = file.walk(book.start, &fat, Some(book.len), what)?;
        file.gather(&chain, book.len)
    };
    Ok(Some(stream))
}

/// A BIFF record: its type and data (the CONTINUE records after it, which
/// calamine joins to it, left out).
struct Record<'a> {
    typ: u16,
    data: &'a [u8],
}

/// Records as calamine's `RecordIter` splits them; stops where it fails.
fn records(mut stream: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        let typ = le(stream, 0, 2) as u16;
        let len = le(stream, 2, 2) as usize;
        let data = stream.get(4..4 + len)?;
        stream = &stream[4 + len..];
        while stream.len() > 4 && le(stream, 0, 2) == 0x003C {
            let len = le(stream, 2, 2) as usize;
            stream = stream.get(4 + len..)?;
        }
        Some(Record { typ, data })
    })
}

/// The rectangle between a sheet's first and last cells.
#[derive(Default)]
struct Extent(Option<(u32, u32, u32, u32)>);

impl Extent {
    fn add(&mut self, row: u64, column: u64) {
        let (r, c) = (row as u32, column as u32);
        self.0 = Some(match self.0 {
            None => (r, r, c, c),
            Some((r0, r1, c0, c1)) => (r0.min(r), r1.max(r), c0.min(c), c1.max(c)),
        });
    }

    fn cells(&self) -> u64 {
        self.0.map_or(0, |(r0, r1, c0, c1)| {
            (u64::from(r1) - u64::from(r0) + 1) * (u64::from(c1) - u64::from(c0) + 1)
        })
    }
}

/// Refuses a workbook whose sheets calamine would hold as more than
/// [`MAX_CELLS`] cells. Every record calamine takes a cell from counts, even
/// one it would then turn down: the rectangle can only come out larger.
fn sheets_fit(stream: &[u8]) -> Outcome<()> {
    let mut sheets = Vec::new();
    for record in records(stream) {
        match record.typ {
            // Encrypted: calamine says so before it reads any sheet.
            0x002F if le(record.data, 0, 2) != 0 => return Ok(()),
            // BoundSheet8: where a sheet's records start.
            0x0085 => sheets.push(le(record.data, 0, 4) as usize),
            0x000A => break,
            _ => {}
        }
    }
    let mut total = 0u64;
    for start in sheets {
        let Some(sheet) = stream.get(start..) else {
            continue;
        };
        total = total.saturating_add(sheet_cells(sheet));
        if total > MAX_CELLS {
            return Err(Problem::OverLimit(format!(
                "sheets spanning more than {MAX_CELLS} cells"
            )));
        }
    }
    Ok(())
}

/// The cells calamine reserves and holds for one sheet.
fn sheet_cells(sheet: &[u8]) -> u64 {
    let mut values = Extent::default();
    let mut formulas = Extent::default();
    let mut reserved = 0u64;
    let mut formula_at = (0, 0);
    let mut seen_start = false;
    let mut nested = 0usize;
    for Record { typ, data } in records(sheet) {
        // An embedded chart's records are its own, not the sheet's.
        if nested > 0 {
            match typ {
                0x0809 => nested += 1,
                0x000A => nested -= 1,
                _ => {}
            }
            continue;
        }
        let at = (le(data, 0, 2), le(data, 2, 2));
        match typ {
            0x0809 if seen_start => nested += 1,
            0x0809 => seen_start = true,
            0x0200 => reserved = reserved.max(dimensions(data)),
            // Number, Label, RString, BoolErr, RK, LabelSst.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD if data.len() >= 4 => {
                values.add(at.0, at.1);
            }
            // A formula's string value, at the formula's cell.
            0x0207 => values.add(formula_at.0, formula_at.1),
            // MulRk: a row's run of cells.
            0x00BD if data.len() >= 6 => {
                values.add(at.0, at.1);
                values.add(at.0, le(data, data.len() - 2, 2));
            }
            0x0006 if data.len() >= 4 => {
                formula_at = at;
                values.add(at.0, at.1);
                formulas.add(at.0, at.1);
            }
            0x000A => break,
            _ => {}
        }
    }
    reserved
        .saturating_add(values.cells())
        .saturating_add(formulas.cells())
}

/// What a Dimensions record has calamine reserve, computed as it computes
/// it (wrapping where it wraps).
fn dimensions(data: &[u8]) -> u64 {
    let (first_row, last_row, mut first_column, last_column) = match data.len() {
        10 => (
            le(data, 0, 2) as u32,
            le(data, 2, 2) as u32,
            le(data, 4, 2) as u32,
            le(data, 6, 2) as u32,
        ),
        14 | 16 => (
            le(data, 0, 4) as u32,
            le(data, 4, 4) as u32,
            le(data, 8, 2) as u32,
            le(data, 10, 2) as u32,
        ),
        _ => return 0,
    };
    if first_column > 0xFF || last_column < first_column {
        first_column = 0;
    }
    if last_row == 0 || last_column == 0 {
        return 1;
    }
    let rows = (last_row - 1).wrapping_sub(first_row).wrapping_add(1);
    let columns = (last_column - 1).wrapping_sub(first_column).wrapping_add(1);
    u64::from(rows) * u64::from(columns)
}

#[cfg(test)]
mod tests;
