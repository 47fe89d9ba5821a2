//! The forward of the fused `max_pool2d(relu(conv2d(x)))`: the pool runs on the GEMM's output
//! while it is still in cache (the padded grid's `wide`, or a dense scratch image), so the
//! full-size convolution output is never written to memory.
//!
//! Each window's value is `max over its elements of relu(v + b[c])` and its winner the first
//! maximum in row-major order (strictly greater replaces), exactly as `max_pool2d::forward` on
//! `relu(conv2d(x))` picks it; winners are flat indices into the whole conv output
//! [N, C_out, OH, OW]. 2×2 windows with stride 2 go through the pool's own SIMD kernel, 16
//! windows of a row at a time, as `max_pool2d` does.

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
