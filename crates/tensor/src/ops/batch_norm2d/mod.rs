//! 2-D batch normalisation (Ioffe & Szegedy 2015) with PyTorch's conventions.
//!
//! For channel `c`, with `M = N·H·W` values `x[n,c,h,w]`:
//! ```text
//! training:   μ_c = (1/M) Σ x            σ²_c = (1/M) Σ (x − μ_c)²      (biased)
//! evaluation: μ_c = running_mean_c       σ²_c = running_var_c
//! both:       x̂ = (x − μ_c) / √(σ²_c + ε)      y = γ_c · x̂ + β_c
//! ```
//! After a training forward the caller updates the running averages with
//! [`update_running_stats`] (`r ← (1 − momentum)·r + momentum·stat`, PyTorch's momentum 0.1,
//! and the *unbiased* variance `σ²·M/(M − 1)` goes into `running_var`).
//! Shapes: x, y, dy, dx [N, C, H, W]; γ, β, μ, σ², running stats [C].
//!
//! Every per-channel sum runs on one thread in index order (n, then h·w) with an f64 accumulator,
//! channels in parallel; so the statistics are bit-identical for any thread count. The backward
//! derivation is in the doc of [`backward`].

pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Shape4, Tensor, TensorError};
use rayon::prelude::*;

/// Which statistics normalised `x` in the forward pass, and so how the backward treats them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistics {
    /// Training: μ and σ² were computed from this batch, so they depend on `x`.
    Batch,
    /// Evaluation: μ and σ² are the running averages, constants with respect to `x`.
    Running,
}

/// Per-channel mean and variance of one batch (variance biased, divided by `M = N·H·W`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchStats {
    /// μ_c, shape [C].
    pub mean: Tensor,
    /// σ²_c = (1/M) Σ (x − μ_c)², shape [C].
    pub var: Tensor,
}

/// Gradients of [`backward`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchNormGrads {
    /// ∂L/∂x, shape [N, C, H, W].
    pub dx: Tensor,
    /// ∂L/∂γ, shape [C].
    pub dgamma: Tensor,
    /// ∂L/∂β, shape [C].
    pub dbeta: Tensor,
}

/// Checks that a per-channel vector holds C values; `why` names it in the error.
fn check_channel_vector(
    op: &'static str,
    why: &'static str,
    t: &Tensor,
    s: Shape4,
) -> Result<(), TensorError> {
    if t.len() != s.c {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: s.dims().to_vec(),
            rhs: t.dims().to_vec(),
            why,
        });
    }
    Ok(())
}

fn check_eps(op: &'static str, eps: f32) -> Result<(), TensorError> {
    if eps > 0.0 && eps.is_finite() {
        Ok(())
    } else {
        Err(TensorError::InvalidParameter { op, what: format!("eps {eps} must be positive") })
    }
}

/// Independent partial sums per channel sum. One f64 accumulator makes every add wait for the
/// previous one (a chain of M dependent adds, ~4 cycles each); eight lanes, each summing every
/// eighth value of a plane, let the adds pipeline and vectorise. The lanes are added in a fixed
/// order at the end, so a sum still depends only on the data, never on the thread count.
const LANES: usize = 8;

/// Sums `f(value)` over channel `c` of an NCHW buffer, in f64, in [`LANES`] lanes: value `i` of
/// each plane goes to lane `i mod 8`, planes in order n = 0, 1, …
fn channel_sum(x: &[f32], s: Shape4, c: usize, f: impl Fn(f32) -> f64) -> f64 {
    let plane = s.plane_len();
    let mut lanes = [0.0f64; LANES];
    for n in 0..s.n {
        let start = (n * s.c + c) * plane;
        let mut chunks = x[start..start + plane].chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += f(v);
            }
        }
        for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
            *lane += f(v);
        }
    }
    lanes.iter().sum()
}

/// Training forward: batch statistics into `stats`, then `y = γ·(x − μ)/√(σ² + ε) + β`.
///
/// # Errors
/// [`TensorError::WrongRank`] unless x is 4-D; [`TensorError::ShapeMismatch`] when γ or β do
/// not hold C values; [`TensorError::InvalidParameter`] when `eps ≤ 0` or a channel has fewer
/// than two values (`N·H·W < 2`: the variance is undefined, as in PyTorch).
pub fn forward_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
) -> Result<(Tensor, BatchStats), TensorError> {
    let mut y = Tensor::default();
    let mut stats = BatchStats::default();
    forward_train_into(x, gamma, beta, eps, &mut y, &mut stats)?;
    Ok((y, stats))
}

