//! Op glue: one file per op, each recording a node on the [`Tape`](crate::Tape) and calling the
//! `tensor::ops` kernels for its forward and backward. No math lives here: a glue backward
//! only decides which kernel output goes to which input's gradient.
//!
//! [`Op`] lists every node kind with the indices of its inputs and the few scalars its backward
//! needs; tensors it needs are kept in the node's `Saved` buffers.

mod add;
mod batch_norm2d;
mod conv2d;
mod dropout;
mod global_avg_pool2d;
mod linear;
mod max_pool2d;
mod relu;
mod reshape;
mod scale;
mod softmax_cross_entropy;
mod sum;

pub use add::add;
pub use batch_norm2d::{BatchNormMode, batch_norm2d};
pub use conv2d::{conv2d, conv2d_relu, conv2d_relu_pool};
pub use dropout::dropout;
pub use global_avg_pool2d::global_avg_pool2d;
pub use linear::linear;
pub use max_pool2d::max_pool2d;
pub use relu::relu;
pub use reshape::{flatten, reshape};
pub use scale::scale;
pub use softmax_cross_entropy::softmax_cross_entropy;
pub use sum::{mean, sum};

use crate::tape::Saved;
use crate::{ParamId, Result, Tape};
use tensor::Tensor;
use tensor::ops::batch_norm2d::Statistics;
use tensor::ops::conv2d::Conv2dParams;
use tensor::ops::max_pool2d::Pool2dParams;

/// A recorded node: which op made it, from which nodes (by index), with which constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    /// Data fed in with [`Tape::input`]: no gradient.
    Input,
    /// A leaf whose gradient is wanted ([`Tape::leaf`]).
    Leaf,
    /// A parameter's value ([`Tape::param`]).
    Param(ParamId),
    /// `a + b`.
    Add { a: usize, b: usize },
    /// Convolution of `x` with weights `w` and optional bias `b`.
    Conv2d { x: usize, w: usize, b: Option<usize>, params: Conv2dParams },
    /// `relu(conv2d(x, w, b))` in one node (`ops::conv2d_relu`).
    Conv2dRelu { x: usize, w: usize, b: Option<usize>, params: Conv2dParams },
    /// `max_pool2d(relu(conv2d(x, w, b)), pool)` in one node (`ops::conv2d_relu_pool`; the
    /// pool's winners in `Saved::indices`).
    Conv2dReluPool {
        x: usize,
        w: usize,
        b: Option<usize>,
        params: Conv2dParams,
        pool: Pool2dParams,
    },
    /// `x·wᵀ + b`.
    Linear { x: usize, w: usize, b: Option<usize> },
    /// `max(x, 0)`.
    Relu { x: usize },
    /// Window maxima (winners in `Saved::indices`).
    MaxPool2d { x: usize },
    /// Mean cross-entropy of softmax(logits) (probabilities, targets, weights in `Saved`).
    SoftmaxCrossEntropy { logits: usize, label_smoothing: f32, weighted: bool },
    /// `factor · x`.
    Scale { x: usize, factor: f32 },
    /// `Σ x`.
    Sum { x: usize },
    /// `mean(x)`.
    Mean { x: usize },
    /// Same elements, new shape.
    Reshape { x: usize },
    /// `x ⊙ mask` (mask in `Saved::tensor`).
    Dropout { x: usize },
    /// Per-plane means.
    GlobalAvgPool2d { x: usize },
    /// Batch normalisation (statistics in `Saved::stats`).
    BatchNorm2d { x: usize, gamma: usize, beta: usize, eps: f32, statistics: Statistics },
}

