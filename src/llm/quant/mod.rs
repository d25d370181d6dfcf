//! Matrix products straight from quantised weights, for decoding one token
//! at a time and for the prefill of models too large for a dense f32 copy.
//! Decode is memory-bound: reading 4.5- to 8.5-bit weights instead of an f32
//! copy moves 4-7x fewer bytes per token. Q4_1, Q8_0 and the k-quants of a
//! Q4_K_M file (Q4_K, Q5_K, Q6_K) are read at their own width; other types
//! are widened to Q8_0 at load; on CPUs with AVX-512 VNNI, Q4_K and Q6_K
//! rows are interleaved 16 at a time for decode (`interleaved`). The input
//! is quantised to 8 bits once per product and multiplied with the weights
//! as integers (as llama.cpp does), with AVX-512 or AVX2 as detected at run
//! time (`cpu`), in plain Rust on the float input otherwise. candle's own
//! kernels are compiled for plain x86-64 here, i.e. scalar, and run on their
//! own thread pool.

mod cpu;
mod input;
mod kquants;
mod part;
mod peak;
mod scalar;

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod bands;
mod interleaved;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod vnni;
#[cfg(target_arch = "x86_64")]
mod vnni_decode;
#[cfg(target_arch = "x86_64")]
mod vnni_k;

use candle_core::quantized::{GgmlDType, QTensor};
use rayon::prelude::*;

use self::cpu::Kernel;
use self::input::{Input, KInput, Needs};
use self::interleaved::{Interleaved, BAND};
use self::kquants::{KFormat, KWeights, QK};
pub use self::peak::kernel_peak;

/// The name of the kernel the products run on here: results computed with
/// another kernel round otherwise, so they are only reused under this name.
pub fn kernel_name() -> String {
    Kernel::detect().name()
}

/// Weights per block of the legacy formats.
const BLOCK: usize = 32;
/// Q4_1: an f16 scale, an f16 minimum, 16 bytes of nibbles.
const Q4_1_BYTES: usize = 20;
/// Q8_0: an f16 scale and 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Output rows per parallel task: enough work to be worth a thread hand-off.
const ROWS_PER_TASK: usize = 64;
/// Rows a checking pass of drafted tokens runs at once ([`QuantMatrix::matmul`]
/// gives every input's products bit for bit as [`QuantMatrix::matvec`] does
/// on it alone, whatever the count: each kernel's tiles keep one
/// accumulator per weight row and input, summed in the same order whatever
/// the tile's shape). Checking drafted tokens relies on it: their logits
/// must be the ones decoding them one by one would give.
pub const MATVEC_EXACT_INPUTS: usize = 11;

/// Which kernels a product's inputs go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    /// Each input's products bit for bit those of `matvec` on it alone.
    Exact,
    /// A prompt's rows: the 16-row kernels where the CPU has them.
    Prompt,
}

/// A (rows, cols) quantised matrix: runs of rows, each in one format (a
/// stack of matrices of different formats keeps each in its own).
#[derive(Clone)]
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    parts: Vec<Part>,
}

#[derive(Clone)]
struct Part {
    rows: usize,
    weights: Weights,
}

#[derive(Clone)]
enum Weights {
    /// Per block, the scale and minimum as f32 and 16 bytes of nibbles (ggml
    /// order: byte j holds weight j in its low nibble and weight j + 16 in
    /// its high nibble); a weight is `scale * nibble + min`.
    Q4_1 {
        scales: Vec<f32>,
        mins: Vec<f32>,
        nibbles: Vec<u8>,
    },
    /// Per block, the scale as f32 and 32 signed bytes; a weight is `scale * byte`.
    Q8_0 {
        scales: Vec<f32>,
        quants: Vec<i8>,
    },
    K(KWeights),
    /// Q4_K or Q6_K rows 16 at a time, for the kernels of CPUs with AVX-512 VNNI.
    Interleaved(Interleaved),
}

