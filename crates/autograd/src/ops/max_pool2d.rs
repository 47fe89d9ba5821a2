//! `max_pool2d` on the tape. Forward keeps each window's winner (flat input index) in the node;
//! backward sends each `dy` to its winner: `dx = 0`, `dx[argmax[o]] += dy[o]`.

use crate::ops::Op;
use crate::tape::Saved;
use crate::{Result, Tape, Var};
use tensor::Tensor;
use tensor::ops::max_pool2d::{self, Pool2dParams};

/// Max over `k×k` windows with stride `s`: x [N, C, H, W] → y [N, C, OH, OW].
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError` unless x is 4-D
/// and the window fits.
pub fn max_pool2d(tape: &mut Tape, x: Var, params: Pool2dParams) -> Result<Var> {
    let x = tape.index(x, "max_pool2d")?;
    tape.record(Op::MaxPool2d { x }, |tape, y, saved| {
        Ok(max_pool2d::forward_into(tape.value_at(x), params, y, &mut saved.indices)?)
    })
}

pub(super) fn backward(tape: &mut Tape, x: usize, dy: &Tensor, saved: &Saved) -> Result<()> {
    tape.contribute(x, |tape, dx| {
        let x_shape = tape.value_at(x).shape4("max_pool2d backward")?;
        Ok(max_pool2d::backward_into(dy, &saved.indices, x_shape, dx)?)
    })
}
