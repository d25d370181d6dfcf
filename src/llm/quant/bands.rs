//! What the 16-row prefill kernels share (AMX tiles, and AVX-512 VNNI
//! where there are no tiles): a task's k-quant rows unpacked once per
//! product to one byte a weight, with per row and sub-block the float
//! factors of the integer sums, and the product's output, which tasks
//! write row by row in the layout the caller wants. Unpacking costs one
//! pass over the task's weights beside a prompt's worth of products with
//! them, and takes the bit-twiddling of the k-quant formats out of the
//! inner loops.

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::marker::PhantomData;

use super::interleaved::{Bands, BAND_QH, BAND_QS};
use super::kquants::{KFormat, KRows, QK, QS, SCALES};

/// Weight rows per band: an AMX tile's rows, an AVX-512 vector's i32 lanes.
pub(super) const TILE: usize = 16;

/// Where a band's weights of one sub-block go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `[row 0..16][weight in sub-block]`: the rows of an AMX tile.
    Rows,
    /// `[quad of weights][row 0..16][4 bytes]`: a 64-byte vector holds the
    /// same 4 consecutive weights of 16 rows, for `dpbusd` against 4 values
    /// of one input broadcast.
    Quads,
}

/// The task's weights, one byte each, and per row and sub-block the float
/// factors of the sums: reused across calls.
#[derive(Default)]
pub(super) struct Unpacked {
    /// `[band][superblock][sub-block]`, each sub-block in the `Layout`
    /// (the buffer may be longer than the rows need).
    pub(super) q: Vec<u8>,
    /// `[band][superblock][sub-block][row]`: the factor of the integer sum.
    pub(super) scale: Vec<f32>,
    /// `[band][superblock][sub-block][row]`: the factor of the input's block
    /// sum that is taken off (the minimum, or 32 times Q6_K's scale).
    pub(super) offset: Vec<f32>,
}

thread_local! {
    static UNPACKED: RefCell<Unpacked> = RefCell::new(Unpacked::default());
}

/// Runs `work` with this thread's buffer for unpacked weights.
pub(super) fn with_unpacked<R>(work: impl FnOnce(&mut Unpacked) -> R) -> R {
    UNPACKED.with(|cell| work(&mut cell.borrow_mut()))
}

/// A product's output, `[input][row]`, shared by tasks that each write
/// their own rows of every input: the layout the caller wants, so that no
/// transposing pass follows (it was a tenth of a prefill).
pub(super) struct Columns<'a> {
    pub(super) ptr: *mut f32,
    pub(super) inputs: usize,
    pub(super) rows: usize,
    _out: PhantomData<&'a mut [f32]>,
}

// SAFETY: tasks write disjoint rows (the contract of the kernels that take it).
unsafe impl Send for Columns<'_> {}
unsafe impl Sync for Columns<'_> {}

impl<'a> Columns<'a> {
    pub(super) fn new(out: &'a mut [f32], inputs: usize, rows: usize) -> Self {
        assert_eq!(out.len(), inputs * rows, "output length");
        Columns {
            ptr: out.as_mut_ptr(),
            inputs,
            rows,
            _out: PhantomData,
        }
    }
}

/// Sub-blocks per superblock: 16 of 16 weights (Q6_K) or 8 of 32.
pub(super) fn sub_blocks(format: KFormat) -> usize {
    if format == KFormat::Q6K {
        16
    } else {
        8
    }
}

/// The rows a 16-row kernel takes: in the row layout, or interleaved (Q4_K
/// and Q6_K on CPUs with AVX-512 VNNI).
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    Rows(KRows<'a>),
    Interleaved(Bands<'a>),
}

impl Source<'_> {
    pub(super) fn rows(&self) -> usize {
        match self {
            Source::Rows(w) => w.rows,
            Source::Interleaved(w) => w.rows(),
        }
    }

    pub(super) fn per_row(&self) -> usize {
        match self {
            Source::Rows(w) => w.per_row,
            Source::Interleaved(w) => w.per_row,
        }
    }

    pub(super) fn format(&self) -> KFormat {
        match self {
            Source::Rows(w) => w.format,
            Source::Interleaved(w) => w.format,
        }
    }

    /// Panics unless the arrays hold the rows (see `KRows::check`).
    pub(super) fn check(&self) {
        match self {
            Source::Rows(w) => w.check(),
            Source::Interleaved(w) => w.check(),
        }
    }
}

