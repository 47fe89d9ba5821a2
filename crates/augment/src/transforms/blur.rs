//! Gaussian blur with torchvision's semantics (`GaussianBlur(kernel_size, sigma)`): a separable
//! `k × k` Gaussian, borders reflected (`torch.nn.functional.pad(mode="reflect")`, which mirrors
//! about the edge pixel without repeating it: `… 2 1 | 0 1 2 … n−1 | n−2 n−3 …`).
//!
//! 1-D kernel: `g[d] = exp(−d² / (2σ²)) / Σ_e exp(−e² / (2σ²))` for `d = −k/2 … k/2`.
//! The 2-D kernel is the outer product `g ⊗ g`, applied as a row pass then a column pass
//! (`k` instead of `k²` multiply-adds per pixel). Weights sum to 1 and are positive, so a constant
//! image stays constant and values stay in range.

use crate::{AugmentError, CHANNELS, Image};
use std::cell::RefCell;
use tensor::Rng;

/// Sampling limits for a random Gaussian blur, torchvision's `GaussianBlur`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianBlur {
    /// Odd kernel side `k` (torchvision's `kernel_size`).
    pub kernel_size: usize,
    /// `σ` is drawn uniformly from `[sigma.0, sigma.1]` (torchvision's default `(0.1, 2.0)`).
    pub sigma: (f32, f32),
}

/// One concrete blur: kernel side and standard deviation in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlurParams {
    /// Odd kernel side `k`.
    pub kernel_size: usize,
    /// Standard deviation `σ > 0` in pixels.
    pub sigma: f32,
}

impl GaussianBlur {
    /// Checks `kernel_size` is odd and `0 < sigma.0 ≤ sigma.1`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] naming the bad value.
    pub fn validate(&self) -> Result<(), AugmentError> {
        BlurParams { kernel_size: self.kernel_size, sigma: self.sigma.0 }.validate()?;
        if !(self.sigma.0 <= self.sigma.1 && self.sigma.1.is_finite()) {
            return Err(AugmentError::bad(
                "GaussianBlur",
                format!("sigma range {:?} must satisfy 0 < min <= max", self.sigma),
            ));
        }
        Ok(())
    }

    /// Draws `σ ~ U[sigma.0, sigma.1]`.
    pub fn sample(&self, rng: &mut Rng) -> BlurParams {
        BlurParams { kernel_size: self.kernel_size, sigma: rng.uniform(self.sigma.0, self.sigma.1) }
    }
}

impl BlurParams {
    /// Checks `kernel_size` is odd and `sigma > 0`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] naming the bad value.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if self.kernel_size.is_multiple_of(2) {
            return Err(AugmentError::bad(
                "gaussian_blur",
                format!("kernel_size {} must be odd", self.kernel_size),
            ));
        }
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return Err(AugmentError::bad(
                "gaussian_blur",
                format!("sigma {} must be positive", self.sigma),
            ));
        }
        Ok(())
    }

    /// The normalised 1-D kernel `g[0..k]` (centre at `k/2`).
    pub fn kernel1d(&self) -> Vec<f32> {
        let half = (self.kernel_size / 2) as f64;
        let sigma = f64::from(self.sigma);
        let raw: Vec<f64> = (0..self.kernel_size)
            .map(|i| {
                let d = i as f64 - half;
                (-d * d / (2.0 * sigma * sigma)).exp()
            })
            .collect();
        let total: f64 = raw.iter().sum();
        raw.iter().map(|g| (g / total) as f32).collect()
    }
}

/// Mirror index `i` into `0..n` the way reflect padding does (repeatedly, so kernels wider than
/// the image stay defined: torch would reject those, we keep mirroring).
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let r = i.rem_euclid(period);
    (if r < n as isize { r } else { period - r }) as usize
}

/// Blurs `img` with a `k × k` Gaussian of standard deviation `σ` (module docs for the formula).
///
/// # Errors
/// [`AugmentError::BadParameter`] for an even kernel or a non-positive `σ`.
pub fn gaussian_blur(img: &Image, p: &BlurParams) -> Result<Image, AugmentError> {
    p.validate()?;
    let g = p.kernel1d();
    let half = (p.kernel_size / 2) as isize;
    let (w, h) = (img.width(), img.height());
    // Row pass into tmp [3, H, W]: each row is copied into `padded` (reflected `half` pixels on
    // each side), then `tmp_row = Σ_k g[k] · padded[k .. k + W]`, whole-row multiply-adds.
    let mut padded = vec![0.0f32; w + 2 * half as usize];
    SCRATCH.with_borrow_mut(|tmp| {
        tmp.clear();
        tmp.resize(CHANNELS * w * h, 0.0);
        for (src, dst) in img.data().chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
            // Middle: the row itself; edges: `half` mirrored pixels each side (computed with
            // `reflect`, whose modulo is too slow to run for every pixel).
            let hp = half as usize;
            padded[hp..hp + w].copy_from_slice(src);
            for i in 0..hp {
                padded[i] = src[reflect(i as isize - half, w)];
                padded[hp + w + i] = src[reflect((w + i) as isize, w)];
            }
            for (k, gk) in g.iter().enumerate() {
                for (o, v) in dst.iter_mut().zip(&padded[k..k + w]) {
                    *o += gk * v;
                }
            }
        }
        // Column pass into out [3, H, W], whole rows at a time.
        let mut out = vec![0.0f32; CHANNELS * w * h];
        for (src, dst) in tmp.chunks_exact(w * h).zip(out.chunks_exact_mut(w * h)) {
            for (y, dst_row) in dst.chunks_exact_mut(w).enumerate() {
                for (k, gk) in g.iter().enumerate() {
                    let sy = reflect(y as isize + k as isize - half, h);
                    for (o, v) in dst_row.iter_mut().zip(&src[sy * w..(sy + 1) * w]) {
                        *o += gk * v;
                    }
                }
            }
        }
        Image::new(w, h, out)
    })
}

thread_local! {
    /// Per-thread buffer for the row pass, reused across calls (fresh pages per image cost more
    /// than the arithmetic).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(idx, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn constant_stays_constant_and_mass_is_conserved_inside() {
        let flat = Image::filled(7, 5, 0.4);
        let p = BlurParams { kernel_size: 9, sigma: 2.0 };
        let out = gaussian_blur(&flat, &p).unwrap();
        assert!(out.data().iter().all(|v| (v - 0.4).abs() < 1e-6));
        // A single bright pixel far from the edges spreads into the kernel, summing to 1.
        let dot = Image::from_fn(15, 15, |_, y, x| f32::from(u8::from(y == 7 && x == 7))).unwrap();
        let out = gaussian_blur(&dot, &BlurParams { kernel_size: 5, sigma: 1.0 }).unwrap();
        let sum: f32 = out.plane(0).iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert!(out.get(0, 7, 7) > out.get(0, 7, 8) && out.get(0, 7, 8) > out.get(0, 7, 9));
        let img = test_image(6, 4, 5);
        let out = gaussian_blur(&img, &BlurParams { kernel_size: 3, sigma: 0.7 }).unwrap();
        assert!(out.data().iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let img = Image::filled(3, 3, 0.0);
        assert!(gaussian_blur(&img, &BlurParams { kernel_size: 4, sigma: 1.0 }).is_err());
        assert!(gaussian_blur(&img, &BlurParams { kernel_size: 3, sigma: 0.0 }).is_err());
        assert!(GaussianBlur { kernel_size: 3, sigma: (2.0, 1.0) }.validate().is_err());
    }
}
