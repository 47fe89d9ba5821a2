//! `conv2d` on the tape: x [N, C_in, H, W], w [C_out, C_in, KH, KW], optional b [C_out] →
//! y [N, C_out, OH, OW]. One backward kernel call gives dx, dw and db; dx is skipped when the
//! input needs no gradient (the first layer's image), saving a third of the work.
//!
//! `conv2d_relu` is `relu(conv2d(…))` as one node, for layers that fuse a following ReLU
//! (`nn::Sequential`): the kernels apply the ReLU while writing `y` and its backward mask while
//! reading `dy` (`tensor::ops::conv2d::forward_relu_into`), and the node's own output is the
//! mask, so no pre-activation tensor is kept.

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

/// `relu(conv2d(x, w, b))` as one fused node: the same values and gradients as [`conv2d`]
/// followed by [`relu`](crate::ops::relu), bit for bit, with two passes over the output fewer
/// in each direction.
///
/// # Errors
/// As [`conv2d`] (the kernel's messages name `conv2d_relu`).
pub fn conv2d_relu(
    tape: &mut Tape,
    x: Var,
    w: Var,
    b: Option<Var>,
    params: Conv2dParams,
) -> Result<Var> {
    let x = tape.index(x, "conv2d_relu")?;
    let w = tape.index(w, "conv2d_relu")?;
    let b = b.map(|b| tape.index(b, "conv2d_relu")).transpose()?;
    tape.record(Op::Conv2dRelu { x, w, b, params }, |tape, y, _| {
        let bias = b.map(|b| tape.value_at(b));
        Ok(conv2d::forward_relu_into(tape.value_at(x), tape.value_at(w), bias, params, y)?)
    })
}

/// What the node's `dy` goes through before the convolution's backward.
#[derive(Debug, Clone, Copy)]
pub(super) enum Epilogue {
    /// Nothing: a plain `conv2d` node.
    Identity,
    /// The fused ReLU of a `conv2d_relu` node: this node (its output `y`) masks `dy` by `y > 0`.
    Relu { node: usize },
}

pub(super) fn backward(
    tape: &mut Tape,
    [x, w]: [usize; 2],
    b: Option<usize>,
    params: Conv2dParams,
    epilogue: Epilogue,
    dy: &Tensor,
) -> Result<()> {
    tape.contribute_many([Some(x), Some(w), b], |tape, [dx, dw, db], [want_dx, _, _]| {
        let input_grad = if want_dx { InputGrad::Compute } else { InputGrad::Skip };
        let mut grads = Conv2dGrads { dx: want_dx.then(|| take(dx)), dw: take(dw), db: take(db) };
        let (x, w) = (tape.value_at(x), tape.value_at(w));
        let result = match epilogue {
            Epilogue::Identity => conv2d::backward_into(x, w, dy, params, input_grad, &mut grads),
            Epilogue::Relu { node } => {
                let y = tape.value_at(node);
                conv2d::backward_relu_into(x, w, y, dy, params, input_grad, &mut grads)
            }
        };
        // Under `Skip` the kernel never had `dx`: leave that buffer where it is, so the tape's
        // spare stays allocated for the next step instead of being swapped for an empty one.
        if let Some(grad) = grads.dx {
            *dx = grad;
        }
        (*dw, *db) = (grads.dw, grads.db);
        Ok(result?)
    })
}
