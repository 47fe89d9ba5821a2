//! Max-pooling as plain loops, generic over f32/f64: the ground truth for tests, and the
//! fallback for windows other than 2×2/2. No SIMD, no threads.

use super::Pool2dParams;
use crate::{Real, Shape4};

/// `y[n,c,i,j] = max over a,b < k of x[n, c, i·s + a, j·s + b]`, plus the flat index in `x`
/// of each maximum (first in row-major order on ties). `x` is `[N, C, H, W]` with shape `s`;
/// the window must fit (`p.output_hw(H, W)` succeeds).
///
/// # Panics
/// When the window does not fit or `x` is shorter than `s` says: this is a test oracle, and
/// [`super::forward`] is the validating entry point.
pub fn forward<T: Real>(x: &[T], s: Shape4, p: Pool2dParams) -> (Vec<T>, Vec<u32>) {
    let (oh, ow) = p.output_hw(s.h, s.w).expect("callers pass a window that fits");
    let out_plane = oh * ow;
    let mut y = vec![T::ZERO; s.n * s.c * out_plane];
    let mut argmax = vec![0u32; y.len()];
    for plane in 0..s.n * s.c {
        let x = &x[plane * s.plane_len()..(plane + 1) * s.plane_len()];
        let y = &mut y[plane * out_plane..(plane + 1) * out_plane];
        let arg = &mut argmax[plane * out_plane..(plane + 1) * out_plane];
        forward_plane(x, (s.h, s.w), p, (plane * s.plane_len()) as u32, y, arg);
    }
    (y, argmax)
}

/// One `(n, c)` plane of [`forward`]: `x` is `[H, W]`, `y` and `argmax` are `[OH, OW]`, and
/// `offset` (the plane's first flat index in the whole input) is added to every index.
pub fn forward_plane<T: Real>(
    x: &[T],
    (h, w): (usize, usize),
    p: Pool2dParams,
    offset: u32,
    y: &mut [T],
    argmax: &mut [u32],
) {
    let (k, s) = (p.kernel, p.stride);
    let (out_h, out_w) = ((h - k) / s + 1, (w - k) / s + 1);
    debug_assert!(x.len() == h * w && y.len() == out_h * out_w && argmax.len() == y.len());
    for oh in 0..out_h {
        for ow in 0..out_w {
            let mut best = oh * s * w + ow * s;
            for a in 0..k {
                for b in 0..k {
                    let i = (oh * s + a) * w + ow * s + b;
                    // Strictly greater: the first maximum in row-major order wins ties.
                    if x[i] > x[best] {
                        best = i;
                    }
                }
            }
            y[oh * out_w + ow] = x[best];
            argmax[oh * out_w + ow] = offset + best as u32;
        }
    }
}

/// `dx = 0; dx[argmax[o]] += dy[o]` for every output `o` (forward picked `x[argmax[o]]`, so
/// only that input moves `y[o]`). `dx` has `s.len()` elements.
///
/// # Panics
/// When an index is not below `s.len()` or `dy` is shorter than `argmax`.
pub fn backward<T: Real>(dy: &[T], argmax: &[u32], s: Shape4) -> Vec<T> {
    let mut dx = vec![T::ZERO; s.len()];
    for (o, &i) in argmax.iter().enumerate() {
        dx[i as usize] += dy[o];
    }
    dx
}
