//! Direct loops for batch normalisation in f64: ground truth for the tests. One loop per index
//! of the formulas in `mod.rs`; the statistics are recomputed here, not borrowed from the fast path.

use crate::Shape4;

fn at(s: Shape4, n: usize, c: usize, h: usize, w: usize) -> usize {
    ((n * s.c + c) * s.h + h) * s.w + w
}

/// Per-channel batch mean and biased variance `(μ, σ²)`.
pub fn batch_stats(x: &[f64], s: Shape4) -> (Vec<f64>, Vec<f64>) {
    let count = (s.n * s.h * s.w) as f64;
    let mut mean = vec![0.0; s.c];
    let mut var = vec![0.0; s.c];
    for c in 0..s.c {
        for n in 0..s.n {
            for h in 0..s.h {
                for w in 0..s.w {
                    mean[c] += x[at(s, n, c, h, w)];
                }
            }
        }
        mean[c] /= count;
        for n in 0..s.n {
            for h in 0..s.h {
                for w in 0..s.w {
                    var[c] += (x[at(s, n, c, h, w)] - mean[c]).powi(2);
                }
            }
        }
        var[c] /= count;
    }
    (mean, var)
}

/// `y = γ·(x − μ)/√(σ² + ε) + β` with the given per-channel μ and σ².
pub fn normalize(
    x: &[f64],
    s: Shape4,
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> Vec<f64> {
    let mut y = vec![0.0; s.len()];
    for n in 0..s.n {
        for c in 0..s.c {
            for h in 0..s.h {
                for w in 0..s.w {
                    let i = at(s, n, c, h, w);
                    y[i] = gamma[c] * (x[i] - mean[c]) / (var[c] + eps).sqrt() + beta[c];
                }
            }
        }
    }
    y
}

/// Training forward: `normalize` with this batch's statistics.
pub fn forward_train(x: &[f64], s: Shape4, gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let (mean, var) = batch_stats(x, s);
    normalize(x, s, gamma, beta, &mean, &var, eps)
}

/// Training backward `(dx, dγ, dβ)`, statistics recomputed from `x`:
/// `dx = γ·s·(dy − mean(dy) − x̂·mean(dy·x̂))` per channel.
pub fn backward_train(
    x: &[f64],
    s: Shape4,
    gamma: &[f64],
    eps: f64,
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mean, var) = batch_stats(x, s);
    let count = (s.n * s.h * s.w) as f64;
    let mut dgamma = vec![0.0; s.c];
    let mut dbeta = vec![0.0; s.c];
    let mut dx = vec![0.0; s.len()];
    for c in 0..s.c {
        let inv = 1.0 / (var[c] + eps).sqrt();
        for n in 0..s.n {
            for h in 0..s.h {
                for w in 0..s.w {
                    let i = at(s, n, c, h, w);
                    dbeta[c] += dy[i];
                    dgamma[c] += dy[i] * (x[i] - mean[c]) * inv;
                }
            }
        }
        for n in 0..s.n {
            for h in 0..s.h {
                for w in 0..s.w {
                    let i = at(s, n, c, h, w);
                    let xhat = (x[i] - mean[c]) * inv;
                    dx[i] = gamma[c] * inv * (dy[i] - dbeta[c] / count - xhat * dgamma[c] / count);
                }
            }
        }
    }
    (dx, dgamma, dbeta)
}

/// Evaluation backward `(dx, dγ, dβ)` with constant statistics: `dx = γ·dy/√(σ² + ε)`.
#[allow(clippy::too_many_arguments)]
pub fn backward_eval(
    x: &[f64],
    s: Shape4,
    gamma: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dgamma = vec![0.0; s.c];
    let mut dbeta = vec![0.0; s.c];
    let mut dx = vec![0.0; s.len()];
    for n in 0..s.n {
        for c in 0..s.c {
            let inv = 1.0 / (var[c] + eps).sqrt();
            for h in 0..s.h {
                for w in 0..s.w {
                    let i = at(s, n, c, h, w);
                    dbeta[c] += dy[i];
                    dgamma[c] += dy[i] * (x[i] - mean[c]) * inv;
                    dx[i] = gamma[c] * inv * dy[i];
                }
            }
        }
    }
    (dx, dgamma, dbeta)
}
