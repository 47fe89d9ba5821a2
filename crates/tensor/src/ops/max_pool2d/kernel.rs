//! The hot 2×2 window with stride 2 over whole SIMD lanes (`wide::f32x16`): [`LANES`] outputs
//! of one output row at a time, on one thread, no tails (the loop nest in `mod.rs` overlaps the
//! last block of a row with the one before it, and pads rows narrower than one block).
//!
//! Window `j` of a row pair reads `top[2j], top[2j+1], bottom[2j], bottom[2j+1]`, so the lanes
//! first de-interleave each row into its even and odd columns: `wide` has no two-vector float
//! shuffle, so each half of the row is permuted on its own (`u32x16::shuffle`, one `vpermd` on
//! AVX-512) and the halves are blended. Left to the compiler, building the arrays element by
//! element became 64 single-float inserts per row pair. After that every window is a lane, and
//! the reference's fold `best = t0; if c > best { best = c }` for `c` in `t1, b0, b1` runs as three
//! compare-and-selects: the same comparisons in the same order, so values, winners, ties (first
//! in row-major order) and NaN (a NaN `t0` wins, a later NaN never does) match it exactly.
//!
//! Backward uses that 2×2/2 windows do not overlap: each window owns its four `dx` elements,
//! so one pass writes `dy` at the winner and `0` at the other three, with no zero fill first.

use wide::bytemuck::cast;
use wide::{f32x16, u32x16};

/// Outputs per SIMD vector.
pub(crate) const LANES: usize = 16;

/// `[0, 2, 4, …, 30]`: the column of each lane's window in its row pair.
const EVEN_COLUMNS: u32x16 =
    u32x16::new([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);

/// A mask with all ones in lane `i` where bit `i` of `bits` is set.
const fn mask(bits: u16) -> u32x16 {
    let mut lanes = [0; LANES];
    let mut i = 0;
    while i < LANES {
        lanes[i] = if bits >> i & 1 == 1 { u32::MAX } else { 0 };
        i += 1;
    }
    u32x16::new(lanes)
}

/// Lanes 0–7: the first half of a vector.
const FIRST_HALF: u32x16 = mask(0x00ff);
/// Lanes 0, 2, 4, …, 14.
const EVEN_LANES: u32x16 = mask(0x5555);

/// Shuffle indices: lane `j` reads element `(2j + first) mod 16` of a 16-float half.
const fn every_other(first: u32) -> u32x16 {
    let mut idx = [0; LANES];
    let mut j = 0;
    while j < LANES {
        idx[j] = (2 * j as u32 + first) % 16;
        j += 1;
    }
    u32x16::new(idx)
}

/// Shuffle indices: lane `i` reads element `i/2 + first` (each element twice).
const fn each_twice(first: u32) -> u32x16 {
    let mut idx = [0; LANES];
    let mut i = 0;
    while i < LANES {
        idx[i] = i as u32 / 2 + first;
        i += 1;
    }
    u32x16::new(idx)
}

/// Indices picking the even / odd elements of a half into lanes 0–7 (and again into 8–15).
const EVENS: u32x16 = every_other(0);
const ODDS: u32x16 = every_other(1);
/// Indices repeating elements 0–7 / 8–15 of a vector twice each.
const FIRST_EACH_TWICE: u32x16 = each_twice(0);
const SECOND_EACH_TWICE: u32x16 = each_twice(8);

/// `(row[0], row[2], …, row[30])` and `(row[1], row[3], …, row[31])`.
#[inline(always)]
fn even_odd(row: &[f32; 2 * LANES]) -> (f32x16, f32x16) {
    // Bits, not floats, move through the shuffles: a NaN comes out exactly as it went in.
    let [lo, hi]: [u32x16; 2] = cast(*row);
    let pick =
        |idx: u32x16| -> f32x16 { cast(FIRST_HALF.select(lo.shuffle(idx), hi.shuffle(idx))) };
    (pick(EVENS), pick(ODDS))
}

/// The inverse of [`even_odd`]: `[even[0], odd[0], even[1], odd[1], …]`.
#[inline(always)]
fn interleave(even: f32x16, odd: f32x16) -> [f32; 2 * LANES] {
    let (even, odd): (u32x16, u32x16) = (cast(even), cast(odd));
    let half = |idx: u32x16| EVEN_LANES.select(even.shuffle(idx), odd.shuffle(idx));
    cast([half(FIRST_EACH_TWICE), half(SECOND_EACH_TWICE)])
}

/// `y[j] = max(top[2j], top[2j+1], bottom[2j], bottom[2j+1])` for the [`LANES`] windows of one
/// row pair, and `argmax[j]` = the flat input index of the winner, where `first` is the flat
/// index of `top[0]` and `w` the input row length (so `bottom[0]` is at `first + w`).
pub(crate) fn max_pool_2x2_lanes(
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
pub(crate) fn max_pool_2x2_backward_lanes(
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
