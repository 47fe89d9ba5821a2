//! Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay.

use super::{CHUNK, Optimizer, OptimizerState, Slots, check_range};
use crate::{AutogradError, Parameter, Result};
use rayon::prelude::*;

/// Classical or Nesterov momentum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Momentum {
    Classical,
    Nesterov,
}

/// SGD exactly as `torch.optim.SGD` documents it. For each parameter θ with gradient g, at
/// step t (counting from 1), with learning rate γ, weight decay λ, momentum μ, dampening τ
/// (and the gradient scale s of [`Optimizer::step_scaled`], 1 for [`Optimizer::step`]):
/// ```text
/// g ← s·g + λ·θ                                 (λ·θ if λ ≠ 0; s·g only when clipping)
/// if μ ≠ 0:
///     b ← g                    at t = 1
///     b ← μ·b + (1 − τ)·g      at t > 1
///     g ← g + μ·b   (Nesterov)   or   g ← b   (classical)
/// θ ← θ − γ·g
/// ```
#[derive(Debug, Clone)]
pub struct Sgd {
    lr: f32,
    momentum: f32,
    dampening: f32,
    weight_decay: f32,
    kind: Momentum,
    step: u64,
    slots: Slots,
}

impl Sgd {
    /// Plain SGD (no momentum, no decay) with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            kind: Momentum::Classical,
            step: 0,
            slots: Slots::default(),
        }
    }

    /// Momentum μ in [0, 1).
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Dampening τ in [0, 1].
    pub fn dampening(mut self, dampening: f32) -> Self {
        self.dampening = dampening;
        self
    }

    /// Nesterov momentum (needs μ > 0 and τ = 0, as in PyTorch).
    pub fn nesterov(mut self) -> Self {
        self.kind = Momentum::Nesterov;
        self
    }

    /// L2 weight decay λ ≥ 0, added to the gradient.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    fn validate(&self) -> Result<()> {
        check_range("sgd lr", self.lr, 0.0, f32::MAX, "must be ≥ 0")?;
        check_range("sgd momentum", self.momentum, 0.0, 1.0, "must be in [0, 1]")?;
        check_range("sgd dampening", self.dampening, 0.0, 1.0, "must be in [0, 1]")?;
        check_range("sgd weight_decay", self.weight_decay, 0.0, f32::MAX, "must be ≥ 0")?;
        if self.kind == Momentum::Nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(AutogradError::InvalidHyperParameter {
                what: "sgd nesterov",
                value: f64::from(self.momentum),
                why: "Nesterov momentum needs momentum > 0 and dampening 0",
            });
        }
        Ok(())
    }

    const SLOTS: [&'static str; 1] = ["momentum_buffer"];
}

/// The scalars of one SGD step, and its update over a run of elements: one loop per variant,
/// with no branch inside, so each auto-vectorises.
#[derive(Debug, Clone, Copy)]
struct Hyper {
    lr: f32,
    mu: f32,
    tau: f32,
    wd: f32,
    /// Applied to g first (gradient clipping; 1 otherwise).
    grad_scale: f32,
}

impl Hyper {
    /// `g ← s·g + λ·θ`: the clipped gradient with the L2 term.
    #[inline(always)]
    fn gradient(&self, g: f32, theta: f32) -> f32 {
        g * self.grad_scale + self.wd * theta
    }

    /// No momentum: `θ ← θ − γ·g`.
    fn plain(&self, theta: &mut [f32], g: &[f32]) {
        for (theta, &g) in theta.iter_mut().zip(g) {
            let g = self.gradient(g, *theta);
            *theta -= self.lr * g;
        }
    }

    /// The first momentum step: `b ← g`, then `θ ← θ − γ·direction(g, b)`.
    fn momentum_first(
        &self,
        theta: &mut [f32],
        g: &[f32],
        b: &mut [f32],
        direction: impl Fn(f32, f32) -> f32,
    ) {
        for ((theta, &g), b) in theta.iter_mut().zip(g).zip(b) {
            let g = self.gradient(g, *theta);
            *b = g;
            *theta -= self.lr * direction(g, *b);
        }
    }

    /// Later momentum steps: `b ← μ·b + (1 − τ)·g`, then `θ ← θ − γ·direction(g, b)`
    /// (classical: b; Nesterov: g + μ·b).
    fn momentum(
        &self,
        theta: &mut [f32],
        g: &[f32],
        b: &mut [f32],
        direction: impl Fn(f32, f32) -> f32,
    ) {
        for ((theta, &g), b) in theta.iter_mut().zip(g).zip(b) {
            let g = self.gradient(g, *theta);
            *b = self.mu * *b + (1.0 - self.tau) * g;
            *theta -= self.lr * direction(g, *b);
        }
    }
}

impl Optimizer for Sgd {
    fn step_scaled(&mut self, params: &mut [&mut Parameter], grad_scale: f32) -> Result<()> {
        self.validate()?;
        check_range("sgd grad_scale", grad_scale, 0.0, f32::MAX, "must be finite and ≥ 0")?;
        let use_momentum = self.momentum != 0.0;
        self.slots.prepare(params, usize::from(use_momentum))?;
        self.step += 1;
        let h = Hyper {
            lr: self.lr,
            mu: self.momentum,
            tau: self.dampening,
            wd: self.weight_decay,
            grad_scale,
        };
        let first = self.step == 1;
        for (i, p) in params.iter_mut().enumerate() {
            let Parameter { value, grad, .. } = &mut **p;
            // Elementwise, so chunks in parallel give the same bits as one loop.
            let chunks = value.data_mut().par_chunks_mut(CHUNK).zip(grad.data().par_chunks(CHUNK));
            if !use_momentum {
                chunks.for_each(|(theta, g)| h.plain(theta, g));
                continue;
            }
            let b = self.slots.buffers[0][i].data_mut();
            let chunks = chunks.zip(b.par_chunks_mut(CHUNK));
            match (self.kind, first) {
                (Momentum::Classical, true) => {
                    chunks.for_each(|((theta, g), b)| h.momentum_first(theta, g, b, |g, _| g));
                }
                (Momentum::Nesterov, true) => chunks
                    .for_each(|((theta, g), b)| h.momentum_first(theta, g, b, |g, b| g + h.mu * b)),
                (Momentum::Classical, false) => {
                    chunks.for_each(|((theta, g), b)| h.momentum(theta, g, b, |_, b| b));
                }
                (Momentum::Nesterov, false) => {
                    chunks.for_each(|((theta, g), b)| h.momentum(theta, g, b, |g, b| g + h.mu * b));
                }
            }
        }
        Ok(())
    }

    fn lr(&self) -> f32 {
        self.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            kind: "sgd".into(),
            step: self.step,
            lr: self.lr,
            tensors: self.slots.export(&Self::SLOTS),
        }
    }

    fn load_state(&mut self, state: &OptimizerState, param_names: &[&str]) -> Result<()> {
        if state.kind != "sgd" {
            return Err(AutogradError::OptimizerState(format!(
                "cannot resume SGD from {} state",
                state.kind
            )));
        }
        let slots: &[&str] = if self.momentum != 0.0 { &Self::SLOTS } else { &[] };
        self.slots = Slots::import(&state.tensors, slots, param_names)?;
        self.step = state.step;
        self.lr = state.lr;
        Ok(())
    }
}
