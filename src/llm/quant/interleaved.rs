//! Q4_K and Q6_K rows interleaved 16 at a time: the layout decode reads on
//! CPUs with AVX-512 VNNI. Per band of 16 rows and superblock, a 64-byte
//! vector holds the same 8 consecutive weights of the 16 rows as nibbles
//! (the first 4 in the low nibbles, the next 4 in the high ones), so that
//! one `dpbusd` multiplies 64 weights by 4 input values broadcast from
//! memory into each row's sum, with no shuffling of weights or scales; Q6_K's
//! top two bits of 16 weights a row lie in one byte beside them, and the
//! rows' sub-block scales (and minimums) 16 rows to a vector. Decode reads
//! every weight once per token, so the instructions it spends per weight,
//! not only the bytes, set its speed: the row layout's kernel spent two to
//! three times as many. The bytes are ggml's, rearranged at load; the
//! prompt kernels unpack them as they unpack rows (`bands`).

use rayon::prelude::*;

use super::kquants::{scale_min, KFormat, QK, QS};

/// Rows per band: an AVX-512 vector's i32 lanes.
pub(super) const BAND: usize = 16;
/// Bytes of low nibbles per band and superblock, in both formats.
pub(super) const BAND_QS: usize = BAND * QS;
/// Bytes of Q6_K's top bits per band and superblock.
pub(super) const BAND_QH: usize = BAND * 64;

/// Superblocks of whole bands of 16 rows, in Q4_K or Q6_K.
///
/// Per band and superblock (`s = band * per_row + b`): `d` (and Q4_K's
/// `dmin`), 16 rows; `scales`, `[sub-block][row]` (Q6_K's as i8); Q4_K's
/// `mins`, `[pair of sub-blocks][row][2]` (a row's two minimums side by side,
/// for `dpwssd` against two block sums); `qs`, `[octet][row][4 bytes]`,
/// octet o the weights `8o..8o + 8`, byte t of a row holding the low four
/// bits of weight `8o + t` in its low nibble and of `8o + 4 + t` in its high
/// one; Q6_K's `qh`, `[pair of octets][row][4 bytes]`, byte t of pair P
/// holding the top two bits of weights `16P + t`, `+ 4`, `+ 8` and `+ 12`,
/// lowest first.
#[derive(Clone)]
pub(super) struct Interleaved {
    pub(super) format: KFormat,
    pub(super) d: Vec<f32>,
    pub(super) dmin: Vec<f32>,
    pub(super) scales: Vec<u8>,
    pub(super) mins: Vec<u8>,
    pub(super) qs: Vec<u8>,
    pub(super) qh: Vec<u8>,
}

/// Whole bands of an `Interleaved`, as the kernels take them.
#[derive(Clone, Copy)]
pub(super) struct Bands<'a> {
    pub(super) format: KFormat,
    pub(super) bands: usize,
    pub(super) per_row: usize,
    pub(super) d: &'a [f32],
    pub(super) dmin: &'a [f32],
    pub(super) scales: &'a [u8],
    pub(super) mins: &'a [u8],
    pub(super) qs: &'a [u8],
    pub(super) qh: &'a [u8],
}

/// Bytes per row and superblock of each array but `qs`: `(dmin, scales,
/// mins, qh)`, in elements.
fn widths(format: KFormat) -> (usize, usize, usize, usize) {
    match format {
        KFormat::Q6K => (0, 16, 0, 64),
        _ => (1, 8, 8, 0),
    }
}