/// Unpacks every row of `w` into `u`; the rows that pad the last band get
/// factors of zero.
///
/// # Safety
/// The CPU must support AVX2 (and AVX-512 F and BW for interleaved rows);
/// `w` must pass `check`.
pub(super) unsafe fn unpack(w: &Source, layout: Layout, u: &mut Unpacked) {
    let (subs, sub) = (sub_blocks(w.format()), QK / sub_blocks(w.format()));
    let bands = w.rows().div_ceil(TILE);
    let factors = bands * w.per_row() * subs * TILE;
    // Every real row's bytes and factors are written below; the rows
    // that pad the last band keep whatever weights the buffer held (no
    // pass to zero them all) and get factors of zero, so that their
    // sums, which no kernel stores, stay finite.
    if u.q.len() < factors * sub {
        u.q.resize(factors * sub, 0);
    }
    u.scale.resize(factors, 0.0);
    u.offset.resize(factors, 0.0);
    // SAFETY: the CPU features and `check` are the caller's promise (`# Safety`).
    unsafe {
        match w {
            Source::Rows(w) => unpack_rows(w, layout, u),
            Source::Interleaved(w) => unpack_interleaved(w, layout, u),
        }
    }
}

/// `unpack` of rows in the row layout, into a buffer of the right size.
///
/// # Safety
/// As `unpack`.
#[target_feature(enable = "avx2")]
unsafe fn unpack_rows(w: &KRows, layout: Layout, u: &mut Unpacked) {
    // SAFETY: the CPU has AVX2 and `w` passed `check` (`# Safety`), so each superblock read is
    // inside `w`'s arrays and each write inside `u`, which `unpack` sized for `w`.
    unsafe {
        let subs = sub_blocks(w.format);
        let bands = w.rows.div_ceil(TILE);
        let per_row = w.per_row;
        let sub = QK / subs;
        let last_band = bands.saturating_sub(1);
        for sub_block in last_band * per_row * subs..bands * per_row * subs {
            for m in w.rows - last_band * TILE..TILE {
                u.scale[sub_block * TILE + m] = 0.0;
                u.offset[sub_block * TILE + m] = 0.0;
            }
        }
        let low4 = _mm256_set1_epi8(0x0F);
        for r in 0..w.rows {
            let (band, m) = (r / TILE, r % TILE);
            for b in 0..per_row {
                let s = r * per_row + b;
                let first = (band * per_row + b) * subs;
                let scales = &w.scales[s * SCALES..(s + 1) * SCALES];
                let d = w.d[s];
                for j in 0..subs {
                    let at = (first + j) * TILE + m;
                    if w.format == KFormat::Q6K {
                        let sc = f32::from(scales[j] as i8);
                        u.scale[at] = d * sc;
                        u.offset[at] = 32.0 * d * sc;
                    } else {
                        u.scale[at] = d * f32::from(scales[j]);
                        u.offset[at] = w.dmin[s] * f32::from(scales[8 + j]);
                    }
                }
                let qs = w.qs.as_ptr().add(s * QS);
                // Weights 32j..32j + 32 of the superblock, one per byte.
                for j in 0..8 {
                    let v = match w.format {
                        KFormat::Q4K | KFormat::Q5K => {
                            let q = _mm256_loadu_si256(qs.add(32 * (j / 2)) as *const __m256i);
                            let shift = _mm_cvtsi32_si128(4 * (j % 2) as i32);
                            let v = _mm256_and_si256(_mm256_srl_epi16(q, shift), low4);
                            if w.format == KFormat::Q5K {
                                let qh =
                                    _mm256_loadu_si256(w.qh.as_ptr().add(s * 32) as *const __m256i);
                                let bit = _mm256_set1_epi8((1u8 << j) as i8);
                                let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
                                _mm256_or_si256(v, _mm256_and_si256(set, _mm256_set1_epi8(16)))
                            } else {
                                v
                            }
                        }
                        KFormat::Q6K => {
                            // Weights 128h + 32p + l: ql[64h + 32(p % 2) + l]'s
                            // nibble p / 2 and qh[32h + l]'s bit pair p.
                            let (half, part) = (j / 4, j % 4);
                            let ql = _mm256_loadu_si256(
                                qs.add(64 * half + 32 * (part % 2)) as *const __m256i
                            );
                            let shift = _mm_cvtsi32_si128(4 * (part / 2) as i32);
                            let low = _mm256_and_si256(_mm256_srl_epi16(ql, shift), low4);
                            let qh = _mm256_loadu_si256(
                                w.qh.as_ptr().add(s * 64 + 32 * half) as *const __m256i
                            );
                            let shift = _mm_cvtsi32_si128(2 * part as i32);
                            let high =
                                _mm256_and_si256(_mm256_srl_epi16(qh, shift), _mm256_set1_epi8(3));
                            _mm256_or_si256(low, _mm256_slli_epi16::<4>(high))
                        }
                    };
                    // 32 weights: one sub-block of 32, or two of 16.
                    let per = 32 / sub;
                    match layout {
                        Layout::Rows => {
                            let dst = u.q.as_mut_ptr().add(((first + j * per) * TILE + m) * sub);
                            if sub == 32 {
                                _mm256_storeu_si256(dst as *mut __m256i, v);
                            } else {
                                _mm_storeu_si128(dst as *mut __m128i, _mm256_castsi256_si128(v));
                                let second = dst.add(TILE * sub);
                                _mm_storeu_si128(
                                    second as *mut __m128i,
                                    _mm256_extracti128_si256::<1>(v),
                                );
                            }
                        }
                        Layout::Quads => {
                            // Quad t of these 32 weights is quad t % (sub / 4)
                            // of sub-block t / (sub / 4), this row's 4 bytes
                            // among the 16 rows'.
                            let mut weights = [0u32; 8];
                            _mm256_storeu_si256(weights.as_mut_ptr() as *mut __m256i, v);
                            let dst =
                                u.q.as_mut_ptr().add((first + j * per) * TILE * sub) as *mut u32;
                            for (t, &quad) in weights.iter().enumerate() {
                                dst.add(t * TILE + m).write_unaligned(quad);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `unpack` of interleaved rows (whole bands, so no padding rows): an
/// octet's low nibbles are the weights of one quad, its high nibbles the
/// next quad's; Q6_K's top bits join them from their own bytes.
///
/// # Safety
/// As `unpack`.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn unpack_interleaved(w: &Bands, layout: Layout, u: &mut Unpacked) {
    // SAFETY: the CPU features and `check` (`# Safety`) bound every read of `w`; `unpack` sized
    // `u` for the sub-blocks of every band and superblock.
    unsafe {
        let q6k = w.format == KFormat::Q6K;
        let (subs, sub) = (sub_blocks(w.format), QK / sub_blocks(w.format));
        let low4 = _mm512_set1_epi8(0x0F);
        for s in 0..w.bands * w.per_row {
            let d = _mm512_loadu_ps(w.d.as_ptr().add(s * TILE));
            for j in 0..subs {
                let at = (s * subs + j) * TILE;
                let scales = _mm_loadu_si128(w.scales.as_ptr().add(at) as *const __m128i);
                if q6k {
                    let scale = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(scales)));
                    _mm512_storeu_ps(u.scale.as_mut_ptr().add(at), scale);
                    let offset = _mm512_mul_ps(_mm512_set1_ps(32.0), scale);
                    _mm512_storeu_ps(u.offset.as_mut_ptr().add(at), offset);
                } else {
                    let mut mins = [0u8; TILE];
                    for (m, min) in mins.iter_mut().enumerate() {
                        *min = w.scale_min(s, m, j).1;
                    }
                    let mins = _mm_loadu_si128(mins.as_ptr() as *const __m128i);
                    let dmin = _mm512_loadu_ps(w.dmin.as_ptr().add(s * TILE));
                    let scale = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(scales));
                    let offset = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mins));
                    _mm512_storeu_ps(u.scale.as_mut_ptr().add(at), _mm512_mul_ps(d, scale));
                    _mm512_storeu_ps(u.offset.as_mut_ptr().add(at), _mm512_mul_ps(dmin, offset));
                }
                // The sub-block's quads, 16 rows of 4 weights each.
                let mut quads = [_mm512_setzero_si512(); 8];
                let octets = sub / 8;
                for o in 0..octets {
                    let from = w.qs.as_ptr().add(s * BAND_QS + (j * octets + o) * 64);
                    let v = _mm512_loadu_si512(from as *const _);
                    quads[2 * o] = _mm512_and_si512(v, low4);
                    quads[2 * o + 1] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low4);
                }
                if q6k {
                    let top =
                        _mm512_loadu_si512(w.qh.as_ptr().add(s * BAND_QH + j * 64) as *const _);
                    for (k, quad) in quads.iter_mut().take(4).enumerate() {
                        let bits = _mm512_srl_epi16(top, _mm_cvtsi32_si128(2 * k as i32));
                        let bits = _mm512_and_si512(bits, _mm512_set1_epi8(3));
                        *quad = _mm512_or_si512(*quad, _mm512_slli_epi16::<4>(bits));
                    }
                }
                let dst = u.q.as_mut_ptr().add(at * sub);
                for (k, quad) in quads.iter().take(sub / 4).enumerate() {
                    match layout {
                        Layout::Quads => _mm512_storeu_si512(dst.add(64 * k) as *mut _, *quad),
                        Layout::Rows => {
                            let mut bytes = [0u8; 64];
                            _mm512_storeu_si512(bytes.as_mut_ptr() as *mut _, *quad);
                            for m in 0..TILE {
                                let to = dst.add(m * sub + 4 * k);
                                std::ptr::copy_nonoverlapping(bytes.as_ptr().add(4 * m), to, 4);
                            }
                        }
                    }
                }
            }
        }
    }
}
