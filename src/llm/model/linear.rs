//! The weight matrices of the forward pass, in the forms their uses need:
//! a dense f32 copy for prefill through gemm (small models), our quantised
//! kernels for decode (and for the prefill of larger models), candle for
//! the rest; and the token tables (embeddings, output head).

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use super::super::error::Result;
use super::super::quant::{QuantMatrix, MATVEC_EXACT_INPUTS};

/// Matmuls run on an f32 copy of the weights through candle's gemm when the
/// copy fits under `DENSE_MAX_BYTES` (about a 250M-parameter model); larger
/// models use the quantized weights. candle 0.11 has no SIMD kernel for Q4_1,
/// and measured here (SmolLM2-135M Q4_1, 991-token prompt, 2 cores) the dense
/// copy took prefill from 29 to 298 tok/s and decode from 20.6 to 26.5 tok/s.
/// Decode now reads the quantised weights instead (`Linear::quant`): 7x fewer
/// bytes per token took a short-context decode from ~28 to ~70 tok/s.
/// `RAG_DENSE_MAX_MB` overrides the limit (0: never), to test the large-model path.
const DENSE_MAX_BYTES: usize = 1 << 30;

pub(super) fn dense_max_bytes() -> usize {
    std::env::var("RAG_DENSE_MAX_MB")
        .ok()
        .and_then(|mb| mb.parse::<usize>().ok())
        .map_or(DENSE_MAX_BYTES, |mb| mb << 20)
}

/// Which kernels a batch of rows runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernels {
    /// The fastest for the batch: for a prompt's rows, gemm on the dense
    /// copy where there is one.
    Batch,
    /// The ones a single row runs on, each row's result bit for bit what it
    /// would be alone (at most [`MATVEC_EXACT_INPUTS`] rows).
    Decode,
}

impl Kernels {
    /// Whether `rows` rows run on the kernels of a single row (otherwise
    /// on those of a prompt: each row's results then the same whatever the
    /// rows beside it, but not those of a single row).
    pub(super) fn as_decoded(self, rows: usize) -> bool {
        rows == 1 || self == Kernels::Decode
    }
}

/// One weight matrix, in the forms its uses need.
pub(super) struct Linear {
    /// The weights dequantised and transposed to (in, out), for prefill
    /// through gemm: small models only.
    pub(super) dense: Option<Tensor>,
    /// The weights for our kernels: decode always, prefill of larger models.
    pub(super) quant: Option<QuantMatrix>,
    /// candle's matmul, for what neither covers (f16 or f32 weights of a
    /// larger model).
    candle: Option<QMatMul>,
}

impl Linear {
    pub(super) fn new(tensor: QTensor, dense: bool) -> Result<Self> {
        let quant = QuantMatrix::from_qtensor(&tensor)?;
        let candle_needed = quant.is_none() && !dense;
        let dense = if dense {
            Some(tensor.dequantize(&Device::Cpu)?.t()?.contiguous()?)
        } else {
            None
        };
        let candle = if candle_needed {
            Some(QMatMul::from_qtensor(tensor)?)
        } else {
            None
        };
        Ok(Linear {
            dense,
            quant,
            candle,
        })
    }

    /// `x` is `rows` rows of the input width; returns `rows` rows of the output width.
    /// [`Kernels::Decode`] gives each row exactly what it gives alone.
    pub(super) fn forward(&self, x: &[f32], rows: usize, kernels: Kernels) -> Result<Vec<f32>> {
        let decode = kernels.as_decoded(rows);
        if let Some(q) = self
            .quant
            .as_ref()
            .filter(|_| decode || self.dense.is_none())
        {
            let mut out = vec![0.0; rows * q.rows()];
            if decode {
                q.matmul(x, rows, &mut out);
            } else {
                q.prompt_matmul(x, rows, &mut out);
            }
            return Ok(out);
        }
        let width = x.len() / rows.max(1);
        if decode && rows > 1 {
            let mut out = Vec::new();
            for row in x.chunks_exact(width) {
                out.extend(self.forward(row, 1, kernels)?);
            }
            return Ok(out);
        }
        let x = Tensor::from_slice(x, (rows, width), &Device::Cpu)?;
        let y = match (&self.dense, &self.candle) {
            (Some(w), _) => x.matmul(w)?,
            (None, Some(w)) => w.forward(&x)?,
            // Only stacked parts lack both, and they are not called alone.
            (None, None) => {
                return Err(
                    candle_core::Error::Msg("a weight matrix with no usable form".into()).into(),
                );
            }
        };
        to_vec(&y)
    }
}

