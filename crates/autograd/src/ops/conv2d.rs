//! `conv2d` on the tape: x [N, C_in, H, W], w [C_out, C_in, KH, KW], optional b [C_out] →
//! y [N, C_out, OH, OW]. One backward kernel call gives dx, dw and db; dx is skipped when the
//! input needs no gradient (the first layer's image), saving a third of the work.
//!
//! `conv2d_relu` is `relu(conv2d(…))` as one node, for layers that fuse a following ReLU
//! (`nn::Sequential`): the kernels apply the ReLU while writing `y` and its backward mask while
//! reading `dy` (`tensor::ops::conv2d::forward_relu_into`), and the node's own output is the
//! mask, so no pre-activation tensor is kept.
//!
//! `conv2d_relu_pool` is `max_pool2d(relu(conv2d(…)))` as one node: forward pools each image's
//! GEMM output while it is in cache, and backward scatters `dy` to the pool's winners straight
//! into the convolution's padded gradient copy (`tensor::ops::conv2d::forward_relu_pool_into`,
//! `backward_relu_pool_into`): no full-size output or gradient is stored at all.

use crate::ops::Op;
use crate::{Result, Tape, Var};
use std::mem::take;
use tensor::Tensor;
use tensor::ops::conv2d::{self, Conv2dGrads, Conv2dParams, InputGrad};
use tensor::ops::max_pool2d::Pool2dParams;

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
    let (x, w, b) = node_inputs(tape, "conv2d", x, w, b)?;
    tape.record(Op::Conv2d { x, w, b, params }, |tape, y, _| {
        let bias = b.map(|b| tape.value_at(b));
        Ok(conv2d::forward_into(tape.value_at(x), tape.value_at(w), bias, params, y)?)
    })
}

/// `relu(conv2d(x, w, b))` as one fused node: the same values and gradients as [`conv2d()`]
/// followed by [`relu`](crate::ops::relu), bit for bit, with two passes over the output fewer
/// in each direction.
///
/// # Errors
/// As [`conv2d()`] (the kernel's messages name `conv2d_relu`).
pub fn conv2d_relu(
    tape: &mut Tape,
    x: Var,
    w: Var,
    b: Option<Var>,
    params: Conv2dParams,
) -> Result<Var> {
    let (x, w, b) = node_inputs(tape, "conv2d_relu", x, w, b)?;
    tape.record(Op::Conv2dRelu { x, w, b, params }, |tape, y, _| {
        let bias = b.map(|b| tape.value_at(b));
        Ok(conv2d::forward_relu_into(tape.value_at(x), tape.value_at(w), bias, params, y)?)
    })
}

/// `max_pool2d(relu(conv2d(x, w, b)), pool)` as one fused node: the same values and gradients
/// as [`conv2d_relu`] followed by [`max_pool2d`](crate::ops::max_pool2d), bit for bit.
///
/// # Errors
/// As [`conv2d()`], and the pool's errors when its window does not fit the convolution's output.
pub fn conv2d_relu_pool(
    tape: &mut Tape,
    x: Var,
    w: Var,
    b: Option<Var>,
    params: Conv2dParams,
    pool: Pool2dParams,
) -> Result<Var> {
    let (x, w, b) = node_inputs(tape, "conv2d_relu_pool", x, w, b)?;
    tape.record(Op::Conv2dReluPool { x, w, b, params, pool }, |tape, y, saved| {
        let (x, w, bias) = (tape.value_at(x), tape.value_at(w), b.map(|b| tape.value_at(b)));
        let winners = &mut saved.indices;
        Ok(conv2d::forward_relu_pool_into(x, w, bias, (params, pool), y, winners)?)
    })
}

/// The tape indices of a convolution node's input, weight and optional bias (`op` names the
/// node in the stale-variable error).
fn node_inputs(
    tape: &Tape,
    op: &'static str,
    x: Var,
    w: Var,
    b: Option<Var>,
) -> Result<(usize, usize, Option<usize>)> {
    Ok((tape.index(x, op)?, tape.index(w, op)?, b.map(|b| tape.index(b, op)).transpose()?))
}

/// What the node's `dy` goes through before the convolution's backward.
#[derive(Debug, Clone, Copy)]
pub(super) enum Epilogue<'a> {
    /// Nothing: a plain `conv2d` node.
    Identity,
    /// The fused ReLU of a `conv2d_relu` node: this node (its output `y`) masks `dy` by `y > 0`.
    Relu { node: usize },
    /// The fused ReLU and pool of a `conv2d_relu_pool` node (its output `y`, the pool's winners).
    ReluPool { node: usize, pool: Pool2dParams, argmax: &'a [u32] },
}

pub(super) fn backward(
    tape: &mut Tape,
    [x, w]: [usize; 2],
    b: Option<usize>,
    params: Conv2dParams,
    epilogue: Epilogue<'_>,
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
            Epilogue::ReluPool { node, pool, argmax } => {
                let pooled = (tape.value_at(node), argmax);
                let g = &mut grads;
                conv2d::backward_relu_pool_into(x, w, pooled, dy, params, pool, input_grad, g)
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
