//! Global average pooling: each channel plane of each image shrinks to its mean.
//!
//! `y[n,c,0,0] = (1/(H·W)) Σ_{h,w} x[n,c,h,w]`. Shapes: x [N, C, H, W] → y [N, C, 1, 1]
//! (PyTorch's `AdaptiveAvgPool2d(1)`; follow it with a flatten to get [N, C]).
//!
//! Each plane is summed by one thread in index order (f64 accumulator), planes in parallel, so
//! results do not depend on the thread count. Memory-bound: plain loops, no SIMD kernel.

pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Shape4, Tensor, TensorError};
use rayon::prelude::*;

fn validate(op: &'static str, x_shape: Shape4) -> Result<(), TensorError> {
    if x_shape.h == 0 || x_shape.w == 0 {
        return Err(TensorError::InvalidParameter {
            op,
            what: format!("cannot average over an empty {}x{} plane", x_shape.h, x_shape.w),
        });
    }
    Ok(())
}

/// Forward: the mean of every `H×W` plane. x [N, C, H, W] → y [N, C, 1, 1].
///
/// # Errors
/// [`TensorError::WrongRank`] unless x is 4-D; [`TensorError::InvalidParameter`] if H or W is 0.
pub fn forward(x: &Tensor) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    forward_into(x, &mut y)?;
    Ok(y)
}

/// [`forward`] writing into `y` (reshaped, allocation reused).
///
/// # Errors
/// As [`forward`].
pub fn forward_into(x: &Tensor, y: &mut Tensor) -> Result<(), TensorError> {
    let s = x.shape4("global_avg_pool2d")?;
    validate("global_avg_pool2d", s)?;
    y.resize_for_overwrite(&[s.n, s.c, 1, 1]);
    let inv_area = 1.0 / s.plane_len() as f64;
    y.data_mut().par_iter_mut().zip(x.data().par_chunks(s.plane_len())).for_each(|(y, plane)| {
        *y = (plane.iter().map(|&v| f64::from(v)).sum::<f64>() * inv_area) as f32;
    });
    Ok(())
}

/// Backward of [`forward`]: each input pixel contributed `1/(H·W)` of its plane's mean, so
/// `dx[n,c,h,w] = dy[n,c,0,0] / (H·W)`. dy [N, C, 1, 1] (or [N, C]) → dx [N, C, H, W].
///
/// # Errors
/// [`TensorError::LengthMismatch`] when dy does not hold N·C values;
/// [`TensorError::InvalidParameter`] if H or W is 0.
pub fn backward(dy: &Tensor, x_shape: Shape4) -> Result<Tensor, TensorError> {
    let mut dx = Tensor::default();
    backward_into(dy, x_shape, &mut dx)?;
    Ok(dx)
}

/// [`backward`] writing into `dx` (reshaped, allocation reused).
///
/// # Errors
/// As [`backward`].
pub fn backward_into(dy: &Tensor, x_shape: Shape4, dx: &mut Tensor) -> Result<(), TensorError> {
    validate("global_avg_pool2d backward", x_shape)?;
    if dy.len() != x_shape.n * x_shape.c {
        return Err(TensorError::LengthMismatch {
            op: "global_avg_pool2d backward",
            shape: vec![x_shape.n, x_shape.c, 1, 1],
            expected: x_shape.n * x_shape.c,
            got: dy.len(),
        });
    }
    dx.resize_for_overwrite(&x_shape.dims());
    let inv_area = 1.0 / x_shape.plane_len() as f32;
    dx.data_mut()
        .par_chunks_mut(x_shape.plane_len())
        .zip(dy.data().par_iter())
        .for_each(|(plane, &dy)| plane.fill(dy * inv_area));
    Ok(())
}
