//! `MaxPool2d` layer.

use super::Module;
use crate::{Result, Tape, Var, ops};
use tensor::ops::max_pool2d::Pool2dParams;

/// PyTorch's `nn.MaxPool2d(kernel, stride)` (no padding, floor mode).
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    /// Window and stride.
    pub params: Pool2dParams,
}

impl MaxPool2d {
    /// `kernel×kernel` windows every `stride` pixels.
    pub fn new(kernel: usize, stride: usize) -> Self {
        Self { params: Pool2dParams { kernel, stride } }
    }
}

impl Module for MaxPool2d {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        ops::max_pool2d(tape, x, self.params)
    }
}
