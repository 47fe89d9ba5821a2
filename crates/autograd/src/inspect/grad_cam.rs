//! Grad-CAM (Selvaraju et al., 2017): where in the image does the evidence for a class come
//! from, according to one convolution's output?
//!
//! With `A` [C, h, w] the chosen convolution block's activation for one image (the ReLU after
//! the convolution and its batch norm, if there is one; else the convolution's output) and `s`
//! the class score (the logit, before softmax):
//! ```text
//! G      = ∂s/∂A                       [C, h, w]   one backward pass on the tape
//! α_c    = (1/(h·w)) Σ_ij G[c,i,j]     [C]         how much channel c matters for the class
//! cam    = ReLU(Σ_c α_c · A[c])        [h, w]      keep only evidence *for* the class
//! map    = normalise(bilinear(cam))    [H, W]      input size, values in [0, 1]
//! ```
//! The score is read off the logits by a `linear` op with a one-hot weight row, so the
//! ordinary tape computes `G`: no hook, no special gradient code.

use super::{conv_nodes, min_max_normalise, unfused, upsample_bilinear};
use crate::nn::{Mode, Module};
use crate::ops::Op;
use crate::{Result, Tape, ops};
use tensor::ops::softmax_cross_entropy::{self, CrossEntropyOptions};
use tensor::{Tensor, TensorError};

/// Which class score to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassChoice {
    /// The class the model predicts (largest logit).
    #[default]
    Predicted,
    /// A given class index.
    Class(usize),
}

/// Which convolution block's activation to explain the score with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvLayer {
    /// The last one: the coarsest map, with the most class-specific channels (the usual choice).
    #[default]
    Last,
    /// The `i`-th convolution in forward order, counting from 0.
    Index(usize),
}

/// A Grad-CAM heat map and what it explains.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCam {
    /// The explained class.
    pub class: usize,
    /// Softmax probabilities of the image, one per class.
    pub probabilities: Vec<f32>,
    /// The convolution used, counting from 0.
    pub layer: usize,
    /// `α_c`, one weight per channel of that convolution.
    pub channel_weights: Vec<f32>,
    /// `ReLU(Σ_c α_c·A[c])` [h, w] at the convolution's resolution, not normalised.
    pub coarse: Tensor,
    /// The heat map [H, W] at the input's size, in [0, 1] (all 0 when no pixel speaks for
    /// the class).
    pub heatmap: Tensor,
}

/// Grad-CAM of one `image` [1, C, H, W] for `class`, at convolution `layer` (module docs).
/// Runs `model` in evaluation mode and leaves it there.
///
/// # Errors
/// `TensorError::InvalidParameter` (op `grad_cam`) for a batch of more than one image, a model
/// whose output is not [1, K] logits, a class ≥ K, or a model without that convolution;
/// whatever the model's forward rejects.
pub fn grad_cam<M: Module + ?Sized>(
    model: &mut M,
    tape: &mut Tape,
    image: &Tensor,
    class: ClassChoice,
    layer: ConvLayer,
) -> Result<GradCam> {
    let op = "grad_cam";
    let bad = |what: String| TensorError::InvalidParameter { op, what };
    let shape = image.shape4(op)?;
    if shape.n != 1 {
        return Err(bad(format!("expects one image [1, C, H, W], got {shape}")).into());
    }
    model.set_mode(Mode::Eval);
    tape.reset();
    let x = tape.input_from(image);
    let logits = unfused(tape, |tape| model.forward(tape, x))?;
    let z = tape.value(logits)?;
    let &[1, k] = z.dims() else {
        return Err(bad(format!("the model gives {:?}, not logits [1, K]", z.dims())).into());
    };
    let probabilities =
        softmax_cross_entropy::forward(z, &[0], &CrossEntropyOptions::default())?.probs.into_vec();
    let class = match class {
        ClassChoice::Predicted => argmax(z.data()),
        ClassChoice::Class(c) if c < k => c,
        ClassChoice::Class(c) => {
            return Err(bad(format!("class {c} does not exist: the model has {k}")).into());
        }
    };
    // s = z · onehot(class)ᵀ: [1, K] × [1, K]ᵀ → [1, 1], a scalar the tape can differentiate.
    let onehot = Tensor::from_fn(&[1, k], |j| if j == class { 1.0 } else { 0.0 });
    let selector = tape.input(onehot);
    let score = ops::linear(tape, logits, selector, None)?;
    tape.backward(score)?;

    let convs = conv_nodes(tape);
    let layer = match layer {
        ConvLayer::Last => convs.len().checked_sub(1),
        ConvLayer::Index(i) => (i < convs.len()).then_some(i),
    }
    .ok_or_else(|| bad(format!("no such convolution: the model has {}", convs.len())))?;
    let node = block_output(tape, convs[layer]);
    // A: [1, C, h, w]
    let a = tape.value_at(node).shape4(op)?;
    let plane = a.h * a.w;
    let activations = tape.value_at(node).data();
    // G = ∂s/∂A: [1, C, h, w]; no gradient means the score does not depend on A at all.
    let zeros;
    let gradient = match tape.grad_at(node) {
        Some(g) => g.data(),
        None => {
            zeros = vec![0.0; activations.len()];
            &zeros
        }
    };
    let channel_weights: Vec<f32> =
        gradient.chunks_exact(plane).map(|g| g.iter().sum::<f32>() / plane as f32).collect();
    let mut cam = vec![0.0f32; plane];
    for (alpha, channel) in channel_weights.iter().zip(activations.chunks_exact(plane)) {
        for (c, &v) in cam.iter_mut().zip(channel) {
            *c += alpha * v;
        }
    }
    cam.iter_mut().for_each(|c| *c = c.max(0.0));
    let upsampled = upsample_bilinear(&cam, (a.h, a.w), (shape.h, shape.w))?;
    let heatmap = Tensor::from_vec(&[shape.h, shape.w], min_max_normalise(&upsampled))?;
    let coarse = Tensor::from_vec(&[a.h, a.w], cam)?;
    Ok(GradCam { class, probabilities, layer, channel_weights, coarse, heatmap })
}

/// The activation of the block that starts with conv node `conv`: the ReLU that reads the
/// convolution directly or through a batch norm, else the convolution itself. Grad-CAM wants
/// activations that mean "feature present" (≥ 0 after ReLU); a raw convolution output before
/// batch norm carries an arbitrary offset per channel, which `α_c` would multiply into the map.
fn block_output(tape: &Tape, conv: usize) -> usize {
    let mut current = conv;
    for i in conv + 1..tape.len() {
        match tape.op_at(i) {
            Op::BatchNorm2d { x, .. } if x == current => current = i,
            Op::Relu { x } if x == current => return i,
            _ => {}
        }
    }
    conv
}

/// Index of the largest value (the first one on ties).
fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, &v)| if v > values[best] { i } else { best })
}
