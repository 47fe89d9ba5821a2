//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW` document them.

use super::{CHUNK, Optimizer, OptimizerState, Slots, check_range};
use crate::{AutogradError, Parameter, Result};
use rayon::prelude::*;

/// How weight decay λ enters the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decay {
    /// Adam: `g ← g + λ·θ` (L2 penalty through the gradient).
    Coupled,
    /// AdamW: `θ ← θ − γ·λ·θ` before the Adam step (decoupled).
    Decoupled,
}

/// Whether to use AMSGrad's running maximum of `v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amsgrad {
    Off,
    On,
}

/// The scalars of one Adam step.
#[derive(Debug, Clone, Copy)]
struct Hyper {
    beta1: f32,
    beta2: f32,
    eps: f32,
    wd: f32,
    /// `1 − γ·λ`, AdamW's decoupled decay factor.
    decay_factor: f32,
    /// γ / (1 − β1^t).
    step_size: f32,
    /// √(1 − β2^t).
    correction2_sqrt: f32,
    /// Applied to g first (gradient clipping; 1 otherwise).
    grad_scale: f32,
}

impl Hyper {
    /// `m ← β1·m + (1 − β1)·g`, `v ← β2·v + (1 − β2)·g²`.
    #[inline(always)]
    fn moments(&self, g: f32, m: &mut f32, v: &mut f32) {
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
    }

    /// `θ ← θ − (γ / (1 − β1^t)) · m / (√v̂ / √(1 − β2^t) + ε)`.
    #[inline(always)]
    fn descend(&self, theta: &mut f32, m: f32, v_hat: f32) {
        let denom = v_hat.sqrt() / self.correction2_sqrt + self.eps;
        *theta -= self.step_size * m / denom;
    }

    /// The update of the doc comments on [`Adam`] / [`AdamW`] for a run of elements, one loop
    /// per variant with no branch inside, so each auto-vectorises.
    fn update(
        &self,
        decay: Decay,
        theta: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        v_max: Option<&mut [f32]>,
    ) {
        let s = self.grad_scale;
        let elements = theta.iter_mut().zip(g).zip(m).zip(v);
        match (decay, v_max) {
            (Decay::Coupled, None) => {
                for (((theta, &g), m), v) in elements {
                    let g = g * s + self.wd * *theta;
                    self.moments(g, m, v);
                    self.descend(theta, *m, *v);
                }
            }
            (Decay::Decoupled, None) => {
                for (((theta, &g), m), v) in elements {
                    *theta *= self.decay_factor;
                    self.moments(g * s, m, v);
                    self.descend(theta, *m, *v);
                }
            }
            (Decay::Coupled, Some(v_max)) => {
                for ((((theta, &g), m), v), v_max) in elements.zip(v_max) {
                    let g = g * s + self.wd * *theta;
                    self.moments(g, m, v);
                    *v_max = v_max.max(*v);
                    self.descend(theta, *m, *v_max);
                }
            }
            (Decay::Decoupled, Some(v_max)) => {
                for ((((theta, &g), m), v), v_max) in elements.zip(v_max) {
                    *theta *= self.decay_factor;
                    self.moments(g * s, m, v);
                    *v_max = v_max.max(*v);
                    self.descend(theta, *m, *v_max);
                }
            }
        }
    }
}

/// The shared Adam machinery; [`Adam`] and [`AdamW`] differ only in [`Decay`].
#[derive(Debug, Clone)]
struct AdamCore {
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    weight_decay: f32,
    decay: Decay,
    amsgrad: Amsgrad,
    step: u64,
    slots: Slots,
}

impl AdamCore {
    fn new(lr: f32, weight_decay: f32, decay: Decay) -> Self {
        Self {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            decay,
            amsgrad: Amsgrad::Off,
            step: 0,
            slots: Slots::default(),
        }
    }

