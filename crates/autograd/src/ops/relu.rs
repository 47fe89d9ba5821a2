//! `relu` on the tape: `y = max(x, 0)`. Backward (kernel's rule): `dx = dy` where `x > 0`, else 0.

use crate::ops::Op;
use crate::{Result, Tape, Var};
use tensor::Tensor;
use tensor::ops::relu;

/// `max(x, 0)` elementwise.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar) for a foreign var.
pub fn relu(tape: &mut Tape, x: Var) -> Result<Var> {
    let x = tape.index(x, "relu")?;
    tape.record(Op::Relu { x }, |tape, y, _| {
        relu::forward_into(tape.value_at(x), y);
        Ok(())
    })
}

pub(super) fn backward(tape: &mut Tape, x: usize, dy: &Tensor) -> Result<()> {
    tape.contribute(x, |tape, dx| Ok(relu::backward_into(tape.value_at(x), dy, dx)?))
}
