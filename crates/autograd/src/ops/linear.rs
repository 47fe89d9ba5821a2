//! `linear` on the tape: x [N, in], w [out, in], optional b [out] → y = x·Wᵀ + b [N, out].
//! One backward kernel call gives dx = dY·W, dW = dYᵀ·x and db = Σ_n dY.

use crate::ops::Op;
use crate::{Result, Tape, Var};
use std::mem::take;
use tensor::Tensor;
use tensor::ops::linear::{self, LinearGrads};

/// A fully connected layer's op, PyTorch layout.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError` for shapes that do
/// not fit.
pub fn linear(tape: &mut Tape, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
    let x = tape.index(x, "linear")?;
    let w = tape.index(w, "linear")?;
    let b = b.map(|b| tape.index(b, "linear")).transpose()?;
    tape.record(Op::Linear { x, w, b }, |tape, y, _| {
        let bias = b.map(|b| tape.value_at(b));
        Ok(linear::forward_into(tape.value_at(x), tape.value_at(w), bias, y)?)
    })
}

pub(super) fn backward(
    tape: &mut Tape,
    [x, w]: [usize; 2],
    b: Option<usize>,
    dy: &Tensor,
) -> Result<()> {
    tape.contribute_many([Some(x), Some(w), b], |tape, [dx, dw, db], _| {
        let mut grads = LinearGrads { dx: take(dx), dw: take(dw), db: take(db) };
        let result = linear::backward_into(tape.value_at(x), tape.value_at(w), dy, &mut grads);
        (*dx, *dw, *db) = (grads.dx, grads.dw, grads.db);
        Ok(result?)
    })
}
