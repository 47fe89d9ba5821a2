//! `Conv2d` layer: weight [C_out, C_in, KH, KW] and bias [C_out], PyTorch names and layout.

use std::any::Any;

use super::{MaxPool2d, Module, ReLU};
use crate::init::Init;
use crate::{Parameter, Result, Tape, Var, ops};
use tensor::Rng;
use tensor::ops::conv2d::Conv2dParams;

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

impl Module for Conv2d {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        ops::conv2d(tape, x, w, b, self.params)
    }

    /// Conv2d, ReLU → `conv2d_relu`; Conv2d, ReLU, MaxPool2d → `conv2d_relu_pool`.
    fn forward_fused(
        &mut self,
        tape: &mut Tape,
        x: Var,
        next: &[Box<dyn Module>],
    ) -> Result<Option<(Var, usize)>> {
        let layer = |i: usize| next.get(i).map(|l| &**l as &dyn Any);
        if !layer(0).is_some_and(|l| l.is::<ReLU>()) {
            return Ok(None);
        }
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        match layer(1).and_then(|l| l.downcast_ref::<MaxPool2d>()) {
            Some(pool) => {
                let y = ops::conv2d_relu_pool(tape, x, w, b, self.params, pool.params)?;
                Ok(Some((y, 2)))
            }
            None => Ok(Some((ops::conv2d_relu(tape, x, w, b, self.params)?, 1))),
        }
    }

    fn parameters(&self) -> Vec<&Parameter> {
        std::iter::once(&self.weight).chain(&self.bias).collect()
    }

    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        std::iter::once(&mut self.weight).chain(&mut self.bias).collect()
    }
}
