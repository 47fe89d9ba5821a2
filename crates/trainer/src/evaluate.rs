//! Running a network over prepared batches in evaluation mode: losses, predictions and class
//! probabilities, optionally averaged over the eight flips and quarter turns of each image
//! (test-time augmentation).

use augment::Symmetry;
use autograd::nn::{Mode, Module};
use autograd::{Fusion, Tape};
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

/// The views of each image that evaluation averages over: only the image itself, or (with
/// test-time augmentation) all eight symmetries of the square.
pub fn views(test_time_augmentation: bool) -> &'static [Symmetry] {
    if test_time_augmentation { &Symmetry::ALL } else { &Symmetry::ALL[..1] }
}

/// Runs `net` in evaluation mode over `batches` ([N, 3, S, S] images, targets) and switches it
/// back to training mode afterwards. The tape records under [`Fusion::Inference`] meanwhile.
///
/// With one view (the identity) the probabilities are the softmax of the logits and the loss is
/// the plain cross-entropy. With several, each image's probabilities are the mean of the
/// softmax over its views, p̄ = (1/V) Σ_v softmax(f(view_v(x))), the prediction is arg max p̄
/// and the loss is −ln p̄[target].
///
/// # Errors
/// A shape the network rejects, non-square images with more than one view, or non-finite
/// logits (named by the tensor kernel).
pub fn evaluate(
    net: &mut Network,
    tape: &mut Tape,
    batches: &[(Tensor, Vec<usize>)],
    views: &[Symmetry],
) -> anyhow::Result<Evaluation> {
    net.set_mode(Mode::Eval);
    // No gradients are taken here: batch norms fold into their convolutions (one pass over the
    // activations instead of four; the same values up to rounding).
    let fusion = tape.fusion();
    tape.set_fusion(Fusion::Inference);
    let result = run(net, tape, batches, views);
    tape.set_fusion(fusion);
    net.set_mode(Mode::Train);
    result
}

fn run(
    net: &mut Network,
    tape: &mut Tape,
    batches: &[(Tensor, Vec<usize>)],
    views: &[Symmetry],
) -> anyhow::Result<Evaluation> {
    anyhow::ensure!(!views.is_empty(), "evaluation needs at least one view of each image");
    let mut out = Evaluation {
        mean_loss: 0.0,
        truth: Vec::new(),
        predicted: Vec::new(),
        probabilities: Vec::new(),
    };
    let mut loss_sum = 0.0f64;
    let plain = CrossEntropyOptions { class_weights: None, label_smoothing: 0.0 };
    for (x, targets) in batches {
        // Σ_v softmax over the views, [N, K] row-major; the plain loss of a single view.
        let mut prob_sum: Vec<f32> = Vec::new();
        let mut single_view_loss = 0.0f32;
        for view in views {
            let viewed;
            let input = if *view == Symmetry::IDENTITY {
                x
            } else {
                viewed = view.apply(x)?;
                &viewed
            };
            tape.reset();
            let xv = tape.input_from(input);
            let logits = net.forward(tape, xv)?;
            let ce = softmax_cross_entropy::forward(tape.value(logits)?, targets, &plain)?;
            single_view_loss = ce.loss;
            if prob_sum.is_empty() {
                prob_sum = ce.probs.data().to_vec();
            } else {
                prob_sum.iter_mut().zip(ce.probs.data()).for_each(|(s, p)| *s += p);
            }
        }
        let k = prob_sum.len() / targets.len().max(1);
        let scale = 1.0 / views.len() as f32;
        let mean_probs: Vec<Vec<f32>> =
            prob_sum.chunks(k.max(1)).map(|row| row.iter().map(|p| p * scale).collect()).collect();
        loss_sum += if views.len() == 1 {
            f64::from(single_view_loss) * targets.len() as f64
        } else {
            let p_true = mean_probs.iter().zip(targets).map(|(row, &t)| f64::from(row[t]));
            p_true.map(|p| -p.max(f64::from(f32::MIN_POSITIVE)).ln()).sum()
        };
        out.predicted.extend(mean_probs.iter().map(|row| arg_max(row)));
        out.probabilities.extend(mean_probs);
        out.truth.extend_from_slice(targets);
    }
    out.mean_loss = if out.truth.is_empty() { f64::NAN } else { loss_sum / out.truth.len() as f64 };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, InitScheme};
    use crate::model::NetworkSpec;

    fn tiny_network() -> Network {
        Network::new(&NetworkSpec {
            architecture: Architecture::GapBn,
            init: InitScheme::KaimingNormal,
            image_size: 16,
            classes: 3,
            dropout: 0.0,
            seed: 7,
        })
    }

    #[test]
    fn averaging_all_eight_views_makes_the_prediction_symmetric() {
        // A network is not rotation invariant by itself, but the mean over the whole group D₄
        // is: viewing the input through any symmetry only reorders the eight views. A wrong view
        // (one missing, one twice) would break this for some symmetry.
        let mut net = tiny_network();
        let x = Tensor::from_fn(&[2, 3, 16, 16], |i| ((i * 37) % 101) as f32 / 101.0);
        let targets = vec![0, 2];
        let mut tape = Tape::new();
        let mut eval = |x: &Tensor, views: &[Symmetry]| {
            evaluate(&mut net, &mut tape, &[(x.clone(), targets.clone())], views).unwrap()
        };
        let single = eval(&x, views(false));
        let tta = eval(&x, views(true));
        let rotated = eval(&Symmetry::ALL[1].apply(&x).unwrap(), views(false));
        assert!(single.probabilities != rotated.probabilities, "the network is not invariant");
        for view in Symmetry::ALL {
            let other = eval(&view.apply(&x).unwrap(), views(true));
            for (a, b) in
                tta.probabilities.iter().flatten().zip(other.probabilities.iter().flatten())
            {
                assert!((a - b).abs() < 1e-6, "{view:?}: {a} vs {b}");
            }
            assert!((tta.mean_loss - other.mean_loss).abs() < 1e-5);
        }
        // The mean of eight softmax rows is still a distribution, and the loss is −ln p̄[target].
        for (row, &predicted) in tta.probabilities.iter().zip(&tta.predicted) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert_eq!(predicted, arg_max(row));
        }
        let expected_loss: f64 = tta
            .probabilities
            .iter()
            .zip(&targets)
            .map(|(row, &t)| -f64::from(row[t]).ln())
            .sum::<f64>()
            / 2.0;
        assert!((tta.mean_loss - expected_loss).abs() < 1e-5);
    }

    #[test]
    fn arg_max_takes_the_first_of_ties() {
        assert_eq!(arg_max(&[0.1, 0.7, 0.7]), 1);
        assert_eq!(arg_max(&[-1.0, -2.0]), 0);
        let logits = Tensor::from_vec(&[2, 3], vec![0., 1., 2., 5., 1., 2.]).unwrap();
        assert_eq!(predictions(&logits), vec![2, 0]);
    }
}
