//! `Flatten`: [N, C, H, W] → [N, C·H·W], between the convolutional part and a linear layer.

use super::Module;
use crate::{Result, Tape, Var, ops};

/// PyTorch's `nn.Flatten()` (start_dim 1): keeps the batch dimension, merges the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        ops::flatten(tape, x)
    }
}