impl Interleaved {
    /// `rows` rows of ggml Q4_K or Q6_K blocks (`per_row` each), rearranged;
    /// None for other formats, or unless the rows fill whole bands and
    /// `data` holds them. Bands are independent: they are filled in
    /// parallel, as loading waits on this.
    pub(super) fn from_ggml(
        format: KFormat,
        data: &[u8],
        rows: usize,
        per_row: usize,
    ) -> Option<Self> {
        let size = format.block_bytes();
        if format == KFormat::Q5K
            || rows == 0
            || !rows.is_multiple_of(BAND)
            || data.len() != rows * per_row * size
        {
            return None;
        }
        let blocks = rows * per_row;
        let (dmin, scales, mins, qh) = widths(format);
        let mut out = Interleaved {
            format,
            d: vec![0.0; blocks],
            dmin: vec![0.0; blocks * dmin],
            scales: vec![0; blocks * scales],
            mins: vec![0; blocks * mins],
            qs: vec![0; blocks * QS],
            qh: vec![0; blocks * qh],
        };
        let band = BAND * per_row;
        // `max(1)`: the chunks of an empty array (the other format's) are
        // never reached, as the zip stops at the shortest.
        let chunks = |width: usize| (band * width).max(1);
        let mut dmin = out.dmin.par_chunks_mut(chunks(dmin)).collect::<Vec<_>>();
        let mut mins = out.mins.par_chunks_mut(chunks(mins)).collect::<Vec<_>>();
        let mut qh = out.qh.par_chunks_mut(chunks(qh)).collect::<Vec<_>>();
        let bands = rows / BAND;
        dmin.resize_with(bands, Default::default);
        mins.resize_with(bands, Default::default);
        qh.resize_with(bands, Default::default);
        out.d
            .par_chunks_mut(band)
            .zip(out.scales.par_chunks_mut(band * scales))
            .zip(out.qs.par_chunks_mut(band * QS))
            .zip(dmin)
            .zip(mins)
            .zip(qh)
            .zip(data.par_chunks(band * size))
            .for_each(|((((((d, scales), qs), dmin), mins), qh), data)| {
                let band = BandMut {
                    per_row,
                    d,
                    dmin,
                    scales,
                    mins,
                    qs,
                    qh,
                };
                match format {
                    KFormat::Q6K => band.fill_q6k(data),
                    _ => band.fill_q4k(data),
                }
            });
        Some(out)
    }

    /// Appends `other`'s bands (same format).
    pub(super) fn extend(&mut self, other: &Interleaved) {
        assert_eq!(self.format, other.format, "formats differ");
        self.d.extend_from_slice(&other.d);
        self.dmin.extend_from_slice(&other.dmin);
        self.scales.extend_from_slice(&other.scales);
        self.mins.extend_from_slice(&other.mins);
        self.qs.extend_from_slice(&other.qs);
        self.qh.extend_from_slice(&other.qh);
    }

    /// Bands `first..first + bands` (`per_row` superblocks a row).
    pub(super) fn bands(&self, first: usize, bands: usize, per_row: usize) -> Bands<'_> {
        let (a, b) = (first * per_row * BAND, (first + bands) * per_row * BAND);
        let (dmin, scales, mins, qh) = widths(self.format);
        Bands {
            format: self.format,
            bands,
            per_row,
            d: &self.d[a..b],
            dmin: &self.dmin[a * dmin..b * dmin],
            scales: &self.scales[a * scales..b * scales],
            mins: &self.mins[a * mins..b * mins],
            qs: &self.qs[a * QS..b * QS],
            qh: &self.qh[a * qh..b * qh],
        }
    }

    /// Superblock `b` of row `row` as floats, as ggml dequantises it.
    pub(super) fn dequantize(&self, row: usize, b: usize, per_row: usize, out: &mut [f32; QK]) {
        self.bands(row / BAND, 1, per_row)
            .dequantize(row % BAND, b, out)
    }
}

