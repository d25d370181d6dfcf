//! Q4_K rows interleaved 16 at a time: the layout decode reads on CPUs with
//! AVX-512 VNNI. Per band of 16 rows and superblock, a 64-byte vector holds
//! the same 8 consecutive weights of the 16 rows as nibbles (the first 4 in
//! the low nibbles, the next 4 in the high ones), so that one `dpbusd`
//! multiplies 64 weights by 4 input values broadcast from memory into each
//! row's sum, with no shuffling of weights or scales; the rows' sub-block
//! scales and minimums lie 16 rows to a vector beside them. Decode reads
//! every weight once per token, so the instructions it spends per weight,
//! not only the bytes, set its speed: the row layout's kernel spent three
//! times as many. The bytes are the row layout's (`KWeights`), rearranged
//! at load; the prompt kernels unpack them as they unpack rows (`bands`).

use rayon::prelude::*;

use super::kquants::{scale_min, KFormat, QK, QS};

/// Rows per band: an AVX-512 vector's i32 lanes.
pub(super) const BAND: usize = 16;
/// Sub-blocks of 32 weights per superblock.
const SUBS: usize = 8;
/// Runs of 8 weights per sub-block, one 64-byte vector each.
const OCTETS: usize = 4;
/// Bytes of quants per band and superblock.
pub(super) const BAND_QS: usize = BAND * QS;

/// Q4_K superblocks of whole bands of 16 rows.
///
/// Per band and superblock (`s = band * per_row + b`): `d`, `dmin`, 16 rows
/// each; `scales`, `[sub-block][row]`; `mins`, `[pair of sub-blocks][row][2]`
/// (a row's two minimums side by side, for `dpwssd` against two block sums);
/// `qs`, `[sub-block][octet][row][4 bytes]`, byte t of a row holding weight
/// `8 octet + t` of the sub-block in its low nibble and `8 octet + 4 + t` in
/// its high one.
#[derive(Clone)]
pub(super) struct Interleaved {
    pub(super) d: Vec<f32>,
    pub(super) dmin: Vec<f32>,
    pub(super) scales: Vec<u8>,
    pub(super) mins: Vec<u8>,
    pub(super) qs: Vec<u8>,
}

/// Whole bands of an `Interleaved`, as the kernels take them.
#[derive(Clone, Copy)]
pub(super) struct Bands<'a> {
    pub(super) bands: usize,
    pub(super) per_row: usize,
    pub(super) d: &'a [f32],
    pub(super) dmin: &'a [f32],
    pub(super) scales: &'a [u8],
    pub(super) mins: &'a [u8],
    pub(super) qs: &'a [u8],
}

impl Interleaved {
    /// `rows` rows of ggml Q4_K blocks (`per_row` each), rearranged; None
    /// unless the rows fill whole bands and `data` holds them. Bands are
    /// independent: they are filled in parallel, as loading waits on this.
    pub(super) fn from_ggml(data: &[u8], rows: usize, per_row: usize) -> Option<Self> {
        let size = KFormat::Q4K.block_bytes();
        if rows == 0 || !rows.is_multiple_of(BAND) || data.len() != rows * per_row * size {
            return None;
        }
        let blocks = rows * per_row;
        let mut out = Interleaved {
            d: vec![0.0; blocks],
            dmin: vec![0.0; blocks],
            scales: vec![0; blocks * SUBS],
            mins: vec![0; blocks * SUBS],
            qs: vec![0; blocks * QS],
        };
        let band = BAND * per_row;
        out.d
            .par_chunks_mut(band)
            .zip(out.dmin.par_chunks_mut(band))
            .zip(out.scales.par_chunks_mut(band * SUBS))
            .zip(out.mins.par_chunks_mut(band * SUBS))
            .zip(out.qs.par_chunks_mut(band * QS))
            .zip(data.par_chunks(band * size))
            .for_each(|(((((d, dmin), scales), mins), qs), data)| {
                let band = BandsMut {
                    per_row,
                    d,
                    dmin,
                    scales,
                    mins,
                    qs,
                };
                band.fill(data);
            });
        Some(out)
    }

    /// Appends `other`'s bands.
    pub(super) fn extend(&mut self, other: &Interleaved) {
        self.d.extend_from_slice(&other.d);
        self.dmin.extend_from_slice(&other.dmin);
        self.scales.extend_from_slice(&other.scales);
        self.mins.extend_from_slice(&other.mins);
        self.qs.extend_from_slice(&other.qs);
    }

