//! Bilinear resize with antialiasing, the algorithm of PyTorch's
//! `interpolate(mode="bilinear", align_corners=False, antialias=True)` (itself Pillow's), which
//! torchvision's `resize(..., antialias=True)` calls for float images.
//!
//! Each axis is resampled separately with a triangle ("tent") filter. Along an axis of `n_in`
//! samples resized to `n_out`, let `scale = n_in / n_out`. Output sample `i` sits at input
//! coordinate `center = scale · (i + ½)` and averages the inputs `j` with
//!
//! `w_j ∝ tent((j + ½ − center) / max(scale, 1))`, `tent(t) = max(0, 1 − |t|)`,
//!
//! over `|j + ½ − center| < max(scale, 1)`, normalised to sum to 1 over the taps inside the
//! image. When upscaling (`scale < 1`) that is plain bilinear interpolation between the two
//! nearest pixel centres (edge pixels are repeated); when downscaling the tent is stretched to
//! `scale` input pixels, so every input pixel contributes and thin stars do not alias away.
//! Weights are convex, so the output stays in the input's range.

use crate::{AugmentError, CHANNELS, Image};

/// The taps of one output sample: inputs `start..start + weights.len()`.
#[derive(Debug, Clone)]
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// Tent-filter taps for resizing an axis of `n_in` samples to `n_out` (both ≥ 1).
fn axis_taps(n_in: usize, n_out: usize) -> Vec<Taps> {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    (0..n_out)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            // Truncation as in PyTorch (`int(center − support + 0.5)`), then clamped to the axis.
            let lo = ((center - support + 0.5).trunc().max(0.0)) as usize;
            let hi = ((center + support + 0.5).trunc() as usize).min(n_in);
            let mut weights: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0))
                .collect();
            let total: f64 = weights.iter().sum();
            if total > 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            Taps { start: lo, weights: weights.into_iter().map(|w| w as f32).collect() }
        })
        .collect()
}

/// Resizes to `height × width` (bilinear, antialiased when downscaling; see the module docs).
/// Width is resampled first, then height. Same size in and out returns a copy.
///
/// # Errors
/// [`AugmentError::BadParameter`] when `height` or `width` is 0.
pub fn resize(img: &Image, height: usize, width: usize) -> Result<Image, AugmentError> {
    if height == 0 || width == 0 {
        return Err(AugmentError::bad("resize", format!("target size {width}x{height} is empty")));
    }
    let (w, h) = (img.width(), img.height());
    if (w, h) == (width, height) {
        return Ok(img.clone());
    }
    // Pass 1, along rows: tmp [3, H, width].
    let tmp = if w == width {
        img.data().to_vec()
    } else {
        let taps = axis_taps(w, width);
        let mut tmp = vec![0.0f32; CHANNELS * h * width];
        for (src_row, dst_row) in img.data().chunks_exact(w).zip(tmp.chunks_exact_mut(width)) {
            for (out, t) in dst_row.iter_mut().zip(&taps) {
                let src = &src_row[t.start..t.start + t.weights.len()];
                *out = src.iter().zip(&t.weights).map(|(v, wt)| v * wt).sum();
            }
        }
        tmp
    };
    // Pass 2, along columns: out [3, height, width], accumulating whole rows (cache friendly).
    if h == height {
        return Image::new(width, height, tmp);
    }
    let taps = axis_taps(h, height);
    let mut out = vec![0.0f32; CHANNELS * height * width];
    for (src_plane, dst_plane) in
        tmp.chunks_exact(h * width).zip(out.chunks_exact_mut(height * width))
    {
        for (dst_row, t) in dst_plane.chunks_exact_mut(width).zip(&taps) {
            for (k, wt) in t.weights.iter().enumerate() {
                let src_row = &src_plane[(t.start + k) * width..(t.start + k + 1) * width];
                for (o, v) in dst_row.iter_mut().zip(src_row) {
                    *o += wt * v;
                }
            }
        }
    }
    Image::new(width, height, out)
}

/// torchvision's `Resize(size)` with an int: the shorter side becomes `size`, the longer side
/// `⌊size · long / short⌋` (truncated, as torchvision does), keeping the aspect ratio.
///
/// # Errors
/// [`AugmentError::BadParameter`] when `size` is 0.
pub fn resize_shorter_side(img: &Image, size: usize) -> Result<Image, AugmentError> {
    let (w, h) = (img.width(), img.height());
    let (height, width) = if w <= h {
        (((size * h) as f64 / w as f64) as usize, size)
    } else {
        (size, ((size * w) as f64 / h as f64) as usize)
    };
    resize(img, height.max(1), width.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn taps_are_convex_and_identity_at_equal_size() {
        for (n_in, n_out) in [(7, 3), (3, 7), (16, 5), (5, 16), (9, 9), (1, 4), (4, 1)] {
            for t in axis_taps(n_in, n_out) {
                let sum: f32 = t.weights.iter().sum();
                assert!((sum - 1.0).abs() < 1e-6, "{n_in}->{n_out}: {sum}");
                assert!(t.weights.iter().all(|&w| w >= 0.0));
                assert!(t.start + t.weights.len() <= n_in);
            }
        }
        let img = test_image(6, 4, 1);
        assert_eq!(resize(&img, 4, 6).unwrap(), img);
    }

    #[test]
    fn halving_averages_pixel_pairs_and_constants_stay_constant() {
        // Downscaling by exactly 2: the tent spans 2 pixels each side, weights (1, 3, 3, 1)/8.
        let img = Image::from_fn(4, 1, |_, _, x| x as f32).unwrap();
        let out = resize(&img, 1, 2).unwrap();
        let want0 = (0.0 * 3.0 + 1.0 * 3.0 + 2.0 * 1.0) / 7.0; // left edge: tap −1 is outside
        assert!((out.get(0, 0, 0) - want0).abs() < 1e-6);
        let flat = Image::filled(9, 5, 0.25);
        let out = resize(&flat, 3, 13).unwrap();
        assert!(out.data().iter().all(|v| (v - 0.25).abs() < 1e-6));
        let s = resize_shorter_side(&Image::filled(30, 20, 0.5), 10).unwrap();
        assert_eq!((s.width(), s.height()), (15, 10));
    }
}
