//! SIMD pieces of the conv2d fast path (`wide`). One thread, whole vectors; the callers handle
//! the tails.
//!
//! Most of the convolution's arithmetic is the GEMM's micro-kernel (`ops/gemm/kernel.rs`);
//! here are the passes around it, a register-blocked weight-gradient kernel for the layers
//! whose `dW` is too small for a GEMM to pay for its packing, and the 8×8 transpose that lays
//! an image out channels-last for the larger layers' `dW` GEMM.

use wide::f32x8;

use super::Activation;
use super::winograd::{input_1d, output_1d};
#[cfg(not(target_feature = "avx512f"))]
use wide::f32x8 as Lanes;
#[cfg(target_feature = "avx512f")]
use wide::f32x16 as Lanes;

/// f32 elements per SIMD vector.
pub(super) const LANES: usize = 8;
/// Independent partial sums in [`sum_lanes`]: a vector add has a latency of 3–4 cycles, so one
/// running sum would wait on itself at every step; four chains keep the adder busy.
const CHAINS: usize = 4;

/// Floats per step of [`sum_lanes`]: `CHAINS·LANES`.
pub(super) const SUM_BLOCK: usize = CHAINS * LANES;

/// `Σ x`, for `x.len()` a multiple of [`SUM_BLOCK`] (32).
///
/// The bias gradient is a sum over every output pixel (`db[co] = Σ_p dY[co, p]`, 50 176 terms
/// per image on conv1). Written as `iter().sum()` it is one chain of dependent scalar adds,
/// which on conv1 cost more than the whole weight-gradient GEMM; here `CHAINS·LANES` partial
/// sums advance together, then fold. The summation order is fixed by the length alone, so the
/// result does not depend on the thread that runs it.
pub(super) fn sum_lanes(x: &[f32]) -> f32 {
    debug_assert!(x.len().is_multiple_of(SUM_BLOCK));
    let mut acc = [f32x8::ZERO; CHAINS];
    for block in x.chunks_exact(SUM_BLOCK) {
        let (vectors, _) = block.as_chunks::<LANES>();
        for (a, v) in acc.iter_mut().zip(vectors) {
            *a += f32x8::new(*v);
        }
    }
    let [a, b, c, d] = acc;
    ((a + b) + (c + d)).reduce_add()
}

/// Floats per vector of [`weight_grad_block`]: 16 with AVX-512 (`f32x16`), else 8.
pub(super) const DW_LANES: usize = if cfg!(target_feature = "avx512f") { 16 } else { 8 };
/// Output channels per register block of [`weight_grad_block`].
pub(super) const DW_ROWS: usize = 4;
/// Taps (rows of `cols`) per register block of [`weight_grad_block`]. 4 × 6 = 24 accumulators,
/// plus 6 tap vectors and one dY vector: 31 of the 32 AVX-512 registers.
pub(super) const DW_TAPS: usize = 6;

/// `sums[r][t] = Σ_q dy[r][q] · taps[t][q]`: one block of the weight gradient `dW = dY·colsᵀ`
/// for R output channels and T rows of `cols`, over one range of pixels.
///
/// All slices have the same length, a multiple of [`DW_LANES`]. Each pixel vector of dY is
/// loaded once and used T times, each tap vector once and used R times, so the 24 FMAs of a step
/// need 10 loads, and the sums stay in registers for the whole range. This replaces packing
/// dY [C_out, pixels] and colsᵀ [pixels, K] for a GEMM whose output (C_out × K, 16 × 27 on
/// conv1) is tiny next to its reduction (50 176 pixels).
pub(super) fn weight_grad_block<const R: usize, const T: usize>(
    dy: [&[f32]; R],
    taps: [&[f32]; T],
) -> [[f32; T]; R] {
    let dy = dy.map(|row| row.as_chunks::<DW_LANES>().0);
    let taps = taps.map(|row| row.as_chunks::<DW_LANES>().0);
    let steps = dy.first().map_or(0, |row| row.len());
    assert!(dy.iter().chain(&taps).all(|row| row.len() == steps), "equal lengths");
    let mut acc = [[Lanes::ZERO; T]; R];
    for step in 0..steps {
        let x: [Lanes; T] = std::array::from_fn(|t| Lanes::new(taps[t][step]));
        for (acc_r, dy_r) in acc.iter_mut().zip(&dy) {
            let d = Lanes::new(dy_r[step]);
            for (a, &x_t) in acc_r.iter_mut().zip(&x) {
                *a = d.mul_add(x_t, *a);
            }
        }
    }
    acc.map(|row| row.map(Lanes::reduce_add))
}

