use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{check, sheet_cells, workbook_stream, MAX_CELLS};
use crate::extract::SkipReason;
use crate::formats::{read, Format, Limits, Problem};

/// Counts what each thread allocates while it is measured (every
/// allocation and growth, never less than the peak), and refuses past
/// the 1 GiB a document may use in rag's reader process: a check that
/// failed to stop a loop aborts the test binary instead of swapping the
/// machine to a halt.
struct Counting;

thread_local! {
    static MEASURED: Cell<Option<u64>> = const { Cell::new(None) };
}

const CAP: u64 = 1 << 30;

fn count(size: usize) -> bool {
    MEASURED
        .try_with(|m| match m.get() {
            Some(n) => {
                let n = n + size as u64;
                m.set(Some(n));
                n <= CAP
            }
            None => true,
        })
        .unwrap_or(true)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !count(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !count(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !count(new_size) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What reading `bytes` as a spreadsheet gives, the bytes it allocated
/// and how long it took.
fn measured_read(bytes: &[u8]) -> (Result<crate::formats::Read, SkipReason>, u64, Duration) {
    let start = Instant::now();
    MEASURED.with(|m| m.set(Some(0)));
    let read = read(Format::Spreadsheet, bytes, &Limits::default());
    let allocated = MEASURED.with(|m| m.take()).unwrap_or(0);
    (read, allocated, start.elapsed())
}

/// LibreOffice's .xls: a 512-byte-sector compound file whose FAT is
/// sector 0, directory sector 10, mini stream sectors 3 to 9 (3200
/// bytes) and workbook stream (2510 bytes) in the mini stream.
fn inventory() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/formats/inventory.xls");
    std::fs::read(path).unwrap()
}

fn set(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

const FAT: usize = 512;
const ROOT_ENTRY: usize = 512 * 11;

#[test]
fn a_real_xls_passes_and_its_workbook_stream_is_found() {
    let bytes = inventory();
    assert!(check(&bytes).is_ok());
    let stream = workbook_stream(&bytes).unwrap().unwrap();
    assert_eq!(stream.len(), 2510);
    // BOF, BIFF8, workbook globals.
    assert_eq!(stream[..6], [0x09, 0x08, 0x10, 0x00, 0x00, 0x06]);
    let (read, _, _) = measured_read(&bytes);
    let text = read.unwrap().text;
    assert!(text.contains("Item: tungsten anvil\n"), "{text}");
}

#[test]
fn a_cyclic_fat_chain_is_a_damaged_file_read_quickly_and_small() {
    // The directory's sector chains to itself: calamine would append
    // its 512 bytes forever.
    let mut bytes = inventory();
    set(&mut bytes, FAT + 4 * 10, 10);
    let (read, allocated, took) = measured_read(&bytes);
    match read {
        Err(SkipReason::Damaged { why, .. }) => {
            assert!(why.contains("comes back to sector 10"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(allocated < 1 << 20, "{allocated} bytes allocated");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_stream_whose_chain_loops_before_its_size_is_damaged() {
    // The mini stream's last sector leads back to its first, and the
    // root entry says it is 1 MB: calamine would copy the loop to 1 MB.
    let mut bytes = inventory();
    set(&mut bytes, FAT + 4 * 9, 3);
    set(&mut bytes, ROOT_ENTRY + 120, 1 << 20);
    match check(&bytes) {
        Err(Problem::Damaged(why)) => assert!(why.contains("mini stream"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stream_shorter_than_its_size_is_damaged() {
    let mut bytes = inventory();
    set(&mut bytes, FAT + 4 * 6, 0xFFFF_FFFE);
    match check(&bytes) {
        Err(Problem::Damaged(why)) => assert!(why.contains("ends after"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_difat_chain_that_loops_is_damaged() {
    let mut bytes = inventory();
    // Sector 1 is free: made a DIFAT sector that names itself next.
    bytes[1024..1536].fill(0xFF);
    set(&mut bytes, 1024 + 508, 1);
    set(&mut bytes, 68, 1);
    match check(&bytes) {
        Err(Problem::Damaged(why)) => assert!(why.contains("DIFAT comes back"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fat_sector_named_twice_or_outside_the_file_is_damaged() {
    let mut bytes = inventory();
    set(&mut bytes, 80, 0);
    assert!(matches!(check(&bytes), Err(Problem::Damaged(_))));
    let mut bytes = inventory();
    set(&mut bytes, 80, 5000);
    assert!(matches!(check(&bytes), Err(Problem::Damaged(_))));
}

#[test]
fn bad_headers_are_damaged() {
    for (at, value) in [(30, 10u32), (32, 7)] {
        let mut bytes = inventory();
        bytes[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes());
        assert!(matches!(check(&bytes), Err(Problem::Damaged(_))), "{at}");
    }
    assert!(matches!(
        check(&inventory()[..300]),
        Err(Problem::Damaged(_))
    ));
}

#[test]
fn a_sheet_whose_dimensions_ask_for_billions_of_cells_is_over_the_limit() {
    let mut bytes = inventory();
    let dimensions = [0x00, 0x02, 0x0E, 0x00];
    let at = bytes
        .windows(4)
        .position(|w| w == dimensions)
        .expect("a Dimensions record");
    // Its last row (one past), 32 bits in BIFF8.
    set(&mut bytes, at + 8, u32::MAX);
    let (read, allocated, _) = measured_read(&bytes);
    assert!(
        matches!(read, Err(SkipReason::OverLimit { .. })),
        "{read:?}"
    );
    assert!(allocated < 1 << 20, "{allocated} bytes allocated");
}

#[test]
fn no_one_word_of_the_tables_set_to_any_extreme_costs_memory() {
    // The header, the FAT and the directory, each 32-bit word in turn.
    let original = inventory();
    let words = (0..512)
        .chain(FAT..FAT + 512)
        .chain(ROOT_ENTRY..ROOT_ENTRY + 512);
    let mut worst = 0;
    for at in words.step_by(4) {
        for value in [0, 1, 10, 0x7FFF_FFFF, 0xFFFF_FFFA, 0xFFFF_FFFE, u32::MAX] {
            let mut bytes = original.clone();
            set(&mut bytes, at, value);
            let (_, allocated, took) = measured_read(&bytes);
            assert!(took < Duration::from_secs(5), "{at}={value:#x}: {took:?}");
            worst = worst.max(allocated);
        }
    }
    assert!(worst < 16 << 20, "{worst} bytes allocated");
}

#[test]
#[ignore = "a long random run: cargo test -p rag-index xls -- --ignored"]
fn random_corruptions_cost_no_memory() {
    let original = inventory();
    // calamine panics on many of these (caught): not worth printing.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut damaged, mut over, mut worst) = (0, 0, 0, 0);
    for _ in 0..200_000 {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            let value = match next() % 4 {
                0 => next() as u32,
                1 => (next() % 64) as u32,
                2 => u32::MAX - (next() % 8) as u32,
                _ => 1 << (next() % 32),
            };
            let end = (at + 4).min(bytes.len());
            bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        let (read, allocated, _) = measured_read(&bytes);
        worst = worst.max(allocated);
        match read {
            Ok(_) => ok += 1,
            Err(SkipReason::Damaged { .. }) => damaged += 1,
            Err(_) => over += 1,
        }
    }
    std::panic::set_hook(hook);
    eprintln!("{ok} read, {damaged} damaged, {over} other; worst {worst} bytes");
    assert!(worst < 512 << 20, "{worst} bytes allocated");
}

#[test]
fn cells_far_apart_count_as_the_grid_between_them() {
    let record = |typ: u16, row: u16, column: u16| {
        let mut r = typ.to_le_bytes().to_vec();
        r.extend(14u16.to_le_bytes());
        r.extend(row.to_le_bytes());
        r.extend(column.to_le_bytes());
        r.extend([0; 10]);
        r
    };
    let mut sheet = Vec::new();
    sheet.extend(record(0x0203, 0, 0));
    sheet.extend(record(0x0203, 65535, 255));
    assert_eq!(sheet_cells(&sheet), 65536 * 256);
    assert!(sheet_cells(&sheet) > MAX_CELLS);
    sheet.extend(record(0x000A, 0, 0)[..4].iter());
    sheet.extend(record(0x0203, 0, 1000));
    assert_eq!(sheet_cells(&sheet), 65536 * 256, "records after EOF");
}
