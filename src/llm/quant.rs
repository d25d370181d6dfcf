//! Matrix-vector products straight from quantised weights (Q4_1 and Q8_0),
//! for decoding one token at a time. Decode is memory-bound: reading 4.5- or
//! 8.5-bit weights instead of an f32 copy moves 4-7x fewer bytes per token.
//! candle 0.11 has no SIMD kernel for Q4_1, and its Q8_0 one runs on its own
//! thread pool (two pools handing two cores back and forth cost more than
//! the product), so these kernels multiply the weights with an 8-bit copy of
//! the input as integers with AVX2 when the CPU has it (checked at run time;
//! as llama.cpp does), and dequantise in plain Rust otherwise. With q/k/v and
//! gate/up stacked into one matvec each (model.rs), integer products took a
//! 911-token decode from 42 to 51 tok/s over unpacking to floats.

use candle_core::quantized::{GgmlDType, QTensor};

/// Weights per block, in both formats.
const BLOCK: usize = 32;
/// Q4_1: an f16 scale, an f16 minimum, 16 bytes of nibbles.
const Q4_1_BYTES: usize = 20;
/// Q8_0: an f16 scale and 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Output rows per parallel task: enough work to be worth a thread hand-off.
const ROWS_PER_TASK: usize = 64;

/// A (rows, cols) quantised matrix, laid out for the kernels: per block, its
/// scale as f32 and its weights.
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    scales: Vec<f32>,
    weights: Weights,
}

enum Weights {
    /// Per block, the minimum as f32 and 16 bytes of nibbles (ggml order:
    /// byte j holds weight j in its low nibble and weight j + 16 in its high
    /// nibble); a weight is `scale * nibble + min`.
    Q4_1 { mins: Vec<f32>, nibbles: Vec<u8> },
    /// Per block, 32 signed bytes; a weight is `scale * byte`.
    Q8_0 { quants: Vec<i8> },
}

