//! Limb-darkening (photometric) laws: how bright a surface element looks given
//! μ₀ = cos(incidence) = n·s and μ = cos(emission) = n·o (s: towards the Sun, o: towards us).
//! Each law is scaled so the sub-solar point seen at zero phase (μ₀ = μ = 1) has brightness 1.

/// A photometric law.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scattering {
    /// Minnaert: `I = μ₀ᵏ · μᵏ⁻¹`. k = 1 is Lambert; k > ½ darkens the limb at zero phase
    /// (`I = μ²ᵏ⁻¹`). Used for thick atmospheres.
    Minnaert {
        /// The exponent k.
        k: f32,
    },
    /// A mix for airless bodies: `I = w · 2μ₀/(μ₀ + μ) + (1 − w) · μ₀`. The Lommel–Seeliger
    /// term is flat at zero phase (a full Moon is as bright at the limb as in the middle); the
    /// Lambert term adds a little darkening.
    LommelSeeligerLambert {
        /// Weight w of the Lommel–Seeliger term.
        w: f32,
    },
}

/// Smallest μ used, so `μᵏ⁻¹` stays finite at the very limb.
const MIN_MU: f64 = 0.02;

impl Scattering {
    /// Brightness for incidence cosine `mu0` and emission cosine `mu`; 0 on the night side
    /// (`mu0 ≤ 0`).
    pub fn brightness(self, mu0: f64, mu: f64) -> f64 {
        if mu0 <= 0.0 {
            return 0.0;
        }
        let mu = mu.max(MIN_MU);
        match self {
            Self::Minnaert { k } => {
                let k = f64::from(k);
                mu0.powf(k) * mu.powf(k - 1.0)
            }
            Self::LommelSeeligerLambert { w } => {
                let w = f64::from(w);
                w * 2.0 * mu0 / (mu0 + mu) + (1.0 - w) * mu0
            }
        }
    }
}
