//! `batch_norm2d` on the tape. Training normalises with the batch's statistics (and updates the
//! running averages); evaluation with the running averages. The backward kernel knows which
//! (`Statistics::Batch` / `Running`), because only batch statistics depend on the input.

use crate::ops::Op;
use crate::tape::{Saved, copy_into};
use crate::{Result, Tape, Var};
use std::mem::take;
use tensor::Tensor;
use tensor::ops::batch_norm2d::{self, BatchNormGrads, BatchStats, Statistics};

/// Which statistics batch norm uses, with the running averages it reads or updates.
#[derive(Debug)]
pub enum BatchNormMode<'a> {
    /// Normalise with this batch's mean and biased variance, then update `running` with
    /// `r ← (1 − momentum)·r + momentum·stat` (unbiased variance; PyTorch's momentum is 0.1).
    Train {
        /// Running mean and variance, shape [C] each.
        running: &'a mut BatchStats,
        /// Weight of the new batch in the running averages.
        momentum: f32,
    },
    /// Normalise with the running averages (constants for the backward).
    Eval {
        /// Running mean and variance, shape [C] each.
        running: &'a BatchStats,
    },
}

/// `y = γ·(x − μ)/√(σ² + ε) + β` per channel: x [N, C, H, W], γ and β [C] (usually parameters).
///
/// # Errors
/// [`AutogradError::StaleVar`](crate::AutogradError::StaleVar); `TensorError` for shapes that do
/// not fit, `eps ≤ 0`, or training with a single value per channel.
pub fn batch_norm2d(
    tape: &mut Tape,
    x: Var,
    gamma: Var,
    beta: Var,
    eps: f32,
    mode: BatchNormMode<'_>,
) -> Result<Var> {
    const OP: &str = "batch_norm2d";
    let (x, gamma, beta) = (tape.index(x, OP)?, tape.index(gamma, OP)?, tape.index(beta, OP)?);
    let statistics = match mode {
        BatchNormMode::Train { .. } => Statistics::Batch,
        BatchNormMode::Eval { .. } => Statistics::Running,
    };
    tape.record(Op::BatchNorm2d { x, gamma, beta, eps, statistics }, |tape, y, saved| {
        let (xv, g, b) = (tape.value_at(x), tape.value_at(gamma), tape.value_at(beta));
        match mode {
            BatchNormMode::Train { running, momentum } => {
                batch_norm2d::forward_train_into(xv, g, b, eps, y, &mut saved.stats)?;
                let count = xv.len() / g.len().max(1);
                batch_norm2d::update_running_stats(running, &saved.stats, count, momentum)?;
            }
            BatchNormMode::Eval { running } => {
                batch_norm2d::forward_eval_into(xv, g, b, running, eps, y)?;
                copy_into(&running.mean, &mut saved.stats.mean);
                copy_into(&running.var, &mut saved.stats.var);
            }
        }
        Ok(())
    })
}

pub(super) fn backward(
    tape: &mut Tape,
    [x, gamma, beta]: [usize; 3],
    eps: f32,
    statistics: Statistics,
    dy: &Tensor,
    saved: &Saved,
) -> Result<()> {
    // One kernel call gives dx, dγ and dβ; the buffers are moved in and out, never copied.
    tape.contribute_many([Some(x), Some(gamma), Some(beta)], |tape, [dx, dgamma, dbeta], _| {
        let mut grads = BatchNormGrads { dx: take(dx), dgamma: take(dgamma), dbeta: take(dbeta) };
        let result = batch_norm2d::backward_into(
            tape.value_at(x),
            tape.value_at(gamma),
            &saved.stats,
            eps,
            dy,
            statistics,
            &mut grads,
        );
        (*dx, *dgamma, *dbeta) = (grads.dx, grads.dgamma, grads.dbeta);
        Ok(result?)
    })
}
