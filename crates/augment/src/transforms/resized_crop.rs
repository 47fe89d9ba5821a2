//! Random resized crop, torchvision's `RandomResizedCrop(size, scale, ratio)`, extended to zoom
//! *out* as well as in.
//!
//! A box of area `A·s` (`A` = image area, `s ~ U[scale]`) and aspect ratio `w/h = r`
//! (`ln r ~ U[ln ratio]`) is cut out and resized to `size × size`. With `scale.1 ≤ 1` this is
//! exactly torchvision's sampler (10 tries for a box that fits, then a centre-crop fallback).
//!
//! Extension: when `scale.1 > 1` a box may be larger than the image along an axis. Along such an
//! axis its position is drawn so the box still covers the whole image, and the overhang is
//! black (`crop` pads with 0, like the empty sky around a small galaxy). The object then appears
//! smaller than in the photo, which teaches the network that class does not depend on scale.

use super::geometry::crop;
use super::resize::resize;
use crate::{AugmentError, Image};
use tensor::Rng;

/// Sampling limits of a random resized crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomResizedCrop {
    /// Output side in pixels.
    pub size: usize,
    /// Box area as a share of the image area (torchvision default `(0.08, 1.0)`; above 1 zooms out).
    pub scale: (f32, f32),
    /// Box aspect ratio `w / h`, log-uniform (torchvision default `(3/4, 4/3)`).
    pub ratio: (f32, f32),
}

/// A crop box in input pixels; `top`/`left` may be negative when zooming out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// First row (may be negative).
    pub top: isize,
    /// First column (may be negative).
    pub left: isize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl RandomResizedCrop {
    /// Checks `size ≥ 1`, `0 < scale.0 ≤ scale.1` and `0 < ratio.0 ≤ ratio.1`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] otherwise.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let (s0, s1) = self.scale;
        let (r0, r1) = self.ratio;
        if self.size == 0
            || !(0.0 < s0 && s0 <= s1 && s1.is_finite())
            || !(0.0 < r0 && r0 <= r1 && r1.is_finite())
        {
            return Err(AugmentError::bad(
                "RandomResizedCrop",
                format!(
                    "need size >= 1, 0 < scale.0 <= scale.1, 0 < ratio.0 <= ratio.1; got size {} scale {:?} ratio {:?}",
                    self.size, self.scale, self.ratio
                ),
            ));
        }
        Ok(())
    }

    /// Draws a box for a `width × height` image (module docs).
    pub fn sample(&self, width: usize, height: usize, rng: &mut Rng) -> CropBox {
        let area = (width * height) as f32;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        let zoom_out = self.scale.1 > 1.0;
        for _ in 0..10 {
            let target = area * rng.uniform(self.scale.0, self.scale.1);
            let aspect = rng.uniform(lr0, lr1).exp();
            let w = (target * aspect).sqrt().round() as usize;
            let h = (target / aspect).sqrt().round() as usize;
            if w == 0 || h == 0 || (!zoom_out && (w > width || h > height)) {
                continue;
            }
            // Inside the image: uniform over positions that fit. Larger: uniform over positions
            // that cover the image (top in [H − h, 0]).
            let place = |rng: &mut Rng, side: usize, len: usize| -> isize {
                if len <= side {
                    rng.below(side - len + 1) as isize
                } else {
                    -(rng.below(len - side + 1) as isize)
                }
            };
            let top = place(rng, height, h);
            let left = place(rng, width, w);
            return CropBox { top, left, height: h, width: w };
        }
        // torchvision's fallback: the largest centred box whose ratio is within range.
        let in_ratio = width as f32 / height as f32;
        let (w, h) = if in_ratio < self.ratio.0 {
            (width, ((width as f32 / self.ratio.0).round() as usize).max(1))
        } else if in_ratio > self.ratio.1 {
            (((height as f32 * self.ratio.1).round() as usize).max(1), height)
        } else {
            (width, height)
        };
        CropBox {
            top: ((height - h.min(height)) / 2) as isize,
            left: ((width - w.min(width)) / 2) as isize,
            height: h,
            width: w,
        }
    }
}

/// Cuts `b` out of `img` (zero outside) and resizes it to `size × size` (torchvision
/// `resized_crop`, bilinear with antialiasing).
///
/// # Errors
/// [`AugmentError::BadParameter`] for an empty box or `size == 0`.
pub fn resized_crop(img: &Image, b: &CropBox, size: usize) -> Result<Image, AugmentError> {
    let cut = crop(img, b.top, b.left, b.height, b.width)?;
    resize(&cut, size, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn boxes_fit_inside_without_zoom_out_and_cover_the_image_with_it() {
        let mut rng = Rng::new(3);
        let zoom_in = RandomResizedCrop { size: 8, scale: (0.08, 1.0), ratio: (0.75, 4.0 / 3.0) };
        let zoom_out = RandomResizedCrop { scale: (1.2, 2.0), ..zoom_in };
        for _ in 0..200 {
            let b = zoom_in.sample(20, 14, &mut rng);
            assert!(b.top >= 0 && b.left >= 0);
            assert!(b.top as usize + b.height <= 14 && b.left as usize + b.width <= 20);
            let b = zoom_out.sample(20, 14, &mut rng);
            for (start, len, side) in [(b.top, b.height, 14), (b.left, b.width, 20)] {
                if len > side {
                    assert!(start <= 0 && start + len as isize >= side as isize, "{b:?}");
                } else {
                    assert!(start >= 0 && start as usize + len <= side, "{b:?}");
                }
            }
        }
        let img = test_image(20, 14, 1);
        let b = zoom_out.sample(20, 14, &mut rng);
        let out = resized_crop(&img, &b, 8).unwrap();
        assert_eq!((out.width(), out.height()), (8, 8));
    }

    #[test]
    fn impossible_ratio_falls_back_to_a_centred_box() {
        // A 40x2 strip cannot hold a box of ratio ≤ 4/3 with 50% area: the fallback crops the
        // centre to ratio 4/3 (w = round(2 · 4/3) = 3).
        let rrc = RandomResizedCrop { size: 4, scale: (0.5, 0.6), ratio: (0.75, 4.0 / 3.0) };
        let b = rrc.sample(40, 2, &mut Rng::new(1));
        assert_eq!(b, CropBox { top: 0, left: 18, height: 2, width: 3 });
        assert!(RandomResizedCrop { size: 0, ..rrc }.validate().is_err());
    }
}
