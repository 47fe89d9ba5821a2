//! `Image`: one RGB image as planar f32, the type every transform takes and returns.
//!
//! Layout `[3, H, W]` (CHW, like one item of an NCHW batch): `data[c·H·W + y·W + x]` is channel
//! `c` (0 = red, 1 = green, 2 = blue) of the pixel in row `y`, column `x`. Values are in
//! `[0, 1]`: 8-bit input maps `v ↦ v / 255`. Transforms keep (or clamp back to) that range
//! wherever torchvision does; `normalize` is the one deliberate exit from it.

use crate::AugmentError;
use image::RgbImage;
use tensor::Tensor;

/// Number of colour channels: every `Image` is RGB.
pub const CHANNELS: usize = 3;

/// An RGB image, planar f32 `[3, H, W]`, values in `[0, 1]`. Width and height are at least 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Image {
    /// Wraps planar `[3, H, W]` data.
    ///
    /// # Errors
    /// [`AugmentError::LengthMismatch`] unless `data.len() == 3·H·W`;
    /// [`AugmentError::BadParameter`] when a side is 0.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Result<Self, AugmentError> {
        if width == 0 || height == 0 {
            return Err(AugmentError::bad(
                "Image::new",
                format!("{width}x{height} image is empty"),
            ));
        }
        let expected = CHANNELS * width * height;
        if data.len() != expected {
            return Err(AugmentError::LengthMismatch {
                op: "Image::new",
                width,
                height,
                expected,
                got: data.len(),
            });
        }
        Ok(Self { width, height, data })
    }

    /// A `width × height` image with every value `value` (callers guarantee sides ≥ 1).
    pub(crate) fn filled(width: usize, height: usize, value: f32) -> Self {
        debug_assert!(width > 0 && height > 0);
        Self { width, height, data: vec![value; CHANNELS * width * height] }
    }

    /// An image whose value at (channel `c`, row `y`, column `x`) is `f(c, y, x)`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] when a side is 0.
    pub fn from_fn(
        width: usize,
        height: usize,
        mut f: impl FnMut(usize, usize, usize) -> f32,
    ) -> Result<Self, AugmentError> {
        let mut data = Vec::with_capacity(CHANNELS * width * height);
        for c in 0..CHANNELS {
            for y in 0..height {
                for x in 0..width {
                    data.push(f(c, y, x));
                }
            }
        }
        Self::new(width, height, data)
    }

    /// Width W in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height H in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The planar `[3, H, W]` values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The planar `[3, H, W]` values, writable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives up the image and returns its planar values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Channel `c` as an `[H, W]` row-major plane.
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.width * self.height;
        &self.data[c * n..(c + 1) * n]
    }

    /// The three planes `(red, green, blue)`.
    pub fn planes(&self) -> (&[f32], &[f32], &[f32]) {
        let n = self.width * self.height;
        let (r, gb) = self.data.split_at(n);
        let (g, b) = gb.split_at(n);
        (r, g, b)
    }

    /// The three planes `(red, green, blue)`, writable.
    pub fn planes_mut(&mut self) -> (&mut [f32], &mut [f32], &mut [f32]) {
        let n = self.width * self.height;
        let (r, gb) = self.data.split_at_mut(n);
        let (g, b) = gb.split_at_mut(n);
        (r, g, b)
    }

    /// The value of channel `c` at row `y`, column `x` (panics out of range, like slice indexing;
    /// meant for tests and small tools).
    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Converts 8-bit RGB: `v ↦ v / 255`, interleaved HWC → planar CHW.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] for a 0-pixel image.
    pub fn from_rgb8(img: &RgbImage) -> Result<Self, AugmentError> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            return Err(AugmentError::bad("Image::from_rgb8", format!("{w}x{h} image is empty")));
        }
        let n = w * h;
        let mut data = vec![0.0; CHANNELS * n];
        let (r, gb) = data.split_at_mut(n);
        let (g, b) = gb.split_at_mut(n);
        for (i, px) in img.as_raw().chunks_exact(CHANNELS).enumerate() {
            r[i] = f32::from(px[0]) / 255.0;
            g[i] = f32::from(px[1]) / 255.0;
            b[i] = f32::from(px[2]) / 255.0;
        }
        Ok(Self { width: w, height: h, data })
    }

    /// Converts to 8-bit RGB: `v ↦ round(255 · clamp(v, 0, 1))`, planar CHW → interleaved HWC.
    /// Lossy: values outside `[0, 1]` (e.g. after `normalize`) are clamped.
    pub fn to_rgb8(&self) -> RgbImage {
        let (r, g, b) = self.planes();
        let mut raw = Vec::with_capacity(CHANNELS * r.len());
        for i in 0..r.len() {
            for v in [r[i], g[i], b[i]] {
                raw.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
        RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .expect("raw holds exactly 3·W·H bytes")
    }

    /// The image as a one-item NCHW tensor `[1, 3, H, W]`.
    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_vec(&[1, CHANNELS, self.height, self.width], self.data.clone())
            .expect("data holds exactly 3·H·W values")
    }
}

/// Stacks equally sized images into an NCHW batch `[N, 3, H, W]`.
///
/// # Errors
/// [`AugmentError::BadParameter`] for an empty slice, or when an image's size differs from the
/// first image's (the message names its position).
pub fn stack(images: &[Image]) -> Result<Tensor, AugmentError> {
    let first = images.first().ok_or_else(|| AugmentError::bad("stack", "no images to stack"))?;
    let (w, h) = (first.width, first.height);
    let mut data = Vec::with_capacity(images.len() * CHANNELS * w * h);
    for (index, img) in images.iter().enumerate() {
        if img.width != w || img.height != h {
            return Err(AugmentError::bad(
                "stack",
                format!(
                    "image {index} is {}x{}, image 0 is {w}x{h}: a batch needs one size",
                    img.width, img.height
                ),
            ));
        }
        data.extend_from_slice(&img.data);
    }
    Ok(Tensor::from_vec(&[images.len(), CHANNELS, h, w], data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb8_round_trip_is_exact_and_planar() {
        let rgb = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 50, y as u8 * 80, 7]));
        let img = Image::from_rgb8(&rgb).unwrap();
        assert_eq!((img.width(), img.height()), (5, 3));
        assert_eq!(img.get(0, 2, 4), 200.0 / 255.0);
        assert_eq!(img.get(1, 2, 4), 160.0 / 255.0);
        assert_eq!(img.get(2, 0, 0), 7.0 / 255.0);
        assert_eq!(img.to_rgb8(), rgb);
    }

    #[test]
    fn new_checks_length_and_stack_checks_sizes() {
        assert!(matches!(
            Image::new(2, 2, vec![0.0; 11]),
            Err(AugmentError::LengthMismatch { expected: 12, got: 11, .. })
        ));
        assert!(Image::new(0, 2, vec![]).is_err());
        let a = Image::filled(2, 2, 0.5);
        let b = Image::filled(3, 2, 0.5);
        assert!(stack(&[a.clone(), b]).is_err());
        assert!(stack(&[]).is_err());
        let t = stack(&[a.clone(), a]).unwrap();
        assert_eq!(t.dims(), &[2, 3, 2, 2]);
    }
}
