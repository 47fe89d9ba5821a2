//! Seeing inside a network: the first layer's filters as images, the feature maps of every
//! convolution for an input, Grad-CAM heat maps that show which pixels a class score
//! depends on, and a per-layer profile of where a training step's time goes. Everything here works on any [`Module`](crate::nn::Module): it runs the model on
//! a [`Tape`](crate::Tape) and reads the recorded `conv2d` nodes, so no layer needs a hook.
//!
//! What this module deliberately is not: an image writer or a table printer. It returns tensors
//! with values in [0, 1] and numbers; the trainer turns them into PNGs and tables.

mod feature_maps;
mod filters;
mod grad_cam;
mod profile;
mod upsample;

pub use feature_maps::{FeatureMap, feature_maps};
pub use filters::{FilterScale, filter_images, first_conv_weight};
pub use grad_cam::{ClassChoice, ConvLayer, GradCam, grad_cam};
pub use profile::{LayerProfile, layer_profile};
pub use upsample::upsample_bilinear;

use crate::ops::Op;
use crate::{Fusion, Tape};

/// Indices of the `conv2d` nodes recorded on `tape`, in forward order.
fn conv_nodes(tape: &Tape) -> Vec<usize> {
    (0..tape.len()).filter(|&i| matches!(tape.op_at(i), Op::Conv2d { .. })).collect()
}

/// Runs `record` on `tape` with [`Fusion::Off`], then restores the tape's setting: inspection
/// reads every convolution's own output, which a fused `conv2d_relu` node does not keep.
fn unfused<T>(tape: &mut Tape, record: impl FnOnce(&mut Tape) -> T) -> T {
    let before = tape.fusion();
    tape.set_fusion(Fusion::Off);
    let out = record(tape);
    tape.set_fusion(before);
    out
}

/// `(v − min) / (max − min)` for every value, so the smallest becomes 0 and the largest 1.
/// A constant (or empty) input maps to all zeros: there is nothing to show.
pub fn min_max_normalise(values: &[f32]) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = hi - lo;
    if range.is_finite() && range > 0.0 {
        values.iter().map(|&v| (v - lo) / range).collect()
    } else {
        vec![0.0; values.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_maps_the_extremes_to_0_and_1_and_keeps_the_order() {
        let out = min_max_normalise(&[2.0, -1.0, 5.0, 0.5]);
        assert_eq!(out, vec![0.5, 0.0, 1.0, 0.25]);
    }

    #[test]
    fn min_max_of_a_constant_is_zero() {
        assert_eq!(min_max_normalise(&[3.0; 4]), vec![0.0; 4]);
        assert!(min_max_normalise(&[]).is_empty());
    }
}
