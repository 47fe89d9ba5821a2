//! `reshape` / `flatten` on the tape: the same elements in the same order under a new shape.
//! Backward: `dx` is `dy` read back under the input's shape.
//!
//! `tensor::Tensor` has no views (every kernel may assume it owns dense memory), so the forward
//! copies the elements into the node's own buffer (in parallel chunks: a memory-bound pass).
//! The backward copies nothing: `dy`'s buffer is relabelled with the input's shape and handed
//! to the input as its gradient (see [`Tape::hand_on_gradient`]).

use crate::ops::Op;
use crate::tape::copy_into;
use crate::{Result, Tape, Var};
use tensor::{Tensor, TensorError};

/// The elements of `x` (row-major order unchanged) under shape `dims` (same element count).
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError::LengthMismatch`
/// when the element counts differ.
pub fn reshape(tape: &mut Tape, x: Var, dims: &[usize]) -> Result<Var> {
    let x = tape.index(x, "reshape")?;
    tape.record(Op::Reshape { x }, |tape, y, _| {
        let src = tape.value_at(x);
        if src.len() != dims.iter().product::<usize>() {
            return Err(TensorError::LengthMismatch {
                op: "reshape",
                shape: dims.to_vec(),
                expected: dims.iter().product(),
                got: src.len(),
            }
            .into());
        }
        copy_into(src, y);
        Ok(y.reshape_in_place(dims)?)
    })
}

/// `[N, d1, d2, …] → [N, d1·d2·…]`: PyTorch's `flatten(1)`, between convolutions and a linear layer.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError::WrongRank` for a
/// 0-D value.
pub fn flatten(tape: &mut Tape, x: Var) -> Result<Var> {
    let dims = tape.value(x)?.dims();
    let Some(&n) = dims.first() else {
        return Err(TensorError::WrongRank { op: "flatten", expected: 1, shape: Vec::new() }.into());
    };
    let rest = dims[1..].iter().product::<usize>();
    reshape(tape, x, &[n, rest])
}

/// forward only relabels the shape, so dx is dy relabelled back: `dy`'s buffer itself becomes
/// the input's gradient (a copy only when the input already has one to add to).
pub(super) fn backward(tape: &mut Tape, node: usize, x: usize, dy: &mut Tensor) -> Result<()> {
    tape.hand_on_gradient(node, x, dy)
}
