//! Random erasing / cutout, torchvision's `RandomErasing(scale, ratio, value)`: a rectangle
//! covering a random share of the image, with a random aspect ratio, is overwritten with a value.
//! `erase` itself is exact: it touches the box and nothing else.

use crate::{AugmentError, CHANNELS, Image};
use tensor::Rng;

/// What goes into the erased box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EraseValue {
    /// One value per channel (torchvision's `value=0` is `Constant([0.0; 3])`).
    Constant([f32; 3]),
    /// Independent noise per value. torchvision draws `N(0, 1)`, which leaves `[0, 1]`; we draw
    /// `U[0, 1)` instead so the image stays in range (a deliberate difference).
    Random,
}

/// Sampling limits of torchvision's `RandomErasing`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomErasing {
    /// Box area as a share of the image area, drawn uniformly (torchvision default `(0.02, 0.33)`).
    pub scale: (f32, f32),
    /// Box aspect ratio `h / w`, drawn log-uniformly (torchvision default `(0.3, 3.3)`).
    pub ratio: (f32, f32),
    /// Fill.
    pub value: EraseValue,
}

/// One concrete box, rows `top..top + height`, columns `left..left + width`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EraseParams {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Fill.
    pub value: EraseValue,
    /// Seed of the noise stream for [`EraseValue::Random`] (unused otherwise).
    pub seed: u64,
}

impl RandomErasing {
    /// Checks `0 < scale.0 ≤ scale.1 ≤ 1` and `0 < ratio.0 ≤ ratio.1`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] otherwise.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let (s0, s1) = self.scale;
        let (r0, r1) = self.ratio;
        if !(0.0 < s0 && s0 <= s1 && s1 <= 1.0 && 0.0 < r0 && r0 <= r1 && r1.is_finite()) {
            return Err(AugmentError::bad(
                "RandomErasing",
                format!(
                    "need 0 < scale.0 <= scale.1 <= 1 and 0 < ratio.0 <= ratio.1, got scale {:?} ratio {:?}",
                    self.scale, self.ratio
                ),
            ));
        }
        Ok(())
    }

    /// torchvision's `RandomErasing.get_params`: up to 10 tries of area `A·U[scale]` and ratio
    /// `exp(U[ln ratio])`, `h = round(√(area·ratio))`, `w = round(√(area/ratio))`, accepted when
    /// `h < H` and `w < W`, then a uniform position. `None` (erase nothing) if all 10 fail.
    pub fn sample(&self, width: usize, height: usize, rng: &mut Rng) -> Option<EraseParams> {
        let area = (width * height) as f32;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let erase_area = area * rng.uniform(self.scale.0, self.scale.1);
            let aspect = rng.uniform(lr0, lr1).exp();
            let h = (erase_area * aspect).sqrt().round() as usize;
            let w = (erase_area / aspect).sqrt().round() as usize;
            if !(h < height && w < width) {
                continue;
            }
            let top = rng.below(height - h + 1);
            let left = rng.below(width - w + 1);
            return Some(EraseParams {
                top,
                left,
                height: h,
                width: w,
                value: self.value,
                seed: rng.next_u64(),
            });
        }
        None
    }
}

/// Overwrites the box of `p` (clipped to the image) with `p.value`; everything else is copied.
pub fn erase(img: &Image, p: &EraseParams) -> Image {
    let mut out = img.clone();
    erase_in_place(&mut out, p);
    out
}

/// In-place form of [`erase`] (pipelines use it to skip an allocation per step).
pub fn erase_in_place(out: &mut Image, p: &EraseParams) {
    let (w, h) = (out.width(), out.height());
    let (y1, x1) = ((p.top + p.height).min(h), (p.left + p.width).min(w));
    let mut noise = Rng::new(p.seed);
    for c in 0..CHANNELS {
        for y in p.top.min(h)..y1 {
            let row = &mut out.data_mut()[(c * h + y) * w..(c * h + y + 1) * w];
            for v in &mut row[p.left.min(x1)..x1] {
                *v = match p.value {
                    EraseValue::Constant(fill) => fill[c],
                    EraseValue::Random => noise.next_f32(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn erase_touches_only_its_box() {
        let img = test_image(11, 9, 6);
        let re = RandomErasing { scale: (0.05, 0.3), ratio: (0.3, 3.3), value: EraseValue::Random };
        let mut rng = Rng::new(2);
        let mut erased = 0;
        for _ in 0..30 {
            let Some(p) = re.sample(11, 9, &mut rng) else { continue };
            erased += 1;
            assert!(p.top + p.height <= 9 && p.left + p.width <= 11);
            let out = erase(&img, &p);
            for c in 0..3 {
                for y in 0..9 {
                    for x in 0..11 {
                        let inside = (p.top..p.top + p.height).contains(&y)
                            && (p.left..p.left + p.width).contains(&x);
                        if !inside {
                            assert_eq!(out.get(c, y, x), img.get(c, y, x));
                        }
                        assert!((0.0..=1.0).contains(&out.get(c, y, x)));
                    }
                }
            }
        }
        assert!(erased > 20, "only {erased} of 30 boxes fitted");
        let p = EraseParams {
            top: 1,
            left: 2,
            height: 2,
            width: 3,
            value: EraseValue::Constant([0.1, 0.2, 0.3]),
            seed: 0,
        };
        let out = erase(&img, &p);
        assert_eq!((out.get(0, 1, 2), out.get(1, 2, 4), out.get(2, 2, 4)), (0.1, 0.2, 0.3));
        assert!(RandomErasing { scale: (0.5, 0.1), ..re }.validate().is_err());
    }
}