impl Weights {
    fn same_format(&self, other: &Weights) -> bool {
        match (self, other) {
            (Weights::Q4_1 { .. }, Weights::Q4_1 { .. }) => true,
            (Weights::Q8_0 { .. }, Weights::Q8_0 { .. }) => true,
            (Weights::K(a), Weights::K(b)) => a.format == b.format,
            (Weights::Interleaved(a), Weights::Interleaved(b)) => a.format == b.format,
            _ => false,
        }
    }

    /// Appends `other`'s rows; the formats must be the same.
    fn extend(&mut self, other: &Weights) {
        match (self, other) {
            (
                Weights::Q4_1 {
                    scales,
                    mins,
                    nibbles,
                },
                Weights::Q4_1 {
                    scales: s,
                    mins: m,
                    nibbles: n,
                },
            ) => {
                scales.extend_from_slice(s);
                mins.extend_from_slice(m);
                nibbles.extend_from_slice(n);
            }
            (
                Weights::Q8_0 { scales, quants },
                Weights::Q8_0 {
                    scales: s,
                    quants: q,
                },
            ) => {
                scales.extend_from_slice(s);
                quants.extend_from_slice(q);
            }
            (Weights::K(a), Weights::K(b)) => a.extend(b),
            (Weights::Interleaved(a), Weights::Interleaved(b)) => a.extend(b),
            _ => panic!("stacking rows of different formats into one run"),
        }
    }
}

impl QuantMatrix {
    /// The matrix of a 2-D quantised tensor whose rows are whole blocks;
    /// None for f32/f16 weights (those go through candle's gemm). Q4_1, Q8_0
    /// and the k-quants are read at their own width; other quantised types
    /// (Q4_0, Q5_x...) are converted to Q8_0 once at load, which adds an
    /// error ~1/250 of each block's largest weight, far under the 4- or
    /// 5-bit format's own, and beats a kernel per rare format. An error when
    /// the tensor's data does not match its shape and type.
    pub fn from_qtensor(tensor: &QTensor) -> candle_core::Result<Option<Self>> {
        Self::from_qtensor_for(tensor, Kernel::detect())
    }

