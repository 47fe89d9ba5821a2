//! Bilinear resampling of one plane, with PyTorch's `F.interpolate(mode="bilinear",
//! align_corners=False)` geometry: pixel centres line up, edges are clamped.

use crate::Result;
use tensor::TensorError;

/// Resamples `plane` [H, W] (row-major) to [OH, OW].
///
/// Output pixel `o` samples the input at `src = (o + ½)·H/OH − ½`, clamped to `[0, H − 1]`,
/// and mixes its two neighbours `i0 = ⌊src⌋`, `i1 = min(i0 + 1, H − 1)` with weights
/// `1 − λ` and `λ = src − i0`; the same along W, so each output is a weighted mean of at most
/// four inputs. Same size in and out returns the input unchanged; a constant stays constant.
///
/// # Errors
/// [`TensorError::LengthMismatch`] unless `plane` has `H·W` values;
/// [`TensorError::InvalidParameter`] for a zero-sized input or output.
pub fn upsample_bilinear(
    plane: &[f32],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
) -> Result<Vec<f32>> {
    let op = "upsample_bilinear";
    if plane.len() != h * w {
        let got = plane.len();
        return Err(
            TensorError::LengthMismatch { op, shape: vec![h, w], expected: h * w, got }.into()
        );
    }
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        let what = format!("cannot resample {h}x{w} to {oh}x{ow}: sizes must be at least 1");
        return Err(TensorError::InvalidParameter { op, what }.into());
    }
    let rows: Vec<(usize, usize, f32)> = (0..oh).map(|o| taps(o, h, oh)).collect();
    let cols: Vec<(usize, usize, f32)> = (0..ow).map(|o| taps(o, w, ow)).collect();
    let mut out = Vec::with_capacity(oh * ow);
    for &(r0, r1, ly) in &rows {
        for &(c0, c1, lx) in &cols {
            let top = plane[r0 * w + c0] * (1.0 - lx) + plane[r0 * w + c1] * lx;
            let bottom = plane[r1 * w + c0] * (1.0 - lx) + plane[r1 * w + c1] * lx;
            out.push(top * (1.0 - ly) + bottom * ly);
        }
    }
    Ok(out)
}

/// The two source indices and the weight of the second for output index `o` of `out` along an
/// axis of `len` inputs.
fn taps(o: usize, len: usize, out: usize) -> (usize, usize, f32) {
    let src = ((o as f32 + 0.5) * len as f32 / out as f32 - 0.5).clamp(0.0, (len - 1) as f32);
    let i0 = src.floor() as usize;
    (i0, (i0 + 1).min(len - 1), src - i0 as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_a_ramp_matches_pytorch() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4),
        // mode="bilinear", align_corners=False) gives [0, 0.25, 0.75, 1]; by hand from the doc
        // formula: src = −0.25 → 0 (clamped), 0.25, 0.75, 1.25 → 1 (clamped).
        let up = upsample_bilinear(&[0.0, 1.0], (1, 2), (1, 4)).expect("valid sizes");
        assert_eq!(up, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn same_size_is_the_identity_and_constants_stay_constant() {
        let plane: Vec<f32> = (0..12).map(|i| (i * 7 % 5) as f32).collect();
        assert_eq!(upsample_bilinear(&plane, (3, 4), (3, 4)).expect("valid sizes"), plane);
        let up = upsample_bilinear(&[0.3; 6], (2, 3), (7, 9)).expect("valid sizes");
        assert!(up.iter().all(|&v| (v - 0.3).abs() < 1e-6));
    }

    #[test]
    fn wrong_lengths_and_empty_sizes_are_errors() {
        assert!(upsample_bilinear(&[1.0; 5], (2, 3), (4, 6)).is_err());
        assert!(upsample_bilinear(&[1.0; 6], (2, 3), (0, 6)).is_err());
    }
}
