//! The hot 2×2 window with stride 2 over whole SIMD lanes (`wide::f32x16`): [`LANES`] outputs
//! of one output row at a time, on one thread, no tails (the loop nest in `mod.rs` pads them).
//!
//! Window `j` of a row pair reads `top[2j], top[2j+1], bottom[2j], bottom[2j+1]`, so the lanes
//! first de-interleave each row into its even and odd columns. The arrays are built with
//! constant indices, which the compiler turns into register shuffles (`vpermt2ps` on AVX-512);
//! `wide` has no float shuffle of its own. After that every window is a lane, and the
//! reference's fold `best = t0; if c > best { best = c }` for `c` in `t1, b0, b1` runs as three
//! compare-and-selects: the same comparisons in the same order, so values, winners, ties (first
//! in row-major order) and NaN (a NaN `t0` wins, a later NaN never does) match it exactly.
//!
//! Backward uses that 2×2/2 windows do not overlap: each window owns its four `dx` elements,
//! so one pass writes `dy` at the winner and `0` at the other three, with no zero fill first.

use wide::{f32x16, u32x16};

/// Outputs per SIMD vector.
pub(super) const LANES: usize = 16;

/// `[0, 2, 4, …, 30]`: the column of each lane's window in its row pair.
const EVEN_COLUMNS: u32x16 =
    u32x16::new([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);

fn even_odd(row: &[f32; 2 * LANES]) -> (f32x16, f32x16) {
    let even = f32x16::new(std::array::from_fn(|j| row[2 * j]));
    let odd = f32x16::new(std::array::from_fn(|j| row[2 * j + 1]));
    (even, odd)
}

fn interleave(even: f32x16, odd: f32x16) -> [f32; 2 * LANES] {
    let (even, odd) = (even.to_array(), odd.to_array());
    std::array::from_fn(|i| if i % 2 == 0 { even[i / 2] } else { odd[i / 2] })
}

/// `y[j] = max(top[2j], top[2j+1], bottom[2j], bottom[2j+1])` for the [`LANES`] windows of one
/// row pair, and `argmax[j]` = the flat input index of the winner, where `first` is the flat
/// index of `top[0]` and `w` the input row length (so `bottom[0]` is at `first + w`).
pub(super) fn max_pool_2x2_lanes(
    top: &[f32; 2 * LANES],
    bottom: &[f32; 2 * LANES],
    first: u32,
    w: u32,
    y: &mut [f32; LANES],
    argmax: &mut [u32; LANES],
) {
    let (t0, t1) = even_odd(top);
    let (b0, b1) = even_odd(bottom);
    // Flat index of each window's top-left element; the others are +1, +w, +w+1.
    let origin = u32x16::splat(first) + EVEN_COLUMNS;
    let (mut best, mut at) = (t0, origin);
    // Strictly greater, candidates in row-major order: the earlier one keeps a tie.
    for (candidate, step) in [(t1, 1), (b0, w), (b1, w + 1)] {
        let wins = candidate.simd_gt(best);
        best = wins.select(candidate, best);
        at = wins.select(origin + u32x16::splat(step), at);
    }
    *y = best.to_array();
    *argmax = at.to_array();
}

/// Backward of [`max_pool_2x2_lanes`] for one row pair: each window's four `dx` elements get
/// `0 + dy[j]` at its winner `argmax[j]` and `0` elsewhere (`0 + dy` as the reference's
/// `dx = 0; dx[i] += dy` gives, so even a `-0.0` gradient comes out bit-identical).
///
/// Returns false, with `top`/`bottom` partly written, when some `argmax[j]` is not one of its
/// own window's four indices: the caller then falls back to the general scatter.
pub(super) fn max_pool_2x2_backward_lanes(
    dy: &[f32; LANES],
    argmax: &[u32; LANES],
    first: u32,
    w: u32,
    top: &mut [f32; 2 * LANES],
    bottom: &mut [f32; 2 * LANES],
) -> bool {
    let dy = f32x16::new(*dy);
    // Position of the winner relative to its window's top-left: 0, 1, w or w + 1 when valid
    // (wrapping: an index before the window becomes huge and matches none of them).
    let rel = u32x16::new(*argmax) - (u32x16::splat(first) + EVEN_COLUMNS);
    let at = |step: u32| rel.simd_eq(u32x16::splat(step));
    let (t0, t1, b0, b1) = (at(0), at(1), at(w), at(w + 1));
    if !(t0 | t1 | b0 | b1).all() {
        return false;
    }
    let grad = |winner: u32x16| winner.select(dy, f32x16::ZERO) + f32x16::ZERO;
    *top = interleave(grad(t0), grad(t1));
    *bottom = interleave(grad(b0), grad(b1));
    true
}
