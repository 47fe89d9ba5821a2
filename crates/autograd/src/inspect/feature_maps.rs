//! Feature maps: what every convolution of a network outputs for given images.

use super::{conv_nodes, unfused};
use crate::nn::{Mode, Module};
use crate::{Result, Tape};
use tensor::Tensor;

/// The output of one convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    /// Position among the model's convolutions, counting from 0 in forward order.
    pub layer: usize,
    /// The conv2d output [N, C_out, OH, OW] (before any batch norm or ReLU that follows).
    pub value: Tensor,
}

/// Runs `model` on `images` [N, C, H, W] in evaluation mode (the model is left in it) and
/// returns the output of every `conv2d` it recorded, in order. Plane `c` of image `n` in
/// layer `l` is what filter `c` of that layer responds to, at that layer's resolution.
///
/// # Errors
/// Whatever the model's forward rejects (an image size or channel count it does not take).
pub fn feature_maps<M: Module + ?Sized>(
    model: &mut M,
    tape: &mut Tape,
    images: &Tensor,
) -> Result<Vec<FeatureMap>> {
    model.set_mode(Mode::Eval);
    tape.reset();
    let x = tape.input_from(images);
    unfused(tape, |tape| model.forward(tape, x))?;
    let maps = conv_nodes(tape)
        .into_iter()
        .enumerate()
        .map(|(layer, i)| FeatureMap { layer, value: tape.value_at(i).clone() })
        .collect();
    Ok(maps)
}
