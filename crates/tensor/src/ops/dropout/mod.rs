//! Dropout (inverted, as PyTorch does it): in training each element is zeroed with probability
//! `p` and the survivors are scaled by `1/(1 − p)`, so the expected output equals the input and
//! evaluation needs no rescaling (it is the identity).
//!
//! Sampling is separate from applying: [`sample_mask_into`] draws the mask
//! `m_i ∈ {0, 1/(1−p)}` from an explicit [`Rng`], then `y = x ⊙ m` and `dx = dy ⊙ m`. The mask
//! is drawn sequentially from the stream, so it depends only on the seed, never on threads.

pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Rng, Tensor, TensorError};
use rayon::prelude::*;

/// Elements per parallel task: the multiply is memory-bound, big chunks amortise rayon.
const PAR_CHUNK: usize = 1 << 15;

/// Checks that `p` is a drop probability in `[0, 1)` (p = 1 would divide by zero).
///
/// # Errors
/// [`TensorError::InvalidParameter`] naming the value otherwise.
pub fn validate_probability(p: f32) -> Result<(), TensorError> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(TensorError::InvalidParameter {
            op: "dropout",
            what: format!("drop probability {p} is not in [0, 1)"),
        })
    }
}

/// Draws a mask shaped `dims`: `m_i = 0` with probability `p`, else `1/(1 − p)`.
///
/// # Errors
/// [`TensorError::InvalidParameter`] unless `0 ≤ p < 1`.
pub fn sample_mask_into(
    dims: &[usize],
    p: f32,
    rng: &mut Rng,
    mask: &mut Tensor,
) -> Result<(), TensorError> {
    validate_probability(p)?;
    mask.resize_for_overwrite(dims);
    let keep_scale = 1.0 / (1.0 - p);
    for m in mask.data_mut() {
        *m = if rng.bernoulli(p) { 0.0 } else { keep_scale };
    }
    Ok(())
}

fn check_mask(op: &'static str, x: &Tensor, mask: &Tensor) -> Result<(), TensorError> {
    if x.dims() != mask.dims() {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: x.dims().to_vec(),
            rhs: mask.dims().to_vec(),
            why: "the mask must have the input's shape",
        });
    }
    Ok(())
}

fn multiply_into(a: &Tensor, mask: &Tensor, out: &mut Tensor) {
    out.resize_for_overwrite(a.dims());
    out.data_mut()
        .par_chunks_mut(PAR_CHUNK)
        .zip(a.data().par_chunks(PAR_CHUNK))
        .zip(mask.data().par_chunks(PAR_CHUNK))
        .for_each(|((out, a), m)| {
            for ((o, a), m) in out.iter_mut().zip(a).zip(m) {
                *o = a * m;
            }
        });
}

/// Forward: `y = x ⊙ m`. Shapes: x, mask, y all the same (any rank).
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when the mask's shape differs from x's.
pub fn forward(x: &Tensor, mask: &Tensor) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    forward_into(x, mask, &mut y)?;
    Ok(y)
}

/// [`forward`] writing into `y` (reshaped, allocation reused).
///
/// # Errors
/// As [`forward`].
pub fn forward_into(x: &Tensor, mask: &Tensor, y: &mut Tensor) -> Result<(), TensorError> {
    check_mask("dropout", x, mask)?;
    multiply_into(x, mask, y);
    Ok(())
}

/// Backward of [`forward`]: `y` is linear in `x` with diagonal `m`, so `dx = dy ⊙ m`.
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when the mask's shape differs from dy's.
pub fn backward(dy: &Tensor, mask: &Tensor) -> Result<Tensor, TensorError> {
    let mut dx = Tensor::default();
    backward_into(dy, mask, &mut dx)?;
    Ok(dx)
}

/// [`backward`] writing into `dx` (reshaped, allocation reused).
///
/// # Errors
/// As [`backward`].
pub fn backward_into(dy: &Tensor, mask: &Tensor, dx: &mut Tensor) -> Result<(), TensorError> {
    check_mask("dropout backward", dy, mask)?;
    multiply_into(dy, mask, dx);
    Ok(())
}
