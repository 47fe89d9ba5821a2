//! `dropout` on the tape (training only; in evaluation a layer skips it: identity).
//! Forward samples the mask, `y = x ⊙ m`; backward `dx = dy ⊙ m`.

use crate::ops::Op;
use crate::tape::Saved;
use crate::{Result, Tape, Var};
use tensor::ops::dropout;
use tensor::{Rng, Tensor};

/// Inverted dropout with drop probability `p`: each element is zeroed with probability `p`,
/// survivors scaled by `1/(1 − p)`. The mask is drawn from `rng` in element order.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError::InvalidParameter`
/// unless `0 ≤ p < 1`.
pub fn dropout(tape: &mut Tape, x: Var, p: f32, rng: &mut Rng) -> Result<Var> {
    let x = tape.index(x, "dropout")?;
    tape.record(Op::Dropout { x }, |tape, y, saved| {
        let x = tape.value_at(x);
        dropout::sample_mask_into(x.dims(), p, rng, &mut saved.tensor)?;
        Ok(dropout::forward_into(x, &saved.tensor, y)?)
    })
}

pub(super) fn backward(tape: &mut Tape, x: usize, dy: &Tensor, saved: &Saved) -> Result<()> {
    tape.contribute(x, |_, dx| Ok(dropout::backward_into(dy, &saved.tensor, dx)?))
}
