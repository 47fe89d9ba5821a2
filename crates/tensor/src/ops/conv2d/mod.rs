//! 2-D convolution (cross-correlation, as in PyTorch) over NCHW tensors, with stride and zero
//! padding, and its backward.
//!
//! `y[n,co,oh,ow] = b[co] + Σ_ci Σ_i Σ_j w[co,ci,i,j] · x[n, ci, oh·s + i − pad, ow·s + j − pad]`
//!
//! Shapes: x [N, C_in, H, W], w [C_out, C_in, KH, KW], b [C_out] → y [N, C_out, OH, OW] with
//! `OH = (H + 2·pad − KH)/s + 1` (same for OW), computed only by [`Conv2dParams::output_hw`].

pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Shape4, Tensor, TensorError};

/// Stride and zero padding of a convolution (the same in both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between window origins, at least 1.
    pub stride: usize,
    /// Zeros added on each side of the input (top, bottom, left, right).
    pub padding: usize,
}

impl Conv2dParams {
    /// Output size for an `h×w` input and a `kh×kw` kernel:
    /// `OH = (H + 2·pad − KH)/s + 1`, `OW = (W + 2·pad − KW)/s + 1` (floor division).
    ///
    /// # Errors
    /// [`TensorError::InvalidParameter`] for a zero stride or an empty kernel;
    /// [`TensorError::WindowTooLarge`] when the kernel is larger than the padded input.
    pub fn output_hw(
        &self,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
    ) -> Result<(usize, usize), TensorError> {
        let op = "conv2d";
        if self.stride == 0 || kh == 0 || kw == 0 {
            let what = format!("stride {} and kernel {kh}x{kw} must be at least 1", self.stride);
            return Err(TensorError::InvalidParameter { op, what });
        }
        let (padded_h, padded_w) = (h + 2 * self.padding, w + 2 * self.padding);
        if kh > padded_h || kw > padded_w {
            return Err(TensorError::WindowTooLarge { op, kh, kw, pad: self.padding, h, w });
        }
        Ok(((padded_h - kh) / self.stride + 1, (padded_w - kw) / self.stride + 1))
    }
}

/// Whether [`backward`] computes `dx`. The first layer's input is the image, whose gradient
/// nobody needs: skipping it saves the `Wᵀ·dY` GEMM and the col2im, about a third of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputGrad {
    /// Compute `dx`.
    Compute,
    /// Leave `dx` as `None`.
    Skip,
}

/// The gradients of a convolution with respect to its input, weights and bias.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conv2dGrads {
    /// `∂loss/∂x` [N, C_in, H, W], or `None` under [`InputGrad::Skip`].
    pub dx: Option<Tensor>,
    /// `∂loss/∂w` [C_out, C_in, KH, KW], summed over the batch.
    pub dw: Tensor,
    /// `∂loss/∂b` [C_out], summed over the batch and all output positions.
    pub db: Tensor,
}

/// Validated shapes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// `[N, C_in, H, W]`.
    x: Shape4,
    /// `[C_out, C_in, KH, KW]` in the fields n, c, h, w.
    w: Shape4,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn y_dims(&self) -> [usize; 4] {
        [self.x.n, self.w.n, self.out_h, self.out_w]
    }
}

/// Checks ranks, channel agreement, non-empty dimensions and that the window fits.
fn geometry(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    p: Conv2dParams,
) -> Result<Geometry, TensorError> {
    let xs = x.shape4(op)?;
    let ws = w.shape4(op)?;
    if xs.c != ws.c {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: xs.dims().to_vec(),
            rhs: ws.dims().to_vec(),
            why: "x is [N, C_in, H, W] and w is [C_out, C_in, KH, KW]: C_in must agree",
        });
    }
    if xs.is_empty() || ws.n == 0 {
        let what = format!("x {xs} and w {ws} must have no zero-sized dimension");
        return Err(TensorError::InvalidParameter { op, what });
    }
    let (out_h, out_w) = p.output_hw(xs.h, xs.w, ws.h, ws.w)?;
    Ok(Geometry { x: xs, w: ws, out_h, out_w })
}

