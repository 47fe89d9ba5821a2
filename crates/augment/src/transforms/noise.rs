//! Additive Gaussian noise, torchvision's `gaussian_noise(img, mean, sigma, clip=True)`:
//! `out = clamp(x + mean + σ·z, 0, 1)` with `z ~ N(0, 1)` independent per value.
//!
//! To stay a pure function of (image, parameters), the noise comes from a seed carried in
//! [`NoiseParams`], drawn when the parameters are sampled.

use crate::{AugmentError, Image};
use tensor::Rng;

/// Limits of random Gaussian noise: `σ` drawn uniformly from `sigma`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianNoise {
    /// Mean added to every value (torchvision default 0).
    pub mean: f32,
    /// Range of the standard deviation `σ` (torchvision's fixed default is 0.1).
    pub sigma: (f32, f32),
}

/// One concrete noise draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseParams {
    /// Mean.
    pub mean: f32,
    /// Standard deviation.
    pub sigma: f32,
    /// Seed of the noise stream.
    pub seed: u64,
}

impl GaussianNoise {
    /// Checks `0 ≤ sigma.0 ≤ sigma.1`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] otherwise.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let (a, b) = self.sigma;
        if !(0.0 <= a && a <= b && b.is_finite() && self.mean.is_finite()) {
            return Err(AugmentError::bad(
                "GaussianNoise",
                format!(
                    "sigma range {:?} must satisfy 0 <= min <= max (mean {})",
                    self.sigma, self.mean
                ),
            ));
        }
        Ok(())
    }

    /// Draws `σ ~ U[sigma]` and a noise seed.
    pub fn sample(&self, rng: &mut Rng) -> NoiseParams {
        NoiseParams {
            mean: self.mean,
            sigma: rng.uniform(self.sigma.0, self.sigma.1),
            seed: rng.next_u64(),
        }
    }
}

/// `out = clamp(x + mean + σ·z, 0, 1)`, `z` from the stream seeded by `p.seed`.
pub fn gaussian_noise(img: &Image, p: &NoiseParams) -> Image {
    let mut rng = Rng::new(p.seed);
    let mut out = img.clone();
    out.data_mut()
        .iter_mut()
        .for_each(|v| *v = (*v + p.mean + p.sigma * rng.normal()).clamp(0.0, 1.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn noise_has_the_asked_spread_and_is_reproducible() {
        let img = Image::filled(64, 64, 0.5);
        let p = NoiseParams { mean: 0.0, sigma: 0.05, seed: 7 };
        let out = gaussian_noise(&img, &p);
        assert_eq!(out, gaussian_noise(&img, &p));
        let n = out.data().len() as f32;
        let mean: f32 = out.data().iter().sum::<f32>() / n;
        let var: f32 = out.data().iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
        assert!((mean - 0.5).abs() < 0.005 && (var.sqrt() - 0.05).abs() < 0.005, "{mean} {var}");
        let loud =
            gaussian_noise(&test_image(5, 5, 1), &NoiseParams { mean: 0.0, sigma: 3.0, seed: 1 });
        assert!(loud.data().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(GaussianNoise { mean: 0.0, sigma: (0.2, 0.1) }.validate().is_err());
    }
}
