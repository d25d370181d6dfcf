use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::{Device, Tensor};

use super::*;

/// Every kernel this CPU runs (the scalar one always), saying on stderr which
/// SIMD ones it cannot, so a pass on such a CPU does not pass for theirs.
fn kernels() -> Vec<Kernel> {
    let kernels = Kernel::available();
    let names: Vec<String> = kernels.iter().map(|k| format!("{k:?}")).collect();
    for (simd, feature) in [
        ("Avx2(", "avx2/fma"),
        ("Avx512(", "avx512f/bw/vl"),
        ("Avx512Vnni(", "avx512vnni"),
        ("Amx(", "amx-int8"),
    ] {
        if !names.iter().any(|n| n.starts_with(simd)) {
            eprintln!("skipped: CPU lacks {feature}; its {simd}..) kernels go untested here");
        }
    }
    kernels
}

/// A small deterministic generator (xorshift), for random weights and bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn matrix_of(dtype: GgmlDType, rows: usize, cols: usize) -> QTensor {
    // A deterministic spread of values, positive and negative.
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % 13) as f32 / 10.0))
        .collect();
    let dense = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
    QTensor::quantize(&dense, dtype).unwrap()
}

/// Random values, some rows scaled up or down by 10^3 per superblock.
fn random_matrix(dtype: GgmlDType, rows: usize, cols: usize, seed: u64) -> QTensor {
    let mut rng = Rng(seed);
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let scale = match (i / cols % 5, i % cols / 256 % 3) {
                (1, 0) => 1e3,
                (2, 1) => 1e-3,
                (3, _) => 0.0,
                _ => 1.0,
            };
            rng.unit() * scale
        })
        .collect();
    let dense = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
    QTensor::quantize(&dense, dtype).unwrap()
}

/// Blocks of random bytes, every bit pattern of scales and quants allowed
/// (6-bit scales and minimums up to 63, Q6_K scales down to -128), with
/// finite superblock scales.
fn random_blocks(format: KFormat, rows: usize, cols: usize, seed: u64) -> QTensor {
    let mut rng = Rng(seed);
    let blocks = rows * cols / QK;
    let mut data: Vec<u8> = (0..blocks * format.block_bytes())
        .map(|_| rng.next() as u8)
        .collect();
    for block in data.chunks_exact_mut(format.block_bytes()) {
        let mut f16 = || half::f16::from_f32(rng.unit() * 0.02).to_le_bytes();
        match format {
            KFormat::Q4K | KFormat::Q5K => {
                block[0..2].copy_from_slice(&f16());
                block[2..4].copy_from_slice(&f16());
            }
            KFormat::Q6K => block[208..210].copy_from_slice(&f16()),
        }
    }
    let dtype = match format {
        KFormat::Q4K => GgmlDType::Q4K,
        KFormat::Q5K => GgmlDType::Q5K,
        KFormat::Q6K => GgmlDType::Q6K,
    };
    qtensor_from_ggml(dtype, &data, vec![rows, cols], &Device::Cpu).unwrap()
}

fn input(cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    (0..cols).map(|_| rng.unit() * 2.0).collect()
}

/// The values a kernel sees for `x`: itself for the scalar kernel, its 8-bit
/// form (blocks of 32 or 256) for the SIMD ones.
fn seen(x: &[f32], kernel: Kernel, k_quant: bool) -> Vec<f32> {
    let needs = Needs {
        legacy: !k_quant,
        k: k_quant,
    };
    let input = Input::new(x, kernel, needs);
    if kernel == Kernel::Scalar {
        return x.to_vec();
    }
    let (q, d, block) = if k_quant {
        (&input.k.q, &input.k.d, QK)
    } else {
        (&input.quantized, &input.quantized_scales, BLOCK)
    };
    q.iter()
        .enumerate()
        .map(|(i, &q)| f32::from(q) * d[i / block])
        .collect()
}

