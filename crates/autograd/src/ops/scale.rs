//! `scale` on the tape: `y = factor · x`. Backward: `dx = factor · dy`.

use crate::ops::Op;
use crate::{Result, Tape, Var};
use tensor::Tensor;
use tensor::ops::elementwise;

/// `factor · x`, elementwise.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar) for a foreign var.
pub fn scale(tape: &mut Tape, x: Var, factor: f32) -> Result<Var> {
    let x = tape.index(x, "scale")?;
    tape.record(Op::Scale { x, factor }, |tape, y, _| {
        elementwise::scale_into(tape.value_at(x), factor, y);
        Ok(())
    })
}

pub(super) fn backward(tape: &mut Tape, x: usize, factor: f32, dy: &Tensor) -> Result<()> {
    // forward: y = factor·x, so dx = factor·dy.
    tape.contribute(x, |_, dx| {
        elementwise::scale_into(dy, factor, dx);
        Ok(())
    })
}