impl Bands<'_> {
    pub(super) fn rows(&self) -> usize {
        self.bands * BAND
    }

    /// Panics unless every array has its length for `bands` bands of
    /// `per_row` superblocks: the kernels read by raw pointer on that promise.
    pub(super) fn check(&self) {
        let n = self.bands * self.per_row * BAND;
        let (dmin, scales, mins, qh) = widths(self.format);
        assert_eq!(self.d.len(), n, "superblock scales");
        assert_eq!(self.dmin.len(), n * dmin, "superblock minimums");
        assert_eq!(self.scales.len(), n * scales, "sub-block scales");
        assert_eq!(self.mins.len(), n * mins, "sub-block minimums");
        assert_eq!(self.qs.len(), n * QS, "quants");
        assert_eq!(self.qh.len(), n * qh, "high bits");
    }

    /// Row `m`'s weight `w` of band-superblock `s`: its low four bits, and
    /// (Q6_K) its top two.
    fn quant(&self, s: usize, m: usize, w: usize) -> u8 {
        let (octet, t) = (w / 8, w % 8);
        let byte = self.qs[s * BAND_QS + octet * 64 + 4 * m + t % 4];
        let low = if t < 4 { byte & 0x0F } else { byte >> 4 };
        if self.format != KFormat::Q6K {
            return low;
        }
        let (pair, at) = (w / 16, w % 16);
        let top = self.qh[s * BAND_QH + pair * 64 + 4 * m + at % 4] >> (2 * (at / 4));
        low | ((top & 3) << 4)
    }

    /// Row `m`'s Q4_K scale and minimum of sub-block `j` of band-superblock `s`.
    pub(super) fn scale_min(&self, s: usize, m: usize, j: usize) -> (u8, u8) {
        (
            self.scales[(s * 8 + j) * BAND + m],
            self.mins[(s * 4 + j / 2) * 2 * BAND + 2 * m + j % 2],
        )
    }

    /// Superblock `b` of row `row` as floats (the float steps of
    /// `KRows::dequantize`, so the same values to the bit).
    fn dequantize(&self, row: usize, b: usize, out: &mut [f32; QK]) {
        let (s, m) = ((row / BAND) * self.per_row + b, row % BAND);
        let d = self.d[s * BAND + m];
        if self.format == KFormat::Q6K {
            for (w, o) in out.iter_mut().enumerate() {
                let sc = f32::from(self.scales[(s * 16 + w / 16) * BAND + m] as i8);
                let q = i32::from(self.quant(s, m, w)) - 32;
                *o = d * sc * q as f32;
            }
            return;
        }
        let dmin = self.dmin[s * BAND + m];
        for (j, out) in out.chunks_exact_mut(32).enumerate() {
            let (scale, min) = self.scale_min(s, m, j);
            let (scale, min) = (d * f32::from(scale), dmin * f32::from(min));
            for (l, o) in out.iter_mut().enumerate() {
                *o = scale * f32::from(self.quant(s, m, 32 * j + l)) - min;
            }
        }
    }

    /// `out[r * xs.len() + i] = sum_c w[r][c] * xs[i][c]` in floats, from the
    /// dequantised weights (see `kquants::scalar_products`).
    pub(super) fn reference_products(&self, xs: &[&[f32]], out: &mut [f32]) {
        self.check();
        assert_eq!(out.len(), self.rows() * xs.len(), "output length");
        let mut block = [0.0f32; QK];
        for (r, out) in out.chunks_exact_mut(xs.len().max(1)).enumerate() {
            out.iter_mut().for_each(|o| *o = 0.0);
            for b in 0..self.per_row {
                self.dequantize(r, b, &mut block);
                for (o, x) in out.iter_mut().zip(xs) {
                    let x = &x[b * QK..(b + 1) * QK];
                    *o += block.iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
                }
            }
        }
    }
}

/// One band's arrays, to be filled.
struct BandMut<'a> {
    per_row: usize,
    d: &'a mut [f32],
    dmin: &'a mut [f32],
    scales: &'a mut [u8],
    mins: &'a mut [u8],
    qs: &'a mut [u8],
    qh: &'a mut [u8],
}

const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;

/// 8 bytes, each under 16, as 4: byte t holds byte t and, in its high
/// nibble, byte t + 4 (the shift carries nothing into a neighbour).
fn pair_nibbles(v: u64) -> [u8; 4] {
    (((v & 0xFFFF_FFFF) | ((v >> 32) << 4)) as u32).to_le_bytes()
}

fn u64_at(bytes: &[u8]) -> u64 {
    let mut eight = [0u8; 8];
    eight.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(eight)
}