    /// Bands `first..first + bands` (`per_row` superblocks a row).
    pub(super) fn bands(&self, first: usize, bands: usize, per_row: usize) -> Bands<'_> {
        let (a, b) = (first * per_row, (first + bands) * per_row);
        Bands {
            bands,
            per_row,
            d: &self.d[a * BAND..b * BAND],
            dmin: &self.dmin[a * BAND..b * BAND],
            scales: &self.scales[a * BAND * SUBS..b * BAND * SUBS],
            mins: &self.mins[a * BAND * SUBS..b * BAND * SUBS],
            qs: &self.qs[a * BAND_QS..b * BAND_QS],
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
        assert_eq!(self.d.len(), n, "superblock scales");
        assert_eq!(self.dmin.len(), n, "superblock minimums");
        assert_eq!(self.scales.len(), n * SUBS, "sub-block scales");
        assert_eq!(self.mins.len(), n * SUBS, "sub-block minimums");
        assert_eq!(self.qs.len(), n * QS, "quants");
    }

    /// Row `m`'s weight `32 j + l` of band-superblock `s`, as its nibble.
    pub(super) fn nibble(&self, s: usize, m: usize, j: usize, l: usize) -> u8 {
        let (octet, t) = (l / 8, l % 8);
        let byte = self.qs[s * BAND_QS + (j * OCTETS + octet) * 64 + 4 * m + t % 4];
        if t < 4 {
            byte & 0x0F
        } else {
            byte >> 4
        }
    }

    /// Row `m`'s scale and minimum of sub-block `j` of band-superblock `s`.
    pub(super) fn scale_min(&self, s: usize, m: usize, j: usize) -> (u8, u8) {
        (
            self.scales[(s * SUBS + j) * BAND + m],
            self.mins[(s * SUBS / 2 + j / 2) * 2 * BAND + 2 * m + j % 2],
        )
    }

    /// Superblock `b` of row `row` as floats.
    fn dequantize(&self, row: usize, b: usize, out: &mut [f32; QK]) {
        let (s, m) = ((row / BAND) * self.per_row + b, row % BAND);
        let (d, dmin) = (self.d[s * BAND + m], self.dmin[s * BAND + m]);
        for (j, out) in out.chunks_exact_mut(32).enumerate() {
            let (scale, min) = self.scale_min(s, m, j);
            let (scale, min) = (d * f32::from(scale), dmin * f32::from(min));
            for (l, o) in out.iter_mut().enumerate() {
                *o = scale * f32::from(self.nibble(s, m, j, l)) - min;
            }
        }
    }
}

impl Bands<'_> {
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
struct BandsMut<'a> {
    per_row: usize,
    d: &'a mut [f32],
    dmin: &'a mut [f32],
    scales: &'a mut [u8],
    mins: &'a mut [u8],
    qs: &'a mut [u8],
}

impl BandsMut<'_> {
    /// Fills the band from its 16 rows of ggml blocks, row after row.
    fn fill(self, data: &[u8]) {
        let size = KFormat::Q4K.block_bytes();
        let f16_at =
            |block: &[u8], at: usize| half::f16::from_le_bytes([block[at], block[at + 1]]).to_f32();
        for (i, block) in data.chunks_exact(size).enumerate() {
            let (m, s) = (i / self.per_row, i % self.per_row);
            self.d[s * BAND + m] = f16_at(block, 0);
            self.dmin[s * BAND + m] = f16_at(block, 2);
            for j in 0..SUBS {
                let (scale, min) = scale_min(j, &block[4..16]);
                self.scales[(s * SUBS + j) * BAND + m] = scale;
                self.mins[(s * SUBS / 2 + j / 2) * 2 * BAND + 2 * m + j % 2] = min;
            }
            // ggml's bytes 32k..32k + 32 hold sub-block 2k in their low
            // nibbles and 2k + 1 in their high ones; 8 of them at a time,
            // nibbles t and t + 4 go to one byte.
            let qs = &block[16..16 + QS];
            for (k, group) in qs.chunks_exact(32).enumerate() {
                for (octet, eight) in group.chunks_exact(8).enumerate() {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(eight);
                    let x = u64::from_le_bytes(bytes);
                    let nibbles = [x & LOW_NIBBLES, (x >> 4) & LOW_NIBBLES];
                    for (half, v) in nibbles.into_iter().enumerate() {
                        // Each byte is under 16: shifting the top four up a
                        // nibble carries nothing into their neighbours.
                        let packed = ((v & 0xFFFF_FFFF) | ((v >> 32) << 4)) as u32;
                        let j = 2 * k + half;
                        let at = s * BAND_QS + (j * OCTETS + octet) * 64 + 4 * m;
                        self.qs[at..at + 4].copy_from_slice(&packed.to_le_bytes());
                    }
                }
            }
        }
    }
}

const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
