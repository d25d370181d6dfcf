//! The fuzz loop: proptest generates and shrinks inputs (stable Rust, no
//! sanitizers), this module bounds the run in time, keeps failing inputs as
//! fixtures and catches what proptest cannot: a hang or a process abort.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestError, TestRunner};
use sha2::{Digest, Sha256};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz");

/// Seconds per target: long runs come from `scripts/fuzz`; plain `cargo test`
/// still puts a few hundred inputs through each target.
fn budget() -> Duration {
    let seconds = std::env::var("RAG_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(seconds.max(0.0))
}

/// One input running longer than this is a hang: the parsers here should take
/// milliseconds on inputs of a few kilobytes.
fn hang_limit() -> Duration {
    let seconds = std::env::var("RAG_FUZZ_HANG_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(30);
    Duration::from_secs(seconds)
}

/// A cap on the address space, so an unbounded allocation aborts here (and is
/// reported with its input) instead of swapping the machine to a halt.
fn limit_memory() {
    let gib = std::env::var("RAG_FUZZ_MEMORY_GIB")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(8);
    // Where the limit cannot be set the fuzzing still runs, just unbounded.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, gib << 30, gib << 30);
}

thread_local! {
    /// Set while fuzzing: the many expected panics (caught ones included)
    /// would otherwise flood the output; the last one is kept for the report.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                default(info);
            }
        }));
    });
}

/// What the watchdog needs to report a hang: when the current input started
/// (milliseconds since `epoch`, 0 = idle) and the input itself.
struct Current {
    epoch: Instant,
    started_ms: AtomicU64,
    input: Mutex<Vec<u8>>,
    done: AtomicBool,
}

fn watchdog(target: &'static str, current: Arc<Current>) {
    let limit = hang_limit();
    std::thread::spawn(move || {
        while !current.done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(500));
            let started = current.started_ms.load(Ordering::Relaxed);
            let now = current.epoch.elapsed().as_millis() as u64;
            if started != 0 && now.saturating_sub(started) > limit.as_millis() as u64 {
                let input = current.input.lock().map(|i| i.clone()).unwrap_or_default();
                let path = save(target, "hang", &input);
                eprintln!(
                    "fuzz {target}: HANG: one input ran over {}s; saved to {}",
                    limit.as_secs(),
                    path.display()
                );
                // The stuck thread cannot be stopped; the process has to go.
                std::process::exit(101);
            }
        }
    });
}

