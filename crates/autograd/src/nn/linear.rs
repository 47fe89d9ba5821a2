//! `Linear` layer: weight [out, in] and bias [out], PyTorch names and layout.

use super::Module;
use crate::init::Init;
use crate::{Parameter, Result, Tape, Var, ops};
use tensor::Rng;

/// PyTorch's `nn.Linear(in, out)`: `y = x·Wᵀ + b`, x [N, in] → y [N, out].
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weights [out, in], saved as `weight`.
    pub weight: Parameter,
    /// Bias [out], saved as `bias`; `None` after [`Linear::without_bias`].
    pub bias: Option<Parameter>,
}

impl Linear {
    /// A layer from `inputs` to `outputs` features, initialised with `init` (weights, then
    /// bias, drawn from `rng` in that order).
    pub fn new(inputs: usize, outputs: usize, init: Init, rng: &mut Rng) -> Self {
        let dims = [outputs, inputs];
        let weight = Parameter::new("weight", init.weight(&dims, rng));
        let bias = Some(Parameter::new("bias", init.bias(outputs, &dims, rng)));
        Self { weight, bias }
    }

    /// The same layer with no bias term.
    pub fn without_bias(mut self) -> Self {
        self.bias = None;
        self
    }
}

impl Module for Linear {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        ops::linear(tape, x, w, b)
    }

    fn parameters(&self) -> Vec<&Parameter> {
        std::iter::once(&self.weight).chain(&self.bias).collect()
    }

    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        std::iter::once(&mut self.weight).chain(&mut self.bias).collect()
    }
}
