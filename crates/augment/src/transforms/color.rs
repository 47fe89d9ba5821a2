//! Colour transforms with torchvision's formulas for float images in `[0, 1]`: brightness,
//! contrast, saturation, hue (together: `ColorJitter`, applied in a random order), grayscale and
//! invert.
//!
//! Brightness, contrast and saturation are all *blends* toward a reference image `r`,
//! `blend(x, r, f) = clamp(f·x + (1 − f)·r, 0, 1)`:
//! - brightness: `r = 0` (black), so `out = clamp(f·x)`;
//! - contrast: `r` = the mean of the grayscale image (one scalar per image);
//! - saturation: `r` = the pixel's own gray value.
//!
//! Gray is ITU-R 601 luma with torchvision's exact weights, `Y = 0.2989·R + 0.587·G + 0.114·B`
//! (0.2989, not 0.299: matching it keeps the golden tests exact).
//!
//! Hue converts RGB → HSV, adds the shift to H (mod 1) and converts back (`adjust_hue`).

use crate::{AugmentError, Image};
use tensor::Rng;

/// Luma weights torchvision uses for `rgb_to_grayscale`.
pub const GRAY_WEIGHTS: [f32; 3] = [0.2989, 0.587, 0.114];

fn gray(r: f32, g: f32, b: f32) -> f32 {
    GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b
}

/// `clamp(f·x + (1 − f)·r, 0, 1)`.
fn blend(x: f32, r: f32, f: f32) -> f32 {
    (f * x + (1.0 - f) * r).clamp(0.0, 1.0)
}

/// `out = clamp(f · x, 0, 1)` (torchvision `adjust_brightness`; `f = 1` is the identity for
/// in-range input, `f = 0` gives black).
pub fn adjust_brightness(img: &Image, factor: f32) -> Image {
    let mut out = img.clone();
    adjust_brightness_in_place(&mut out, factor);
    out
}

/// In-place form of [`adjust_brightness`] (pipelines use it to skip an allocation per step).
pub fn adjust_brightness_in_place(out: &mut Image, factor: f32) {
    out.data_mut().iter_mut().for_each(|v| *v = blend(*v, 0.0, factor));
}

/// `out = clamp(f · x + (1 − f) · mean(gray(img)), 0, 1)` (torchvision `adjust_contrast`; `f = 0`
/// gives a uniform gray image at the mean luma).
pub fn adjust_contrast(img: &Image, factor: f32) -> Image {
    let mut out = img.clone();
    adjust_contrast_in_place(&mut out, factor);
    out
}

/// In-place form of [`adjust_contrast`] (pipelines use it to skip an allocation per step).
pub fn adjust_contrast_in_place(out: &mut Image, factor: f32) {
    let (r, g, b) = out.planes();
    let n = r.len();
    // Summed in f64: a 224² image would lose digits in an f32 running sum.
    let total: f64 = (0..n).map(|i| f64::from(gray(r[i], g[i], b[i]))).sum();
    let mean = (total / n as f64) as f32;
    out.data_mut().iter_mut().for_each(|v| *v = blend(*v, mean, factor));
}

/// `out[c] = clamp(f · x[c] + (1 − f) · gray(x), 0, 1)` per pixel (torchvision
/// `adjust_saturation`; `f = 0` gives the grayscale image, `f > 1` exaggerates colour).
pub fn adjust_saturation(img: &Image, factor: f32) -> Image {
    let mut out = img.clone();
    adjust_saturation_in_place(&mut out, factor);
    out
}

/// In-place form of [`adjust_saturation`] (pipelines use it to skip an allocation per step).
pub fn adjust_saturation_in_place(out: &mut Image, factor: f32) {
    let (r, g, b) = out.planes_mut();
    for i in 0..r.len() {
        let y = gray(r[i], g[i], b[i]);
        r[i] = blend(r[i], y, factor);
        g[i] = blend(g[i], y, factor);
        b[i] = blend(b[i], y, factor);
    }
}

/// RGB → HSV for one pixel, torchvision's `_rgb_to_hsv` (H in `[0, 1)`; H = S = 0 for grays).
fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if maxc == minc {
        return (0.0, 0.0, maxc);
    }
    let range = maxc - minc;
    let s = range / maxc;
    let (rc, gc, bc) = ((maxc - r) / range, (maxc - g) / range, (maxc - b) / range);
    // The sector is chosen by which channel is the maximum (red wins ties, then green).
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    // torchvision: `fmod(h/6 + 1, 1)`; h/6 + 1 lies in [5/6, 11/6), where the fmod is one exact
    // subtraction (and a library call slower than the whole conversion when spelled `%`).
    let h = h / 6.0 + 1.0;
    (if h >= 1.0 { h - 1.0 } else { h }, s, maxc)
}

