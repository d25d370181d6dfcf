//! k-quant prefill products on AMX (Sapphire Rapids and later): the tile
//! unit multiplies 16 weight rows by 16 inputs over a whole sub-block in one
//! instruction (`tdpbusd`, unsigned weights times the signed 8-bit input into
//! i32), where the AVX-512 kernels need two instructions per 64 products.
//! A sub-block's scale differs per row, so each sub-block's 16x16 sums are
//! stored and scaled with AVX-512 into float sums held in registers; the
//! minimums (Q4_K, Q5_K) and Q6_K's offset of 32 come out of the input's
//! block sums, as in `avx512`.
//!
//! The weights of a task's rows are unpacked once to one byte each, in the
//! tile layout (`bands`, `Layout::Rows`); the input is packed once per
//! product (`Packed`) in the layout the second operand wants: per 4
//! consecutive values, the 4 bytes of each of 16 inputs side by side.

use std::arch::asm;
use std::arch::x86_64::*;

use super::bands::{self, Columns, Layout, Source, Unpacked, TILE};
use super::input::KInput;
use super::kquants::QK;

/// Bytes of one packed superblock of 16 inputs.
const PACKED_SUPERBLOCK: usize = TILE * QK;

/// Whether the CPU has AMX tiles with int8 products and Linux lets this
/// process use them (the tile data is off until a process asks for it).
pub(super) fn available() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        if __cpuid(0).eax < 7 {
            return false;
        }
        let leaf7 = __cpuid_count(7, 0);
        let (tile, int8) = (leaf7.edx & (1 << 24) != 0, leaf7.edx & (1 << 25) != 0);
        tile && int8 && request_tile_data()
    })
}

/// Asks Linux for the tile data state (`arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA)`); the permission holds for the whole process.
#[cfg(target_os = "linux")]
fn request_tile_data() -> bool {
    const ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
    const XFEATURE_XTILEDATA: u64 = 18;
    let ret: i64;
    // SAFETY: a system call that only changes this process's permissions;
    // it clobbers rcx and r11, as declared.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> bool {
    false
}

/// The Q8_K inputs of a product, 16 to a group (the last padded with zeros),
/// in the layout of the tile unit's second operand.
pub(super) struct Packed {
    /// Real inputs.
    n: usize,
    groups: usize,
    per_row: usize,
    /// `[group][superblock][quad of values 0..64][input 0..16][4 bytes]`.
    q: Vec<i8>,
    /// `[group][superblock][input]`: the inputs' scales.
    d: Vec<f32>,
    /// `[group][superblock][sub-block of 16][input]`: scaled block sums.
    sums16: Vec<f32>,
    /// `[group][superblock][sub-block of 32][input]`.
    sums32: Vec<f32>,
}

impl Packed {
    pub(super) fn new(xs: &[&KInput], per_row: usize) -> Self {
        use rayon::prelude::*;
        for x in xs {
            x.check(per_row);
        }
        let n = xs.len();
        let groups = n.div_ceil(TILE);
        let blocks = groups * per_row;
        let mut packed = Packed {
            n,
            groups,
            per_row,
            q: vec![0; blocks * PACKED_SUPERBLOCK],
            d: vec![0.0; blocks * TILE],
            sums16: vec![0.0; blocks * 16 * TILE],
            sums32: vec![0.0; blocks * 8 * TILE],
        };
        packed
            .q
            .par_chunks_mut(per_row * PACKED_SUPERBLOCK)
            .zip(packed.d.par_chunks_mut(per_row * TILE))
            .zip(packed.sums16.par_chunks_mut(per_row * 16 * TILE))
            .zip(packed.sums32.par_chunks_mut(per_row * 8 * TILE))
            .enumerate()
            .for_each(|(g, (((q, d), sums16), sums32))| {
                let inputs = &xs[g * TILE..n.min((g + 1) * TILE)];
                for (j, x) in inputs.iter().enumerate() {
                    for b in 0..per_row {
                        let values = &x.q[b * QK..(b + 1) * QK];
                        let block = &mut q[b * PACKED_SUPERBLOCK..(b + 1) * PACKED_SUPERBLOCK];
                        for (quad, four) in values.chunks_exact(4).enumerate() {
                            let at = (quad * TILE + j) * 4;
                            block[at..at + 4].copy_from_slice(four);
                        }
                        d[b * TILE + j] = x.d[b];
                        for s in 0..16 {
                            sums16[(b * 16 + s) * TILE + j] = x.sums16[b * 16 + s];
                        }
                        for s in 0..8 {
                            sums32[(b * 8 + s) * TILE + j] = x.sums32[b * 8 + s];
                        }
                    }
                }
            });
        packed
    }
}

/// Tile config (`ldtilecfg`'s 64 bytes): tmm0 and tmm4 the weights (16 rows
/// of a sub-block), tmm1 and tmm5 the input (a sub-block's quads, 64 bytes
/// each), tmm2 and tmm3 the i32 sums: two sub-blocks at a time.
#[repr(C, align(64))]
struct Config([u8; 64]);

impl Config {
    fn new(sub: usize) -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        let mut tile = |t: usize, rows: usize, bytes: usize| {
            c[16 + 2 * t..18 + 2 * t].copy_from_slice(&(bytes as u16).to_le_bytes());
            c[48 + t] = rows as u8;
        };
        for pair in [0, 4] {
            tile(pair, TILE, sub);
            tile(pair + 1, sub / 4, 64);
        }
        tile(2, TILE, 64);
        tile(3, TILE, 64);
        Config(c)
    }
}

