//! The forward of the fused `max_pool2d(relu(conv2d(x)))`: the pool runs on the GEMM's output
//! while it is still in cache (the padded grid's `wide`, or a dense scratch image), so the
//! full-size convolution output is never written to memory.
//!
//! Each window's value is `max over its elements of relu(v + b[c])` and its winner the first
//! maximum in row-major order (strictly greater replaces), exactly as `max_pool2d::forward` on
//! `relu(conv2d(x))` picks it; winners are flat indices into the whole conv output
//! [N, C_out, OH, OW]. 2×2 windows with stride 2 go through the pool's own SIMD kernel, 16
//! windows of a row at a time, as `max_pool2d` does; a plane whose pooled rows are narrower than
//! 16 windows (8×8 after conv5 of a 64×64 input) goes through it 16 windows of the plane at a
//! time, several pooled rows per call ([`narrow_2x2`]).

use super::Activation;
use super::upstream::PoolWindows;
use crate::ops::max_pool2d::kernel::{LANES, max_pool_2x2_lanes};

/// One image's conv output before the epilogue: channel `c`'s row `r` starts at
/// `src[c·plane + r·pitch]` (OW real pixels), and `b[c]` is still to be added.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawImage<'a> {
    pub src: &'a [f32],
    pub plane: usize,
    pub pitch: usize,
    pub bias: Option<&'a [f32]>,
}

/// `y` [C, PH, PW] and `argmax` of one image (whose conv output starts at flat index `first`).
pub(super) fn relu_pool(
    raw: RawImage,
    windows: PoolWindows,
    first: usize,
    y: &mut [f32],
    argmax: &mut [u32],
) {
    let PoolWindows { kernel, stride, conv_hw: (oh, ow), pooled_hw: (ph, pw) } = windows;
    let planes = y.chunks_exact_mut(ph * pw).zip(argmax.chunks_exact_mut(ph * pw));
    for (c, (y, argmax)) in planes.enumerate() {
        let b = raw.bias.map_or(0.0, |b| b[c]);
        // relu(v + b) of conv pixel (r, col) of this channel.
        let value = |r: usize, col: usize| {
            Activation::Relu.apply(raw.src[c * raw.plane + r * raw.pitch + col] + b)
        };
        let plane_first = first + c * oh * ow;
        if (kernel, stride) == (2, 2) && pw < LANES {
            narrow_2x2((raw, c, b), (pw, ow), plane_first, y, argmax);
            continue;
        }
        let rows = y.chunks_exact_mut(pw).zip(argmax.chunks_exact_mut(pw));
        for (i, (y, argmax)) in rows.enumerate() {
            let top = i * stride;
            let mut j_start = 0;
            if (kernel, stride) == (2, 2) && pw >= LANES {
                // Blocks of LANES windows; a last partial block overlaps the one before it.
                let last = pw - LANES;
                for j0 in (0..last).step_by(LANES).chain([last]) {
                    let mut rows = [[0.0f32; 2 * LANES]; 2];
                    for (a, row) in rows.iter_mut().enumerate() {
                        let start = c * raw.plane + (top + a) * raw.pitch + 2 * j0;
                        let src = &raw.src[start..start + 2 * LANES];
                        row.iter_mut()
                            .zip(src)
                            .for_each(|(d, &v)| *d = Activation::Relu.apply(v + b));
                    }
                    let at = plane_first + top * ow + 2 * j0;
                    let (y, argmax) = (&mut y[j0..j0 + LANES], &mut argmax[j0..j0 + LANES]);
                    let y: &mut [f32; LANES] = y.try_into().expect("LANES outputs");
                    let argmax: &mut [u32; LANES] = argmax.try_into().expect("LANES outputs");
                    max_pool_2x2_lanes(&rows[0], &rows[1], at as u32, ow as u32, y, argmax);
                }
                j_start = pw;
            }
            for j in j_start..pw {
                let left = j * stride;
                let (mut best, mut best_at) = (value(top, left), (top, left));
                for a in 0..kernel {
                    for b in 0..kernel {
                        let v = value(top + a, left + b);
                        // Strictly greater: the first maximum in row-major order keeps a tie.
                        if v > best {
                            (best, best_at) = (v, (top + a, left + b));
                        }
                    }
                }
                y[j] = best;
                argmax[j] = (plane_first + best_at.0 * ow + best_at.1) as u32;
            }
        }
    }
}

/// The row length [`narrow_2x2`] gives the SIMD kernel (floats from its top row to its bottom
/// row): more than the `2·LANES` columns of a row pair, so each winner's index tells
/// its row (`/ KERNEL_ROW`) and column (`% KERNEL_ROW`) apart.
const KERNEL_ROW: u32 = 4 * LANES as u32;

/// `y` [PH, PW] and `argmax` of channel `c` of `raw` (bias `b`) for 2×2 windows with stride 2
/// and `PW < LANES`: the plane's `PH·PW` windows in row-major order, [`LANES`] at a time. Lane
/// `l` of a block is window `w0 + l`, at pooled row `i` and column `j`; its four inputs
/// `relu(v + b)` go to `top[2l..2l + 2]` (conv row `2i`, columns `2j, 2j + 1`) and
/// `bottom[2l..2l + 2]` (row `2i + 1`), copied as one contiguous run per pooled row the block
/// touches. The kernel, told the top row starts at 0 and the bottom row [`KERNEL_ROW`] further,
/// compares them exactly as for a full row (same order, same ties) and reports the winner as
/// `2l + dc + dr·KERNEL_ROW`, which is turned back into the flat index of conv pixel
/// `(2i + dr, 2j + dc)`. Lanes past the last window compute zeros that are not stored.
fn narrow_2x2(
    (raw, c, b): (RawImage, usize, f32),
    (pw, ow): (usize, usize),
    plane_first: usize,
    y: &mut [f32],
    argmax: &mut [u32],
) {
    let windows = y.len();
    for w0 in (0..windows).step_by(LANES) {
        let n = LANES.min(windows - w0);
        let mut rows = [[0.0f32; 2 * LANES]; 2];
        let mut l = 0;
        while l < n {
            let (i, j) = ((w0 + l) / pw, (w0 + l) % pw);
            let run = (pw - j).min(n - l);
            for (a, row) in rows.iter_mut().enumerate() {
                let start = c * raw.plane + (2 * i + a) * raw.pitch + 2 * j;
                let src = &raw.src[start..start + 2 * run];
                let dst = &mut row[2 * l..2 * (l + run)];
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = Activation::Relu.apply(v + b));
            }
            l += run;
        }
        let (mut best, mut at) = ([0.0; LANES], [0; LANES]);
        max_pool_2x2_lanes(&rows[0], &rows[1], 0, KERNEL_ROW, &mut best, &mut at);
        for (l, (&best, &at)) in best.iter().zip(&at).take(n).enumerate() {
            let (i, j) = ((w0 + l) / pw, (w0 + l) % pw);
            let (dr, dc) = ((at / KERNEL_ROW) as usize, (at % KERNEL_ROW) as usize - 2 * l);
            y[w0 + l] = best;
            argmax[w0 + l] = (plane_first + (2 * i + dr) * ow + 2 * j + dc) as u32;
        }
    }
}
