//! `sum` and `mean` on the tape: a tensor reduced to one value (shape `[]`).
//! Backward: `dx_i = dy` (sum) and `dx_i = dy / len` (mean).

use crate::ops::Op;
use crate::{Result, Tape, Var};
use tensor::ops::elementwise;
use tensor::{Tensor, TensorError};

/// `Σ_i x_i` as a scalar (shape `[]`), in the thread-count-independent order of
/// [`elementwise::sum`].
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar) for a foreign var.
pub fn sum(tape: &mut Tape, x: Var) -> Result<Var> {
    let x = tape.index(x, "sum")?;
    tape.record(Op::Sum { x }, |tape, y, _| {
        y.resize_for_overwrite(&[]);
        y.fill(elementwise::sum(tape.value_at(x)));
        Ok(())
    })
}

/// `(1/len) Σ_i x_i` as a scalar (shape `[]`).
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError::InvalidParameter`
/// for an empty tensor.
pub fn mean(tape: &mut Tape, x: Var) -> Result<Var> {
    let x = tape.index(x, "mean")?;
    tape.record(Op::Mean { x }, |tape, y, _| {
        let m = elementwise::mean(tape.value_at(x))?;
        y.resize_for_overwrite(&[]);
        y.fill(m);
        Ok(())
    })
}

fn scalar_of(dy: &Tensor) -> Result<f32> {
    match dy.data() {
        [d] => Ok(*d),
        _ => Err(TensorError::LengthMismatch {
            op: "sum backward",
            shape: dy.dims().to_vec(),
            expected: 1,
            got: dy.len(),
        }
        .into()),
    }
}

pub(super) fn backward_sum(tape: &mut Tape, x: usize, dy: &Tensor) -> Result<()> {
    // forward: y = Σ x_i, so dx_i = dy.
    let dy = scalar_of(dy)?;
    tape.contribute(x, |tape, dx| {
        elementwise::broadcast_into(dy, tape.value_at(x).dims(), dx);
        Ok(())
    })
}

pub(super) fn backward_mean(tape: &mut Tape, x: usize, dy: &Tensor) -> Result<()> {
    // forward: y = sum(x) / len, so dx_i = dy / len.
    let len = tape.value_at(x).len() as f32;
    let dy = scalar_of(dy)? / len;
    tape.contribute(x, |tape, dx| {
        elementwise::broadcast_into(dy, tape.value_at(x).dims(), dx);
        Ok(())
    })
}
