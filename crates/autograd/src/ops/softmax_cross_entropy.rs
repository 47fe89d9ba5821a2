//! `softmax_cross_entropy` on the tape: logits [N, K] and class targets → the mean loss
//! (shape `[]`). The node keeps the probabilities, targets and class weights; backward calls the
//! kernel's `(p − q)`-style gradient scaled by the upstream `dloss`. Both directions write into
//! the node's reused buffers through the kernel's `_into` variants.

use crate::ops::Op;
use crate::tape::Saved;
use crate::{Result, Tape, Var};
use tensor::Tensor;
use tensor::ops::softmax_cross_entropy::{self, CrossEntropyOptions};

/// PyTorch's `F.cross_entropy(logits, targets, weight, label_smoothing)` with mean reduction.
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError` for a non-2-D
/// logits tensor, a wrong number of targets, a target ≥ K, bad options or non-finite logits.
pub fn softmax_cross_entropy(
    tape: &mut Tape,
    logits: Var,
    targets: &[usize],
    opts: &CrossEntropyOptions,
) -> Result<Var> {
    let logits = tape.index(logits, "softmax_cross_entropy")?;
    let op = Op::SoftmaxCrossEntropy {
        logits,
        label_smoothing: opts.label_smoothing,
        weighted: opts.class_weights.is_some(),
    };
    tape.record(op, |tape, y, saved| {
        let probs = &mut saved.tensor;
        let loss =
            softmax_cross_entropy::forward_into(tape.value_at(logits), targets, opts, probs)?;
        y.resize_for_overwrite(&[]);
        y.fill(loss);
        saved.targets.clear();
        saved.targets.extend_from_slice(targets);
        saved.weights.clear();
        saved.weights.extend_from_slice(opts.class_weights.unwrap_or_default());
        Ok(())
    })
}

pub(super) fn backward(
    tape: &mut Tape,
    logits: usize,
    label_smoothing: f32,
    weighted: bool,
    dy: &Tensor,
    saved: &Saved,
) -> Result<()> {
    let opts = CrossEntropyOptions {
        class_weights: weighted.then_some(saved.weights.as_slice()),
        label_smoothing,
    };
    let dloss = dy.data().iter().sum::<f32>(); // dy holds the one upstream value
    tape.contribute(logits, |_, dx| {
        let (probs, targets) = (&saved.tensor, &saved.targets);
        Ok(softmax_cross_entropy::backward_into(probs, targets, &opts, dloss, dx)?)
    })
}
