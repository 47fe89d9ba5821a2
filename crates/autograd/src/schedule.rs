//! Learning-rate schedules and gradient-norm clipping.
//!
//! A [`Schedule`] is a pure function from the step (or epoch) index `t = 0, 1, 2, …` to a
//! learning rate; the training loop decides which index it counts and calls
//! `optimizer.set_lr(schedule.lr_at(t))`.

use crate::{AutogradError, Parameter, Result};
use rayon::prelude::*;
use tensor::ops::elementwise::{self, SUM_CHUNK};

/// The shape of the learning-rate curve after warm-up (γ₀ = the base learning rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// `γ(t) = γ₀`.
    Constant,
    /// `γ(t) = γ₀ · gamma^⌊t / step_size⌋` (PyTorch's `StepLR`).
    Step {
        /// Steps between decays (≥ 1).
        step_size: usize,
        /// Multiplier at each decay.
        gamma: f32,
    },
    /// `γ(t) = η_min + (γ₀ − η_min)·(1 + cos(π·min(t, T)/T))/2` (PyTorch's `CosineAnnealingLR`
    /// closed form, held at η_min after `T = t_max`).
    Cosine {
        /// Length T of the half cosine (≥ 1).
        t_max: usize,
        /// Final learning rate η_min.
        eta_min: f32,
    },
}

/// A base learning rate, a schedule, and an optional linear warm-up.
///
/// With `warmup = W > 0`, the first W indices scale the schedule by `(t + 1)/W`, so the rate
/// climbs linearly from `γ(0)/W` to the full `γ(W − 1)`; from `t = W` on the schedule runs
/// unscaled (it is not shifted: warm-up overlaps its start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// γ₀.
    pub base_lr: f32,
    /// The curve.
    pub kind: LrSchedule,
    /// Warm-up length W (0: none).
    pub warmup: usize,
}

impl Schedule {
    /// A schedule, checked.
    ///
    /// # Errors
    /// [`AutogradError::InvalidHyperParameter`] for a negative or non-finite rate, a zero
    /// `step_size` or `t_max`.
    pub fn new(base_lr: f32, kind: LrSchedule, warmup: usize) -> Result<Self> {
        let bad = |what, value: f64, why| AutogradError::InvalidHyperParameter { what, value, why };
        if !(base_lr.is_finite() && base_lr >= 0.0) {
            return Err(bad("base learning rate", f64::from(base_lr), "must be finite and ≥ 0"));
        }
        match kind {
            LrSchedule::Step { step_size: 0, .. } => {
                return Err(bad("step_size", 0.0, "must be at least 1"));
            }
            LrSchedule::Cosine { t_max: 0, .. } => return Err(bad("t_max", 0.0, "must be ≥ 1")),
            _ => {}
        }
        Ok(Self { base_lr, kind, warmup })
    }

