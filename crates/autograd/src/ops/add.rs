//! `add` on the tape: `y = a + b` (same shapes). Backward: `da = dy`, `db = dy`.

use crate::ops::Op;
use crate::tape::copy_into;
use crate::{Result, Tape, Var};
use tensor::Tensor;
use tensor::ops::elementwise;

/// `a + b`, elementwise; both must have the same shape (no broadcasting).
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar) for a foreign var;
/// `TensorError::ShapeMismatch` when the shapes differ.
pub fn add(tape: &mut Tape, a: Var, b: Var) -> Result<Var> {
    let (a, b) = (tape.index(a, "add")?, tape.index(b, "add")?);
    tape.record(Op::Add { a, b }, |tape, y, _| {
        Ok(elementwise::add_into(tape.value_at(a), tape.value_at(b), y)?)
    })
}

pub(super) fn backward(tape: &mut Tape, a: usize, b: usize, dy: &Tensor) -> Result<()> {
    // forward: y = a + b, so ∂y/∂a = ∂y/∂b = 1 and both receive dy unchanged.
    for input in [a, b] {
        tape.contribute(input, |_, da| {
            copy_into(dy, da);
            Ok(())
        })?;
    }
    Ok(())
}