fn f16_at(block: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

impl BandMut<'_> {
    /// The 16 rows' ggml blocks of superblock `s`.
    fn blocks<'d>(&self, data: &'d [u8], s: usize, size: usize) -> [&'d [u8]; BAND] {
        std::array::from_fn(|m| &data[(m * self.per_row + s) * size..][..size])
    }

    /// Fills the band from its 16 rows of ggml Q4_K blocks, row after row,
    /// 64 bytes of quants (an octet of the 16 rows) at a time.
    fn fill_q4k(self, data: &[u8]) {
        let size = KFormat::Q4K.block_bytes();
        for s in 0..self.per_row {
            let blocks = self.blocks(data, s, size);
            for (m, block) in blocks.iter().enumerate() {
                self.d[s * BAND + m] = f16_at(block, 0);
                self.dmin[s * BAND + m] = f16_at(block, 2);
                for j in 0..8 {
                    let (scale, min) = scale_min(j, &block[4..16]);
                    self.scales[(s * 8 + j) * BAND + m] = scale;
                    self.mins[(s * 4 + j / 2) * 2 * BAND + 2 * m + j % 2] = min;
                }
            }
            // ggml's bytes 32k..32k + 32 hold sub-block 2k in their low
            // nibbles and 2k + 1 in their high ones: octets 8k..8k + 4 and
            // 8k + 4..8k + 8.
            let qs = &mut self.qs[s * BAND_QS..(s + 1) * BAND_QS];
            for (octet, out) in qs.chunks_exact_mut(64).enumerate() {
                let (k, high, o) = (octet / 8, octet % 8 / 4, octet % 4);
                let at = 16 + 32 * k + 8 * o;
                for (out, block) in out.chunks_exact_mut(4).zip(&blocks) {
                    let x = u64_at(&block[at..]) >> (4 * high);
                    out.copy_from_slice(&pair_nibbles(x & LOW_NIBBLES));
                }
            }
        }
    }

    /// Fills the band from its 16 rows of ggml Q6_K blocks, as `fill_q4k`.
    fn fill_q6k(self, data: &[u8]) {
        let size = KFormat::Q6K.block_bytes();
        for s in 0..self.per_row {
            let blocks = self.blocks(data, s, size);
            for (m, block) in blocks.iter().enumerate() {
                self.d[s * BAND + m] = f16_at(block, 208);
                for (j, &scale) in block[192..208].iter().enumerate() {
                    self.scales[(s * 16 + j) * BAND + m] = scale;
                }
            }
            // Weight 128h + 32p + i: the low bits in nibble p / 2 of
            // ql[64h + 32(p % 2) + i], the top two in bits 2p of qh[32h + i].
            let qs = &mut self.qs[s * BAND_QS..(s + 1) * BAND_QS];
            for (octet, out) in qs.chunks_exact_mut(64).enumerate() {
                let (h, p, i) = (octet / 16, octet % 16 / 4, 8 * (octet % 4));
                let at = 64 * h + 32 * (p % 2) + i;
                for (out, block) in out.chunks_exact_mut(4).zip(&blocks) {
                    let x = u64_at(&block[at..]) >> (4 * (p / 2));
                    out.copy_from_slice(&pair_nibbles(x & LOW_NIBBLES));
                }
            }
            let qh = &mut self.qh[s * BAND_QH..(s + 1) * BAND_QH];
            for (pair, out) in qh.chunks_exact_mut(64).enumerate() {
                let (h, p, i) = (pair / 8, pair % 8 / 2, 16 * (pair % 2));
                let at = 128 + 32 * h + i;
                for (out, block) in out.chunks_exact_mut(4).zip(&blocks) {
                    let top = |at: usize| (u64_at(&block[at..]) >> (2 * p)) & 0x0303_0303_0303_0303;
                    let (first, second) = (top(at), top(at + 8));
                    // Byte t: the pairs of weights t, t + 4, t + 8, t + 12.
                    let packed = (first & 0xFFFF_FFFF)
                        | ((first >> 32) << 2)
                        | ((second & 0xFFFF_FFFF) << 4)
                        | ((second >> 32) << 6);
                    out.copy_from_slice(&(packed as u32).to_le_bytes());
                }
            }
        }
    }
}
