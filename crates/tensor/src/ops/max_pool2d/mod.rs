//! Max-pooling over `k×k` windows with stride `s`, no padding, and its backward.
//!
//! `y[n,c,i,j] = max over a,b < k of x[n, c, i·s + a, j·s + b]`
//!
//! Forward also records, for every output, the flat index in `x` of the winning input (ties go
//! to the first element in row-major order), so backward is a scatter: `dx[argmax[o]] += dy[o]`.
//! Planes (one `(n, c)` pair each) are independent, so rayon splits over planes. The hot 2×2/2
//! window runs [`kernel`]'s SIMD lanes, 16 outputs of a row at a time, in both directions; every
//! other window runs the reference plane loop and the general scatter.

pub(crate) mod kernel;
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
            max_pool_2x2_plane(x, s.w, offset, y, arg, ow);
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
/// A plane whose every winner lies in its own 2×2 cell `{2i, 2i+1} × {2j, 2j+1}` (always so
/// after a 2×2/2 forward) is written in one pass with no zero fill first: `dy` at each winner,
/// 0 at the other three elements of its cell and at the rows and columns no cell covers. Any
/// other plane is zeroed and scattered into. Both give the formula above.
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

/// [`backward`] into a caller-owned `dx`, resized to `x_shape` (its contents are unspecified
/// when an error is returned).
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
    if u32::try_from(x_shape.len()).is_err() {
        let what = format!("input {x_shape} has more elements than u32 argmax indices can address");
        return Err(TensorError::InvalidParameter { op, what });
    }
    dx.resize_for_overwrite(&x_shape.dims());
    let (in_plane, out_plane) = (x_shape.plane_len(), ds.plane_len());
    if out_plane == 0 || in_plane == 0 {
        dx.fill(0.0);
        return Ok(());
    }
    // Cells fit when 2·OH <= H and 2·OW <= W; each plane then checks its own winners.
    let cells_fit = 2 * ds.h <= x_shape.h && 2 * ds.w <= x_shape.w;
    let planes = dx.data_mut().par_chunks_mut(in_plane).zip(dy.data().par_chunks(out_plane));
    let all_in_plane =
        planes.zip(argmax.par_chunks(out_plane)).enumerate().all(|(plane, ((dx, dy), arg))| {
            // Indices are global into x: the plane's first element sits at plane·H·W.
            let offset = plane * in_plane;
            if cells_fit && max_pool_2x2_backward_plane(dy, arg, x_shape.w, offset as u32, dx, ds.w)
            {
                return true;
            }
            scatter_plane(dy, arg, offset, dx)
        });
    if !all_in_plane {
        // Rare (forward never produces it): find the first stray index in order, so the
        // message does not depend on which thread saw one first.
        let stray = argmax.iter().enumerate().find(|&(o, &i)| {
            let i = i as usize;
            i >= x_shape.len() || i / in_plane != o / out_plane
        });
        let (o, i) = stray.map_or((0, 0), |(o, &i)| (o, i));
        let what = format!("argmax[{o}] = {i} is outside its plane of an input {x_shape}");
        return Err(TensorError::InvalidParameter { op, what });
    }
    Ok(())
}

/// Where each block of [`kernel::LANES`] outputs of an `out_w`-long row starts (`out_w ≥ LANES`):
/// every `LANES` outputs, with the last block moved back to end exactly at the row's end. It then
/// recomputes a few outputs of the block before it, with identical results, and no output needs
/// a padded tail.
fn block_starts(out_w: usize) -> impl Iterator<Item = usize> {
    const L: usize = kernel::LANES;
    (0..out_w.div_ceil(L)).map(move |b| (b * L).min(out_w - L))
}

