//! `conv2d` on the tape: x [N, C_in, H, W], w [C_out, C_in, KH, KW], optional b [C_out] →
//! y [N, C_out, OH, OW]. One backward kernel call gives dx, dw and db; dx is skipped when the
//! input needs no gradient (the first layer's image), saving a third of the work.

use crate::ops::Op;
use crate::{Result, Tape, Var};
use std::mem::take;
use tensor::Tensor;
use tensor::ops::conv2d::{self, Conv2dGrads, Conv2dParams, InputGrad};

/// 2-D convolution (PyTorch's cross-correlation) with stride and zero padding.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError` for shapes that do
/// not fit (the message names conv2d and the shapes).
pub fn conv2d(
    tape: &mut Tape,
    x: Var,
    w: Var,
    b: Option<Var>,
    params: Conv2dParams,
) -> Result<Var> {
    let x = tape.index(x, "conv2d")?;
    let w = tape.index(w, "conv2d")?;
    let b = b.map(|b| tape.index(b, "conv2d")).transpose()?;
    tape.record(Op::Conv2d { x, w, b, params }, |tape, y, _| {
        let bias = b.map(|b| tape.value_at(b));
        Ok(conv2d::forward_into(tape.value_at(x), tape.value_at(w), bias, params, y)?)
    })
}

pub(super) fn backward(
    tape: &mut Tape,
    [x, w]: [usize; 2],
    b: Option<usize>,
    params: Conv2dParams,
    dy: &Tensor,
) -> Result<()> {
    tape.contribute_many([Some(x), Some(w), b], |tape, [dx, dw, db], [want_dx, _, _]| {
        let input_grad = if want_dx { InputGrad::Compute } else { InputGrad::Skip };
        let mut grads = Conv2dGrads { dx: want_dx.then(|| take(dx)), dw: take(dw), db: take(db) };
        let result = conv2d::backward_into(
            tape.value_at(x),
            tape.value_at(w),
            dy,
            params,
            input_grad,
            &mut grads,
        );
        // Under `Skip` the kernel never had `dx`: leave that buffer where it is, so the tape's
        // spare stays allocated for the next step instead of being swapped for an empty one.
        if let Some(grad) = grads.dx {
            *dx = grad;
        }
        (*dw, *db) = (grads.dw, grads.db);
        Ok(result?)
    })
}