/// `out[i][first + r] = w[r] · x[i]` for the rows of `w`.
///
/// # Safety
/// `available()` must have returned true, and the CPU must support AVX-512
/// F, BW, VL, AVX2 and FMA (what `Kernel::Amx` stands for). No other call
/// may write rows `first..first + w.rows()` of `out` at the same time. Lengths
/// are checked here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(super) unsafe fn k_products(w: &Source, x: &Packed, out: &Columns, first: usize) {
    // SAFETY: the caller vouches for the CPU features and for owning these output rows (`#
    // Safety`); the assertions that open this block bound every offset the tiles read and
    // write.
    unsafe {
        w.check();
        assert_eq!(x.per_row, w.per_row(), "input width");
        assert_eq!(
            x.q.len(),
            x.groups * x.per_row * PACKED_SUPERBLOCK,
            "packed input"
        );
        assert_eq!(out.inputs, x.n, "output inputs");
        assert!(first + w.rows() <= out.rows, "output rows");
        let subs = bands::sub_blocks(w.format());
        let bands = w.rows().div_ceil(TILE);
        bands::with_unpacked(|u| {
            bands::unpack(w, Layout::Rows, u);
            let config = Config::new(QK / subs);
            asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
            for g in 0..x.groups {
                for band in 0..bands {
                    band_products(w, x, u, subs, (band, g), (out, first));
                }
            }
            asm!("tilerelease", options(nostack, nomem));
        });
    }
}

/// Rows `16 band..` of `w` times inputs `16 g..`, into rows `first..` of
/// `out`.
///
/// # Safety
/// As `k_products`, which checked the lengths, with the tile config of
/// `w`'s format loaded; `u` holds `w` unpacked.
// The sums of a tile's 16 rows are indexed by row.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn band_products(
    w: &Source,
    x: &Packed,
    u: &Unpacked,
    subs: usize,
    (band, g): (usize, usize),
    (out, first): (&Columns, usize),
) {
    // SAFETY: as `k_products` promised and checked (`# Safety`): tile config loaded, `u` holds
    // `w`, the band's rows and inputs lie inside `u`, `x` and `out`.
    unsafe {
        let per_row = w.per_row();
        let sub = QK / subs;
        let sums = if subs == 16 { &x.sums16 } else { &x.sums32 };
        let mut c = [[0i32; TILE * TILE]; 2];
        let mut acc = [_mm512_setzero_ps(); TILE];
        for b in 0..per_row {
            let block = g * per_row + b;
            let dx = _mm512_loadu_ps(x.d.as_ptr().add(block * TILE));
            let input = x.q.as_ptr().add(block * PACKED_SUPERBLOCK);
            // This superblock's first sub-block in the unpacked weights.
            let base = (band * per_row + b) * subs;
            for s in (0..subs).step_by(2) {
                // Two sub-blocks' products before either's scaling, so that the
                // tile unit works while the vector units scale.
                let weights = u.q.as_ptr().add((base + s) * TILE * sub);
                // Each sub-block has its own tiles: tile registers are not
                // renamed, so sharing them would wait for the first product.
                asm!(
                    "tileloadd tmm0, [{w} + {sub}*1]",
                    "tileloadd tmm1, [{x} + {stride}*1]",
                    "tileloadd tmm4, [{w2} + {sub}*1]",
                    "tileloadd tmm5, [{x2} + {stride}*1]",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    "tdpbusd tmm2, tmm0, tmm1",
                    "tdpbusd tmm3, tmm4, tmm5",
                    "tilestored [{c0} + {stride}*1], tmm2",
                    "tilestored [{c1} + {stride}*1], tmm3",
                    w = in(reg) weights,
                    w2 = in(reg) weights.add(TILE * sub),
                    sub = in(reg) sub,
                    x = in(reg) input.add(s * sub * TILE),
                    x2 = in(reg) input.add((s + 1) * sub * TILE),
                    stride = in(reg) 64usize,
                    c0 = in(reg) c[0].as_mut_ptr(),
                    c1 = in(reg) c[1].as_mut_ptr(),
                    options(nostack),
                );
                for (half, c) in c.iter().enumerate() {
                    let s = s + half;
                    let block_sums = _mm512_loadu_ps(sums.as_ptr().add((block * subs + s) * TILE));
                    let factors = (base + s) * TILE;
                    for m in 0..TILE {
                        let sum =
                            _mm512_cvtepi32_ps(_mm512_loadu_si512(c.as_ptr().add(m * TILE) as _));
                        let scale =
                            _mm512_mul_ps(dx, _mm512_set1_ps(*u.scale.get_unchecked(factors + m)));
                        acc[m] = _mm512_fmadd_ps(sum, scale, acc[m]);
                        let offset = _mm512_set1_ps(*u.offset.get_unchecked(factors + m));
                        acc[m] = _mm512_fnmadd_ps(offset, block_sums, acc[m]);
                    }
                }
            }
        }
        // The sums are [row][input]; the output wants [input][row].
        let mut sums = [[0.0f32; TILE]; TILE];
        for (m, sums) in sums.iter_mut().enumerate() {
            _mm512_storeu_ps(sums.as_mut_ptr(), acc[m]);
        }
        let row = first + band * TILE;
        for j in 0..(x.n - g * TILE).min(TILE) {
            let to = out.ptr.add((g * TILE + j) * out.rows + row);
            for m in 0..TILE.min(w.rows() - band * TILE) {
                *to.add(m) = sums[m][j];
            }
        }
    }
}