/// [`forward_train`] writing into `y` and `stats` (reshaped, allocations reused).
///
/// # Errors
/// As [`forward_train`].
pub fn forward_train_into(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    y: &mut Tensor,
    stats: &mut BatchStats,
) -> Result<(), TensorError> {
    const OP: &str = "batch_norm2d";
    let s = x.shape4(OP)?;
    check_channel_vector(OP, "gamma must hold one value per channel C", gamma, s)?;
    check_channel_vector(OP, "beta must hold one value per channel C", beta, s)?;
    check_eps(OP, eps)?;
    let count = s.n * s.plane_len();
    if count < 2 {
        return Err(TensorError::InvalidParameter {
            op: OP,
            what: format!("training needs more than one value per channel, got input {s}"),
        });
    }
    stats.mean.resize_for_overwrite(&[s.c]);
    stats.var.resize_for_overwrite(&[s.c]);
    let xd = x.data();
    // Two passes per channel (mean, then squared deviations): exact enough in f64 and free of the
    // cancellation that E[x²] − E[x]² suffers.
    stats
        .mean
        .data_mut()
        .par_iter_mut()
        .zip(stats.var.data_mut().par_iter_mut())
        .enumerate()
        .for_each(|(c, (mean, var))| {
            let mu = channel_sum(xd, s, c, f64::from) / count as f64;
            let sq = channel_sum(xd, s, c, |v| (f64::from(v) - mu).powi(2));
            *mean = mu as f32;
            *var = (sq / count as f64) as f32;
        });
    normalize_into(x, s, gamma, beta, &stats.mean, &stats.var, eps, y);
    Ok(())
}

/// Evaluation forward: `y = γ·(x − running_mean)/√(running_var + ε) + β`.
///
/// # Errors
/// [`TensorError::WrongRank`] unless x is 4-D; [`TensorError::ShapeMismatch`] when γ, β or the
/// running statistics do not hold C values; [`TensorError::InvalidParameter`] when `eps ≤ 0`.
pub fn forward_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running: &BatchStats,
    eps: f32,
) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    forward_eval_into(x, gamma, beta, running, eps, &mut y)?;
    Ok(y)
}

/// [`forward_eval`] writing into `y` (reshaped, allocation reused).
///
/// # Errors
/// As [`forward_eval`].
pub fn forward_eval_into(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running: &BatchStats,
    eps: f32,
    y: &mut Tensor,
) -> Result<(), TensorError> {
    const OP: &str = "batch_norm2d (eval)";
    let s = x.shape4(OP)?;
    check_channel_vector(OP, "gamma must hold one value per channel C", gamma, s)?;
    check_channel_vector(OP, "beta must hold one value per channel C", beta, s)?;
    check_channel_vector(OP, "the mean must hold one value per channel C", &running.mean, s)?;
    check_channel_vector(OP, "the variance must hold one value per channel C", &running.var, s)?;
    check_eps(OP, eps)?;
    normalize_into(x, s, gamma, beta, &running.mean, &running.var, eps, y);
    Ok(())
}

/// Evaluation batch norm as a per-channel affine map `y = a_c·x + shift_c`, with
/// `a_c = γ_c/√(running_var_c + ε)` and `shift_c = β_c − running_mean_c·a_c`: the numbers
/// [`forward_eval`] multiplies and adds, returned as `(a, shift)` ([C] each) so a convolution
/// before the norm can absorb them (`w'_c = a_c·w_c`, `b'_c = a_c·b_c + shift_c`).
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when γ, β or the running statistics do not all hold the same
/// number of values; [`TensorError::InvalidParameter`] when `eps ≤ 0`.
pub fn eval_affine(
    gamma: &Tensor,
    beta: &Tensor,
    running: &BatchStats,
    eps: f32,
) -> Result<(Vec<f32>, Vec<f32>), TensorError> {
    const OP: &str = "batch_norm2d (eval affine)";
    let channels = gamma.len();
    let s = Shape4 { n: 1, c: channels, h: 1, w: 1 };
    check_channel_vector(OP, "beta must hold one value per channel C", beta, s)?;
    check_channel_vector(OP, "the mean must hold one value per channel C", &running.mean, s)?;
    check_channel_vector(OP, "the variance must hold one value per channel C", &running.var, s)?;
    check_eps(OP, eps)?;
    let (g, b, m, v) = (gamma.data(), beta.data(), running.mean.data(), running.var.data());
    Ok((0..channels).map(|c| channel_affine(g[c], b[c], m[c], v[c], eps)).unzip())
}

