//! `ReLU` layer.

use super::Module;
use crate::{Result, Tape, Var, ops};

/// PyTorch's `nn.ReLU()`: `max(x, 0)` elementwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReLU;

impl Module for ReLU {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        ops::relu(tape, x)
    }
}
