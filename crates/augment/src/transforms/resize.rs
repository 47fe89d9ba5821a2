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
use std::cell::RefCell;

/// The taps of every output sample along one axis, padded to a common count `taps` so the inner
/// loop has a fixed trip count: output `i` reads inputs `starts[i] .. starts[i] + taps` with
/// weights `weights[i·taps .. (i + 1)·taps]` (zeros where the tent does not reach).
#[derive(Debug, Clone)]
struct AxisTaps {
    taps: usize,
    starts: Vec<usize>,
    weights: Vec<f32>,
}

/// Tent-filter taps for resizing an axis of `n_in` samples to `n_out` (both ≥ 1).
fn axis_taps(n_in: usize, n_out: usize) -> AxisTaps {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    // Output i's centre and its input window [lo, hi): truncation as in PyTorch
    // (`int(center − support + 0.5)`), clamped to the axis.
    let window = |i: usize| {
        let center = scale * (i as f64 + 0.5);
        let lo = (center - support + 0.5).trunc().max(0.0) as usize;
        let hi = ((center + support + 0.5).trunc() as usize).min(n_in);
        (center, lo, hi)
    };
    // Every window lies inside [0, n_in), so `taps ≤ n_in` and shifting a window left to fit
    // `taps` slots keeps it inside.
    let taps = (0..n_out).map(|i| window(i).2 - window(i).1).max().unwrap_or(1).max(1);
    let mut starts = Vec::with_capacity(n_out);
    let mut weights = vec![0.0f32; n_out * taps];
    let mut raw = vec![0.0f64; taps];
    for (i, row) in weights.chunks_exact_mut(taps).enumerate() {
        let (center, lo, hi) = window(i);
        let start = lo.min(n_in - taps);
        starts.push(start);
        for (j, r) in (lo..hi).zip(raw.iter_mut()) {
            *r = (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0);
        }
        let total: f64 = raw[..hi - lo].iter().sum();
        let norm = if total > 0.0 { total } else { 1.0 };
        for (w, r) in row[lo - start..].iter_mut().zip(&raw[..hi - lo]) {
            *w = (r / norm) as f32;
        }
    }
    AxisTaps { taps, starts, weights }
}

/// Resamples one row: `dst[i] = Σ_k w[i, k] · src[start_i + k]` with a compile-time tap count,
/// so the inner loop unrolls.
fn row_pass_fixed<const K: usize>(src: &[f32], dst: &mut [f32], t: &AxisTaps) {
    for ((out, &start), w) in dst.iter_mut().zip(&t.starts).zip(t.weights.chunks_exact(K)) {
        let s: &[f32; K] = src[start..start + K].try_into().expect("a window of K taps");
        let w: &[f32; K] = w.try_into().expect("chunks_exact(K) yields K weights");
        let mut acc = 0.0;
        for k in 0..K {
            acc += s[k] * w[k];
        }
        *out = acc;
    }
}

/// [`row_pass_fixed`] for tap counts above 8 (strong downscaling, e.g. at load time).
fn row_pass_dynamic(src: &[f32], dst: &mut [f32], t: &AxisTaps) {
    for ((out, &start), w) in dst.iter_mut().zip(&t.starts).zip(t.weights.chunks_exact(t.taps)) {
        *out = src[start..start + t.taps].iter().zip(w).map(|(v, wk)| v * wk).sum();
    }
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
    if h == height {
        // Width only: one row pass straight into the output.
        let mut out = vec![0.0f32; CHANNELS * height * width];
        row_pass(img.data(), &mut out, w, width);
        return Image::new(width, height, out);
    }
    if w == width {
        return Image::new(width, height, column_pass(img.data(), h, height, width));
    }
    // Both: rows into the per-thread scratch tmp [3, H, width], then columns.
    let out = SCRATCH.with_borrow_mut(|tmp| {
        tmp.resize(CHANNELS * h * width, 0.0);
        row_pass(img.data(), tmp, w, width);
        column_pass(tmp, h, height, width)
    });
    Image::new(width, height, out)
}

thread_local! {
    /// Per-thread buffer for the intermediate pass, reused across calls: allocating it fresh
    /// for every image made the kernel's page-fault handling cost more than the arithmetic.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Pass along rows: `src` `[3·H, w]` → `dst` `[3·H, width]` (every value written).
fn row_pass(src: &[f32], dst: &mut [f32], w: usize, width: usize) {
    let taps = axis_taps(w, width);
    let pass: fn(&[f32], &mut [f32], &AxisTaps) = match taps.taps {
        1 => row_pass_fixed::<1>,
        2 => row_pass_fixed::<2>,
        3 => row_pass_fixed::<3>,
        4 => row_pass_fixed::<4>,
        5 => row_pass_fixed::<5>,
        6 => row_pass_fixed::<6>,
        7 => row_pass_fixed::<7>,
        8 => row_pass_fixed::<8>,
        _ => row_pass_dynamic,
    };
    for (src_row, dst_row) in src.chunks_exact(w).zip(dst.chunks_exact_mut(width)) {
        pass(src_row, dst_row, &taps);
    }
}

/// Pass along columns: `src` `[3, h, width]` → a new `[3, height, width]`, accumulating whole
/// rows (they vectorise).
fn column_pass(src: &[f32], h: usize, height: usize, width: usize) -> Vec<f32> {
    let taps = axis_taps(h, height);
    let mut out = vec![0.0f32; CHANNELS * height * width];
    for (src_plane, dst_plane) in
        src.chunks_exact(h * width).zip(out.chunks_exact_mut(height * width))
    {
        for ((dst_row, &start), w) in dst_plane
            .chunks_exact_mut(width)
            .zip(&taps.starts)
            .zip(taps.weights.chunks_exact(taps.taps))
        {
            for (k, wk) in w.iter().enumerate() {
                let src_row = &src_plane[(start + k) * width..(start + k + 1) * width];
                for (o, v) in dst_row.iter_mut().zip(src_row) {
                    *o += wk * v;
                }
            }
        }
    }
    out
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
            let t = axis_taps(n_in, n_out);
            for (w, &start) in t.weights.chunks_exact(t.taps).zip(&t.starts) {
                let sum: f32 = w.iter().sum();
                assert!((sum - 1.0).abs() < 1e-6, "{n_in}->{n_out}: {sum}");
                assert!(w.iter().all(|&w| w >= 0.0));
                assert!(start + t.taps <= n_in);
            }
        }
        let img = test_image(6, 4, 1);
        assert_eq!(resize(&img, 4, 6).unwrap(), img);
        // Strong downscaling takes the dynamic path (more than 8 taps) and agrees with a 2-step
        // box average of a constant.
        let big = Image::filled(100, 3, 0.7);
        assert!(resize(&big, 3, 7).unwrap().data().iter().all(|v| (v - 0.7).abs() < 1e-5));
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