    /// As `from_qtensor`, in the layout `kernel` reads: Q4_K and Q6_K rows
    /// interleaved 16 at a time for the kernels of AVX-512 VNNI, whole bands
    /// only (every matrix of the models we run).
    fn from_qtensor_for(tensor: &QTensor, kernel: Kernel) -> candle_core::Result<Option<Self>> {
        let dtype = tensor.dtype();
        if matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) {
            return Ok(None);
        }
        let Ok((rows, cols)) = tensor.shape().dims2() else {
            return Ok(None);
        };
        let mismatch = |bytes: usize| {
            candle_core::Error::Msg(format!(
                "a {rows}x{cols} {dtype:?} tensor holds {bytes} bytes, which is not its size"
            ))
        };
        let single = |weights| QuantMatrix {
            rows,
            cols,
            parts: vec![Part { rows, weights }],
        };
        if let Some(format) = KFormat::of(dtype) {
            if cols % QK != 0 {
                return Ok(None);
            }
            let data = tensor.data()?;
            if data.len() != rows * cols / QK * format.block_bytes() {
                return Err(mismatch(data.len()));
            }
            let interleaved = match kernel {
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512Vnni(_) | Kernel::Amx(_) => {
                    Interleaved::from_ggml(format, &data, rows, cols / QK)
                }
                _ => None,
            };
            if let Some(interleaved) = interleaved {
                return Ok(Some(single(Weights::Interleaved(interleaved))));
            }
            let weights = KWeights::from_ggml(format, &data).ok_or_else(|| mismatch(data.len()))?;
            return Ok(Some(single(Weights::K(weights))));
        }
        let block_bytes = match dtype {
            GgmlDType::Q4_1 => Q4_1_BYTES,
            GgmlDType::Q8_0 => Q8_0_BYTES,
            _ => {
                if cols % BLOCK != 0 {
                    return Ok(None);
                }
                let values = tensor.dequantize(&candle_core::Device::Cpu)?;
                let converted = QTensor::quantize(&values, GgmlDType::Q8_0)?;
                return Self::from_qtensor_for(&converted, kernel);
            }
        };
        if cols % BLOCK != 0 {
            return Ok(None);
        }
        let data = tensor.data()?;
        let blocks = rows * cols / BLOCK;
        if data.len() != blocks * block_bytes {
            return Err(mismatch(data.len()));
        }
        let f16_at =
            |block: &[u8], at: usize| half::f16::from_le_bytes([block[at], block[at + 1]]).to_f32();
        let scales = data
            .chunks_exact(block_bytes)
            .map(|b| f16_at(b, 0))
            .collect();
        let weights = if block_bytes == Q4_1_BYTES {
            let mut mins = Vec::with_capacity(blocks);
            let mut nibbles = Vec::with_capacity(blocks * 16);
            for block in data.chunks_exact(block_bytes) {
                mins.push(f16_at(block, 2));
                nibbles.extend_from_slice(&block[4..]);
            }
            Weights::Q4_1 {
                scales,
                mins,
                nibbles,
            }
        } else {
            let quants = data
                .chunks_exact(block_bytes)
                .flat_map(|block| block[2..].iter().map(|&b| b as i8))
                .collect();
            Weights::Q8_0 { scales, quants }
        };
        Ok(Some(single(weights)))
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The rows of several matrices of one input width, one after the
    /// other: Q, K and V (or gate and up) in one product, so decoding pays
    /// one thread hand-off where it paid three. Q4_K_M files mix formats
    /// (V in Q6_K beside Q and K in Q4_K): each run keeps its own. Each run
    /// begins with its first part's weights, moved, not copied: loading a
    /// model copies its weights as little as it can. The parts come back
    /// when their widths differ.
    pub fn stacked(parts: Vec<QuantMatrix>) -> std::result::Result<Self, Vec<QuantMatrix>> {
        let Some(cols) = parts.first().map(|p| p.cols) else {
            return Err(parts);
        };
        if parts.iter().any(|p| p.cols != cols) {
            return Err(parts);
        }
        // Interleaved rows are read by whole bands: each run of them must
        // begin on one (true of every model we run; other stacks stay apart).
        let mut start = 0usize;
        for part in parts.iter().flat_map(|m| &m.parts) {
            if matches!(part.weights, Weights::Interleaved(_)) && !start.is_multiple_of(BAND) {
                return Err(parts);
            }
            start += part.rows;
        }
        let rows = parts.iter().map(|p| p.rows).sum();
        let mut runs: Vec<Part> = Vec::new();
        for part in parts.into_iter().flat_map(|m| m.parts) {
            match runs.last_mut() {
                Some(last) if last.weights.same_format(&part.weights) => {
                    last.weights.extend(&part.weights);
                    last.rows += part.rows;
                }
                _ => runs.push(part),
            }
        }
        Ok(QuantMatrix {
            rows,
            cols,
            parts: runs,
        })
    }

    /// The run holding `row`, and the row's index in it.
    fn part_of(&self, row: usize) -> (&Part, usize) {
        let mut start = 0;
        for part in &self.parts {
            if row < start + part.rows {
                return (part, row - start);
            }
            start += part.rows;
        }
        panic!("row {row} of {}", self.rows);
    }

