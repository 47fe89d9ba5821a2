//! conv2d as direct nested loops, generic over f32/f64: the definition of "correct" that the
//! im2col + GEMM fast path is tested against. One loop per index of the formula; no SIMD, no
//! threads, no tricks. Run in f64 it also serves the finite-difference gradient checks.
//!
//! Weight shapes are passed as a [`Shape4`] read as `[C_out, C_in, KH, KW]` (fields n, c, h, w).

use super::Conv2dParams;
use crate::{Real, Shape4};

/// The three gradients of a convolution, as plain vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads<T> {
    /// `∂loss/∂x`, `[N, C_in, H, W]`.
    pub dx: Vec<T>,
    /// `∂loss/∂w`, `[C_out, C_in, KH, KW]`.
    pub dw: Vec<T>,
    /// `∂loss/∂b`, `[C_out]`.
    pub db: Vec<T>,
}

/// The input position read by output `o` through kernel tap `k`: `o·stride + k − padding`, or
/// `None` when it falls in the zero padding.
fn input_index(o: usize, k: usize, p: Conv2dParams, len: usize) -> Option<usize> {
    (o * p.stride + k).checked_sub(p.padding).filter(|&i| i < len)
}

/// `y[n,co,oh,ow] = b[co] + Σ_ci Σ_i Σ_j w[co,ci,i,j] · x[n, ci, oh·s + i − pad, ow·s + j − pad]`
/// with `x` read as 0 outside the image. `x` is `[N, C_in, H, W]` (shape `xs`), `w` is
/// `[C_out, C_in, KH, KW]` (shape `ws`), `b` is `[C_out]`; the result is `[N, C_out, OH, OW]`.
///
/// # Panics
/// When the shapes do not agree or the window does not fit: this is a test oracle, and
/// [`super::forward`] is the validating entry point.
pub fn forward<T: Real>(
    x: &[T],
    xs: Shape4,
    w: &[T],
    ws: Shape4,
    b: Option<&[T]>,
    p: Conv2dParams,
) -> Vec<T> {
    let (c_out, c_in, kh, kw) = (ws.n, ws.c, ws.h, ws.w);
    assert_eq!(c_in, xs.c, "conv2d reference: C_in of x and w differ");
    let (out_h, out_w) = p.output_hw(xs.h, xs.w, kh, kw).expect("window fits");
    let mut y = vec![T::ZERO; xs.n * c_out * out_h * out_w];
    for n in 0..xs.n {
        for co in 0..c_out {
            for oh in 0..out_h {
                for ow in 0..out_w {
                    let mut acc = b.map_or(T::ZERO, |b| b[co]);
                    for ci in 0..c_in {
                        for i in 0..kh {
                            let Some(ih) = input_index(oh, i, p, xs.h) else { continue };
                            for j in 0..kw {
                                let Some(iw) = input_index(ow, j, p, xs.w) else { continue };
                                let xv = x[((n * c_in + ci) * xs.h + ih) * xs.w + iw];
                                acc += w[((co * c_in + ci) * kh + i) * kw + j] * xv;
                            }
                        }
                    }
                    y[((n * c_out + co) * out_h + oh) * out_w + ow] = acc;
                }
            }
        }
    }
    y
}

/// Gradients of [`forward`] given `dy = ∂loss/∂y` (`[N, C_out, OH, OW]`). Every term
/// `w[co,ci,i,j]·x[n,ci,ih,iw]` of `y[n,co,oh,ow]` sends `dy` back to both factors:
///
/// - `dx[n,ci,ih,iw] += w[co,ci,i,j] · dy[n,co,oh,ow]`
/// - `dw[co,ci,i,j] += x[n,ci,ih,iw] · dy[n,co,oh,ow]` (summed over the batch)
/// - `db[co] += dy[n,co,oh,ow]` (the bias is added to every output of channel `co`)
///
/// # Panics
/// As [`forward`].
pub fn backward<T: Real>(
    x: &[T],
    xs: Shape4,
    w: &[T],
    ws: Shape4,
    dy: &[T],
    p: Conv2dParams,
) -> Grads<T> {
    let (c_out, c_in, kh, kw) = (ws.n, ws.c, ws.h, ws.w);
    assert_eq!(c_in, xs.c, "conv2d reference: C_in of x and w differ");
    let (out_h, out_w) = p.output_hw(xs.h, xs.w, kh, kw).expect("window fits");
    let mut g = Grads {
        dx: vec![T::ZERO; xs.len()],
        dw: vec![T::ZERO; ws.len()],
        db: vec![T::ZERO; c_out],
    };
    for n in 0..xs.n {
        for co in 0..c_out {
            for oh in 0..out_h {
                for ow in 0..out_w {
                    let d = dy[((n * c_out + co) * out_h + oh) * out_w + ow];
                    g.db[co] += d;
                    for ci in 0..c_in {
                        for i in 0..kh {
                            let Some(ih) = input_index(oh, i, p, xs.h) else { continue };
                            for j in 0..kw {
                                let Some(iw) = input_index(ow, j, p, xs.w) else { continue };
                                let xi = ((n * c_in + ci) * xs.h + ih) * xs.w + iw;
                                let wi = ((co * c_in + ci) * kh + i) * kw + j;
                                g.dx[xi] += w[wi] * d;
                                g.dw[wi] += x[xi] * d;
                            }
                        }
                    }
                }
            }
        }
    }
    g
}