/// HSV → RGB for one pixel, torchvision's `_hsv_to_rgb` (six sectors of `H·6`).
fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let sector = h6.floor();
    let f = h6 - sector;
    let p = ((1.0 - s) * v).clamp(0.0, 1.0);
    let q = ((1.0 - s * f) * v).clamp(0.0, 1.0);
    let t = ((1.0 - s + s * f) * v).clamp(0.0, 1.0);
    match (sector as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// `x mod 1` as torch's `remainder` computes it, `x − ⌊x⌋`, without a `fmod` call.
fn wrap_unit(x: f32) -> f32 {
    x - x.floor()
}

/// Rotates every pixel's hue by `hue_factor` turns: `H ↦ (H + hue_factor) mod 1`, S and V kept
/// (torchvision `adjust_hue`, whose valid range is `[−0.5, 0.5]`; other values wrap the same way).
pub fn adjust_hue(img: &Image, hue_factor: f32) -> Image {
    let mut out = img.clone();
    adjust_hue_in_place(&mut out, hue_factor);
    out
}

/// In-place form of [`adjust_hue`] (pipelines use it to skip an allocation per step).
pub fn adjust_hue_in_place(out: &mut Image, hue_factor: f32) {
    let (r, g, b) = out.planes_mut();
    for i in 0..r.len() {
        let (h, s, v) = rgb_to_hsv(r[i], g[i], b[i]);
        let (nr, ng, nb) = hsv_to_rgb(wrap_unit(h + hue_factor), s, v);
        (r[i], g[i], b[i]) = (nr, ng, nb);
    }
}

/// Every channel replaced by the pixel's gray `0.2989·R + 0.587·G + 0.114·B` (torchvision
/// `rgb_to_grayscale(num_output_channels=3)`).
pub fn rgb_to_grayscale(img: &Image) -> Image {
    let mut out = img.clone();
    rgb_to_grayscale_in_place(&mut out);
    out
}

/// In-place form of [`rgb_to_grayscale`] (pipelines use it to skip an allocation per step).
pub fn rgb_to_grayscale_in_place(out: &mut Image) {
    let (r, g, b) = out.planes_mut();
    for i in 0..r.len() {
        let y = gray(r[i], g[i], b[i]);
        (r[i], g[i], b[i]) = (y, y, y);
    }
}

/// `out = 1 − x` (torchvision `invert` for float images).
pub fn invert(img: &Image) -> Image {
    let mut out = img.clone();
    invert_in_place(&mut out);
    out
}

/// In-place form of [`invert`] (pipelines use it to skip an allocation per step).
pub fn invert_in_place(out: &mut Image) {
    out.data_mut().iter_mut().for_each(|v| *v = 1.0 - *v);
}

/// One of the four colour adjustments of [`ColorJitter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitterOp {
    /// [`adjust_brightness`].
    Brightness,
    /// [`adjust_contrast`].
    Contrast,
    /// [`adjust_saturation`].
    Saturation,
    /// [`adjust_hue`].
    Hue,
}

/// Sampling ranges for torchvision's `ColorJitter`: each factor is drawn uniformly from its range,
/// `None` leaves that adjustment out, and the four are applied in a random order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    /// Brightness factor range (≥ 0).
    pub brightness: Option<(f32, f32)>,
    /// Contrast factor range (≥ 0).
    pub contrast: Option<(f32, f32)>,
    /// Saturation factor range (≥ 0).
    pub saturation: Option<(f32, f32)>,
    /// Hue shift range, within `[−0.5, 0.5]`.
    pub hue: Option<(f32, f32)>,
}

/// One concrete jitter: the order and the factors (`None` = skipped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterParams {
    /// The order in which the adjustments run.
    pub order: [JitterOp; 4],
    /// Brightness factor.
    pub brightness: Option<f32>,
    /// Contrast factor.
    pub contrast: Option<f32>,
    /// Saturation factor.
    pub saturation: Option<f32>,
    /// Hue shift.
    pub hue: Option<f32>,
}

impl ColorJitter {
    /// torchvision's constructor shorthand: `ColorJitter(brightness=b, contrast=c, saturation=s,
    /// hue=h)` means ranges `[max(0, 1 − b), 1 + b]` (same for c, s) and `[−h, h]`; a 0 leaves that
    /// adjustment out.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] for a negative amount or `hue > 0.5`.
    pub fn new(
        brightness: f32,
        contrast: f32,
        saturation: f32,
        hue: f32,
    ) -> Result<Self, AugmentError> {
        let factor = |name: &str, x: f32| {
            if !(x >= 0.0 && x.is_finite()) {
                return Err(AugmentError::bad("ColorJitter", format!("{name} {x} must be >= 0")));
            }
            Ok((x > 0.0).then_some(((1.0 - x).max(0.0), 1.0 + x)))
        };
        if !(0.0..=0.5).contains(&hue) {
            return Err(AugmentError::bad("ColorJitter", format!("hue {hue} must be in [0, 0.5]")));
        }
        Ok(Self {
            brightness: factor("brightness", brightness)?,
            contrast: factor("contrast", contrast)?,
            saturation: factor("saturation", saturation)?,
            hue: (hue > 0.0).then_some((-hue, hue)),
        })
    }

