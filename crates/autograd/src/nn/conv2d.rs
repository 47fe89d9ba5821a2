//! `Conv2d` layer: weight [C_out, C_in, KH, KW] and bias [C_out], PyTorch names and layout.

use std::any::Any;

use super::{BatchNorm2d, MaxPool2d, Module, ReLU};
use crate::init::Init;
use crate::{Fusion, Parameter, Result, Tape, Var, ops};
use tensor::ops::conv2d::Conv2dParams;
use tensor::{Rng, Tensor, TensorError};

/// PyTorch's `nn.Conv2d(c_in, c_out, kernel, stride, padding)` (square kernel).
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Kernel weights [C_out, C_in, KH, KW], saved as `weight`.
    pub weight: Parameter,
    /// Bias [C_out], saved as `bias`; `None` after [`Conv2d::without_bias`].
    pub bias: Option<Parameter>,
    /// Stride and padding.
    pub params: Conv2dParams,
}

impl Conv2d {
    /// A `kernel×kernel` convolution from `c_in` to `c_out` channels, initialised with `init`
    /// (weights, then bias, drawn from `rng` in that order).
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        params: Conv2dParams,
        init: Init,
        rng: &mut Rng,
    ) -> Self {
        let dims = [c_out, c_in, kernel, kernel];
        let weight = Parameter::new("weight", init.weight(&dims, rng));
        let bias = Some(Parameter::new("bias", init.bias(c_out, &dims, rng)));
        Self { weight, bias, params }
    }

    /// The same layer with no bias term (usual before batch norm).
    pub fn without_bias(mut self) -> Self {
        self.bias = None;
        self
    }
}

impl Conv2d {
    /// This convolution followed by the per-channel affine map `y_c ↦ a_c·y_c + shift_c` (an
    /// evaluation-mode batch norm, [`BatchNorm2d::eval_affine`]), as one convolution:
    /// `a_c·(w_c ⋆ x + b_c) + shift_c = (a_c·w_c) ⋆ x + (a_c·b_c + shift_c)`. Returns the new
    /// weights [C_out, C_in, KH, KW] and bias [C_out] (b_c = 0 without a bias).
    fn folded(&self, a: &[f32], shift: &[f32]) -> Result<(Tensor, Tensor)> {
        let dims = self.weight.value.dims().to_vec();
        let c_out = dims.first().copied().unwrap_or(0);
        if a.len() != c_out || shift.len() != c_out {
            return Err(TensorError::ShapeMismatch {
                op: "conv2d + batch_norm2d (folded)",
                lhs: dims,
                rhs: vec![a.len()],
                why: "the norm after a convolution must have one channel per output channel",
            }
            .into());
        }
        let per_channel = self.weight.value.len() / c_out.max(1);
        let mut w = self.weight.value.clone();
        for (row, &a_c) in w.data_mut().chunks_mut(per_channel.max(1)).zip(a) {
            row.iter_mut().for_each(|v| *v *= a_c);
        }
        let bias = |c: usize| self.bias.as_ref().map_or(0.0, |b| b.value.data()[c]);
        let b = (0..c_out).map(|c| a[c] * bias(c) + shift[c]).collect();
        Ok((w, Tensor::from_vec(&[c_out], b)?))
    }
}

impl Module for Conv2d {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        ops::conv2d(tape, x, w, b, self.params)
    }

    /// Conv2d, ReLU → `conv2d_relu`; Conv2d, ReLU, MaxPool2d → `conv2d_relu_pool`. Under
    /// [`Fusion::Inference`], an evaluation-mode `BatchNorm2d` right after the convolution is
    /// folded into its weights first (then ReLU and the pool as before, or a plain `conv2d`).
    fn forward_fused(
        &mut self,
        tape: &mut Tape,
        x: Var,
        next: &[Box<dyn Module>],
    ) -> Result<Option<(Var, usize)>> {
        let layer = |i: usize| next.get(i).map(|l| &**l as &dyn Any);
        let norm = match layer(0).and_then(|l| l.downcast_ref::<BatchNorm2d>()) {
            Some(bn) if tape.fusion() == Fusion::Inference => bn.eval_affine()?,
            _ => None,
        };
        let (w, b, taken) = match norm {
            Some((a, shift)) => {
                let (w, b) = self.folded(&a, &shift)?;
                (tape.input(w), Some(tape.input(b)), 1)
            }
            None => {
                let w = tape.param(&self.weight);
                (w, self.bias.as_ref().map(|b| tape.param(b)), 0)
            }
        };
        if !layer(taken).is_some_and(|l| l.is::<ReLU>()) {
            return match taken {
                0 => Ok(None),
                _ => Ok(Some((ops::conv2d(tape, x, w, b, self.params)?, taken))),
            };
        }
        match layer(taken + 1).and_then(|l| l.downcast_ref::<MaxPool2d>()) {
            Some(pool) => {
                let y = ops::conv2d_relu_pool(tape, x, w, b, self.params, pool.params)?;
                Ok(Some((y, taken + 2)))
            }
            None => Ok(Some((ops::conv2d_relu(tape, x, w, b, self.params)?, taken + 1))),
        }
    }

    fn parameters(&self) -> Vec<&Parameter> {
        std::iter::once(&self.weight).chain(&self.bias).collect()
    }

    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        std::iter::once(&mut self.weight).chain(&mut self.bias).collect()
    }
}