/// A folder for files written once per input: tmpfs where there is one, as
/// rewriting a file on a disk file system can wait on the disk every time.
pub fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Where the input in progress is written before it runs: if the process
/// aborts (out of memory, stack overflow), `scripts/fuzz` keeps this file.
/// `RAG_FUZZ_TRACE_DIR` chooses the folder.
pub fn current_input_path(target: &str) -> PathBuf {
    let dir = std::env::var_os("RAG_FUZZ_TRACE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch_root().join("rag-fuzz"));
    // Tests may unwrap: without the trace an abort could not be reproduced.
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{target}.bin"))
}

/// Saves a failing input as a regression fixture; returns its path.
pub fn save(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(FIXTURES).join(target);
    let hash = Sha256::digest(input);
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{kind}-{hex}.bin"));
    // Tests may unwrap: a fixture that cannot be written must fail loudly.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&path, input).unwrap();
    path
}

/// Runs `run` on inputs from `strategy` until the time budget is spent.
/// Returns how many inputs it tried; panics (failing the test) on the first
/// input that panics, after saving the shrunk input as a fixture.
/// `run` returns whether the input was accepted (parsed without error), for
/// the report: a target that accepts nothing is fuzzing only its first check.
pub fn fuzz<S>(target: &'static str, strategy: S, run: fn(&[u8]) -> bool) -> u64
where
    S: Strategy<Value = Vec<u8>>,
{
    install_panic_hook();
    limit_memory();
    let budget = budget();
    let start = Instant::now();
    let tried = AtomicU64::new(0);
    let accepted = AtomicU64::new(0);
    let current = Arc::new(Current {
        epoch: start - Duration::from_millis(1),
        started_ms: AtomicU64::new(0),
        input: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
    });
    watchdog(target, current.clone());
    let trace = current_input_path(target);
    let seed: u64 = std::env::var("RAG_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    eprintln!("fuzz {target}: seed {seed} (RAG_FUZZ_SEED={seed} repeats this run)");
    let config = Config {
        cases: 256,
        failure_persistence: None,
        // Shrinking replays the input many times; a slow target must not
        // spend the whole run there.
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut master = TestRunner::new_with_rng(
        config.clone(),
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[seed.to_le_bytes(), seed.to_be_bytes(), [7; 8], [9; 8]].concat(),
        ),
    );
    let mut failure = None;
    QUIET.with(|q| q.set(true));
    while start.elapsed() < budget && failure.is_none() {
        let mut runner = TestRunner::new_with_rng(config.clone(), master.new_rng());
        let result = runner.run(&strategy, |input| {
            // Past the budget the rest of the round is skipped, not run.
            if start.elapsed() >= budget {
                return Ok(());
            }
            // The trace file costs a syscall or two per input; it is the only
            // way to know the input that killed the process.
            let _ = std::fs::write(&trace, &input);
            if let Ok(mut slot) = current.input.lock() {
                slot.clear();
                slot.extend_from_slice(&input);
            }
            current.started_ms.store(
                current.epoch.elapsed().as_millis() as u64,
                Ordering::Relaxed,
            );
            let ok = run(&input);
            current.started_ms.store(0, Ordering::Relaxed);
            tried.fetch_add(1, Ordering::Relaxed);
            accepted.fetch_add(ok as u64, Ordering::Relaxed);
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => failure = Some((reason, input)),
            Err(TestError::Abort(reason)) => panic!("fuzz {target}: proptest aborted: {reason}"),
        }
    }
    current.started_ms.store(0, Ordering::Relaxed);
    current.done.store(true, Ordering::Relaxed);
    QUIET.with(|q| q.set(false));
    let tried = tried.load(Ordering::Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    eprintln!("fuzz {target}: tried {tried} inputs in {seconds:.0}s ({accepted} accepted)");
    if let Some((reason, input)) = failure {
        let path = save(target, "crash", &input);
        let last = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_default();
        // Once more with the default hook: it prints where it panicked
        // (and the backtrace, with RUST_BACKTRACE=1).
        let _ = std::panic::catch_unwind(|| run(&input));
        eprintln!(
            "fuzz {target}: CRASH: {reason}\n  last panic: {last}\n  input ({} bytes) saved to {}\n  input: {:?}",
            input.len(),
            path.display(),
            String::from_utf8_lossy(&input[..input.len().min(2000)])
        );
        panic!("fuzz {target}: an input panicked; see {}", path.display());
    }
    tried
}

/// Replays every saved input of `target`; returns how many there were.
pub fn replay(target: &str, run: fn(&[u8]) -> bool) -> usize {
    let dir = Path::new(FIXTURES).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    paths.sort();
    let current = Arc::new(Current {
        epoch: Instant::now() - Duration::from_millis(1),
        started_ms: AtomicU64::new(0),
        input: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
    });
    // A hang fixture that hangs again must end the test, not the CI job's patience.
    let name: &'static str = Box::leak(target.to_string().into_boxed_str());
    watchdog(name, current.clone());
    for path in &paths {
        let input = std::fs::read(path).unwrap();
        eprintln!("replay {target}: {}", path.display());
        *current.input.lock().unwrap() = input.clone();
        current.started_ms.store(
            current.epoch.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
        run(&input);
    }
    current.done.store(true, Ordering::Relaxed);
    paths.len()
}

/// Inputs: random bytes, and (mostly) seed documents with a few mutations, so
/// that the fuzzer gets past each format's first checks.
pub fn inputs(
    seeds: Vec<Vec<u8>>,
    dictionary: &'static [&'static [u8]],
    max_random: usize,
) -> impl Strategy<Value = Vec<u8>> {
    let seeds = Arc::new(seeds);
    let count = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..max_random),
        4 => (0..count, proptest::collection::vec(mutation(), 1..8))
            .prop_map(move |(seed, ops)| {
                let mut bytes = seeds[seed].clone();
                for op in &ops {
                    op.apply(&mut bytes, dictionary);
                }
                bytes
            }),
    ]
}

/// Integers that tend to break length and offset arithmetic.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 30,
    (1 << 30) + 1,
    1 << 40,
    1 << 60,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

#[derive(Debug, Clone)]
enum Mutation {
    SetByte(Index, u8),
    FlipBit(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    /// Copies a slice of the input to another place (repeats structure).
    Duplicate(Index, Index, usize),
    Token(Index, Index),
    /// Overwrites 1, 2, 4 or 8 bytes with a little-endian interesting integer.
    Integer(Index, Index, u8),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = proptest::collection::vec(any::<u8>(), 1..16);
    prop_oneof![
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (any::<Index>(), bytes).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), any::<Index>(), 1usize..256)
            .prop_map(|(a, b, n)| Mutation::Duplicate(a, b, n)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Token(i, t)),
        2 => (any::<Index>(), any::<Index>(), 0u8..4)
            .prop_map(|(i, v, w)| Mutation::Integer(i, v, w)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

impl Mutation {
    /// `dictionary`: the format's keywords, for `Token` to insert.
    fn apply(&self, bytes: &mut Vec<u8>, dictionary: &[&[u8]]) {
        // Positions index one past the end too, so inserts can append.
        let at = |i: &Index, bytes: &Vec<u8>| i.index(bytes.len() + 1);
        match self {
            Mutation::SetByte(i, b) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            Mutation::Insert(i, new) => {
                let i = at(i, bytes);
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(i, bytes);
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Duplicate(from, to, n) if !bytes.is_empty() => {
                let from = from.index(bytes.len());
                let end = (from + n).min(bytes.len());
                let copy = bytes[from..end].to_vec();
                let to = at(to, bytes);
                bytes.splice(to..to, copy);
            }
            Mutation::Token(i, t) if !dictionary.is_empty() => {
                let token = dictionary[t.index(dictionary.len())];
                let i = at(i, bytes);
                bytes.splice(i..i, token.iter().copied());
            }
            Mutation::Integer(i, v, width) if !bytes.is_empty() => {
                let value = INTERESTING[v.index(INTERESTING.len())].to_le_bytes();
                let width = 1usize << width;
                let i = i.index(bytes.len());
                let end = (i + width).min(bytes.len());
                bytes[i..end].copy_from_slice(&value[..end - i]);
            }
            Mutation::Truncate(i) => {
                let i = at(i, bytes);
                bytes.truncate(i);
            }
            _ => {}
        }
    }
}