impl QuantMatrix {
    /// The matrix of a 2-D quantised tensor whose rows are whole blocks;
    /// None for f32/f16 weights (those go through candle's gemm). Q4_1 and
    /// Q8_0 are read as they are; other quantised types (Q4_0, Q5_x, the
    /// k-quants of a Q4_K_M file...) are converted to Q8_0 once at load: the
    /// kernels candle has for them are compiled for plain x86-64 here, i.e.
    /// scalar, and 8-bit weights through ours cost fewer cycles than 4-bit
    /// ones through those. The conversion adds an error ~1/250 of each block's
    /// largest weight, far under the 4-bit format's own.
    pub fn from_qtensor(tensor: &QTensor) -> Option<Self> {
        let block_bytes = match tensor.dtype() {
            GgmlDType::Q4_1 => Q4_1_BYTES,
            GgmlDType::Q8_0 => Q8_0_BYTES,
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => return None,
            _ => {
                let values = tensor.dequantize(&candle_core::Device::Cpu).ok()?;
                let converted = QTensor::quantize(&values, GgmlDType::Q8_0).ok()?;
                return Self::from_qtensor(&converted);
            }
        };
        let (rows, cols) = tensor.shape().dims2().ok()?;
        if cols % BLOCK != 0 {
            return None;
        }
        let data = tensor.data().ok()?;
        let blocks = rows * cols / BLOCK;
        if data.len() != blocks * block_bytes {
            return None;
        }
        let scale = |block: &[u8]| half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let scales = data.chunks_exact(block_bytes).map(scale).collect();
        let weights = if block_bytes == Q4_1_BYTES {
            let mut mins = Vec::with_capacity(blocks);
            let mut nibbles = Vec::with_capacity(blocks * 16);
            for block in data.chunks_exact(block_bytes) {
                mins.push(half::f16::from_le_bytes([block[2], block[3]]).to_f32());
                nibbles.extend_from_slice(&block[4..]);
            }
            Weights::Q4_1 { mins, nibbles }
        } else {
            let quants = data
                .chunks_exact(block_bytes)
                .flat_map(|block| block[2..].iter().map(|&b| b as i8))
                .collect();
            Weights::Q8_0 { quants }
        };
        Some(QuantMatrix {
            rows,
            cols,
            scales,
            weights,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The rows of several matrices of one format and input width, one after
    /// the other: Q, K and V (or gate and up) in one matvec, so decoding pays
    /// one thread hand-off where it paid three.
    pub fn stacked(parts: &[&QuantMatrix]) -> Option<Self> {
        let first = parts.first()?;
        let mut weights = match first.weights {
            Weights::Q4_1 { .. } => Weights::Q4_1 {
                mins: Vec::new(),
                nibbles: Vec::new(),
            },
            Weights::Q8_0 { .. } => Weights::Q8_0 { quants: Vec::new() },
        };
        let mut all_scales = Vec::new();
        let mut rows = 0;
        for part in parts {
            if part.cols != first.cols {
                return None;
            }
            match (&mut weights, &part.weights) {
                (
                    Weights::Q4_1 { mins, nibbles },
                    Weights::Q4_1 {
                        mins: m,
                        nibbles: n,
                    },
                ) => {
                    mins.extend_from_slice(m);
                    nibbles.extend_from_slice(n);
                }
                (Weights::Q8_0 { quants }, Weights::Q8_0 { quants: q }) => {
                    quants.extend_from_slice(q)
                }
                _ => return None,
            }
            rows += part.rows;
            all_scales.extend_from_slice(&part.scales);
        }
        Some(QuantMatrix {
            rows,
            cols: first.cols,
            scales: all_scales,
            weights,
        })
    }

    /// Row `row` as floats: a token's embedding, when the table is quantised.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(row < self.rows, "row {row} of {}", self.rows);
        assert_eq!(out.len(), self.cols, "output length");
        let per_row = self.cols / BLOCK;
        for (b, out) in out.chunks_exact_mut(BLOCK).enumerate() {
            let block = row * per_row + b;
            let d = self.scales[block];
            match &self.weights {
                Weights::Q4_1 { mins, nibbles } => {
                    let m = mins[block];
                    for (j, &byte) in nibbles[block * 16..block * 16 + 16].iter().enumerate() {
                        out[j] = d * f32::from(byte & 0x0F) + m;
                        out[j + 16] = d * f32::from(byte >> 4) + m;
                    }
                }
                Weights::Q8_0 { quants } => {
                    for (o, &q) in out
                        .iter_mut()
                        .zip(&quants[block * BLOCK..(block + 1) * BLOCK])
                    {
                        *o = d * f32::from(q);
                    }
                }
            }
        }
    }

    /// `out[r] = sum_c w[r][c] * x[c]`, rows split across the rayon pool.
    /// With AVX2, `x` is first quantised to 8 bits per value (one scale per
    /// block of 32, as llama.cpp does for this product) so that each block is
    /// a handful of integer multiply-adds instead of 32 conversions to float.
    pub fn matvec(&self, x: &[f32], out: &mut [f32]) {
        use rayon::prelude::*;
        assert_eq!(x.len(), self.cols, "input length");
        assert_eq!(out.len(), self.rows, "output length");
        let kernel = Kernel::detect();
        let input = Input::new(x, kernel);
        out.par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(task, chunk)| {
                for (i, value) in chunk.iter_mut().enumerate() {
                    *value = self.row_dot(task * ROWS_PER_TASK + i, &input, kernel);
                }
            });
    }

    /// `n` rows of input (`x` is `n * cols` values) times the matrix: `out`
    /// holds `n` rows of `rows` values. A task takes a band of weight rows
    /// and runs every input row through it while the band is in cache, so
    /// the weights are read from memory once per call, not once per row.
    pub fn matmul(&self, x: &[f32], n: usize, out: &mut [f32]) {
        use rayon::prelude::*;
        if n == 1 {
            return self.matvec(x, out);
        }
        assert_eq!(x.len(), n * self.cols, "input length");
        assert_eq!(out.len(), n * self.rows, "output length");
        let kernel = Kernel::detect();
        let inputs: Vec<Input> = x
            .chunks_exact(self.cols)
            .map(|row| Input::new(row, kernel))
            .collect();
        // Per band, its outputs for every input row: [band row][input row].
        let mut by_weight_row = vec![0.0; n * self.rows];
        by_weight_row
            .par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(task, band)| {
                for (i, values) in band.chunks_exact_mut(n).enumerate() {
                    let row = task * ROWS_PER_TASK + i;
                    for (value, input) in values.iter_mut().zip(&inputs) {
                        *value = self.row_dot(row, input, kernel);
                    }
                }
            });
        for (row, values) in by_weight_row.chunks_exact(n).enumerate() {
            for (j, &value) in values.iter().enumerate() {
                out[j * self.rows + row] = value;
            }
        }
    }