/// Checks every kernel's products against the dequantised weights times
/// the input each kernel sees, for 1..n inputs at once (n in the set the
/// brief names) and for matvec.
fn check_products(q: &QTensor, what: &str) {
    let (rows, cols) = q.shape().dims2().unwrap();
    let table: Vec<Vec<f32>> = q.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
    for kernel in kernels() {
        // Each kernel on the layout loading picks for it.
        let m = QuantMatrix::from_qtensor_for(q, kernel)
            .unwrap()
            .expect("a matrix we read");
        let k_quant = m.needs().k;
        // Rows come back as candle dequantises them (token embeddings).
        let mut row = vec![0.0; cols];
        for (r, want) in table.iter().enumerate() {
            m.dequantize_row(r, &mut row);
            assert_eq!(&row, want, "{what} {kernel:?}: row {r} dequantised");
        }
        // 17 and 40: one and three tiles of 16 inputs (AMX), the last part full;
        // 70: past a pass of 64 inputs (the 16-row kernels).
        for (n, mode) in [1, 2, 3, 5, MATVEC_EXACT_INPUTS, 17, 40, 70]
            .into_iter()
            .flat_map(|n| [(n, Rows::Exact), (n, Rows::Prompt)])
        {
            let x: Vec<f32> = (0..n).flat_map(|i| input(cols, 7 + i as u64)).collect();
            let mut got = vec![0.0; n * rows];
            m.matmul_with(&x, n, &mut got, kernel, mode);
            for (i, (x, got)) in x.chunks_exact(cols).zip(got.chunks_exact(rows)).enumerate() {
                let y = seen(x, kernel, k_quant);
                for (r, (w, &g)) in table.iter().zip(got).enumerate() {
                    let want: f64 = w.iter().zip(&y).map(|(&w, &y)| w as f64 * y as f64).sum();
                    let size: f64 = w.iter().zip(&y).map(|(&w, &y)| (w * y).abs() as f64).sum();
                    assert!(
                        (g as f64 - want).abs() <= 2e-5 * size + 1e-6,
                        "{what} {kernel:?} {mode:?} n={n} input {i} row {r}: {g} vs {want}"
                    );
                }
                // Exact: what matvec gives; a prompt's row: what it gives alone.
                let mut single = vec![0.0; rows];
                m.matmul_with(x, 1, &mut single, kernel, mode);
                assert_eq!(
                    &single, got,
                    "{what} {kernel:?} {mode:?}: n={n}, row {i} alone"
                );
            }
        }
    }
}

#[test]
fn legacy_products_match_the_dequantised_weights() {
    for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
        check_products(&matrix_of(dtype, 130, 96), &format!("{dtype:?}"));
    }
}

#[test]
fn k_quant_products_match_the_dequantised_weights() {
    // 150 rows: several tasks, and a last tile of 2 rows; 176: whole bands
    // of 16 (Q4_K interleaved where the CPU has AVX-512 VNNI), the last task
    // of 48 rows.
    for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
        check_products(&random_matrix(dtype, 150, 512, 3), &format!("{dtype:?}"));
        check_products(
            &random_matrix(dtype, 176, 768, 4),
            &format!("{dtype:?} bands"),
        );
        check_products(&matrix_of(dtype, 37, 768), &format!("{dtype:?} spread"));
    }
}

#[test]
fn k_quant_products_hold_for_any_block_bytes() {
    for format in [KFormat::Q4K, KFormat::Q5K, KFormat::Q6K] {
        check_products(
            &random_blocks(format, 69, 512, 11),
            &format!("{format:?} bytes"),
        );
        check_products(
            &random_blocks(format, 32, 512, 12),
            &format!("{format:?} bytes, bands"),
        );
    }
}

#[test]
fn the_8_bit_input_is_close_to_the_exact_one() {
    // The SIMD kernels' only departure from float: half a step of the 8-bit
    // input per value.
    for dtype in [
        GgmlDType::Q4_1,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q6K,
    ] {
        let (rows, cols) = (48, 512);
        let q = random_matrix(dtype, rows, cols, 5);
        let table: Vec<Vec<f32>> = q.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
        let m = QuantMatrix::from_qtensor(&q).unwrap().unwrap();
        let x = input(cols, 9);
        let block = if KFormat::of(dtype).is_some() {
            QK
        } else {
            BLOCK
        };
        let half_steps: Vec<f32> = x
            .chunks_exact(block)
            .map(|b| b.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 254.0)
            .collect();
        let mut got = vec![0.0; rows];
        m.matvec(&x, &mut got);
        for (r, w) in table.iter().enumerate() {
            let want: f32 = w.iter().zip(&x).map(|(w, x)| w * x).sum();
            let bound: f32 = w
                .iter()
                .enumerate()
                .map(|(c, w)| w.abs() * half_steps[c / block])
                .sum();
            assert!(
                (got[r] - want).abs() <= bound * 1.01 + 1e-3 * (1.0 + want.abs()),
                "{dtype:?} row {r}: {} vs {want}",
                got[r]
            );
        }
    }
}