/// One channel's `(a, shift)`: `a = γ/√(σ² + ε)`, `shift = β − μ·a`, so that the norm is
/// `y = x·a + shift` (shared by every forward and by [`eval_affine`], so all see the same bits).
fn channel_affine(gamma: f32, beta: f32, mean: f32, var: f32, eps: f32) -> (f32, f32) {
    let a = gamma * inv_std(var, eps);
    (a, beta - mean * a)
}

/// `1/√(σ² + ε)` in f64, rounded: shared by forward and backward so both see the same value.
fn inv_std(var: f32, eps: f32) -> f32 {
    (1.0 / (f64::from(var) + f64::from(eps)).sqrt()) as f32
}

/// `y = x·a_c + b_c` per plane, with `a_c = γ_c/√(σ²_c + ε)` and `b_c = β_c − μ_c·a_c`.
#[allow(clippy::too_many_arguments)]
fn normalize_into(
    x: &Tensor,
    s: Shape4,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
    y: &mut Tensor,
) {
    y.resize_for_overwrite(&s.dims());
    let (g, b, m, v) = (gamma.data(), beta.data(), mean.data(), var.data());
    y.data_mut()
        .par_chunks_mut(s.plane_len())
        .zip(x.data().par_chunks(s.plane_len()))
        .enumerate()
        .for_each(|(plane_index, (y, x))| {
            let c = plane_index % s.c;
            let (a, shift) = channel_affine(g[c], b[c], m[c], v[c], eps);
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * a + shift;
            }
        });
}

/// `r ← (1 − momentum)·r + momentum·stat` for the mean, and the same for the variance with the
/// unbiased batch variance `σ²·M/(M − 1)`, where `M = count = N·H·W` (PyTorch's update;
/// its default momentum is 0.1).
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when the running and batch statistics differ in length;
/// [`TensorError::InvalidParameter`] when `count < 2` or momentum is outside [0, 1].
pub fn update_running_stats(
    running: &mut BatchStats,
    batch: &BatchStats,
    count: usize,
    momentum: f32,
) -> Result<(), TensorError> {
    const OP: &str = "batch_norm2d running stats";
    for (r, b) in [(&running.mean, &batch.mean), (&running.var, &batch.var)] {
        if r.len() != b.len() {
            return Err(TensorError::ShapeMismatch {
                op: OP,
                lhs: r.dims().to_vec(),
                rhs: b.dims().to_vec(),
                why: "running and batch statistics must have one value per channel",
            });
        }
    }
    if count < 2 || !(0.0..=1.0).contains(&momentum) {
        return Err(TensorError::InvalidParameter {
            op: OP,
            what: format!("need count ≥ 2 and momentum in [0, 1], got {count} and {momentum}"),
        });
    }
    let bessel = count as f32 / (count - 1) as f32;
    for (r, &b) in running.mean.data_mut().iter_mut().zip(batch.mean.data()) {
        *r = (1.0 - momentum) * *r + momentum * b;
    }
    for (r, &b) in running.var.data_mut().iter_mut().zip(batch.var.data()) {
        *r = (1.0 - momentum) * *r + momentum * b * bessel;
    }
    Ok(())
}

/// Backward of [`forward_train`] (`Statistics::Batch`) or [`forward_eval`]
/// (`Statistics::Running`); `stats` are the μ, σ² the forward normalised with.
///
/// With `x̂ = (x − μ)·s`, `s = 1/√(σ² + ε)`, sums over the `M` values of channel c:
/// ```text
/// dβ_c = Σ dy          dγ_c = Σ dy·x̂
/// Running (μ, σ² constant):   dx = γ·s·dy
/// Batch   (μ, σ² depend on x): dx = γ·s·(dy − dβ_c/M − x̂·dγ_c/M)
/// ```
/// The batch rule follows from `∂μ/∂x = 1/M` and `∂σ²/∂x = 2(x − μ)/M` by the chain rule: the
/// two subtracted terms remove the components of `dy` along the constant and along `x̂`, which
/// normalisation makes invisible. `docs/` has no longer derivation because this is the whole one.
///
/// # Errors
/// [`TensorError::WrongRank`] unless x is 4-D; [`TensorError::ShapeMismatch`] when dy's shape
/// differs from x's or γ / the statistics do not hold C values; `InvalidParameter` for `eps ≤ 0`.
pub fn backward(
    x: &Tensor,
    gamma: &Tensor,
    stats: &BatchStats,
    eps: f32,
    dy: &Tensor,
    source: Statistics,
) -> Result<BatchNormGrads, TensorError> {
    let mut grads = BatchNormGrads::default();
    backward_into(x, gamma, stats, eps, dy, source, &mut grads)?;
    Ok(grads)
}

