//! `global_avg_pool2d` on the tape: [N, C, H, W] → [N, C, 1, 1], each plane's mean.

use crate::ops::Op;
use crate::{Result, Tape, Var};
use tensor::Tensor;
use tensor::ops::global_avg_pool2d;

/// The mean of each `H×W` plane: x [N, C, H, W] → y [N, C, 1, 1].
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError` unless x is 4-D
/// with non-empty planes.
pub fn global_avg_pool2d(tape: &mut Tape, x: Var) -> Result<Var> {
    let x = tape.index(x, "global_avg_pool2d")?;
    tape.record(Op::GlobalAvgPool2d { x }, |tape, y, _| {
        Ok(global_avg_pool2d::forward_into(tape.value_at(x), y)?)
    })
}

pub(super) fn backward(tape: &mut Tape, x: usize, dy: &Tensor) -> Result<()> {
    tape.contribute(x, |tape, dx| {
        let x_shape = tape.value_at(x).shape4("global_avg_pool2d backward")?;
        Ok(global_avg_pool2d::backward_into(dy, x_shape, dx)?)
    })
}