    fn kind(&self) -> &'static str {
        match self.decay {
            Decay::Coupled => "adam",
            Decay::Decoupled => "adamw",
        }
    }

    fn slot_names(&self) -> &'static [&'static str] {
        match self.amsgrad {
            Amsgrad::Off => &["exp_avg", "exp_avg_sq"],
            Amsgrad::On => &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
        }
    }

    fn step(&mut self, params: &mut [&mut Parameter], grad_scale: f32) -> Result<()> {
        let (beta1, beta2) = self.betas;
        check_range("adam lr", self.lr, 0.0, f32::MAX, "must be ≥ 0")?;
        check_range("adam beta1", beta1, 0.0, 0.999_999_9, "must be in [0, 1)")?;
        check_range("adam beta2", beta2, 0.0, 0.999_999_9, "must be in [0, 1)")?;
        check_range("adam eps", self.eps, 0.0, f32::MAX, "must be ≥ 0")?;
        check_range("adam weight_decay", self.weight_decay, 0.0, f32::MAX, "must be ≥ 0")?;
        check_range("adam grad_scale", grad_scale, 0.0, f32::MAX, "must be finite and ≥ 0")?;
        self.slots.prepare(params, self.slot_names().len())?;
        self.step += 1;
        let (lr, eps, wd) = (self.lr, self.eps, self.weight_decay);
        // Bias corrections for step t: 1 − β^t (in f64 so large t loses nothing), as PyTorch:
        // step_size = γ / (1 − β1^t), denominator = √v / √(1 − β2^t) + ε.
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let correction1 = 1.0 - f64::from(beta1).powi(t);
        let correction2_sqrt = (1.0 - f64::from(beta2).powi(t)).sqrt() as f32;
        let step_size = (f64::from(lr) / correction1) as f32;
        let [m_all, v_all, rest @ ..] = self.slots.buffers.as_mut_slice() else {
            return Err(AutogradError::OptimizerState("adam state lost its moment buffers".into()));
        };
        let decay_factor = 1.0 - lr * wd;
        let h =
            Hyper { beta1, beta2, eps, wd, decay_factor, step_size, correction2_sqrt, grad_scale };
        let decay = self.decay;
        for (i, p) in params.iter_mut().enumerate() {
            let Parameter { value, grad, .. } = &mut **p;
            // Elementwise, so chunks in parallel give the same bits as one loop.
            let chunks = value
                .data_mut()
                .par_chunks_mut(CHUNK)
                .zip(grad.data().par_chunks(CHUNK))
                .zip(m_all[i].data_mut().par_chunks_mut(CHUNK))
                .zip(v_all[i].data_mut().par_chunks_mut(CHUNK));
            match rest.first_mut() {
                Some(v_max) => chunks.zip(v_max[i].data_mut().par_chunks_mut(CHUNK)).for_each(
                    |((((theta, g), m), v), v_max)| h.update(decay, theta, g, m, v, Some(v_max)),
                ),
                None => {
                    chunks.for_each(|(((theta, g), m), v)| h.update(decay, theta, g, m, v, None));
                }
            }
        }
        Ok(())
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            kind: self.kind().into(),
            step: self.step,
            lr: self.lr,
            tensors: self.slots.export(self.slot_names()),
        }
    }

    fn load_state(&mut self, state: &OptimizerState, param_names: &[&str]) -> Result<()> {
        if state.kind != self.kind() {
            return Err(AutogradError::OptimizerState(format!(
                "cannot resume {} from {} state",
                self.kind(),
                state.kind
            )));
        }
        self.slots = Slots::import(&state.tensors, self.slot_names(), param_names)?;
        self.step = state.step;
        self.lr = state.lr;
        Ok(())
    }
}

/// Adam (Kingma & Ba 2015) as `torch.optim.Adam` documents it. For each parameter θ with
/// gradient g at step t ≥ 1, learning rate γ, betas (β1, β2), ε, weight decay λ (and the
/// gradient scale s of [`Optimizer::step_scaled`], 1 for [`Optimizer::step`]):
/// ```text
/// g ← s·g + λ·θ                                 (λ·θ if λ ≠ 0: L2 through the gradient)
/// m ← β1·m + (1 − β1)·g                          (m, v start at 0)
/// v ← β2·v + (1 − β2)·g²
/// v̂_max ← max(v̂_max, v), and use it for v      (AMSGrad only)
/// θ ← θ − (γ / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
/// ```
/// The last line is `θ − γ·m̂/(√v̂ + ε)` with `m̂ = m/(1 − β1^t)`, `v̂ = v/(1 − β2^t)`, grouped
/// as PyTorch computes it. Defaults: β = (0.9, 0.999), ε = 1e-8, λ = 0.
#[derive(Debug, Clone)]
pub struct Adam(AdamCore);

/// AdamW (Loshchilov & Hutter 2019) as `torch.optim.AdamW` documents it: Adam without the
/// gradient's L2 term, and instead a decoupled decay before the step:
/// ```text
/// θ ← θ − γ·λ·θ                                 (computed as θ·(1 − γ·λ))
/// then Adam's m, v, (AMSGrad) and θ updates with the gradient s·g (no L2 term)
/// ```
/// Defaults: β = (0.9, 0.999), ε = 1e-8, λ = 0.01 (PyTorch's AdamW default).
#[derive(Debug, Clone)]
pub struct AdamW(AdamCore);

macro_rules! adam_builders {
    ($t:ident) => {
        impl $t {
            /// (β1, β2), the decay rates of the first and second moment estimates.
            pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
                self.0.betas = (beta1, beta2);
                self
            }

            /// ε, added to the denominator.
            pub fn eps(mut self, eps: f32) -> Self {
                self.0.eps = eps;
                self
            }

            /// Weight decay λ ≥ 0.
            pub fn weight_decay(mut self, weight_decay: f32) -> Self {
                self.0.weight_decay = weight_decay;
                self
            }

            /// Use AMSGrad: divide by the running maximum of `v` instead of `v`.
            pub fn amsgrad(mut self) -> Self {
                self.0.amsgrad = Amsgrad::On;
                self
            }
        }

        impl Optimizer for $t {
            fn step_scaled(
                &mut self,
                params: &mut [&mut Parameter],
                grad_scale: f32,
            ) -> Result<()> {
                self.0.step(params, grad_scale)
            }

            fn lr(&self) -> f32 {
                self.0.lr
            }

            fn set_lr(&mut self, lr: f32) {
                self.0.lr = lr;
            }

            fn state(&self) -> OptimizerState {
                self.0.state()
            }

            fn load_state(&mut self, state: &OptimizerState, param_names: &[&str]) -> Result<()> {
                self.0.load_state(state, param_names)
            }
        }
    };
}

adam_builders!(Adam);
adam_builders!(AdamW);

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's defaults.
    pub fn new(lr: f32) -> Self {
        Self(AdamCore::new(lr, 0.0, Decay::Coupled))
    }
}

impl AdamW {
    /// AdamW with learning rate `lr` and PyTorch's defaults (λ = 0.01).
    pub fn new(lr: f32) -> Self {
        Self(AdamCore::new(lr, 0.01, Decay::Decoupled))
    }
}
