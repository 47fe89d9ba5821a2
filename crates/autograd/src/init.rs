//! Weight initialisation, seeded through an explicit [`Rng`]. Formulas follow `torch.nn.init`.
//!
//! With `fan_in` = inputs feeding one output (conv: `C_in·KH·KW`; linear: `in`) and `fan_out`
//! likewise for outputs (conv: `C_out·KH·KW`; linear: `out`):
//! ```text
//! KaimingNormal   w ~ N(0, σ²),     σ = √2 / √fan_in            (He et al. 2015, ReLU gain √2)
//! KaimingUniform  w ~ U(−b, b),     b = √2 · √(3 / fan_in) = √(6 / fan_in)
//! XavierUniform   w ~ U(−b, b),     b = √(6 / (fan_in + fan_out))   (Glorot & Bengio 2010)
//! PytorchDefault  w ~ U(−b, b),     b = gain·√(3/fan_in) with kaiming_uniform's a = √5:
//!                                   gain = √(2/(1 + a²)) = √(1/3), so b = 1/√fan_in
//! ```
//! Biases: `PytorchDefault` draws `U(−1/√fan_in, 1/√fan_in)` as PyTorch's layers do when built;
//! the other schemes set biases to zero (the usual companion of He / Glorot weights).

use tensor::{Rng, Tensor};

/// A weight initialisation scheme (see the module docs for each formula).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Init {
    /// He normal for ReLU networks, fan-in mode.
    KaimingNormal,
    /// He uniform for ReLU networks, fan-in mode.
    KaimingUniform,
    /// Glorot uniform.
    XavierUniform,
    /// What `nn.Conv2d` / `nn.Linear` do on construction (kaiming_uniform with a = √5).
    #[default]
    PytorchDefault,
}

/// Fan-in and fan-out of a weight tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fans {
    /// Inputs feeding one output.
    pub fan_in: usize,
    /// Outputs fed by one input.
    pub fan_out: usize,
}

impl Fans {
    /// PyTorch's rule for a weight of shape `[out, in, k…]`: the receptive field is the product
    /// of the trailing dims, `fan_in = in·receptive`, `fan_out = out·receptive`.
    pub fn of(dims: &[usize]) -> Self {
        let out = dims.first().copied().unwrap_or(1);
        let inp = dims.get(1).copied().unwrap_or(1);
        let receptive: usize = dims.iter().skip(2).product();
        Self { fan_in: inp * receptive, fan_out: out * receptive }
    }
}

impl Init {
    /// A weight tensor of shape `dims` drawn with this scheme, fans from [`Fans::of`].
    pub fn weight(self, dims: &[usize], rng: &mut Rng) -> Tensor {
        let Fans { fan_in, fan_out } = Fans::of(dims);
        let fan_in = fan_in.max(1) as f32;
        match self {
            Init::KaimingNormal => {
                let std = (2.0 / fan_in).sqrt();
                Tensor::from_fn(dims, |_| std * rng.normal())
            }
            Init::KaimingUniform => uniform(dims, (6.0 / fan_in).sqrt(), rng),
            Init::XavierUniform => uniform(dims, (6.0 / (fan_in + fan_out as f32)).sqrt(), rng),
            Init::PytorchDefault => uniform(dims, 1.0 / fan_in.sqrt(), rng),
        }
    }

    /// A bias of `len` values for a weight of shape `weight_dims` (see the module docs).
    pub fn bias(self, len: usize, weight_dims: &[usize], rng: &mut Rng) -> Tensor {
        match self {
            Init::PytorchDefault => {
                let fan_in = Fans::of(weight_dims).fan_in.max(1) as f32;
                uniform(&[len], 1.0 / fan_in.sqrt(), rng)
            }
            Init::KaimingNormal | Init::KaimingUniform | Init::XavierUniform => {
                Tensor::zeros(&[len])
            }
        }
    }
}

/// `U(−bound, bound)` in element order.
fn uniform(dims: &[usize], bound: f32, rng: &mut Rng) -> Tensor {
    Tensor::from_fn(dims, |_| rng.uniform(-bound, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(t: &Tensor) -> (f64, f64, f32) {
        let n = t.len() as f64;
        let mean = t.data().iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = t.data().iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let max = t.data().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        (mean, var, max)
    }

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(Fans::of(&[16, 3, 3, 3]), Fans { fan_in: 27, fan_out: 144 });
        assert_eq!(Fans::of(&[10, 64]), Fans { fan_in: 64, fan_out: 10 });
    }

    #[test]
    fn each_scheme_has_its_documented_spread() {
        // Conv weight [64, 32, 3, 3]: fan_in = 288, fan_out = 576, 18 432 samples.
        let dims = [64, 32, 3, 3];
        let mut rng = Rng::new(3);
        // U(−b, b) has variance b²/3; N(0, σ²) variance σ².
        let cases = [
            (Init::KaimingNormal, 2.0f64 / 288.0, None),
            (Init::KaimingUniform, 6.0 / 288.0 / 3.0, Some((6.0f32 / 288.0).sqrt())),
            (Init::XavierUniform, 6.0 / 864.0 / 3.0, Some((6.0f32 / 864.0).sqrt())),
            (Init::PytorchDefault, 1.0 / 288.0 / 3.0, Some(1.0 / 288f32.sqrt())),
        ];
        for (init, want_var, bound) in cases {
            let (mean, var, max) = moments(&init.weight(&dims, &mut rng));
            assert!(mean.abs() < 0.01 * want_var.sqrt() * 10.0, "{init:?} mean {mean}");
            assert!((var / want_var - 1.0).abs() < 0.05, "{init:?} var {var} want {want_var}");
            if let Some(b) = bound {
                assert!(max <= b, "{init:?} max {max} > {b}");
                assert!(max > 0.99 * b, "{init:?} never gets near its bound");
            }
        }
    }

    #[test]
    fn pytorch_default_bias_is_uniform_in_one_over_sqrt_fan_in_and_others_zero() {
        let mut rng = Rng::new(5);
        let b = Init::PytorchDefault.bias(1000, &[1000, 25], &mut rng);
        assert!(b.data().iter().all(|v| v.abs() <= 0.2));
        assert!(b.data().iter().any(|v| v.abs() > 0.19));
        assert!(Init::KaimingNormal.bias(4, &[4, 25], &mut rng).data().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn same_seed_same_weights() {
        let w = |seed| Init::KaimingNormal.weight(&[8, 4, 3, 3], &mut Rng::new(seed));
        assert_eq!(w(1), w(1));
        assert_ne!(w(1), w(2));
    }
}
