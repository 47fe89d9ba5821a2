//! `Parameter`: a trainable tensor, its gradient, and the name it is saved under.

use std::sync::atomic::{AtomicU64, Ordering};
use tensor::Tensor;

/// Identifies a parameter on a tape. Every [`Parameter::new`] draws a fresh id; a clone keeps
/// its original's id (so pass only one of the two to a tape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParamId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A trainable tensor with its gradient buffer.
///
/// `grad` always has `value`'s shape. The tape never writes here during `backward`; after it,
/// one of two calls moves `∂loss/∂value` here:
/// - [`Tape::take_param_grads`](crate::Tape::take_param_grads) makes `grad` exactly this
///   backward's gradient by swapping buffers with the tape (no zeroing, no summing pass): the
///   training loop's call, one backward per step.
/// - [`Tape::accumulate_param_grads`](crate::Tape::accumulate_param_grads) adds it into `grad`,
///   so gradients of several backward passes add up until [`Parameter::zero_grad`] (gradient
///   accumulation over micro-batches: take the first, accumulate the others).
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// PyTorch-style dotted name, e.g. `"features.0.weight"`; checkpoints use it as the key.
    pub name: String,
    /// The current value (conv weight [C_out, C_in, KH, KW], linear weight [out, in], bias [C]).
    pub value: Tensor,
    /// `∂loss/∂value`: the last taken gradient plus any accumulated since, or the sum since the
    /// last `zero_grad`; same shape as `value`.
    pub grad: Tensor,
    id: ParamId,
}

impl Parameter {
    /// A parameter named `name` holding `value`, with a zero gradient.
    pub fn new(name: impl Into<String>, value: Tensor) -> Self {
        let grad = Tensor::zeros(value.dims());
        Self {
            name: name.into(),
            value,
            grad,
            id: ParamId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// The id a tape uses to route this parameter's gradient back to it.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// Sets the gradient to zero (keeping its buffer).
    pub fn zero_grad(&mut self) {
        self.grad.fill(0.0);
    }
}

/// A named non-trainable tensor a layer keeps between steps (batch norm's running statistics).
/// Saved in checkpoints beside the parameters, never touched by optimisers.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// PyTorch-style dotted name, e.g. `"features.1.running_mean"`.
    pub name: String,
    /// The stored values.
    pub value: Tensor,
}
