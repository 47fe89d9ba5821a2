//! `GlobalAvgPool`: each channel plane shrinks to its mean.

use super::Module;
use crate::{Result, Tape, Var, ops};

/// PyTorch's `nn.AdaptiveAvgPool2d(1)`: [N, C, H, W] → [N, C, 1, 1].
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalAvgPool;

impl Module for GlobalAvgPool {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        ops::global_avg_pool2d(tape, x)
    }
}