    /// Row `row` as floats: a token's embedding, when the table is quantised.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(row < self.rows, "row {row} of {}", self.rows);
        assert_eq!(out.len(), self.cols, "output length");
        let (part, row) = self.part_of(row);
        match &part.weights {
            Weights::K(k) => {
                let per_row = self.cols / QK;
                let mut block = [0.0; QK];
                for (b, out) in out.chunks_exact_mut(QK).enumerate() {
                    k.dequantize(row * per_row + b, &mut block);
                    out.copy_from_slice(&block);
                }
            }
            Weights::Interleaved(w) => {
                let per_row = self.cols / QK;
                let mut block = [0.0; QK];
                for (b, out) in out.chunks_exact_mut(QK).enumerate() {
                    w.dequantize(row, b, per_row, &mut block);
                    out.copy_from_slice(&block);
                }
            }
            Weights::Q4_1 {
                scales,
                mins,
                nibbles,
            } => {
                let per_row = self.cols / BLOCK;
                for (b, out) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let block = row * per_row + b;
                    let (d, m) = (scales[block], mins[block]);
                    for (j, &byte) in nibbles[block * 16..block * 16 + 16].iter().enumerate() {
                        out[j] = d * f32::from(byte & 0x0F) + m;
                        out[j + 16] = d * f32::from(byte >> 4) + m;
                    }
                }
            }
            Weights::Q8_0 { scales, quants } => {
                let per_row = self.cols / BLOCK;
                for (b, out) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let block = row * per_row + b;
                    let quants = &quants[block * BLOCK..(block + 1) * BLOCK];
                    for (o, &q) in out.iter_mut().zip(quants) {
                        *o = scales[block] * f32::from(q);
                    }
                }
            }
        }
    }

    /// `out[r] = sum_c w[r][c] * x[c]`, rows split across the rayon pool.
    pub fn matvec(&self, x: &[f32], out: &mut [f32]) {
        self.matmul_with(x, 1, out, Kernel::detect(), Rows::Exact)
    }

    /// `n` rows of input (`x` is `n * cols` values) times the matrix: `out`
    /// holds `n` rows of `rows` values, each bit for bit what `matvec` gives
    /// for its input alone. The inputs are quantised once; a task takes a
    /// band of weight rows and runs the inputs through it in tiles of weight
    /// rows x inputs, so that each weight is read from memory once per call
    /// and unpacked once per few inputs.
    pub fn matmul(&self, x: &[f32], n: usize, out: &mut [f32]) {
        self.matmul_with(x, n, out, Kernel::detect(), Rows::Exact)
    }

    /// As `matmul`, for the rows of a prompt: on the kernels of 16 weight
    /// rows at a time where the CPU has them (AMX tiles, AVX-512 VNNI) and
    /// the matrix is of k-quants only, which sum in another order than
    /// `matvec` does. Each input's products are still the same whatever the
    /// other inputs and their count, so a prompt prefilled in parts gives
    /// what it gives in one batch.
    pub fn prompt_matmul(&self, x: &[f32], n: usize, out: &mut [f32]) {
        self.matmul_with(x, n, out, Kernel::detect(), Rows::Prompt)
    }

    fn matmul_with(&self, x: &[f32], n: usize, out: &mut [f32], kernel: Kernel, mode: Rows) {
        assert_eq!(x.len(), n * self.cols, "input length");
        assert_eq!(out.len(), n * self.rows, "output length");
        if n == 0 {
            return;
        }
        let needs = self.needs();
        let inputs: Vec<Input> = if n == 1 {
            vec![Input::new(x, kernel, needs)]
        } else {
            x.par_chunks_exact(self.cols)
                .map(|row| Input::new(row, kernel, needs))
                .collect()
        };
        // Only x86-64 has kernels of 16 rows.
        #[cfg(not(target_arch = "x86_64"))]
        let _ = mode;
        #[cfg(target_arch = "x86_64")]
        if needs.k && !needs.legacy && mode == Rows::Prompt {
            let xs: Vec<&KInput> = inputs.iter().map(|input| &input.k).collect();
            let out = bands::Columns::new(out, n, self.rows);
            let tasks = 0..self.rows.div_ceil(ROWS_PER_TASK);
            match kernel {
                Kernel::Amx(_) => {
                    let packed = amx::Packed::new(&xs, self.cols / QK);
                    tasks.into_par_iter().for_each(|task| {
                        self.banded_products(task * ROWS_PER_TASK, |w, first| {
                            // SAFETY: `Kernel::Amx` is only made by detection (AVX-512
                            // F/BW/VL, AVX2, FMA, AMX-INT8 and the tile state granted);
                            // each task writes its own rows.
                            unsafe { amx::k_products(w, &packed, &out, first) }
                        })
                    });
                    return;
                }
                Kernel::Avx512Vnni(_) => {
                    tasks.into_par_iter().for_each(|task| {
                        self.banded_products(task * ROWS_PER_TASK, |w, first| {
                            // SAFETY: `Kernel::Avx512Vnni` is only made by detection
                            // (AVX-512 F/BW/VL/VNNI, AVX2, FMA); each task writes its
                            // own rows.
                            unsafe { vnni_k::k_products(w, &xs, &out, first) }
                        })
                    });
                    return;
                }
                _ => {}
            }
        }
        let inputs: Vec<&Input> = inputs.iter().collect();
        let inputs = &inputs[..];
        if n == 1 {
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .for_each(|(task, chunk)| {
                    self.products(task * ROWS_PER_TASK, inputs, chunk, kernel)
                });
            return;
        }
        // Per band, its outputs for every input: [band row][input].
        let mut by_weight_row = vec![0.0; n * self.rows];
        by_weight_row
            .par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(task, band)| self.products(task * ROWS_PER_TASK, inputs, band, kernel));
        // Transposed in blocks of inputs, in parallel: each block reads one
        // cache line per weight row where one input at a time read one line
        // per value.
        const INPUTS_PER_BLOCK: usize = 16;
        out.par_chunks_mut(INPUTS_PER_BLOCK * self.rows)
            .enumerate()
            .for_each(|(block, out)| {
                let first = block * INPUTS_PER_BLOCK;
                let width = out.len() / self.rows;
                for (row, values) in by_weight_row.chunks_exact(n).enumerate() {
                    for (j, &value) in values[first..first + width].iter().enumerate() {
                        out[j * self.rows + row] = value;
                    }
                }
            });
    }

    fn needs(&self) -> Needs {
        let mut needs = Needs::default();
        for part in &self.parts {
            match part.weights {
                Weights::K(_) | Weights::Interleaved(_) => needs.k = true,
                _ => needs.legacy = true,
            }
        }
        needs
    }

    /// The k-quant runs of rows `first..first + ROWS_PER_TASK` (or to the
    /// end), each given to `kernel` with its first row: the 16-row kernels,
    /// which write the product's `[input][row]` output themselves, for
    /// matrices of k-quants only.
    #[cfg(target_arch = "x86_64")]
    fn banded_products(&self, first: usize, kernel: impl Fn(&bands::Source, usize)) {
        let end = self.rows.min(first + ROWS_PER_TASK);
        let mut start = 0;
        for part in &self.parts {
            let (from, to) = (first.max(start), end.min(start + part.rows));
            if from < to {
                let (rows, per_row) = ((from - start, to - from), self.cols / QK);
                let source = match &part.weights {
                    Weights::K(k) => bands::Source::Rows(k.rows(rows.0, rows.1, per_row)),
                    // Tasks begin at multiples of 64 rows, runs at multiples of 16.
                    Weights::Interleaved(w) => {
                        bands::Source::Interleaved(w.bands(rows.0 / BAND, rows.1 / BAND, per_row))
                    }
                    _ => unreachable!("the 16-row kernels take k-quant matrices only"),
                };
                kernel(&source, from);
            }
            start += part.rows;
        }
    }

    /// Rows `first..first + out.len() / inputs.len()` times every input,
    /// into `out[row][input]`.
    fn products(&self, first: usize, inputs: &[&Input], out: &mut [f32], kernel: Kernel) {
        let n = inputs.len();
        let end = first + out.len() / n;
        let (mut row, mut start, mut out) = (first, 0, out);
        for part in &self.parts {
            let part_end = start + part.rows;
            if row < part_end {
                let take = part_end.min(end) - row;
                let (head, tail) = std::mem::take(&mut out).split_at_mut(take * n);
                part.products(self.cols, row - start, inputs, head, kernel);
                out = tail;
                row += take;
                if row == end {
                    return;
                }
            }
            start = part_end;
        }
    }
}