impl Op {
    /// The input nodes (at most three).
    pub(crate) fn inputs(&self) -> [Option<usize>; 3] {
        match *self {
            Op::Input | Op::Leaf | Op::Param(_) => [None, None, None],
            Op::Add { a, b } => [Some(a), Some(b), None],
            Op::Conv2d { x, w, b, .. }
            | Op::Conv2dRelu { x, w, b, .. }
            | Op::Conv2dReluPool { x, w, b, .. }
            | Op::Linear { x, w, b } => [Some(x), Some(w), b],
            Op::SoftmaxCrossEntropy { logits, .. } => [Some(logits), None, None],
            Op::Relu { x }
            | Op::MaxPool2d { x }
            | Op::Scale { x, .. }
            | Op::Sum { x }
            | Op::Mean { x }
            | Op::Reshape { x }
            | Op::Dropout { x }
            | Op::GlobalAvgPool2d { x } => [Some(x), None, None],
            Op::BatchNorm2d { x, gamma, beta, .. } => [Some(x), Some(gamma), Some(beta)],
        }
    }

    /// The PyTorch-style name, for error messages and NaN reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Leaf => "leaf",
            Op::Param(_) => "parameter",
            Op::Add { .. } => "add",
            Op::Conv2d { .. } => "conv2d",
            Op::Conv2dRelu { .. } => "conv2d_relu",
            Op::Conv2dReluPool { .. } => "conv2d_relu_pool",
            Op::Linear { .. } => "linear",
            Op::Relu { .. } => "relu",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::SoftmaxCrossEntropy { .. } => "softmax_cross_entropy",
            Op::Scale { .. } => "scale",
            Op::Sum { .. } => "sum",
            Op::Mean { .. } => "mean",
            Op::Reshape { .. } => "reshape",
            Op::Dropout { .. } => "dropout",
            Op::GlobalAvgPool2d { .. } => "global_avg_pool2d",
            Op::BatchNorm2d { .. } => "batch_norm2d",
        }
    }

    /// Sends `dy = ∂loss/∂(this node)` back to the inputs through the op's backward kernel
    /// (`node` is this node's index: a fused ReLU reads its mask from the node's own value).
    /// `dy` is the node's gradient buffer, lent: a reshape hands it on to its input as that
    /// input's gradient and leaves another buffer in its place (see `reshape::backward`).
    pub(crate) fn backward(
        self,
        tape: &mut Tape,
        node: usize,
        dy: &mut Tensor,
        saved: &Saved,
    ) -> Result<()> {
        use conv2d::Epilogue;
        match self {
            Op::Input | Op::Leaf | Op::Param(_) => Ok(()),
            Op::Add { a, b } => add::backward(tape, a, b, dy),
            Op::Conv2d { x, w, b, params } => {
                conv2d::backward(tape, [x, w], b, params, Epilogue::Identity, dy)
            }
            Op::Conv2dRelu { x, w, b, params } => {
                conv2d::backward(tape, [x, w], b, params, Epilogue::Relu { node }, dy)
            }
            Op::Conv2dReluPool { x, w, b, params, pool } => {
                let epilogue = Epilogue::ReluPool { node, pool, argmax: &saved.indices };
                conv2d::backward(tape, [x, w], b, params, epilogue, dy)
            }
            Op::Linear { x, w, b } => linear::backward(tape, [x, w], b, dy),
            Op::Relu { x } => relu::backward(tape, x, dy),
            Op::MaxPool2d { x } => max_pool2d::backward(tape, x, dy, saved),
            Op::SoftmaxCrossEntropy { logits, label_smoothing, weighted } => {
                softmax_cross_entropy::backward(tape, logits, label_smoothing, weighted, dy, saved)
            }
            Op::Scale { x, factor } => scale::backward(tape, x, factor, dy),
            Op::Sum { x } => sum::backward_sum(tape, x, dy),
            Op::Mean { x } => sum::backward_mean(tape, x, dy),
            Op::Reshape { x } => reshape::backward(tape, node, x, dy),
            Op::Dropout { x } => dropout::backward(tape, x, dy, saved),
            Op::GlobalAvgPool2d { x } => global_avg_pool2d::backward(tape, x, dy),
            Op::BatchNorm2d { x, gamma, beta, eps, statistics } => {
                batch_norm2d::backward(tape, [x, gamma, beta], eps, statistics, dy, saved)
            }
        }
    }
}
