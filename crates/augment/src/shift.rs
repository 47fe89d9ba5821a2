//! Fixed alterations for robustness checks: how images from another telescope differ.
//!
//! A model trained on one collection of photos meets images that differ in colour, scale,
//! framing, exposure, sharpness, compression and noise. Without labelled images from elsewhere,
//! one can still ask how the model's calls change when its own test images are altered in those
//! ways, keeping their labels. Each [`Shift`] is one such alteration at one fixed strength (no
//! randomness but the noise's, which is seeded), so a table of accuracies per shift is
//! reproducible and comparable between models:
//!
//! | shift | what it does to an image `x` of `W × H` |
//! |---|---|
//! | `none` | nothing |
//! | `grayscale` | every channel set to the luma `0.2989·R + 0.587·G + 0.114·B` (a monochrome camera) |
//! | `zoom-out` | the image shrunk to `W/2 × H/2` (antialiased) in the middle of a black frame of `W × H`: the object a quarter of the area (a survey field) |
//! | `rotate-30` | turned 30° counter-clockwise about its centre, bilinear, black corners (the sky has no up) |
//! | `dark` | brightness × 0.5 (a shorter exposure or another stretch) |
//! | `contrast` | contrast × 1.8 about the mean luma, clamped (a harder stretch) |
//! | `blur` | Gaussian blur, σ = 1.5 pixels of the image as given (poorer seeing or focus) |
//! | `jpeg` | encoded as JPEG at quality 30 and decoded (web images) |
//! | `noise` | Gaussian noise of σ = 0.05 added to every value, clamped (a noisier sensor) |
//!
//! The strengths are meant for images at the size a network reads them (tens to a few hundred
//! pixels): a blur of 1.5 pixels or JPEG blocks of 8 pixels matter there, where the same
//! alteration of a 2000-pixel original would vanish in the downscaling.

use std::fmt;
use std::str::FromStr;

use tensor::Rng;

use crate::transforms::blur::{BlurParams, gaussian_blur};
use crate::transforms::color::{adjust_brightness, adjust_contrast, rgb_to_grayscale};
use crate::transforms::noise::{NoiseParams, gaussian_noise};
use crate::transforms::perspective::{PerspectiveParams, perspective};
use crate::transforms::resize::resize;
use crate::{AugmentError, Image};

/// One fixed alteration (module docs for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shift {
    /// The image as it is: the baseline every other shift is compared with.
    None,
    /// Luma in all three channels.
    Grayscale,
    /// Half the side, centred on black.
    ZoomOut,
    /// 30° counter-clockwise, black corners.
    Rotate30,
    /// Brightness × 0.5.
    Dark,
    /// Contrast × 1.8.
    Contrast,
    /// Gaussian blur, σ = 1.5 px.
    Blur,
    /// JPEG at quality 30.
    Jpeg,
    /// Gaussian noise, σ = 0.05.
    Noise,
}

/// The JPEG quality of [`Shift::Jpeg`] (1–100; 30 shows 8×8 blocks and colour bleeding).
pub const JPEG_QUALITY: u8 = 30;

impl Shift {
    /// Every shift, the baseline first.
    pub const ALL: [Shift; 9] = [
        Self::None,
        Self::Grayscale,
        Self::ZoomOut,
        Self::Rotate30,
        Self::Dark,
        Self::Contrast,
        Self::Blur,
        Self::Jpeg,
        Self::Noise,
    ];

    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Grayscale => "grayscale",
            Self::ZoomOut => "zoom-out",
            Self::Rotate30 => "rotate-30",
            Self::Dark => "dark",
            Self::Contrast => "contrast",
            Self::Blur => "blur",
            Self::Jpeg => "jpeg",
            Self::Noise => "noise",
        }
    }

    /// One line saying what the shift does.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "the image as it is",
            Self::Grayscale => "luma in all three channels",
            Self::ZoomOut => "shrunk to half its side in the middle of a black frame",
            Self::Rotate30 => "turned 30 degrees counter-clockwise, black corners",
            Self::Dark => "brightness x 0.5",
            Self::Contrast => "contrast x 1.8 about the mean luma",
            Self::Blur => "Gaussian blur, sigma 1.5 pixels",
            Self::Jpeg => "JPEG at quality 30",
            Self::Noise => "Gaussian noise, sigma 0.05",
        }
    }

    /// Applies the shift to `img`; `seed` keys the noise of [`Shift::Noise`] (give each image
    /// its own, e.g. its index) and is ignored by the others. The output has `img`'s size.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] from the underlying transform (none for images of at
    /// least 2×2 pixels; `zoom-out` needs 2 pixels a side).
    pub fn apply(self, img: &Image, seed: u64) -> Result<Image, AugmentError> {
        match self {
            Self::None => Ok(img.clone()),
            Self::Grayscale => Ok(rgb_to_grayscale(img)),
            Self::ZoomOut => zoom_out(img),
            Self::Rotate30 => rotate(img, 30.0),
            Self::Dark => Ok(adjust_brightness(img, 0.5)),
            Self::Contrast => Ok(adjust_contrast(img, 1.8)),
            // A kernel of ±3σ (odd side 9 for σ = 1.5) holds all but 0.3 % of the weight.
            Self::Blur => gaussian_blur(img, &BlurParams { kernel_size: 9, sigma: 1.5 }),
            Self::Jpeg => jpeg_round_trip(img, JPEG_QUALITY),
            Self::Noise => {
                let seed = Rng::keyed(seed, &[0x5417]).next_u64();
                Ok(gaussian_noise(img, &NoiseParams { mean: 0.0, sigma: 0.05, seed }))
            }
        }
    }
}

