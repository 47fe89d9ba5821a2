//! Max-pooling over `k×k` windows with stride `s`, no padding, and its backward.
//!
//! `y[n,c,i,j] = max over a,b < k of x[n, c, i·s + a, j·s + b]`
//!
//! Forward also records, for every output, the flat index in `x` of the winning input (ties go
//! to the first element in row-major order), so backward is a scatter: `dx[argmax[o]] += dy[o]`.
//! Planes (one `(n, c)` pair each) are independent, so rayon splits over planes; the hot 2×2/2
//! window has its own loop in [`kernel`], every other window runs the reference plane loop.

mod kernel;
pub mod reference;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use crate::{Shape4, Tensor, TensorError};

/// Window size and stride of a max-pool (square windows, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Window side `k` (the window is `k×k`).
    pub kernel: usize,
    /// Step `s` between window origins, in both directions.
    pub stride: usize,
}

impl Pool2dParams {
    /// Output size `OH = (H − k)/s + 1`, `OW = (W − k)/s + 1` (floor division: a last partial
    /// window is dropped, as in PyTorch with `ceil_mode=False`).
    ///
    /// # Errors
    /// [`TensorError::InvalidParameter`] for a zero window or stride;
    /// [`TensorError::WindowTooLarge`] when `k > H` or `k > W`.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize), TensorError> {
        let op = "max_pool2d";
        if self.kernel == 0 || self.stride == 0 {
            let what =
                format!("kernel {} and stride {} must be at least 1", self.kernel, self.stride);
            return Err(TensorError::InvalidParameter { op, what });
        }
        if self.kernel > h || self.kernel > w {
            let (kh, kw) = (self.kernel, self.kernel);
            return Err(TensorError::WindowTooLarge { op, kh, kw, pad: 0, h, w });
        }
        Ok(((h - self.kernel) / self.stride + 1, (w - self.kernel) / self.stride + 1))
    }
}

/// Max-pooling of `x` [N, C, H, W] → `y` [N, C, OH, OW] (see [`Pool2dParams::output_hw`]).
///
/// Also returns, for each output element, the flat index in `x` of its maximum (first in
/// row-major order on ties); [`backward`] routes gradients through it.
///
/// # Errors
/// [`TensorError::WrongRank`] unless `x` is 4-D; the errors of [`Pool2dParams::output_hw`];
/// [`TensorError::InvalidParameter`] when `x` has more than `u32::MAX` elements.
pub fn forward(x: &Tensor, p: Pool2dParams) -> Result<(Tensor, Vec<u32>), TensorError> {
    let mut y = Tensor::default();
    let mut argmax = Vec::new();
    forward_into(x, p, &mut y, &mut argmax)?;
    Ok((y, argmax))
}

/// [`forward`] into caller-owned `y` and `argmax`, resized as needed (no allocation once they
/// are big enough).
///
/// # Errors
/// As [`forward`].
pub fn forward_into(
    x: &Tensor,
    p: Pool2dParams,
    y: &mut Tensor,
    argmax: &mut Vec<u32>,
) -> Result<(), TensorError> {
    let s = x.shape4("max_pool2d")?;
    let (oh, ow) = p.output_hw(s.h, s.w)?;
    if u32::try_from(s.len()).is_err() {
        let what = format!("input {s} has more elements than u32 argmax indices can address");
        return Err(TensorError::InvalidParameter { op: "max_pool2d", what });
    }
    y.resize_for_overwrite(&[s.n, s.c, oh, ow]);
    argmax.resize(s.n * s.c * oh * ow, 0);
    // Both ≥ 1: the window fits, so H, W, OH, OW are all at least 1.
    let (in_plane, out_plane) = (s.plane_len(), oh * ow);
    let planes = y.data_mut().par_chunks_mut(out_plane).zip(argmax.par_chunks_mut(out_plane));
    planes.zip(x.data().par_chunks(in_plane)).enumerate().for_each(|(plane, ((y, arg), x))| {
        // Indices are global into x: the plane's first element sits at plane·H·W.
        let offset = (plane * in_plane) as u32;
        if p.kernel == 2 && p.stride == 2 {
            kernel::max_pool_2x2(x, s.w, offset, y, arg, ow);
        } else {
            reference::forward_plane(x, (s.h, s.w), p, offset, y, arg);
        }
    });
    Ok(())
}

/// Backward of [`forward`]: `dx = 0`, then `dx[argmax[o]] += dy[o]` for every output `o`
/// (the gradient flows only to each window's winner).
///
/// `dy` [N, C, OH, OW] → `dx` [N, C, H, W] with `x_shape` = the forward input's shape.
///
/// # Errors
/// [`TensorError::WrongRank`] unless `dy` is 4-D; [`TensorError::ShapeMismatch`] when `dy`'s
/// N or C differ from `x_shape`'s, or `OH > H` or `OW > W`; [`TensorError::LengthMismatch`] when
/// `argmax` does not have one entry per element of `dy`; [`TensorError::InvalidParameter`] when
/// an index points outside its own `(n, c)` plane of `x` (forward never produces that).
pub fn backward(dy: &Tensor, argmax: &[u32], x_shape: Shape4) -> Result<Tensor, TensorError> {
    let mut dx = Tensor::default();
    backward_into(dy, argmax, x_shape, &mut dx)?;
    Ok(dx)
}

/// [`backward`] into a caller-owned `dx`, resized to `x_shape`.
///
/// # Errors
/// As [`backward`].
pub fn backward_into(
    dy: &Tensor,
    argmax: &[u32],
    x_shape: Shape4,
    dx: &mut Tensor,
) -> Result<(), TensorError> {
    let op = "max_pool2d::backward";
    let ds = dy.shape4(op)?;
    if ds.n != x_shape.n || ds.c != x_shape.c || ds.h > x_shape.h || ds.w > x_shape.w {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: ds.dims().to_vec(),
            rhs: x_shape.dims().to_vec(),
            why: "dy must be [N, C, OH, OW] with N and C of x and OH <= H, OW <= W",
        });
    }
    if argmax.len() != dy.len() {
        return Err(TensorError::LengthMismatch {
            op,
            shape: ds.dims().to_vec(),
            expected: dy.len(),
            got: argmax.len(),
        });
    }
    let (in_plane, out_plane) = (x_shape.plane_len(), ds.plane_len());
    // Each plane's indices must stay in that plane: that is what lets planes run in parallel.
    let stray = argmax.iter().enumerate().find(|&(o, &i)| {
        let i = i as usize;
        i >= x_shape.len() || i / in_plane != o / out_plane.max(1)
    });
    if let Some((o, &i)) = stray {
        let what = format!("argmax[{o}] = {i} is outside its plane of an input {x_shape}");
        return Err(TensorError::InvalidParameter { op, what });
    }
    dx.resize_for_overwrite(&x_shape.dims());
    dx.fill(0.0);
    if out_plane == 0 || in_plane == 0 {
        return Ok(());
    }
    let planes = dx.data_mut().par_chunks_mut(in_plane).zip(dy.data().par_chunks(out_plane));
    planes.zip(argmax.par_chunks(out_plane)).enumerate().for_each(|(plane, ((dx, dy), arg))| {
        let offset = plane * in_plane;
        for (&g, &i) in dy.iter().zip(arg) {
            dx[i as usize - offset] += g;
        }
    });
    Ok(())
}