    fn row_dot(&self, row: usize, input: &Input, kernel: Kernel) -> f32 {
        let per_row = self.cols / BLOCK;
        let blocks = row * per_row..(row + 1) * per_row;
        let scales = &self.scales[blocks.clone()];
        match &self.weights {
            Weights::Q4_1 { mins, nibbles } => {
                let nibbles = &nibbles[blocks.start * 16..blocks.end * 16];
                // sum(w * x) over a block = d * sum(q * x) + m * sum(x): the
                // block sums of x are shared by every row.
                let offset: f32 = mins[blocks]
                    .iter()
                    .zip(&input.sums)
                    .map(|(m, s)| m * s)
                    .sum();
                let scaled = match kernel {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `Kernel::detect` chose Avx2 only when the CPU
                    // has AVX2 and FMA; `Input::new` quantised x for it.
                    Kernel::Avx2 => unsafe {
                        avx2::dot_q4_1(scales, nibbles, &input.quantized, &input.quantized_scales)
                    },
                    Kernel::Scalar => scalar_dot_q4_1(scales, nibbles, input.values),
                };
                scaled + offset
            }
            Weights::Q8_0 { quants } => {
                let quants = &quants[blocks.start * BLOCK..blocks.end * BLOCK];
                match kernel {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: as above.
                    Kernel::Avx2 => unsafe {
                        avx2::dot_q8_0(scales, quants, &input.quantized, &input.quantized_scales)
                    },
                    Kernel::Scalar => scalar_dot_q8_0(scales, quants, input.values),
                }
            }
        }
    }
}

/// The input of a matvec, prepared once for all rows.
struct Input<'a> {
    values: &'a [f32],
    /// Per block of 32: the sum of the values.
    sums: Vec<f32>,
    /// For the AVX2 kernel: the values as i8, and per block the scale back.
    quantized: Vec<i8>,
    quantized_scales: Vec<f32>,
}

impl<'a> Input<'a> {
    fn new(values: &'a [f32], kernel: Kernel) -> Self {
        if kernel == Kernel::Scalar {
            return Input {
                values,
                sums: values.chunks_exact(BLOCK).map(|b| b.iter().sum()).collect(),
                quantized: Vec::new(),
                quantized_scales: Vec::new(),
            };
        }
        let blocks = values.len() / BLOCK;
        let mut quantized = Vec::with_capacity(values.len());
        let mut quantized_scales = Vec::with_capacity(blocks);
        let mut sums = Vec::with_capacity(blocks);
        for block in values.chunks_exact(BLOCK) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let start = quantized.len();
            quantized.extend(block.iter().map(|v| (v * inverse).round() as i8));
            // The sum of the quantised values, not of the exact ones: then a
            // Q4_1 row's products are (d q + m) times the same 8-bit input,
            // and the rounding errors meet the weights themselves rather than
            // weights shifted by their block minimum (measured: logits off by
            // 0.45 rms with exact sums, as against 0.18 in llama.cpp, which
            // does the same as this).
            let total: i32 = quantized[start..].iter().map(|&q| i32::from(q)).sum();
            sums.push(scale * total as f32);
            quantized_scales.push(scale);
        }
        Input {
            values,
            sums,
            quantized,
            quantized_scales,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Scalar,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Kernel::Avx2;
        }
        Kernel::Scalar
    }
}

/// `sum_b d_b * sum_i q_bi * x_bi` (the minimums are added by the caller).
fn scalar_dot_q4_1(scales: &[f32], nibbles: &[u8], x: &[f32]) -> f32 {
    let mut total = 0.0;
    for ((d, qs), xs) in scales
        .iter()
        .zip(nibbles.chunks_exact(16))
        .zip(x.chunks_exact(BLOCK))
    {
        let mut sum = 0.0;
        for (j, &byte) in qs.iter().enumerate() {
            sum += f32::from(byte & 0x0F) * xs[j] + f32::from(byte >> 4) * xs[j + 16];
        }
        total += d * sum;
    }
    total
}