/// `out = dy where y > 0, else 0`, for lengths a multiple of [`LANES`]: the fused ReLU's
/// backward mask. A comparison and a select, like `relu`'s kernels, so NaN in `y` gives 0.
pub(super) fn relu_grad_lanes(y: &[f32], dy: &[f32], out: &mut [f32]) {
    debug_assert!(y.len() == dy.len() && y.len() == out.len() && y.len().is_multiple_of(LANES));
    let load = |xs: &[f32]| f32x8::new(xs.try_into().expect("chunks_exact yields LANES floats"));
    let chunks = y.chunks_exact(LANES).zip(dy.chunks_exact(LANES));
    for ((ys, dys), outs) in chunks.zip(out.chunks_exact_mut(LANES)) {
        let keep = load(ys).simd_gt(f32x8::ZERO);
        outs.copy_from_slice(&keep.select(load(dys), f32x8::ZERO).to_array());
    }
}

/// Transposes an 8×8 block, `out[j][i] = block[i][j]`, in registers (`f32x8::transpose`:
/// unpack and shuffle instructions with AVX): 8 rows of 8 channels' pixels in, 8 pixels' runs
/// of 8 channels out, with whole-vector loads and stores instead of 64 strided scalar stores.
pub(super) fn transpose8(block: [[f32; 8]; 8]) -> [[f32; 8]; 8] {
    f32x8::transpose(block.map(f32x8::new)).map(f32x8::to_array)
}

/// Winograd's output transform `Y = Aᵀ M A` ([2, 2] from [4, 4]) of [`LANES`] tiles at once,
/// plus `bias` and `activation`: `m[ξ]` holds position `ξ = 4·i + j` of the transformed tiles,
/// lane `l` tile `l`. Returns the two output rows, each `[y(l, 0), y(l, 1)]` for l = 0, 1, …:
/// the row as it lies in the image for LANES consecutive tiles. Every lane gets the same
/// additions in the same order ([`output_1d`]), then `v + bias` and the activation exactly as
/// [`Activation::apply`] (ReLU by a comparison, so NaN gives 0).
#[inline]
pub(super) fn winograd_output_lanes(
    m: &[[f32; LANES]; 16],
    bias: f32,
    activation: Activation,
) -> [[f32; 2 * LANES]; 2] {
    let v = |xi: usize| f32x8::new(m[xi]);
    let bias = f32x8::splat(bias);
    let epilogue = |y: f32x8| {
        let y = y + bias;
        match activation {
            Activation::Identity => y,
            Activation::Relu => y.simd_gt(f32x8::ZERO).select(y, f32x8::ZERO),
        }
    };
    // Aᵀ M [2, 4]: rows 0..4 of each column j combine into rows 0 and 1.
    // (Written out: `array::map` and `from_fn` here were left as calls, not inlined.)
    let [top0, bottom0] = output_1d([v(0), v(4), v(8), v(12)]);
    let [top1, bottom1] = output_1d([v(1), v(5), v(9), v(13)]);
    let [top2, bottom2] = output_1d([v(2), v(6), v(10), v(14)]);
    let [top3, bottom3] = output_1d([v(3), v(7), v(11), v(15)]);
    let half = [[top0, top1, top2, top3], [bottom0, bottom1, bottom2, bottom3]];
    // (Aᵀ M) A [2, 2]: along each row; the two columns of every tile side by side.
    let mut rows = [[0.0; 2 * LANES]; 2];
    for (row, half) in rows.iter_mut().zip(half) {
        let [left, right] = output_1d(half);
        let (left, right) = (epilogue(left).to_array(), epilogue(right).to_array());
        for l in 0..LANES {
            (row[2 * l], row[2 * l + 1]) = (left[l], right[l]);
        }
    }
    rows
}

/// Winograd's input transform along a row, `Bᵀ d` for the 4 columns `2l .. 2l + 4` of `row`,
/// for [`LANES`] tiles `l` at once (neighbouring tiles overlap by two columns). Returns the 4
/// transformed values, each over the LANES tiles: the same additions as [`input_1d`] on one
/// tile.
#[inline]
pub(super) fn winograd_input_lanes(row: &[f32; 2 * LANES + 2]) -> [[f32; LANES]; 4] {
    // columns[c][l] = row[2l + c]: the even and odd columns, and both shifted by one tile.
    let mut columns = [[0.0; LANES]; 4];
    for (c, column) in columns.iter_mut().enumerate() {
        for (l, value) in column.iter_mut().enumerate() {
            *value = row[2 * l + c];
        }
    }
    let [a, b, c, d] = columns;
    let [a, b, c, d] = input_1d([f32x8::new(a), f32x8::new(b), f32x8::new(c), f32x8::new(d)]);
    [a.to_array(), b.to_array(), c.to_array(), d.to_array()]
}
