//! Additive Gaussian noise, torchvision's `gaussian_noise(img, mean, sigma, clip=True)`:
//! `out = clamp(x + mean + σ·z, 0, 1)` with `z` independent per value, mean 0, variance 1.
//!
//! Difference from torchvision: `z` is not an exact normal but the Irwin–Hall approximation
//! `z = (u₁ + u₂ + u₃ + u₄ − 2)·√3` with four 8-bit uniforms `uᵢ` (two `z` per 64-bit draw). It has the
//! right mean and variance, a bell shape, and tails cut at ±2√3 ≈ ±3.46 (which clamping mostly
//! hides anyway), and it costs one generator step per value instead of a logarithm and a cosine
//! (Box–Muller made this transform 40× slower than any other).
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

/// Two mean-0, variance-1 bell-shaped values from one 64-bit draw: each is the sum of four 8-bit
/// uniforms `uᵢ = (kᵢ + ½) / 256` (mean ½, variance (1 − 2⁻¹⁶)/12 ≈ 1/12), centred and scaled
/// by √3. Steps of √3/256 ≈ 0.007 σ are far below what an 8-bit image can show.
fn irwin_hall4_pair(rng: &mut Rng) -> [f32; 2] {
    let r = rng.next_u64();
    let sum4 = |bits: u64| {
        (bits & 0xFF) + ((bits >> 8) & 0xFF) + ((bits >> 16) & 0xFF) + ((bits >> 24) & 0xFF)
    };
    [sum4(r), sum4(r >> 32)].map(|s| ((s as f32 + 2.0) / 256.0 - 2.0) * 3f32.sqrt())
}

/// `out = clamp(x + mean + σ·z, 0, 1)`, `z` from the stream seeded by `p.seed` (module docs).
pub fn gaussian_noise(img: &Image, p: &NoiseParams) -> Image {
    let mut out = img.clone();
    gaussian_noise_in_place(&mut out, p);
    out
}

/// In-place form of [`gaussian_noise`] (pipelines use it to skip an allocation per step).
pub fn gaussian_noise_in_place(out: &mut Image, p: &NoiseParams) {
    let mut rng = Rng::new(p.seed);
    for pair in out.data_mut().chunks_mut(2) {
        for (v, z) in pair.iter_mut().zip(irwin_hall4_pair(&mut rng)) {
            *v = (*v + p.mean + p.sigma * z).clamp(0.0, 1.0);
        }
    }
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
        // The Irwin–Hall draws: unit variance, symmetric, bounded by 2√3.
        let mut rng = Rng::new(11);
        let z: Vec<f32> = (0..50_000).flat_map(|_| irwin_hall4_pair(&mut rng)).collect();
        let m = z.iter().sum::<f32>() / z.len() as f32;
        let v = z.iter().map(|x| x * x).sum::<f32>() / z.len() as f32;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "{m} {v}");
        assert!(z.iter().all(|x| x.abs() <= 2.0 * 3f32.sqrt()));
    }
}
