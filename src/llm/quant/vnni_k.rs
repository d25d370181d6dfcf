//! k-quant prefill products with AVX-512 VNNI, on CPUs without AMX tiles.
//! The weights of a task's rows are unpacked once per product (`bands`,
//! `Layout::Quads`) so that a 64-byte vector holds the same 4 consecutive
//! weights of 16 rows; one `dpbusd` then multiplies them by 4 values of one
//! input, broadcast from memory, into each row's i32 sum: 64 products an
//! instruction, where the decode kernels (`avx512`) spend two instructions
//! and a share of unpacking, permuting and loading per 64. A sub-block's
//! sums are scaled per row into float sums, less the minimums (Q4_K, Q5_K)
//! times the input's block sums; Q6_K's offset of 32 is taken off in the
//! integer sums, which start at -32 times the input's; the input's scale
//! multiplies once per superblock.
//! The sums meet in another order than matvec's: prompts only
//! (`QuantMatrix::prompt_matmul`).

use std::arch::x86_64::*;

use super::bands::{self, Columns, Layout, Source, Unpacked, TILE};
use super::input::KInput;
use super::kquants::{KFormat, QK};

/// Inputs multiplied with a band's weights at a time: each holds an i32 and
/// a float vector of sums in registers, beside the weights and factors.
const INPUTS: usize = 8;
/// Inputs per pass over the task's bands: a pass's inputs and the task's
/// unpacked weights stay in L2 together even for ffn_down's long rows.
const INPUTS_PER_PASS: usize = 64;

/// `out[i][first + r] = w[r] · x[i]` for the rows of `w`.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI, AVX2 and FMA (what
/// `Kernel::Avx512Vnni` stands for). No other call may write rows
/// `first..first + w.rows()` of `out` at the same time. Lengths are checked
/// here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub(super) unsafe fn k_products(w: &Source, xs: &[&KInput], out: &Columns, first: usize) {
    // SAFETY: the caller vouches for the CPU features and for owning these output rows (`#
    // Safety`); the assertions that open this block bound every offset the bands read and
    // write.
    unsafe {
        w.check();
        for x in xs {
            x.check(w.per_row());
        }
        assert_eq!(out.inputs, xs.len(), "output inputs");
        assert!(first + w.rows() <= out.rows, "output rows");
        bands::with_unpacked(|u| {
            bands::unpack(w, Layout::Quads, u);
            for start in (0..xs.len()).step_by(INPUTS_PER_PASS) {
                let pass = &xs[start..xs.len().min(start + INPUTS_PER_PASS)];
                for band in 0..w.rows().div_ceil(TILE) {
                    let mut c = 0;
                    while c < pass.len() {
                        let take = INPUTS.min(pass.len() - c);
                        let at = Band {
                            band,
                            first_input: start + c,
                            first_row: first,
                        };
                        let inputs = &pass[c..c + take];
                        match take {
                            8 => band_products::<8>(w, u, inputs, out, at),
                            7 => band_products::<7>(w, u, inputs, out, at),
                            6 => band_products::<6>(w, u, inputs, out, at),
                            5 => band_products::<5>(w, u, inputs, out, at),
                            4 => band_products::<4>(w, u, inputs, out, at),
                            3 => band_products::<3>(w, u, inputs, out, at),
                            2 => band_products::<2>(w, u, inputs, out, at),
                            _ => band_products::<1>(w, u, inputs, out, at),
                        }
                        c += take;
                    }
                }
            }
        });
    }
}

/// Which products a call of `band_products` makes.
#[derive(Clone, Copy)]
struct Band {
    /// Rows `16 band..` of the task's rows.
    band: usize,
    /// The first input's index in the output.
    first_input: usize,
    /// The task's first row in the output.
    first_row: usize,
}

/// Rows `16 at.band..` of `w` times the `C` inputs `xs`, into `out`.
///
/// # Safety
/// As `k_products`, which checked the lengths; `u` holds `w` unpacked in
/// `Layout::Quads`; `xs` holds `C` inputs.
// Sums are indexed by input.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn band_products<const C: usize>(
    w: &Source,
    u: &Unpacked,
    xs: &[&KInput],
    out: &Columns,
    at: Band,
) {
    // SAFETY: as `k_products` promised and checked (`# Safety`): the band's sub-blocks lie
    // inside `u`, each input holds `w.per_row()` superblocks, and the stores are masked to the
    // band's rows, which are the caller's.
    unsafe {
        let subs = bands::sub_blocks(w.format());
        let sub = QK / subs;
        let q6k = w.format() == KFormat::Q6K;
        let mut acc = [_mm512_setzero_ps(); C];
        for b in 0..w.per_row() {
            // This superblock's sums before the input's scale.
            let mut unscaled = [_mm512_setzero_ps(); C];
            // Its first sub-block in the unpacked weights.
            let base = (at.band * w.per_row() + b) * subs;
            for s in 0..subs {
                let weights = u.q.as_ptr().add((base + s) * TILE * sub);
                let values = b * QK + s * sub;
                let mut sums = [_mm512_setzero_si512(); C];
                if q6k {
                    for j in 0..C {
                        let start = *xs[j].q6k_starts.get_unchecked(b * 16 + s);
                        sums[j] = _mm512_set1_epi32(start);
                    }
                }
                for quad in 0..sub / 4 {
                    let w4 = _mm512_loadu_si512(weights.add(quad * 64) as *const _);
                    for j in 0..C {
                        let x4 = (xs[j].q.as_ptr().add(values + 4 * quad) as *const i32)
                            .read_unaligned();
                        sums[j] = _mm512_dpbusd_epi32(sums[j], w4, _mm512_set1_epi32(x4));
                    }
                }
                let factors = (base + s) * TILE;
                let scale = _mm512_loadu_ps(u.scale.as_ptr().add(factors));
                for j in 0..C {
                    unscaled[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[j]), scale, unscaled[j]);
                }
                if !q6k {
                    let minimum = _mm512_loadu_ps(u.offset.as_ptr().add(factors));
                    for j in 0..C {
                        let bytes = *xs[j].byte_sums32.get_unchecked(b * 8 + s);
                        unscaled[j] = _mm512_fnmadd_ps(minimum, _mm512_set1_ps(bytes), unscaled[j]);
                    }
                }
            }
            for j in 0..C {
                let dx = _mm512_set1_ps(*xs[j].d.get_unchecked(b));
                acc[j] = _mm512_fmadd_ps(unscaled[j], dx, acc[j]);
            }
        }
        let rows = TILE.min(w.rows() - at.band * TILE);
        let mask: __mmask16 = if rows == TILE { !0 } else { (1 << rows) - 1 };
        let row = at.first_row + at.band * TILE;
        for j in 0..C {
            let to = out.ptr.add((at.first_input + j) * out.rows + row);
            _mm512_mask_storeu_ps(to, mask, acc[j]);
        }
    }
}