    /// The learning rate at index `t`.
    pub fn lr_at(&self, t: usize) -> f32 {
        let lr = match self.kind {
            LrSchedule::Constant => self.base_lr,
            LrSchedule::Step { step_size, gamma } => {
                let decays = i32::try_from(t / step_size.max(1)).unwrap_or(i32::MAX);
                self.base_lr * gamma.powi(decays)
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                let progress = t.min(t_max) as f64 / t_max.max(1) as f64;
                let cosine = (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0;
                (f64::from(eta_min) + f64::from(self.base_lr - eta_min) * cosine) as f32
            }
        };
        if t < self.warmup { lr * (t + 1) as f32 / self.warmup as f32 } else { lr }
    }
}

/// Rescales all gradients together so their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` does: every gradient is multiplied by
/// [`clip_factor`]`(‖g‖, max_norm)`, the norm being [`grad_norm`]'s. Returns `‖g‖` before
/// clipping. A training loop can skip the scaling pass: hand the factor to
/// [`Optimizer::step_scaled`](crate::optim::Optimizer::step_scaled) instead (same bits).
///
/// # Errors
/// [`AutogradError::InvalidHyperParameter`] unless `max_norm > 0`.
pub fn clip_grad_norm(params: &mut [&mut Parameter], max_norm: f32) -> Result<f32> {
    let norm = grad_norm(params);
    let factor = clip_factor(norm, max_norm)?;
    if factor < 1.0 {
        for p in params.iter_mut() {
            elementwise::scale_in_place(&mut p.grad, factor);
        }
    }
    Ok(norm as f32)
}

/// What gradient-norm clipping multiplies every gradient by: `max_norm / (‖g‖ + 1e-6)` when
/// that is below 1, else exactly 1 (PyTorch's `clip_grad_norm_`; the quotient in f64, then
/// rounded to f32). `norm` is [`grad_norm`]'s.
///
/// # Errors
/// [`AutogradError::InvalidHyperParameter`] unless `max_norm > 0`.
pub fn clip_factor(norm: f64, max_norm: f32) -> Result<f32> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(AutogradError::InvalidHyperParameter {
            what: "max_norm",
            value: f64::from(max_norm),
            why: "must be positive and finite",
        });
    }
    let factor = f64::from(max_norm) / (norm + 1e-6);
    Ok(if factor < 1.0 { factor as f32 } else { 1.0 })
}

/// The global L2 norm of all gradients, `‖g‖ = √(Σ_params Σ_i g_i²)`, in f64. Each gradient is
/// cut into fixed [`SUM_CHUNK`]-element blocks, each block's squares are summed in index order,
/// and the block sums are added in block order, parameter after parameter: the same bits for
/// any thread count. Non-finite when some gradient element is (the squares of finite f32
/// values cannot overflow an f64 sum).
pub fn grad_norm(params: &[&mut Parameter]) -> f64 {
    params
        .iter()
        .map(|p| block_sums_of_squares(p.grad.data()).iter().sum::<f64>())
        .sum::<f64>()
        .sqrt()
}

/// Blocks summed side by side by one task: their sums are independent chains of f64 adds, so
/// interleaving them keeps the CPU's adders busy where one chain would wait on each add.
pub(crate) const BLOCKS_PER_TASK: usize = 8;

/// `Σ x_i²` of each [`SUM_CHUNK`]-element block of `x` (the last may be shorter), in f64 and in
/// index order within a block, computed in parallel over groups of [`BLOCKS_PER_TASK`] blocks.
pub(crate) fn block_sums_of_squares(x: &[f32]) -> Vec<f64> {
    let groups: Vec<[f64; BLOCKS_PER_TASK]> =
        x.par_chunks(SUM_CHUNK * BLOCKS_PER_TASK).map(group_sums_of_squares).collect();
    let blocks = x.len().div_ceil(SUM_CHUNK);
    groups.into_iter().flatten().take(blocks).collect()
}

/// The sums of squares of the (up to [`BLOCKS_PER_TASK`]) blocks in `group`; unused entries 0.
/// A full group walks its blocks in step, one element of each per iteration; each block's own
/// sum still adds its elements in index order, so the result is the one-block-at-a-time sum's.
pub(crate) fn group_sums_of_squares(group: &[f32]) -> [f64; BLOCKS_PER_TASK] {
    let square = |v: f32| f64::from(v) * f64::from(v);
    let mut sums = [0.0f64; BLOCKS_PER_TASK];
    if group.len() == SUM_CHUNK * BLOCKS_PER_TASK {
        let blocks: [&[f32]; BLOCKS_PER_TASK] =
            std::array::from_fn(|b| &group[b * SUM_CHUNK..(b + 1) * SUM_CHUNK]);
        for i in 0..SUM_CHUNK {
            for (sum, block) in sums.iter_mut().zip(&blocks) {
                *sum += square(block[i]);
            }
        }
    } else {
        for (sum, block) in sums.iter_mut().zip(group.chunks(SUM_CHUNK)) {
            *sum = block.iter().map(|&v| square(v)).sum::<f64>();
        }
    }
    sums
}
