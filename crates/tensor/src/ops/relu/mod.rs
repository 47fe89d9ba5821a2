//! ReLU, elementwise on a tensor of any shape.
//!
//! `y = max(x, 0)`; backward `dx = dy where x > 0, else 0` (the subgradient at 0 is taken as 0,
//! as PyTorch does). The fast path runs [`kernel::relu_lanes`] over whole SIMD lanes, splits big
//! tensors into fixed chunks for rayon, and sends the last `< LANES` elements to the reference.

mod kernel;
pub mod reference;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use crate::{Tensor, TensorError};

/// Elements per rayon task: a multiple of [`kernel::LANES`] (so only the last chunk has a tail)
/// and big enough (128 KiB of f32) that scheduling costs nothing next to the memory traffic.
const PAR_CHUNK: usize = 1 << 15;

/// `y = max(x, 0)` elementwise; `y` has the shape of `x`.
pub fn forward(x: &Tensor) -> Tensor {
    let mut y = Tensor::default();
    forward_into(x, &mut y);
    y
}

/// [`forward`] into a caller-owned `y`, resized to `x`'s shape (no allocation once `y` is big
/// enough).
pub fn forward_into(x: &Tensor, y: &mut Tensor) {
    y.resize_for_overwrite(x.dims());
    y.data_mut().par_chunks_mut(PAR_CHUNK).zip(x.data().par_chunks(PAR_CHUNK)).for_each(
        |(y, x)| {
            let body = x.len() / kernel::LANES * kernel::LANES;
            kernel::relu_lanes(&x[..body], &mut y[..body]);
            reference::forward_into(&x[body..], &mut y[body..]);
        },
    );
}

/// Backward of [`forward`]: `dx = dy where x > 0, else 0` (subgradient 0 at the kink).
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when `x` and `dy` have different shapes.
pub fn backward(x: &Tensor, dy: &Tensor) -> Result<Tensor, TensorError> {
    let mut dx = Tensor::default();
    backward_into(x, dy, &mut dx)?;
    Ok(dx)
}

/// [`backward`] into a caller-owned `dx`, resized to `x`'s shape.
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when `x` and `dy` have different shapes.
pub fn backward_into(x: &Tensor, dy: &Tensor, dx: &mut Tensor) -> Result<(), TensorError> {
    if x.dims() != dy.dims() {
        return Err(TensorError::ShapeMismatch {
            op: "relu::backward",
            lhs: x.dims().to_vec(),
            rhs: dy.dims().to_vec(),
            why: "x and dy must have the same shape",
        });
    }
    dx.resize_for_overwrite(x.dims());
    dx.data_mut()
        .par_chunks_mut(PAR_CHUNK)
        .zip(x.data().par_chunks(PAR_CHUNK).zip(dy.data().par_chunks(PAR_CHUNK)))
        .for_each(|(dx, (x, dy))| {
            let body = x.len() / kernel::LANES * kernel::LANES;
            kernel::relu_backward_lanes(&x[..body], &dy[..body], &mut dx[..body]);
            reference::backward_into(&x[body..], &dy[body..], &mut dx[body..]);
        });
    Ok(())
}
