//! The products of one run of rows in one format, on the kernel detected:
//! the row-at-a-time kernels' dispatch (the 16-row prompt kernels take a
//! run's rows through `QuantMatrix::banded_products`).

use super::cpu::Kernel;
use super::input::{Input, KInput};
use super::interleaved::BAND;
use super::kquants::{self, QK};
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512, vnni, vnni_decode};
use super::{scalar, Part, Weights, BLOCK};

impl Part {
    /// Rows `first..first + out.len() / inputs.len()` of this run times
    /// every input, into `out[row][input]`.
    pub(super) fn products(
        &self,
        cols: usize,
        first: usize,
        inputs: &[&Input],
        out: &mut [f32],
        kernel: Kernel,
    ) {
        let n = inputs.len();
        let rows = out.len() / n;
        if let Weights::Interleaved(w) = &self.weights {
            // Runs of interleaved rows start and end on bands (`stacked`), tasks on 64 rows.
            let w = w.bands(first / BAND, rows / BAND, cols / QK);
            match kernel {
                // SAFETY: `Kernel::Avx512Vnni` and `Kernel::Amx` are only made
                // by detection, when the CPU has AVX-512 F/BW/VL/VNNI, AVX2 and
                // FMA; `Input::new` prepared `k` for them.
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512Vnni(_) | Kernel::Amx(_) => unsafe {
                    let xs: Vec<&KInput> = inputs.iter().map(|input| &input.k).collect();
                    vnni_decode::k_products(&w, &xs, out)
                },
                // Loading picks this layout for the kernels above only; any
                // other gets the reference products.
                _ => {
                    let xs: Vec<&[f32]> = inputs.iter().map(|input| input.values).collect();
                    w.reference_products(&xs, out)
                }
            }
            return;
        }
        if let Weights::K(k) = &self.weights {
            let w = k.rows(first, rows, cols / QK);
            let xs: Vec<&KInput> = inputs.iter().map(|input| &input.k).collect();
            match kernel {
                Kernel::Scalar => {
                    let xs: Vec<&[f32]> = inputs.iter().map(|input| input.values).collect();
                    kquants::scalar_products(&w, &xs, out)
                }
                // SAFETY: `Kernel::Avx2` is only made by detection, when the
                // CPU has AVX2 and FMA; `Input::new` prepared `k` for it.
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2(_) => unsafe { avx2::k_products(&w, &xs, out) },
                // SAFETY: `Kernel::Avx512` is only made by detection, when the
                // CPU has AVX-512 F/BW/VL, AVX2 and FMA; `Input::new` prepared `k` for it.
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512(_) => unsafe { avx512::k_products(&w, &xs, out, false) },
                // SAFETY: `Kernel::Avx512Vnni` and `Kernel::Amx` are only made
                // by detection, when the CPU has AVX-512 F/BW/VL/VNNI, AVX2 and
                // FMA; `Input::new` prepared `k` for them.
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512Vnni(_) | Kernel::Amx(_) => unsafe {
                    avx512::k_products(&w, &xs, out, true)
                },
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let (Weights::Q8_0 { scales, quants }, Kernel::Avx512Vnni(_) | Kernel::Amx(_)) =
            (&self.weights, kernel)
        {
            let rows = (first, rows);
            // SAFETY: `Kernel::Avx512Vnni` is only made by detection, when the
            // CPU has AVX-512 F/BW/VL/VNNI; `Input::new` quantised the inputs.
            unsafe { vnni::q8_0_products(scales, quants, cols / BLOCK, rows, inputs, out) };
            return;
        }
        for (r, values) in out.chunks_exact_mut(n).enumerate() {
            for (value, input) in values.iter_mut().zip(inputs) {
                *value = self.legacy_dot(cols, first + r, input, kernel);
            }
        }
    }

    fn legacy_dot(&self, cols: usize, row: usize, input: &Input, kernel: Kernel) -> f32 {
        let per_row = cols / BLOCK;
        let blocks = row * per_row..(row + 1) * per_row;
        let quantized = (&input.quantized[..], &input.quantized_scales[..]);
        match &self.weights {
            Weights::Q4_1 {
                scales,
                mins,
                nibbles,
            } => {
                let scales = &scales[blocks.clone()];
                let nibbles = &nibbles[blocks.start * 16..blocks.end * 16];
                // sum(w * x) over a block = d * sum(q * x) + m * sum(x): the
                // block sums of x are shared by every row.
                let offset: f32 = mins[blocks]
                    .iter()
                    .zip(&input.sums)
                    .map(|(m, s)| m * s)
                    .sum();
                let scaled = match kernel {
                    Kernel::Scalar => scalar::dot_q4_1(scales, nibbles, input.values),
                    // SAFETY: both SIMD kernels imply AVX2 and FMA (detected);
                    // `Input::new` quantised x for them.
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx2(_)
                    | Kernel::Avx512(_)
                    | Kernel::Avx512Vnni(_)
                    | Kernel::Amx(_) => unsafe {
                        avx2::dot_q4_1(scales, nibbles, quantized.0, quantized.1)
                    },
                };
                scaled + offset
            }
            Weights::Q8_0 { scales, quants } => {
                let scales = &scales[blocks.clone()];
                let quants = &quants[blocks.start * BLOCK..blocks.end * BLOCK];
                match kernel {
                    Kernel::Scalar => scalar::dot_q8_0(scales, quants, input.values),
                    // SAFETY: every SIMD kernel implies AVX2 and FMA (detected);
                    // `Input::new` quantised x for them.
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx2(_)
                    | Kernel::Avx512(_)
                    | Kernel::Avx512Vnni(_)
                    | Kernel::Amx(_) => unsafe {
                        avx2::dot_q8_0(scales, quants, quantized.0, quantized.1)
                    },
                }
            }
            Weights::K(_) | Weights::Interleaved(_) => {
                unreachable!("k-quant rows go through the tiles")
            }
        }
    }
}
