//! Per-channel standardisation, torchvision's `Normalize(mean, std)`:
//! `out[c] = (x[c] − mean[c]) / std[c]`. The one transform whose output leaves `[0, 1]`, so it goes
//! last in a pipeline, and images meant for viewing are taken before it.

use crate::{AugmentError, CHANNELS, Image};

/// Channel means and standard deviations. Build it with [`Normalize::new`], which checks them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    mean: [f32; 3],
    std: [f32; 3],
}

impl Normalize {
    /// # Errors
    /// [`AugmentError::BadParameter`] unless every `std[c] > 0` and every value is finite.
    pub fn new(mean: [f32; 3], std: [f32; 3]) -> Result<Self, AugmentError> {
        if !std.iter().all(|s| *s > 0.0 && s.is_finite()) || !mean.iter().all(|m| m.is_finite()) {
            return Err(AugmentError::bad(
                "Normalize",
                format!("need finite mean and std > 0, got mean {mean:?} std {std:?}"),
            ));
        }
        Ok(Self { mean, std })
    }

    /// The channel means.
    pub fn mean(&self) -> [f32; 3] {
        self.mean
    }

    /// The channel standard deviations.
    pub fn std(&self) -> [f32; 3] {
        self.std
    }
}

/// `out[c] = (x[c] − mean[c]) / std[c]`.
pub fn normalize(img: &Image, p: &Normalize) -> Image {
    let mut out = img.clone();
    normalize_in_place(&mut out, p);
    out
}

/// In-place form of [`normalize`] (pipelines use it to skip an allocation per step).
pub fn normalize_in_place(out: &mut Image, p: &Normalize) {
    let n = out.width() * out.height();
    for (c, plane) in out.data_mut().chunks_exact_mut(n).enumerate().take(CHANNELS) {
        let (m, s) = (p.mean[c], p.std[c]);
        plane.iter_mut().for_each(|v| *v = (*v - m) / s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_standardises_each_channel() {
        let img = Image::from_fn(2, 1, |c, _, x| 0.1 * (c + x) as f32).unwrap();
        let p = Normalize::new([0.1, 0.2, 0.3], [0.5, 0.25, 2.0]).unwrap();
        let out = normalize(&img, &p);
        let want = [-0.2, 0.0, -0.4, 0.0, -0.05, 0.0];
        assert!(out.data().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{:?}", out.data());
        assert!(Normalize::new([0.0; 3], [1.0, 0.0, 1.0]).is_err());
    }
}