#[test]
fn stacked_matrices_give_their_rows_in_order() {
    let parts = [
        matrix_of(GgmlDType::Q4K, 64, 256),
        matrix_of(GgmlDType::Q4K, 48, 256),
        matrix_of(GgmlDType::Q6K, 23, 256),
        matrix_of(GgmlDType::Q8_0, 9, 256),
    ];
    let parts: Vec<QuantMatrix> = parts
        .iter()
        .map(|q| QuantMatrix::from_qtensor(q).unwrap().unwrap())
        .collect();
    let Ok(all) = QuantMatrix::stacked(parts.clone()) else {
        panic!("the widths are the same");
    };
    assert_eq!(all.rows(), 144);
    assert_eq!(all.parts.len(), 3, "runs of one format are merged");
    for n in [1usize, 3] {
        let x: Vec<f32> = (0..n).flat_map(|i| input(256, 20 + i as u64)).collect();
        assert_stacked_rows_match_parts(&all, &parts, &x, n);
    }
    let mut row = vec![0.0; 256];
    let mut want = vec![0.0; 256];
    all.dequantize_row(118, &mut row);
    parts[2].dequantize_row(6, &mut want);
    assert_eq!(row, want);
    let narrow = QuantMatrix::from_qtensor(&matrix_of(GgmlDType::Q8_0, 4, 32))
        .unwrap()
        .unwrap();
    assert!(
        QuantMatrix::stacked(vec![parts[0].clone(), narrow]).is_err(),
        "widths differ"
    );
}

#[test]
fn stacked_k_quants_give_their_rows_in_order_for_a_prompt() {
    // Runs of k-quants only (the AMX path when the CPU has it), with parts
    // that end inside a task and inside a tile of 16 rows.
    let parts = [
        random_matrix(GgmlDType::Q4K, 72, 512, 30),
        random_matrix(GgmlDType::Q6K, 23, 512, 31),
        random_matrix(GgmlDType::Q4K, 40, 512, 32),
    ];
    let parts: Vec<QuantMatrix> = parts
        .iter()
        .map(|q| QuantMatrix::from_qtensor(q).unwrap().unwrap())
        .collect();
    let Ok(all) = QuantMatrix::stacked(parts.clone()) else {
        panic!("the widths are the same");
    };
    let n = 20;
    let x: Vec<f32> = (0..n).flat_map(|i| input(512, 40 + i as u64)).collect();
    assert_stacked_rows_match_parts(&all, &parts, &x, n);
}

/// `all` (the `parts` stacked) gives, for each of the `n` inputs in `x`,
/// exactly the rows each part gives alone, in order, as a product of exact
/// rows and as a prompt's (a stack that mixes k-quants with other formats
/// runs a prompt on the exact kernels).
fn assert_stacked_rows_match_parts(all: &QuantMatrix, parts: &[QuantMatrix], x: &[f32], n: usize) {
    let mixed = all.needs().k && all.needs().legacy;
    for mode in [Rows::Exact, Rows::Prompt] {
        let product = |m: &QuantMatrix, out: &mut [f32]| match mode {
            Rows::Prompt if !mixed => m.prompt_matmul(x, n, out),
            _ => m.matmul(x, n, out),
        };
        let mut both = vec![0.0; n * all.rows()];
        match mode {
            Rows::Exact => all.matmul(x, n, &mut both),
            Rows::Prompt => all.prompt_matmul(x, n, &mut both),
        }
        let mut at = 0;
        for part in parts {
            let mut alone = vec![0.0; n * part.rows()];
            product(part, &mut alone);
            for (i, alone) in alone.chunks_exact(part.rows()).enumerate() {
                let row = &both[i * all.rows() + at..i * all.rows() + at + part.rows()];
                assert_eq!(row, alone, "{mode:?} n={n} input {i} rows from {at}");
            }
            at += part.rows();
        }
    }
}