/// Moves the quantised weights of `parts` into one stacked matrix, when they
/// all have them.
pub(super) fn stack(parts: &mut [&mut Linear]) -> Option<QuantMatrix> {
    if parts.iter().any(|p| p.quant.is_none()) {
        return None;
    }
    let matrices: Vec<QuantMatrix> = parts.iter_mut().filter_map(|p| p.quant.take()).collect();
    match QuantMatrix::stacked(matrices) {
        Ok(stacked) => Some(stacked),
        Err(matrices) => {
            for (part, matrix) in parts.iter_mut().zip(matrices) {
                part.quant = Some(matrix);
            }
            None
        }
    }
}

/// The stacked matrix, when it is the one to use for `rows` rows of input:
/// always for decode, and for prefill where the parts have no dense copy.
pub(super) fn stacked_for<'a>(
    stacked: &'a Option<QuantMatrix>,
    part: &Linear,
    rows: usize,
    kernels: Kernels,
) -> Option<&'a QuantMatrix> {
    stacked
        .as_ref()
        .filter(|_| kernels.as_decoded(rows) || part.dense.is_none())
}

/// The product of `matrix` with `rows` rows of input, each output row cut
/// into parts of the given widths; returns each part's rows, one after the
/// other. The widths must add up to the matrix's rows: a part can never come
/// back short or empty.
pub(super) fn stacked_matmul<const N: usize>(
    matrix: &QuantMatrix,
    x: &[f32],
    rows: usize,
    kernels: Kernels,
    widths: [usize; N],
) -> [Vec<f32>; N] {
    assert_eq!(
        widths.iter().sum::<usize>(),
        matrix.rows(),
        "stacked parts' widths"
    );
    let mut all = vec![0.0; rows * matrix.rows()];
    if kernels.as_decoded(rows) {
        matrix.matmul(x, rows, &mut all);
    } else {
        matrix.prompt_matmul(x, rows, &mut all);
    }
    let mut parts: [Vec<f32>; N] = std::array::from_fn(|i| Vec::with_capacity(rows * widths[i]));
    for row in all.chunks_exact(matrix.rows()) {
        let mut at = 0;
        for (part, &width) in parts.iter_mut().zip(&widths) {
            part.extend_from_slice(&row[at..at + width]);
            at += width;
        }
    }
    parts
}

/// A table of rows, one per token: the embeddings, or the output head
/// (small models use one table for both).
#[derive(Clone)]
pub(super) enum TokenTable {
    Own(Arc<QuantMatrix>),
    /// Types our kernels do not read; the matmul is built once, since for
    /// f16 tables building it dequantises the whole table.
    Candle(Arc<QTensor>, QMatMul),
}

impl TokenTable {
    pub(super) fn new(tensor: Arc<QTensor>) -> Result<Self> {
        Ok(match QuantMatrix::from_qtensor(&tensor)? {
            Some(matrix) => TokenTable::Own(Arc::new(matrix)),
            None => TokenTable::Candle(tensor.clone(), QMatMul::from_arc(tensor)?),
        })
    }

    /// The rows of `tokens`, one after the other.
    pub(super) fn rows(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        match self {
            TokenTable::Own(m) => {
                let mut out = vec![0.0; tokens.len() * m.cols()];
                for (&token, row) in tokens.iter().zip(out.chunks_exact_mut(m.cols())) {
                    m.dequantize_row(token as usize, row);
                }
                Ok(out)
            }
            TokenTable::Candle(t, _) => to_vec(&t.embedding(&Tensor::new(tokens, &Device::Cpu)?)?),
        }
    }

    /// The logits of every token for each of the `rows` hidden states in
    /// `x`, each row's bit for bit those of [`TokenTable::logits`] on it
    /// alone (at most [`MATVEC_EXACT_INPUTS`] rows).
    pub(super) fn logits_of_rows(&self, x: &[f32], rows: usize) -> Result<Vec<Vec<f32>>> {
        let width = x.len() / rows.max(1);
        match self {
            TokenTable::Own(m) if rows <= MATVEC_EXACT_INPUTS => {
                let mut out = vec![0.0; rows * m.rows()];
                m.matmul(x, rows, &mut out);
                Ok(out.chunks_exact(m.rows()).map(<[f32]>::to_vec).collect())
            }
            _ => x
                .chunks_exact(width)
                .map(|row| self.logits(row.to_vec()))
                .collect(),
        }
    }

    /// `table · x`: the logits of every token for the hidden state `x`.
    pub(super) fn logits(&self, x: Vec<f32>) -> Result<Vec<f32>> {
        match self {
            TokenTable::Own(m) => {
                let mut out = vec![0.0; m.rows()];
                m.matvec(&x, &mut out);
                Ok(out)
            }
            TokenTable::Candle(_, matmul) => {
                let width = x.len();
                to_vec(&matmul.forward(&Tensor::from_vec(x, (1, width), &Device::Cpu)?)?)
            }
        }
    }
}

pub(super) fn to_vec(tensor: &Tensor) -> Result<Vec<f32>> {
    Ok(tensor.flatten_all()?.to_vec1::<f32>()?)
}
