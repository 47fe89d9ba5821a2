//! Running a network over prepared batches in evaluation mode: losses, predictions and class
//! probabilities.

use autograd::Tape;
use autograd::nn::{Mode, Module};
use tensor::Tensor;
use tensor::ops::softmax_cross_entropy::{self, CrossEntropyOptions};

use crate::model::Network;

/// What a pass over a set of images produced, image by image in batch order.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean plain cross-entropy (no class weights, no smoothing) over the images.
    pub mean_loss: f64,
    /// The true classes.
    pub truth: Vec<usize>,
    /// The predicted classes (arg-max of the logits; ties to the lower index).
    pub predicted: Vec<usize>,
    /// Softmax probabilities, one row of K per image.
    pub probabilities: Vec<Vec<f32>>,
}

impl Evaluation {
    /// Fraction of correct predictions (0 for no images).
    pub fn accuracy(&self) -> f64 {
        let correct = self.truth.iter().zip(&self.predicted).filter(|(t, p)| t == p).count();
        if self.truth.is_empty() { 0.0 } else { correct as f64 / self.truth.len() as f64 }
    }
}

/// The index of the largest value of `row` (the first one on ties; 0 for an empty row).
pub fn arg_max(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// Predicted class of each row of `logits` [N, K].
pub fn predictions(logits: &Tensor) -> Vec<usize> {
    let k = logits.dims().last().copied().unwrap_or(1).max(1);
    logits.data().chunks(k).map(arg_max).collect()
}

/// Runs `net` in evaluation mode over `batches` ([N, 3, S, S] images, targets) and switches it
/// back to training mode afterwards.
///
/// # Errors
/// A shape the network rejects, or non-finite logits (named by the tensor kernel).
pub fn evaluate(
    net: &mut Network,
    tape: &mut Tape,
    batches: &[(Tensor, Vec<usize>)],
) -> anyhow::Result<Evaluation> {
    net.set_mode(Mode::Eval);
    let result = run(net, tape, batches);
    net.set_mode(Mode::Train);
    result
}

fn run(
    net: &mut Network,
    tape: &mut Tape,
    batches: &[(Tensor, Vec<usize>)],
) -> anyhow::Result<Evaluation> {
    let mut out = Evaluation {
        mean_loss: 0.0,
        truth: Vec::new(),
        predicted: Vec::new(),
        probabilities: Vec::new(),
    };
    let mut loss_sum = 0.0f64;
    let plain = CrossEntropyOptions { class_weights: None, label_smoothing: 0.0 };
    for (x, targets) in batches {
        tape.reset();
        let xv = tape.input_from(x);
        let logits = net.forward(tape, xv)?;
        let logits = tape.value(logits)?;
        let ce = softmax_cross_entropy::forward(logits, targets, &plain)?;
        loss_sum += f64::from(ce.loss) * targets.len() as f64;
        out.predicted.extend(predictions(logits));
        let k = ce.probs.dims().last().copied().unwrap_or(1).max(1);
        out.probabilities.extend(ce.probs.data().chunks(k).map(<[f32]>::to_vec));
        out.truth.extend_from_slice(targets);
    }
    out.mean_loss = if out.truth.is_empty() { f64::NAN } else { loss_sum / out.truth.len() as f64 };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arg_max_takes_the_first_of_ties() {
        assert_eq!(arg_max(&[0.1, 0.7, 0.7]), 1);
        assert_eq!(arg_max(&[-1.0, -2.0]), 0);
        let logits = Tensor::from_vec(&[2, 3], vec![0., 1., 2., 5., 1., 2.]).unwrap();
        assert_eq!(predictions(&logits), vec![2, 0]);
    }
}