#[test]
fn float_weights_are_left_to_candle() {
    let dense = Tensor::zeros((4, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
    for dtype in [GgmlDType::F32, GgmlDType::F16] {
        let q = QTensor::quantize(&dense, dtype).unwrap();
        assert!(
            QuantMatrix::from_qtensor(&q).unwrap().is_none(),
            "{dtype:?}"
        );
    }
}

#[test]
fn k_quants_stay_native_and_other_types_are_converted_to_q8_0() {
    for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
        let m = QuantMatrix::from_qtensor(&matrix_of(dtype, 8, 512))
            .unwrap()
            .unwrap();
        let native =
            matches!(&m.parts[0].weights, Weights::K(k) if KFormat::of(dtype) == Some(k.format));
        assert!(native, "{dtype:?}");
    }
    // Q4_0 (legacy): widened.
    let dtype = GgmlDType::Q4_0;
    let (rows, cols) = (40, 512);
    let q = matrix_of(dtype, rows, cols);
    let table: Vec<Vec<f32>> = q.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
    let m = QuantMatrix::from_qtensor(&q).unwrap().expect("converted");
    assert!(
        matches!(m.parts[0].weights, Weights::Q8_0 { .. }),
        "{dtype:?}"
    );
    let mut row = vec![0.0; cols];
    for (r, want_row) in table.iter().enumerate() {
        // Rounding to 8 bits moves a weight by at most half a step, 1/254 of
        // its block's largest weight, and the step's own rounding to f16
        // (2^-11) by up to 127 of those: 12% more.
        m.dequantize_row(r, &mut row);
        for (c, (got, want)) in row.iter().zip(want_row).enumerate() {
            let block = &want_row[c / BLOCK * BLOCK..][..BLOCK];
            let half_step = block.iter().fold(0.0f32, |m, w| m.max(w.abs())) / 254.0;
            assert!(
                (got - want).abs() <= half_step * 1.13 + 1e-6,
                "{dtype:?} row {r} col {c}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn every_kernel_quantises_the_input_alike() {
    // Random values; a block of zeros; ties at half a step (127 and 63.5
    // times the step); tiny and huge magnitudes; a NaN among others.
    let mut x = input(4 * QK, 5);
    x.extend(std::iter::repeat_n(0.0, QK));
    x.extend((0..QK).map(|i| match i % 4 {
        0 => 127.0,
        1 => -63.5,
        2 => 0.5,
        _ => -(i as f32),
    }));
    x.extend((0..QK).map(|i| (i as f32 - 128.0) * 1e-30));
    x.extend((0..QK).map(|i| (i as f32 - 128.0) * 1e30));
    x.extend((0..QK).map(|i| if i == 7 { f32::NAN } else { i as f32 }));
    let want = KInput::new(&x, Kernel::Scalar);
    for kernel in kernels() {
        let got = KInput::new(&x, kernel);
        assert_eq!(got.q, want.q, "{kernel:?}: bytes");
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.d), bits(&want.d), "{kernel:?}: scales");
        assert_eq!(bits(&got.sums16), bits(&want.sums16), "{kernel:?}: sums");
        assert_eq!(bits(&got.sums32), bits(&want.sums32), "{kernel:?}: sums");
        assert_eq!(got.byte_sums32, want.byte_sums32, "{kernel:?}: sums");
        assert_eq!(got.q6k_starts, want.q6k_starts, "{kernel:?}: sums");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_integer_kernels_are_exact_on_exact_inputs() {
    // Inputs that are whole multiples of their block's step quantise without
    // error, so the integer kernels must agree with the float one.
    for dtype in [
        GgmlDType::Q4_1,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ] {
        let (rows, cols) = (80, 512);
        let q = matrix_of(dtype, rows, cols);
        let matrix = |kernel| QuantMatrix::from_qtensor_for(&q, kernel).unwrap().unwrap();
        // Whole steps of 0.01, each block of 32 holding one full-scale value.
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
        let mut exact = vec![0.0; rows];
        matrix(Kernel::Scalar).matmul_with(&x, 1, &mut exact, Kernel::Scalar, Rows::Exact);
        for kernel in kernels().into_iter().skip(1) {
            let mut got = vec![0.0; rows];
            matrix(kernel).matmul_with(&x, 1, &mut got, kernel, Rows::Exact);
            for (r, (a, b)) in got.iter().zip(&exact).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{dtype:?} {kernel:?} row {r}: {a} vs {b}"
                );
            }
        }
    }
}

/// CPU time of this thread, robust to a loaded machine.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

#[test]
#[ignore = "a benchmark: cargo test --release --lib quant::tests::speed -- --ignored --nocapture"]
fn speed() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for (dtype, rows, cols) in [
        (GgmlDType::Q4K, 8960 * 8, 1536),
        (GgmlDType::Q4K, 8960, 1536),
        (GgmlDType::Q6K, 1536, 8960),
        (GgmlDType::Q6K, 1536 * 8, 8960),
        (GgmlDType::Q8_0, 4864, 896),
    ] {
        let q = random_matrix(dtype, rows, cols, 1);
        // The fastest two kernels: what prefill runs, beside what it replaced,
        // each on the layout loading picks for it.
        let kernels = Kernel::available();
        for (n, kernel) in [1, 64]
            .into_iter()
            .flat_map(|n| kernels.iter().rev().take(2).map(move |&k| (n, k)))
        {
            let x: Vec<f32> = (0..n).flat_map(|i| input(cols, i as u64)).collect();
            let mut out = vec![0.0; n * rows];
            let reps = if n == 1 { 40 } else { 2 };
            let mode = if n == 1 { Rows::Exact } else { Rows::Prompt };
            let m = QuantMatrix::from_qtensor_for(&q, kernel).unwrap().unwrap();
            let seconds = pool.install(|| {
                let start = thread_cpu_seconds();
                for _ in 0..reps {
                    m.matmul_with(&x, n, &mut out, kernel, mode);
                }
                thread_cpu_seconds() - start
            });
            let macs = (reps * n * rows * cols) as f64;
            eprintln!(
                "{dtype:?} {rows}x{cols} n={n} {kernel:?}: {:.2} ms per call, {:.1} GMAC/s",
                seconds / reps as f64 * 1e3,
                macs / seconds / 1e9
            );
        }
    }
}

/// A VNNI kernel of this CPU, which reads Q4_K and Q6_K interleaved; None
/// (said on stderr by `kernels`) where it has none.
#[cfg(target_arch = "x86_64")]
fn interleaving_kernel() -> Option<Kernel> {
    kernels()
        .into_iter()
        .find(|k| matches!(k, Kernel::Avx512Vnni(_) | Kernel::Amx(_)))
}

#[cfg(target_arch = "x86_64")]
#[test]
fn interleaved_rows_unpack_as_the_row_layout_does() {
    // The prompt kernels (AVX-512 VNNI's quads, AMX's rows) see the same
    // bytes and factors whichever layout the weights were loaded in.
    let Some(kernel) = interleaving_kernel() else {
        return;
    };
    for format in [KFormat::Q4K, KFormat::Q6K] {
        let (rows, cols) = (48, 768);
        let q = random_blocks(format, rows, cols, 21);
        let data = q.data().unwrap();
        let weights = KWeights::from_ggml(format, &data).unwrap();
        let m = QuantMatrix::from_qtensor_for(&q, kernel).unwrap().unwrap();
        let Weights::Interleaved(interleaved) = &m.parts[0].weights else {
            panic!("{format:?} of whole bands is interleaved for {kernel:?}");
        };
        let per_row = cols / QK;
        // Rows 16..48: a view that does not begin at the first band.
        let by_rows = bands::Source::Rows(weights.rows(16, 32, per_row));
        let by_bands = bands::Source::Interleaved(interleaved.bands(1, 2, per_row));
        for layout in [bands::Layout::Quads, bands::Layout::Rows] {
            let (mut want, mut got) = (bands::Unpacked::default(), bands::Unpacked::default());
            // SAFETY: a VNNI kernel was detected (AVX-512 F/BW and AVX2), and both
            // sources are views that pass `check`.
            unsafe {
                bands::unpack(&by_rows, layout, &mut want);
                bands::unpack(&by_bands, layout, &mut got);
            }
            assert!(want.q == got.q, "{format:?} {layout:?}: weights");
            assert_eq!(want.scale, got.scale, "{format:?} {layout:?}: scales");
            assert_eq!(want.offset, got.offset, "{format:?} {layout:?}: offsets");
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn interleaved_runs_stack_on_band_boundaries_only() {
    let Some(kernel) = interleaving_kernel() else {
        return;
    };
    let load = |q: &QTensor| QuantMatrix::from_qtensor_for(q, kernel).unwrap().unwrap();
    let q4k = random_matrix(GgmlDType::Q4K, 64, 512, 50);
    let q6k = random_matrix(GgmlDType::Q6K, 32, 512, 51);
    let q5k = random_matrix(GgmlDType::Q5K, 16, 512, 54);
    let tail = random_matrix(GgmlDType::Q4K, 48, 512, 52);
    let parts = vec![load(&q4k), load(&q6k), load(&q5k), load(&tail)];
    let Ok(all) = QuantMatrix::stacked(parts.clone()) else {
        panic!("every run begins on a band");
    };
    // Tasks of 64 rows cross the runs at rows 64, 96 and 112.
    for n in [1usize, 3, 20] {
        let x: Vec<f32> = (0..n).flat_map(|i| input(512, 60 + i as u64)).collect();
        assert_stacked_rows_match_parts(&all, &parts, &x, n);
    }
    let odd = random_matrix(GgmlDType::Q6K, 23, 512, 53);
    assert!(
        QuantMatrix::stacked(vec![load(&q4k), load(&odd), load(&tail)]).is_err(),
        "interleaved rows after 87 rows: the parts come back"
    );
}