impl fmt::Display for Shift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shift {
    type Err = AugmentError;

    /// Parses a [`Shift::name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|shift| shift.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|shift| shift.name()).collect();
            AugmentError::bad("Shift", format!("unknown shift `{s}`; known: {}", names.join(", ")))
        })
    }
}

/// The image at half its side (`⌊W/2⌋ × ⌊H/2⌋`, antialiased), pasted with its top-left corner at
/// `(⌊(W − W/2)/2⌋, ⌊(H − H/2)/2⌋)` on black.
fn zoom_out(img: &Image) -> Result<Image, AugmentError> {
    let (w, h) = (img.width(), img.height());
    if w < 2 || h < 2 {
        return Err(AugmentError::bad("zoom-out", format!("{w}x{h} is too small to halve")));
    }
    let small = resize(img, h / 2, w / 2)?;
    let (left, top) = ((w - small.width()) / 2, (h - small.height()) / 2);
    let inside = |y: usize, x: usize| {
        (top..top + small.height()).contains(&y) && (left..left + small.width()).contains(&x)
    };
    Image::from_fn(w, h, |c, y, x| if inside(y, x) { small.get(c, y - top, x - left) } else { 0.0 })
}

/// Rotation by `degrees` counter-clockwise about the image centre, as the homography that sends
/// the four corners to their rotated positions (the perspective warp's bilinear sampling, black
/// outside). With `y` pointing down, a counter-clockwise turn by θ sends the offset `(dx, dy)`
/// from the centre to `(dx·cos θ + dy·sin θ, −dx·sin θ + dy·cos θ)`.
fn rotate(img: &Image, degrees: f64) -> Result<Image, AugmentError> {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let start = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
    let end = start.map(|[x, y]| {
        let (dx, dy) = (x - cx, y - cy);
        [cx + dx * cos + dy * sin, cy - dx * sin + dy * cos]
    });
    perspective(img, &PerspectiveParams { start, end, fill: 0.0 })
}