/// Convolution of `x` [N, C_in, H, W] with `w` [C_out, C_in, KH, KW] plus an optional bias
/// `b` [C_out], giving `y` [N, C_out, OH, OW] (formula in the module docs).
///
/// # Errors
/// [`TensorError::WrongRank`] unless `x` and `w` are 4-D;
/// [`TensorError::ShapeMismatch`] when C_in disagrees or `b` is not [C_out];
/// [`TensorError::InvalidParameter`] for zero-sized dimensions or stride;
/// [`TensorError::WindowTooLarge`] when the kernel exceeds the padded input.
pub fn forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: Conv2dParams,
) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    forward_into(x, w, b, p, &mut y)?;
    Ok(y)
}

/// [`forward`] into a caller-owned `y`, resized to [N, C_out, OH, OW].
///
/// # Errors
/// As [`forward`].
pub fn forward_into(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: Conv2dParams,
    y: &mut Tensor,
) -> Result<(), TensorError> {
    let op = "conv2d::forward";
    let g = geometry(op, x, w, p)?;
    if let Some(b) = b
        && b.dims() != [g.w.n]
    {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: w.dims().to_vec(),
            rhs: b.dims().to_vec(),
            why: "the bias must be [C_out]",
        });
    }
    y.resize_for_overwrite(&g.y_dims());
    let out = reference::forward(x.data(), g.x, w.data(), g.w, b.map(Tensor::data), p);
    y.data_mut().copy_from_slice(&out);
    Ok(())
}

/// Backward of [`forward`] given `dy = ∂loss/∂y` [N, C_out, OH, OW]:
///
/// - `db[co] = Σ_n Σ_oh Σ_ow dy[n,co,oh,ow]`
/// - `dw[co,ci,i,j] = Σ_n Σ_oh Σ_ow dy[n,co,oh,ow] · x[n, ci, oh·s + i − pad, ow·s + j − pad]`
/// - `dx[n,ci,h,w] = Σ over every (co, oh, ow, i, j) that read x[n,ci,h,w] of w[co,ci,i,j]·dy`
///
/// `dx` is computed only under [`InputGrad::Compute`]. The bias plays no part in the gradients.
///
/// # Errors
/// The errors of [`forward`], and [`TensorError::ShapeMismatch`] when `dy` is not
/// [N, C_out, OH, OW].
pub fn backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    p: Conv2dParams,
    input_grad: InputGrad,
) -> Result<Conv2dGrads, TensorError> {
    let mut grads = Conv2dGrads::default();
    backward_into(x, w, dy, p, input_grad, &mut grads)?;
    Ok(grads)
}

/// [`backward`] into caller-owned gradients, each resized as needed (`grads.dx` is set to `None`
/// under [`InputGrad::Skip`]).
///
/// # Errors
/// As [`backward`].
pub fn backward_into(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    p: Conv2dParams,
    input_grad: InputGrad,
    grads: &mut Conv2dGrads,
) -> Result<(), TensorError> {
    let op = "conv2d::backward";
    let g = geometry(op, x, w, p)?;
    if dy.dims() != g.y_dims() {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: g.y_dims().to_vec(),
            rhs: dy.dims().to_vec(),
            why: "dy must have the forward output's shape [N, C_out, OH, OW]",
        });
    }
    let r = reference::backward(x.data(), g.x, w.data(), g.w, dy.data(), p);
    grads.dw.resize_for_overwrite(&g.w.dims());
    grads.dw.data_mut().copy_from_slice(&r.dw);
    grads.db.resize_for_overwrite(&[g.w.n]);
    grads.db.data_mut().copy_from_slice(&r.db);
    match input_grad {
        InputGrad::Compute => {
            let dx = grads.dx.get_or_insert_with(Tensor::default);
            dx.resize_for_overwrite(&g.x.dims());
            dx.data_mut().copy_from_slice(&r.dx);
        }
        InputGrad::Skip => grads.dx = None,
    }
    Ok(())
}