/// `sum_b d_b * sum_i q_bi * x_bi` for Q8_0 weights.
fn scalar_dot_q8_0(scales: &[f32], quants: &[i8], x: &[f32]) -> f32 {
    scales
        .iter()
        .zip(quants.chunks_exact(BLOCK))
        .zip(x.chunks_exact(BLOCK))
        .map(|((d, qs), xs)| {
            d * qs
                .iter()
                .zip(xs)
                .map(|(&q, x)| f32::from(q) * x)
                .sum::<f32>()
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::BLOCK;

    /// `sum_b d_b * e_b * sum_i q_bi * y_bi` for 4-bit weights q (scales d)
    /// and 8-bit inputs y (scales e): per block, the 32 nibbles are spread to
    /// 32 bytes and multiplied with the inputs as integers.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; per scale, `nibbles` holds 16 bytes
    /// and `inputs` 32 values; `input_scales` has one per scale.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q4_1(
        scales: &[f32],
        nibbles: &[u8],
        inputs: &[i8],
        input_scales: &[f32],
    ) -> f32 {
        debug_assert_eq!(nibbles.len(), scales.len() * 16);
        debug_assert_eq!(inputs.len(), scales.len() * BLOCK);
        debug_assert_eq!(input_scales.len(), scales.len());
        let low_mask = _mm_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 2];
        for (b, (&d, &e)) in scales.iter().zip(input_scales).enumerate() {
            let qs = _mm_loadu_si128(nibbles.as_ptr().add(b * 16) as *const __m128i);
            // Weights 0-15 are the low nibbles, 16-31 the high ones.
            let weights = _mm256_set_m128i(
                _mm_and_si128(_mm_srli_epi16(qs, 4), low_mask),
                _mm_and_si128(qs, low_mask),
            );
            let ys = _mm256_loadu_si256(inputs.as_ptr().add(b * BLOCK) as *const __m256i);
            // u8 x i8 pairs summed to i16 (at most 2 * 15 * 127), then to i32.
            let pairs = _mm256_maddubs_epi16(weights, ys);
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[b % 2] = _mm256_fmadd_ps(_mm256_set1_ps(d * e), sums, acc[b % 2]);
        }
        horizontal_sum(_mm256_add_ps(acc[0], acc[1]))
    }

    /// `sum_b d_b * e_b * sum_i q_bi * y_bi` for 8-bit weights q (scales d)
    /// and 8-bit inputs y (scales e). `maddubs` multiplies unsigned by signed
    /// bytes, so the weights' signs move onto the inputs first (|q| * sign(q) y).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; per scale, `quants` and `inputs`
    /// hold 32 values; `input_scales` has one per scale.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q8_0(
        scales: &[f32],
        quants: &[i8],
        inputs: &[i8],
        input_scales: &[f32],
    ) -> f32 {
        debug_assert_eq!(quants.len(), scales.len() * BLOCK);
        debug_assert_eq!(inputs.len(), scales.len() * BLOCK);
        debug_assert_eq!(input_scales.len(), scales.len());
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 2];
        for (b, (&d, &e)) in scales.iter().zip(input_scales).enumerate() {
            let qs = _mm256_loadu_si256(quants.as_ptr().add(b * BLOCK) as *const __m256i);
            let ys = _mm256_loadu_si256(inputs.as_ptr().add(b * BLOCK) as *const __m256i);
            // |q| is at most 128 and |y| 127: a pair sums to at most 32,512.
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(qs, qs), _mm256_sign_epi8(ys, qs));
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[b % 2] = _mm256_fmadd_ps(_mm256_set1_ps(d * e), sums, acc[b % 2]);
        }
        horizontal_sum(_mm256_add_ps(acc[0], acc[1]))
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        let sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
        _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn matrix(rows: usize, cols: usize) -> (Tensor, QTensor) {
        matrix_of(GgmlDType::Q4_1, rows, cols)
    }

    fn matrix_of(dtype: GgmlDType, rows: usize, cols: usize) -> (Tensor, QTensor) {
        // A deterministic spread of values, positive and negative.
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % 13) as f32 / 10.0))
            .collect();
        let dense = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&dense, dtype).unwrap();
        (dense, q)
    }

    #[test]
    fn matvec_matches_the_dequantised_weights() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            matvec_matches_the_dequantised_weights_of(dtype);
        }
    }

    fn matvec_matches_the_dequantised_weights_of(dtype: GgmlDType) {
        let (rows, cols) = (130, 96);
        let (_, q) = matrix_of(dtype, rows, cols);
        let reference = q.dequantize(&Device::Cpu).unwrap();
        let m = QuantMatrix::from_qtensor(&q).expect("a matrix we read");
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let x_t = Tensor::from_slice(&x, (cols, 1), &Device::Cpu).unwrap();
        let want: Vec<f32> = reference
            .matmul(&x_t)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();

        let mut got = vec![0.0; rows];
        m.matvec(&x, &mut got);
        let exact = Input::new(&x, Kernel::Scalar);
        // The 8-bit input is off by up to half a step (|x|max / 254) per value.
        let step: f32 = x
            .chunks_exact(BLOCK)
            .map(|b| b.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 254.0 * BLOCK as f32)
            .sum();
        let w_max = 2.5;
        for (r, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-3 * (1.0 + w.abs()) + step * w_max,
                "{dtype:?} row {r}: {g} vs {w}"
            );
            let scalar = m.row_dot(r, &exact, Kernel::Scalar);
            assert!(
                (scalar - w).abs() <= 1e-3 * (1.0 + w.abs()),
                "{dtype:?} scalar row {r}"
            );
        }
        // Rows come back as candle dequantises them (token embeddings).
        let table: Vec<Vec<f32>> = reference.to_vec2().unwrap();
        let mut row = vec![0.0; cols];
        for r in [0, 57, rows - 1] {
            m.dequantize_row(r, &mut row);
            for (got, want) in row.iter().zip(&table[r]) {
                assert!((got - want).abs() <= 1e-6, "{dtype:?} row {r}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_term_of_a_row_sees_the_same_8_bit_input() {
        // A Q4_1 weight is d q + m; its product with the 8-bit input must be
        // (d q + m) times that input, the minimum's term included. Using the
        // exact input there made the output's rounding error 2.4 times (measured
        // on SmolLM2's logits: 0.45 rms off the f32 result, against 0.18 for
        // llama.cpp and 0.19 with this).
        if Kernel::detect() != Kernel::Avx2 {
            return; // nothing to compare on this CPU
        }
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let (rows, cols) = (40, 256);
            let (_, q) = matrix_of(dtype, rows, cols);
            let m = QuantMatrix::from_qtensor(&q).expect("a matrix we read");
            // Values that do not fall on the 8-bit steps.
            let x: Vec<f32> = (0..cols)
                .map(|i| ((i as f32) * 0.7331).sin() * 3.0)
                .collect();
            let input = Input::new(&x, Kernel::Avx2);
            let seen: Vec<f32> = input
                .quantized
                .chunks_exact(BLOCK)
                .zip(&input.quantized_scales)
                .flat_map(|(qs, &e)| qs.iter().map(move |&q| f32::from(q) * e))
                .collect();
            let mut row = vec![0.0; cols];
            for r in 0..rows {
                m.dequantize_row(r, &mut row);
                let expected: f32 = row.iter().zip(&seen).map(|(w, y)| w * y).sum();
                let got = m.row_dot(r, &input, Kernel::Avx2);
                assert!(
                    (got - expected).abs() <= 1e-4 * (1.0 + expected.abs()),
                    "{dtype:?} row {r}: {got} vs {expected}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_integer_kernel_is_exact_on_exact_inputs() {
        if Kernel::detect() != Kernel::Avx2 {
            return; // nothing to compare on this CPU
        }
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            the_integer_kernel_is_exact_on_exact_inputs_of(dtype);
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn the_integer_kernel_is_exact_on_exact_inputs_of(dtype: GgmlDType) {
        // Inputs that are whole multiples of their block's step quantise
        // without error, so the integer kernel must agree with the float one.
        let (rows, cols) = (70, 128);
        let (_, q) = matrix_of(dtype, rows, cols);
        let m = QuantMatrix::from_qtensor(&q).expect("a matrix we read");
        // Whole steps of 0.01, each block holding one full-scale value.
        let x: Vec<f32> = (0..cols)
            .map(|i| {
                let step = if i % BLOCK == 0 {
                    127.0
                } else {
                    (i * 37 % 255) as f32 - 127.0
                };
                step * 0.01
            })
            .collect();
        let quantized = Input::new(&x, Kernel::Avx2);
        let exact = Input::new(&x, Kernel::Scalar);
        for r in 0..rows {
            let a = m.row_dot(r, &quantized, Kernel::Avx2);
            let b = m.row_dot(r, &exact, Kernel::Scalar);
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{dtype:?} row {r}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn stacked_matrices_give_their_rows_in_order() {
        let (_, a) = matrix(64, 64);
        let (_, b) = matrix(40, 64);
        let (a, b) = (
            QuantMatrix::from_qtensor(&a).expect("a"),
            QuantMatrix::from_qtensor(&b).expect("b"),
        );
        let both = QuantMatrix::stacked(&[&a, &b]).expect("same width");
        let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.3).cos()).collect();
        let (mut ya, mut yb, mut yab) = (vec![0.0; 64], vec![0.0; 40], vec![0.0; 104]);
        a.matvec(&x, &mut ya);
        b.matvec(&x, &mut yb);
        both.matvec(&x, &mut yab);
        assert_eq!(&yab[..64], &ya[..]);
        assert_eq!(&yab[64..], &yb[..]);
        let (_, c) = matrix(4, 32);
        let c = QuantMatrix::from_qtensor(&c).expect("c");
        assert!(QuantMatrix::stacked(&[&a, &c]).is_none(), "widths differ");
        let (_, d) = matrix_of(GgmlDType::Q8_0, 4, 64);
        let d = QuantMatrix::from_qtensor(&d).expect("d");
        assert!(QuantMatrix::stacked(&[&a, &d]).is_none(), "formats differ");
    }

    #[test]
    fn float_weights_are_left_to_candle() {
        let dense = Tensor::zeros((4, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        for dtype in [GgmlDType::F32, GgmlDType::F16] {
            let q = QTensor::quantize(&dense, dtype).unwrap();
            assert!(QuantMatrix::from_qtensor(&q).is_none(), "{dtype:?}");
        }
    }

    #[test]
    fn other_quantised_types_are_converted_to_q8_0() {
        // Q4_0 (legacy) and Q4_K (the bulk of a Q4_K_M file; rows of 256).
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q4K, GgmlDType::Q6K] {
            let (rows, cols) = (40, 512);
            let (_, q) = matrix_of(dtype, rows, cols);
            let table: Vec<Vec<f32>> = q.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
            let m = QuantMatrix::from_qtensor(&q).expect("converted");
            assert!(matches!(m.weights, Weights::Q8_0 { .. }), "{dtype:?}");
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut got = vec![0.0; rows];
            m.matvec(&x, &mut got);
            let mut row = vec![0.0; cols];
            for r in 0..rows {
                // Rounding to 8 bits moves a weight by at most half a step,
                // 1/254 of its block's largest weight, and the step's own
                // rounding to f16 (2^-11) by up to 127 of those: 12% more.
                let half_steps: Vec<f32> = table[r]
                    .chunks_exact(BLOCK)
                    .map(|b| b.iter().fold(0.0f32, |m, w| m.max(w.abs())) / 254.0)
                    .collect();
                m.dequantize_row(r, &mut row);
                for (c, (got, want)) in row.iter().zip(&table[r]).enumerate() {
                    assert!(
                        (got - want).abs() <= half_steps[c / BLOCK] * 1.13 + 1e-6,
                        "{dtype:?} row {r} col {c}: {got} vs {want}"
                    );
                }
                let want: f32 = table[r].iter().zip(&x).map(|(w, x)| w * x).sum();
                let weight_error: f32 = x
                    .iter()
                    .enumerate()
                    .map(|(c, x)| x.abs() * half_steps[c / BLOCK] * 1.13)
                    .sum();
                // Plus the 8-bit input's own rounding (as in the test above).
                let input_error: f32 = x
                    .chunks_exact(BLOCK)
                    .map(|b| b.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 254.0 * BLOCK as f32)
                    .sum::<f32>()
                    * 2.5;
                assert!(
                    (got[r] - want).abs() <= weight_error + input_error + 1e-3,
                    "{dtype:?} row {r}: {} vs {want}",
                    got[r]
                );
            }
        }
    }

    #[test]
    fn a_matmul_is_a_matvec_per_row() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let (rows, cols, n) = (150, 64, 5);
            let (_, q) = matrix_of(dtype, rows, cols);
            let m = QuantMatrix::from_qtensor(&q).unwrap();
            let x: Vec<f32> = (0..n * cols).map(|i| (i as f32 * 0.21).cos()).collect();
            let mut all = vec![0.0; n * rows];
            m.matmul(&x, n, &mut all);
            for (input, want_row) in x.chunks_exact(cols).zip(all.chunks_exact(rows)) {
                let mut got = vec![0.0; rows];
                m.matvec(input, &mut got);
                assert_eq!(got, want_row, "{dtype:?}");
            }
        }
    }
}
