//! `BatchNorm2d` layer: learnable scale γ (`weight`) and shift β (`bias`) per channel, plus
//! running statistics (`running_mean`, `running_var`) for evaluation.

use super::{Mode, Module};
use crate::ops::BatchNormMode;
use crate::{Buffer, Parameter, Result, Tape, Var, ops};
use std::mem;
use tensor::Tensor;
use tensor::ops::batch_norm2d::{self, BatchStats};

/// PyTorch's `nn.BatchNorm2d(C)` with its defaults: ε = 1e-5, momentum 0.1, γ = 1, β = 0,
/// running mean 0 and running variance 1. See `tensor::ops::batch_norm2d` for the formulas.
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    /// γ, shape [C], saved as `weight`.
    pub weight: Parameter,
    /// β, shape [C], saved as `bias`.
    pub bias: Parameter,
    /// Running mean, shape [C].
    pub running_mean: Buffer,
    /// Running (unbiased) variance, shape [C].
    pub running_var: Buffer,
    /// Added to the variance before the square root.
    pub eps: f32,
    /// Weight of each new batch in the running averages.
    pub momentum: f32,
    mode: Mode,
}

impl BatchNorm2d {
    /// Batch norm over `channels` channels with PyTorch's defaults.
    pub fn new(channels: usize) -> Self {
        Self {
            weight: Parameter::new("weight", Tensor::full(&[channels], 1.0)),
            bias: Parameter::new("bias", Tensor::zeros(&[channels])),
            running_mean: Buffer { name: "running_mean".into(), value: Tensor::zeros(&[channels]) },
            running_var: Buffer {
                name: "running_var".into(),
                value: Tensor::full(&[channels], 1.0),
            },
            eps: 1e-5,
            momentum: 0.1,
            mode: Mode::Train,
        }
    }
}

impl BatchNorm2d {
    /// In evaluation mode, the norm as a per-channel affine map `y = a_c·x + shift_c`
    /// (`tensor::ops::batch_norm2d::eval_affine`), for a convolution to fold in; `None` in
    /// training mode, where the norm uses each batch's own statistics and cannot be folded.
    ///
    /// # Errors
    /// Parameters or statistics of different lengths, or `eps ≤ 0`.
    pub fn eval_affine(&self) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        if self.mode != Mode::Eval {
            return Ok(None);
        }
        let running = BatchStats {
            mean: self.running_mean.value.clone(),
            var: self.running_var.value.clone(),
        };
        let affine =
            batch_norm2d::eval_affine(&self.weight.value, &self.bias.value, &running, self.eps)?;
        Ok(Some(affine))
    }
}

impl Module for BatchNorm2d {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        let gamma = tape.param(&self.weight);
        let beta = tape.param(&self.bias);
        // Lend the running statistics to the op as one struct (moves, no copies).
        let mut running = BatchStats {
            mean: mem::take(&mut self.running_mean.value),
            var: mem::take(&mut self.running_var.value),
        };
        let mode = match self.mode {
            Mode::Train => BatchNormMode::Train { running: &mut running, momentum: self.momentum },
            Mode::Eval => BatchNormMode::Eval { running: &running },
        };
        let y = ops::batch_norm2d(tape, x, gamma, beta, self.eps, mode);
        self.running_mean.value = running.mean;
        self.running_var.value = running.var;
        y
    }

    fn parameters(&self) -> Vec<&Parameter> {
        vec![&self.weight, &self.bias]
    }

    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        vec![&mut self.weight, &mut self.bias]
    }

    fn buffers(&self) -> Vec<&Buffer> {
        vec![&self.running_mean, &self.running_var]
    }

    fn buffers_mut(&mut self) -> Vec<&mut Buffer> {
        vec![&mut self.running_mean, &mut self.running_var]
    }

    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }
}