/// Encodes `img` (rounded to 8 bits) as a baseline JPEG at `quality` and decodes it again.
fn jpeg_round_trip(img: &Image, quality: u8) -> Result<Image, AugmentError> {
    let failed =
        |what: &str, e: ::image::ImageError| AugmentError::bad("jpeg", format!("{what}: {e}"));
    let mut bytes = Vec::new();
    ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&img.to_rgb8())
        .map_err(|e| failed("encoding", e))?;
    let decoded = ::image::load_from_memory_with_format(&bytes, ::image::ImageFormat::Jpeg)
        .map_err(|e| failed("decoding", e))?;
    Image::from_rgb8(&decoded.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    fn mean_abs_difference(a: &Image, b: &Image) -> f32 {
        let n = a.data().len() as f32;
        a.data().iter().zip(b.data()).map(|(x, y)| (x - y).abs()).sum::<f32>() / n
    }

    #[test]
    fn every_shift_keeps_the_size_and_the_range_and_is_reproducible() {
        let img = test_image(37, 29, 3);
        for shift in Shift::ALL {
            let out = shift.apply(&img, 5).unwrap();
            assert_eq!((out.width(), out.height()), (37, 29), "{shift}");
            assert!(out.data().iter().all(|v| (0.0..=1.0).contains(v)), "{shift}");
            assert_eq!(out, shift.apply(&img, 5).unwrap(), "{shift}");
            // Every shift but the baseline changes the image, by a visible amount.
            let change = mean_abs_difference(&out, &img);
            if shift == Shift::None {
                assert_eq!(change, 0.0);
            } else {
                assert!(change > 0.005, "{shift} changed the image by only {change}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors_that_list_the_known_ones() {
        for shift in Shift::ALL {
            assert_eq!(shift.name().parse::<Shift>().unwrap(), shift);
        }
        let err = "sepia".parse::<Shift>().unwrap_err().to_string();
        assert!(err.contains("sepia") && err.contains("zoom-out"), "{err}");
    }

    #[test]
    fn grayscale_gives_three_equal_channels() {
        let out = Shift::Grayscale.apply(&test_image(8, 6, 1), 0).unwrap();
        let (r, g, b) = out.planes();
        assert_eq!(r, g);
        assert_eq!(g, b);
    }

    #[test]
    fn zoom_out_puts_a_half_size_copy_in_the_middle_of_black() {
        // A uniform image: the copy is uniform too, so the frame is exactly a bright square
        // of half the side in the middle and black around it.
        let img = Image::filled(20, 12, 0.8);
        let out = Shift::ZoomOut.apply(&img, 0).unwrap();
        for c in 0..3 {
            for y in 0..12 {
                for x in 0..20 {
                    let inside = (3..9).contains(&y) && (5..15).contains(&x);
                    let want = if inside { 0.8 } else { 0.0 };
                    assert!((out.get(c, y, x) - want).abs() < 1e-6, "({c}, {y}, {x})");
                }
            }
        }
        assert!(Shift::ZoomOut.apply(&Image::filled(1, 5, 0.5), 0).is_err());
    }

    #[test]
    fn rotation_turns_counter_clockwise_and_keeps_the_centre() {
        // One bright 3×3 spot right of the centre of a 41×41 black image: turned 30° counter-
        // clockwise it must land up and to the right, at the same distance from the centre.
        let spot = |cy: usize, cx: usize| {
            Image::from_fn(41, 41, |_, y, x| {
                if y.abs_diff(cy) <= 1 && x.abs_diff(cx) <= 1 { 1.0 } else { 0.0 }
            })
            .unwrap()
        };
        let out = Shift::Rotate30.apply(&spot(20, 32), 0).unwrap();
        // Brightness-weighted centroid of channel 0, about the pixel-centre grid's middle (20.5).
        let (mut sum, mut sx, mut sy) = (0.0f32, 0.0f32, 0.0f32);
        for y in 0..41 {
            for x in 0..41 {
                let v = out.get(0, y, x);
                sum += v;
                sx += v * (x as f32 + 0.5 - 20.5);
                sy += v * (y as f32 + 0.5 - 20.5);
            }
        }
        let (dx, dy) = (sx / sum, sy / sum);
        let (want_dx, want_dy) =
            (12.0 * 30f32.to_radians().cos(), -12.0 * 30f32.to_radians().sin());
        assert!((dx - want_dx).abs() < 0.3 && (dy - want_dy).abs() < 0.3, "({dx}, {dy})");
        // The corners come from outside the image: black.
        let turned = Shift::Rotate30.apply(&Image::filled(41, 41, 1.0), 0).unwrap();
        assert_eq!(turned.get(0, 0, 0), 0.0);
        assert!((turned.get(1, 20, 20) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn dark_halves_and_contrast_spreads_about_the_mean() {
        let img = test_image(9, 7, 2);
        let dark = Shift::Dark.apply(&img, 0).unwrap();
        for (d, x) in dark.data().iter().zip(img.data()) {
            assert!((d - 0.5 * x).abs() < 1e-6);
        }
        // Contrast × 1.8 keeps values at the mean luma and pushes others away from it (the luma
        // weights sum to 0.9999, so a gray value v has luma 0.9999·v: hence the 1e-4).
        let flat = Image::filled(4, 4, 0.4);
        let kept = Shift::Contrast.apply(&flat, 0).unwrap();
        assert!(kept.data().iter().all(|v| (v - 0.4).abs() < 1e-4));
        let two = Image::from_fn(2, 1, |_, _, x| if x == 0 { 0.3 } else { 0.5 }).unwrap();
        let spread = Shift::Contrast.apply(&two, 0).unwrap();
        assert!(
            (spread.get(0, 0, 0) - 0.22).abs() < 1e-4 && (spread.get(0, 0, 1) - 0.58).abs() < 1e-4
        );
    }

    #[test]
    fn jpeg_stays_close_to_the_image_but_loses_detail() {
        // A smooth gradient survives JPEG nearly intact; a one-pixel checkerboard (the highest
        // frequency, the one quantised hardest) comes back several times further off.
        let smooth = Image::from_fn(32, 32, |c, y, x| (x + y + 8 * c) as f32 / 80.0).unwrap();
        let smooth_error = mean_abs_difference(&Shift::Jpeg.apply(&smooth, 0).unwrap(), &smooth);
        let checker = Image::from_fn(32, 32, |_, y, x| ((x + y) % 2) as f32).unwrap();
        let checker_error = mean_abs_difference(&Shift::Jpeg.apply(&checker, 0).unwrap(), &checker);
        assert!(smooth_error < 0.02, "{smooth_error}");
        assert!(checker_error > 3.0 * smooth_error, "{checker_error} vs {smooth_error}");
    }

    #[test]
    fn noise_depends_on_the_seed_and_has_the_stated_spread() {
        let img = Image::filled(64, 64, 0.5);
        let a = Shift::Noise.apply(&img, 1).unwrap();
        assert_ne!(a, Shift::Noise.apply(&img, 2).unwrap());
        let n = a.data().len() as f32;
        let spread = (a.data().iter().map(|v| (v - 0.5).powi(2)).sum::<f32>() / n).sqrt();
        assert!((spread - 0.05).abs() < 0.005, "{spread}");
    }
}
