//! The speed the k-quant kernel in use reaches when memory is not in the
//! way: weights small enough to stay in cache, multiplied with a prompt's
//! worth of inputs. Prefill can approach it; `rag models roofline` reports
//! prefill as a share of it.

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::cpu::Kernel;
use super::{QuantMatrix, Rows};

/// A Q4_K matrix of this shape is ~0.6 MB: it stays in L2/L3 between calls.
const ROWS: usize = 512;
const COLS: usize = 2048;
/// Inputs per call: a prompt batch's worth, so the weights are unpacked
/// once per many products as in prefill.
const INPUTS: usize = 64;

/// The kernel in use, and the multiply-adds (counted as two operations)
/// per second it reaches on cached Q4_K weights, measured for about
/// `seconds` on the rayon pool.
pub fn kernel_peak(seconds: f64) -> candle_core::Result<(String, f64)> {
    let kernel = Kernel::detect();
    let wave = |i: usize, f: f32| ((i as f32) * f).sin();
    let weights: Vec<f32> = (0..ROWS * COLS).map(|i| wave(i, 0.37)).collect();
    let tensor = Tensor::from_vec(weights, (ROWS, COLS), &Device::Cpu)?;
    let quantized = QTensor::quantize(&tensor, GgmlDType::Q4K)?;
    let matrix = QuantMatrix::from_qtensor(&quantized)?
        .ok_or_else(|| candle_core::Error::Msg("Q4_K is read natively".into()))?;
    let inputs: Vec<f32> = (0..INPUTS * COLS).map(|i| wave(i, 0.11)).collect();
    let mut out = vec![0.0; INPUTS * ROWS];
    // The first call warms the caches and the pool.
    matrix.matmul_with(&inputs, INPUTS, &mut out, kernel, Rows::Prompt);
    let start = Instant::now();
    let mut calls = 0u32;
    while calls == 0 || start.elapsed().as_secs_f64() < seconds {
        matrix.matmul_with(&inputs, INPUTS, &mut out, kernel, Rows::Prompt);
        calls += 1;
    }
    let ops = 2.0 * (ROWS * COLS * INPUTS) as f64 * f64::from(calls);
    Ok((kernel.name(), ops / start.elapsed().as_secs_f64()))
}
