//! NaN / ∞ detection that names the culprit, for the trainer's "doctor" and for debugging.
//! A training run that diverges first shows a non-finite gradient or value somewhere; these
//! checks say which parameter (by its checkpoint name) or which tape node (by op) it was.

use crate::{AutogradError, Parameter, Result};
use tensor::Tensor;

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
