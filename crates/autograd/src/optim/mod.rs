//! Optimisers: SGD (momentum, dampening, Nesterov, weight decay), Adam (bias correction,
//! AMSGrad) and AdamW, each with its PyTorch update rule written out in its doc comment.
//!
//! An optimiser keeps per-parameter state (momentum, moment estimates) in the order of the
//! parameter list it is stepped with; it records the parameters' names on the first step and
//! refuses a later list whose names or shapes differ. [`OptimizerState`] is that state in a
//! form checkpoints store (see [`crate::io`]), so a resumed run continues bit for bit.

mod adam;
mod sgd;

pub use adam::{Adam, AdamW};
pub use sgd::Sgd;

use crate::{AutogradError, Parameter, Result};
use tensor::Tensor;

/// Elements per parallel task in the elementwise updates.
const CHUNK: usize = 1 << 14;

/// What every optimiser offers the training loop.
pub trait Optimizer: std::fmt::Debug + Send {
    /// Updates every parameter from its `grad` (the gradient is left as it is).
    ///
    /// # Errors
    /// [`AutogradError::OptimizerState`] when the parameters differ (names, count, shapes)
    /// from the ones of earlier steps; [`AutogradError::InvalidHyperParameter`] for settings
    /// PyTorch also rejects.
    fn step(&mut self, params: &mut [&mut Parameter]) -> Result<()> {
        self.step_scaled(params, 1.0)
    }

    /// Updates every parameter as [`Optimizer::step`] would after `grad ← grad_scale · grad`,
    /// without that separate pass: each element's `grad_scale · g` is formed inside the update
    /// (the same f32 product, so the same bits) and `grad` itself is left unscaled. This is how
    /// gradient-norm clipping reaches the update: `grad_scale` =
    /// [`clip_factor`](crate::schedule::clip_factor), 1 when the norm is within bounds.
    ///
    /// # Errors
    /// As [`Optimizer::step`]; [`AutogradError::InvalidHyperParameter`] unless `grad_scale` is
    /// finite and ≥ 0.
    fn step_scaled(&mut self, params: &mut [&mut Parameter], grad_scale: f32) -> Result<()>;

    /// The current learning rate.
    fn lr(&self) -> f32;

    /// Sets the learning rate (schedules call this before each step or epoch).
    fn set_lr(&mut self, lr: f32);

    /// The state a checkpoint needs to resume exactly.
    fn state(&self) -> OptimizerState;

    /// Restores [`Optimizer::state`]; `param_names` is the model's parameter order.
    ///
    /// # Errors
    /// [`AutogradError::OptimizerState`] when the state belongs to another optimiser kind or a
    /// parameter's slot is missing.
    fn load_state(&mut self, state: &OptimizerState, param_names: &[&str]) -> Result<()>;
}

/// An optimiser's resumable state: its kind, step count, learning rate, and one tensor per
/// (parameter, slot) named `"{parameter}.{slot}"` (slots: `momentum_buffer`, `exp_avg`,
/// `exp_avg_sq`, `max_exp_avg_sq`, as PyTorch calls them).
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState {
    /// `"sgd"`, `"adam"` or `"adamw"`.
    pub kind: String,
    /// Steps taken so far.
    pub step: u64,
    /// Learning rate at the time of saving.
    pub lr: f32,
    /// `("{parameter}.{slot}", tensor)` pairs.
    pub tensors: Vec<(String, Tensor)>,
}

/// Per-parameter state, by position in the parameter list.
#[derive(Debug, Clone, Default, PartialEq)]
struct Slots {
    /// Parameter names and shapes seen on the first step, to catch a changed parameter list.
    names: Vec<(String, Vec<usize>)>,
    /// `buffers[slot][param]`.
    buffers: Vec<Vec<Tensor>>,
}

impl Slots {
    /// Creates zeroed buffers on first use; afterwards checks the parameter list still matches.
    fn prepare(&mut self, params: &[&mut Parameter], slot_count: usize) -> Result<()> {
        if self.names.is_empty() {
            self.names = params.iter().map(|p| (p.name.clone(), p.value.dims().to_vec())).collect();
            self.buffers = (0..slot_count)
                .map(|_| params.iter().map(|p| Tensor::zeros(p.value.dims())).collect())
                .collect();
            return Ok(());
        }
        if self.names.len() != params.len() {
            return Err(AutogradError::OptimizerState(format!(
                "stepped with {} parameters, but its state has {}",
                params.len(),
                self.names.len()
            )));
        }
        for ((name, dims), p) in self.names.iter().zip(params) {
            if *name != p.name || dims.as_slice() != p.value.dims() {
                return Err(AutogradError::OptimizerState(format!(
                    "parameter {} {:?} does not match its state for {name} {dims:?}",
                    p.name,
                    p.value.dims()
                )));
            }
        }
        Ok(())
    }

    /// `("{parameter}.{slot}", tensor)` for every slot buffer.
    fn export(&self, slot_names: &[&str]) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (slot, buffers) in slot_names.iter().zip(&self.buffers) {
            for ((name, _), t) in self.names.iter().zip(buffers) {
                out.push((format!("{name}.{slot}"), t.clone()));
            }
        }
        out
    }

    /// Rebuilds the slots from exported tensors, in the order of `param_names`. No tensors at
    /// all means "no step taken yet": the slots stay empty and are created on the next step.
    fn import(
        tensors: &[(String, Tensor)],
        slot_names: &[&str],
        param_names: &[&str],
    ) -> Result<Self> {
        if tensors.is_empty() {
            return Ok(Self::default());
        }
        let mut slots = Self::default();
        for &slot in slot_names {
            let mut buffers = Vec::with_capacity(param_names.len());
            for &param in param_names {
                let key = format!("{param}.{slot}");
                let Some((_, t)) = tensors.iter().find(|(name, _)| *name == key) else {
                    return Err(AutogradError::OptimizerState(format!("no state tensor {key}")));
                };
                buffers.push(t.clone());
            }
            slots.buffers.push(buffers);
        }
        let shapes: Vec<Vec<usize>> = match slots.buffers.first() {
            Some(first) => first.iter().map(|t| t.dims().to_vec()).collect(),
            None => Vec::new(),
        };
        slots.names = param_names.iter().map(|n| n.to_string()).zip(shapes).collect();
        Ok(slots)
    }
}

/// Checks that a hyper-parameter lies in `[low, high]`.
fn check_range(
    what: &'static str,
    value: f32,
    low: f32,
    high: f32,
    why: &'static str,
) -> Result<()> {
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(AutogradError::InvalidHyperParameter { what, value: f64::from(value), why })
    }
}