/// [`backward`] writing into `grads` (reshaped, allocations reused).
///
/// # Errors
/// As [`backward`].
pub fn backward_into(
    x: &Tensor,
    gamma: &Tensor,
    stats: &BatchStats,
    eps: f32,
    dy: &Tensor,
    source: Statistics,
    grads: &mut BatchNormGrads,
) -> Result<(), TensorError> {
    const OP: &str = "batch_norm2d backward";
    let s = x.shape4(OP)?;
    if dy.dims() != x.dims() {
        return Err(TensorError::ShapeMismatch {
            op: OP,
            lhs: x.dims().to_vec(),
            rhs: dy.dims().to_vec(),
            why: "dy must have the input's shape",
        });
    }
    check_channel_vector(OP, "gamma must hold one value per channel C", gamma, s)?;
    check_channel_vector(OP, "the mean must hold one value per channel C", &stats.mean, s)?;
    check_channel_vector(OP, "the variance must hold one value per channel C", &stats.var, s)?;
    check_eps(OP, eps)?;
    let (xd, dyd, m, v) = (x.data(), dy.data(), stats.mean.data(), stats.var.data());
    let plane = s.plane_len();
    grads.dgamma.resize_for_overwrite(&[s.c]);
    grads.dbeta.resize_for_overwrite(&[s.c]);
    // dβ and dγ: one channel per task, each summed in index order.
    grads
        .dbeta
        .data_mut()
        .par_iter_mut()
        .zip(grads.dgamma.data_mut().par_iter_mut())
        .enumerate()
        .for_each(|(c, (dbeta, dgamma))| {
            // Σ dy and Σ dy·(x − μ), in lanes like `channel_sum`; the second times s is Σ dy·x̂.
            let (mu, inv) = (f64::from(m[c]), f64::from(inv_std(v[c], eps)));
            let (mut sum_dy, mut sum_dy_centred) = ([0.0f64; LANES], [0.0f64; LANES]);
            let mut add = |lane: usize, x: f32, dy: f32| {
                sum_dy[lane] += f64::from(dy);
                sum_dy_centred[lane] += f64::from(dy) * (f64::from(x) - mu);
            };
            for n in 0..s.n {
                let start = (n * s.c + c) * plane;
                let (x, dy) = (&xd[start..start + plane], &dyd[start..start + plane]);
                let whole = plane - plane % LANES;
                for (xs, dys) in x[..whole].chunks_exact(LANES).zip(dy[..whole].chunks_exact(LANES))
                {
                    for lane in 0..LANES {
                        add(lane, xs[lane], dys[lane]);
                    }
                }
                for (lane, (&x, &dy)) in x[whole..].iter().zip(&dy[whole..]).enumerate() {
                    add(lane, x, dy);
                }
            }
            *dbeta = sum_dy.iter().sum::<f64>() as f32;
            *dgamma = (sum_dy_centred.iter().sum::<f64>() * inv) as f32;
        });
    grads.dx.resize_for_overwrite(&s.dims());
    let inv_count = 1.0 / (s.n * plane) as f32;
    let (g, db, dg) = (gamma.data(), grads.dbeta.data(), grads.dgamma.data());
    grads
        .dx
        .data_mut()
        .par_chunks_mut(plane)
        .zip(xd.par_chunks(plane))
        .zip(dyd.par_chunks(plane))
        .enumerate()
        .for_each(|(plane_index, ((dx, x), dy))| {
            let c = plane_index % s.c;
            let inv = inv_std(v[c], eps);
            let a = g[c] * inv;
            match source {
                Statistics::Running => {
                    for (dx, &dy) in dx.iter_mut().zip(dy) {
                        *dx = a * dy;
                    }
                }
                Statistics::Batch => {
                    let (mean_dy, mean_dy_xhat) = (db[c] * inv_count, dg[c] * inv_count);
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        let xhat = (x - m[c]) * inv;
                        *dx = a * (dy - mean_dy - xhat * mean_dy_xhat);
                    }
                }
            }
        });
    Ok(())
}
