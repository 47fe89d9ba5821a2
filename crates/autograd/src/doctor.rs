//! NaN / ∞ detection that names the culprit, for the trainer's "doctor" and for debugging.
//! A training run that diverges first shows a non-finite gradient or value somewhere; these
//! checks say which parameter (by its checkpoint name) or which tape node (by op) it was.

use crate::schedule::{BLOCKS_PER_TASK, group_sums_of_squares};
use crate::{AutogradError, Parameter, Result};
use rayon::prelude::*;
use tensor::Tensor;
use tensor::ops::elementwise::SUM_CHUNK;

/// Errors with the first non-finite element of `t`, naming it with `what()` (only called then).
///
/// # Errors
/// [`AutogradError::NonFinite`] with the element's index and value.
pub fn check_tensor(t: &Tensor, what: impl FnOnce() -> String) -> Result<()> {
    match t.data().iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => {
            Err(AutogradError::NonFinite { what: what(), index, value: t.data()[index] })
        }
    }
}

/// Checks every parameter's value and gradient, naming the first bad one, e.g.
/// `"features.3.weight (grad)"`.
///
/// # Errors
/// [`AutogradError::NonFinite`] for the first non-finite element found.
pub fn check_parameters<'a>(params: impl IntoIterator<Item = &'a Parameter>) -> Result<()> {
    for p in params {
        check_tensor(&p.value, || format!("{} (value)", p.name))?;
        check_tensor(&p.grad, || format!("{} (grad)", p.name))?;
    }
    Ok(())
}

/// The global gradient norm [`grad_norm`](crate::schedule::grad_norm) (same bits), after
/// checking in the same pass that every value and gradient is finite: what a training step needs
/// before it clips and updates, in one read of each value and gradient where
/// [`check_parameters`] and `grad_norm` read the gradients twice and the values once. A
/// gradient's finiteness comes free with the norm: `Σ g²` is finite exactly when every `g` is.
///
/// # Errors
/// [`AutogradError::NonFinite`] naming the first bad parameter, exactly as [`check_parameters`]
/// does (which this calls to name it once something is off).
pub fn checked_grad_norm(params: &[&mut Parameter]) -> Result<f64> {
    const GROUP: usize = SUM_CHUNK * BLOCKS_PER_TASK;
    let mut sum_sq = 0.0f64;
    let mut values_finite = true;
    for p in params {
        // One task per group of blocks: the group's sums of g², and whether its θ are finite.
        let groups: Vec<([f64; BLOCKS_PER_TASK], bool)> = p
            .grad
            .data()
            .par_chunks(GROUP)
            .zip(p.value.data().par_chunks(GROUP))
            .map(|(g, theta)| (group_sums_of_squares(g), all_finite(theta)))
            .collect();
        values_finite &= groups.iter().all(|&(_, finite)| finite);
        let blocks = p.grad.len().div_ceil(SUM_CHUNK);
        sum_sq += groups.iter().flat_map(|(sums, _)| sums).take(blocks).sum::<f64>();
    }
    if !(values_finite && sum_sq.is_finite()) {
        check_parameters(params.iter().map(|p| &**p))?;
    }
    Ok(sum_sq.sqrt())
}

/// True when no element of `x` is NaN or ±∞ (no early exit, so the loop vectorises).
fn all_finite(x: &[f32]) -> bool {
    x.iter().fold(true, |finite, v| finite & v.is_finite())
}