    /// Checks each range is ordered, factors are ≥ 0 and hue lies in `[−0.5, 0.5]`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] naming the bad range.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let check = |name: &str, r: Option<(f32, f32)>, lo: f32, hi: f32| match r {
            Some((a, b)) if !(lo <= a && a <= b && b <= hi) => Err(AugmentError::bad(
                "ColorJitter",
                format!("{name} range ({a}, {b}) must satisfy {lo} <= min <= max <= {hi}"),
            )),
            _ => Ok(()),
        };
        check("brightness", self.brightness, 0.0, f32::MAX)?;
        check("contrast", self.contrast, 0.0, f32::MAX)?;
        check("saturation", self.saturation, 0.0, f32::MAX)?;
        check("hue", self.hue, -0.5, 0.5)
    }

    /// Draws a random order (uniform over the 24 permutations) and one factor per present range.
    pub fn sample(&self, rng: &mut Rng) -> JitterParams {
        let mut order =
            [JitterOp::Brightness, JitterOp::Contrast, JitterOp::Saturation, JitterOp::Hue];
        rng.shuffle(&mut order);
        let mut draw = |r: Option<(f32, f32)>| r.map(|(a, b)| rng.uniform(a, b));
        JitterParams {
            order,
            brightness: draw(self.brightness),
            contrast: draw(self.contrast),
            saturation: draw(self.saturation),
            hue: draw(self.hue),
        }
    }
}

/// Applies the present adjustments of `p` in `p.order`. With every factor `None` the image is
/// returned unchanged.
pub fn color_jitter(img: &Image, p: &JitterParams) -> Image {
    let mut out = img.clone();
    color_jitter_in_place(&mut out, p);
    out
}

/// In-place form of [`color_jitter`].
pub fn color_jitter_in_place(out: &mut Image, p: &JitterParams) {
    for op in p.order {
        match (op, p.brightness, p.contrast, p.saturation, p.hue) {
            (JitterOp::Brightness, Some(f), ..) => adjust_brightness_in_place(out, f),
            (JitterOp::Contrast, _, Some(f), ..) => adjust_contrast_in_place(out, f),
            (JitterOp::Saturation, _, _, Some(f), _) => adjust_saturation_in_place(out, f),
            (JitterOp::Hue, .., Some(f)) => adjust_hue_in_place(out, f),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    fn close(a: &Image, b: &Image, tol: f32) -> bool {
        a.data().iter().zip(b.data()).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn unit_factors_and_zero_jitter_are_no_ops() {
        let img = test_image(9, 7, 11);
        assert!(close(&adjust_brightness(&img, 1.0), &img, 1e-6));
        assert!(close(&adjust_contrast(&img, 1.0), &img, 1e-6));
        assert!(close(&adjust_saturation(&img, 1.0), &img, 1e-6));
        assert!(close(&adjust_hue(&img, 0.0), &img, 1e-5));
        let none = ColorJitter::new(0.0, 0.0, 0.0, 0.0).unwrap();
        let p = none.sample(&mut Rng::new(1));
        assert_eq!(color_jitter(&img, &p), img);
    }

    #[test]
    fn hsv_round_trips_and_full_turn_of_hue_is_identity() {
        let img = test_image(8, 8, 2);
        let (r, g, b) = img.planes();
        for i in 0..r.len() {
            let (h, s, v) = rgb_to_hsv(r[i], g[i], b[i]);
            assert!((0.0..1.0).contains(&h));
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!(
                (r2 - r[i]).abs() < 1e-5 && (g2 - g[i]).abs() < 1e-5 && (b2 - b[i]).abs() < 1e-5
            );
        }
        // Pure red shifted by a third of a turn becomes pure green.
        let red = Image::from_fn(1, 1, |c, _, _| f32::from(u8::from(c == 0))).unwrap();
        let green = adjust_hue(&red, 1.0 / 3.0);
        assert!((green.get(1, 0, 0) - 1.0).abs() < 1e-5 && green.get(0, 0, 0).abs() < 1e-5);
    }

    #[test]
    fn zero_saturation_is_grayscale_and_invert_twice_is_identity() {
        let img = test_image(5, 4, 3);
        assert!(close(&adjust_saturation(&img, 0.0), &rgb_to_grayscale(&img), 1e-6));
        let g = rgb_to_grayscale(&img);
        assert_eq!(g.plane(0), g.plane(2));
        assert!(close(&invert(&invert(&img)), &img, 1e-6));
        let flat = adjust_contrast(&img, 0.0);
        assert!(flat.data().iter().all(|v| (v - flat.get(0, 0, 0)).abs() < 1e-6));
    }

    #[test]
    fn outputs_stay_in_range_and_bad_ranges_are_rejected() {
        let img = test_image(6, 6, 4);
        let j = ColorJitter::new(0.9, 0.9, 0.9, 0.5).unwrap();
        let mut rng = Rng::new(9);
        for _ in 0..20 {
            let out = color_jitter(&img, &j.sample(&mut rng));
            assert!(out.data().iter().all(|v| (0.0..=1.0).contains(v)));
        }
        assert!(ColorJitter::new(-0.1, 0.0, 0.0, 0.0).is_err());
        assert!(ColorJitter::new(0.0, 0.0, 0.0, 0.6).is_err());
        let bad = ColorJitter { hue: Some((0.2, 0.1)), ..j };
        assert!(bad.validate().is_err());
    }
}