/// Forward of the 2×2/2 window over one plane `x` [H, W] (row length `w`) into `y` and
/// `argmax` [OH, OW] with OW = `out_w`: [`kernel::max_pool_2x2_lanes`] on each block of
/// [`kernel::LANES`] outputs (see [`block_starts`]); a row narrower than one block runs on a
/// zero-padded copy. `offset` is the plane's first flat index in the whole input.
fn max_pool_2x2_plane(
    x: &[f32],
    w: usize,
    offset: u32,
    y: &mut [f32],
    argmax: &mut [u32],
    out_w: usize,
) {
    const L: usize = kernel::LANES;
    debug_assert!(out_w > 0 && 2 * out_w <= w && y.len() == argmax.len());
    let rows = y.chunks_exact_mut(out_w).zip(argmax.chunks_exact_mut(out_w));
    for (oh, (y_row, arg_row)) in rows.enumerate() {
        // top, bottom: the [2·OW] columns of input rows 2·oh and 2·oh + 1 that windows cover.
        let top_start = 2 * oh * w;
        let top = &x[top_start..top_start + 2 * out_w];
        let bottom = &x[top_start + w..top_start + w + 2 * out_w];
        let first = offset + top_start as u32;
        if out_w < L {
            // Narrower than one block: run it on zero-padded copies and keep the real outputs.
            let (mut t, mut b) = ([0.0; 2 * L], [0.0; 2 * L]);
            t[..2 * out_w].copy_from_slice(top);
            b[..2 * out_w].copy_from_slice(bottom);
            let (mut y_block, mut arg_block) = ([0.0; L], [0; L]);
            kernel::max_pool_2x2_lanes(&t, &b, first, w as u32, &mut y_block, &mut arg_block);
            y_row.copy_from_slice(&y_block[..out_w]);
            arg_row.copy_from_slice(&arg_block[..out_w]);
            continue;
        }
        for j in block_starts(out_w) {
            let cols = 2 * j..2 * j + 2 * L;
            let fits = "block_starts keeps j + L <= OW";
            let (y_block, arg_block) = (&mut y_row[j..j + L], &mut arg_row[j..j + L]);
            kernel::max_pool_2x2_lanes(
                top[cols.clone()].try_into().expect(fits),
                bottom[cols].try_into().expect(fits),
                first + 2 * j as u32,
                w as u32,
                y_block.try_into().expect("L outputs"),
                arg_block.try_into().expect("L outputs"),
            );
        }
    }
}

/// Backward over one plane when every winner lies in its own 2×2 cell: `dx` [H, W] (row length
/// `w`) from `dy` and `argmax` [OH, OW] with OW = `out_w`, each `dx` element written once (or,
/// where the last block overlaps the one before it, twice with the same value): the cells'
/// four by [`kernel::max_pool_2x2_backward_lanes`] (on a padded copy for a row narrower than one
/// block), the rows and columns no cell covers with 0. Returns false
/// as soon as a winner is outside its cell (`dx` is then partly written).
fn max_pool_2x2_backward_plane(
    dy: &[f32],
    argmax: &[u32],
    w: usize,
    offset: u32,
    dx: &mut [f32],
    out_w: usize,
) -> bool {
    const L: usize = kernel::LANES;
    let out_h = dy.len() / out_w;
    debug_assert!(2 * out_w <= w && 2 * out_h * w <= dx.len() && dy.len() == argmax.len());
    let (cells, uncovered_rows) = dx.split_at_mut(2 * out_h * w);
    let rows =
        cells.chunks_exact_mut(2 * w).zip(dy.chunks_exact(out_w).zip(argmax.chunks_exact(out_w)));
    for (oh, (pair, (dy_row, arg_row))) in rows.enumerate() {
        // pair: input rows 2·oh and 2·oh + 1, [2, W].
        let (top, bottom) = pair.split_at_mut(w);
        let (top, top_rest) = top.split_at_mut(2 * out_w);
        let (bottom, bottom_rest) = bottom.split_at_mut(2 * out_w);
        top_rest.fill(0.0);
        bottom_rest.fill(0.0);
        let first = offset + (2 * oh * w) as u32;
        if out_w < L {
            // Narrower than one block: pad with gradient 0 at each padding window's own
            // top-left (so it counts as in its cell), and keep the real columns.
            let mut g = [0.0; L];
            let mut a = std::array::from_fn(|j| first.wrapping_add(2 * j as u32));
            g[..out_w].copy_from_slice(dy_row);
            a[..out_w].copy_from_slice(arg_row);
            let (mut t, mut b) = ([0.0; 2 * L], [0.0; 2 * L]);
            if !kernel::max_pool_2x2_backward_lanes(&g, &a, first, w as u32, &mut t, &mut b) {
                return false;
            }
            top.copy_from_slice(&t[..2 * out_w]);
            bottom.copy_from_slice(&b[..2 * out_w]);
            continue;
        }
        for j in block_starts(out_w) {
            let written = kernel::max_pool_2x2_backward_lanes(
                dy_row[j..j + L].try_into().expect("block_starts keeps j + L <= OW"),
                arg_row[j..j + L].try_into().expect("block_starts keeps j + L <= OW"),
                first + 2 * j as u32,
                w as u32,
                (&mut top[2 * j..2 * j + 2 * L]).try_into().expect("2·L columns"),
                (&mut bottom[2 * j..2 * j + 2 * L]).try_into().expect("2·L columns"),
            );
            if !written {
                return false;
            }
        }
    }
    uncovered_rows.fill(0.0);
    true
}

/// The general backward over one plane: `dx = 0; dx[argmax[o] − offset] += dy[o]`. Returns
/// false (with `dx` partly written) when an index is outside this plane.
fn scatter_plane(dy: &[f32], argmax: &[u32], offset: usize, dx: &mut [f32]) -> bool {
    dx.fill(0.0);
    for (&g, &i) in dy.iter().zip(argmax) {
        match (i as usize).checked_sub(offset).and_then(|i| dx.get_mut(i)) {
            Some(d) => *d += g,
            None => return false,
        }
    }
    true
}
