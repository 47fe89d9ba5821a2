//! Softmax followed by cross-entropy, fused for numerical stability, with PyTorch's
//! `F.cross_entropy(logits, targets, weight=…, label_smoothing=…, reduction='mean')` semantics.
//!
//! `p[i,c] = e^(z[i,c] − m_i) / Σ_c' e^(z[i,c'] − m_i)` with `m_i = max_c z[i,c]`, and
//! `loss = Σ_i Σ_c q[i,c]·(−log p[i,c]) / Σ_i w[y_i]`, where the target distribution is
//! `q[i,c] = (1 − ε)·w[y_i]·[c = y_i] + (ε/K)·w[c]`. Without options: `w = 1`, `ε = 0`, and
//! the loss is the mean of `−log p[i, y_i]`; its gradient is `(p − onehot)/N`.

pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Tensor, TensorError};

/// Class weights and label smoothing, as in PyTorch's `F.cross_entropy`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CrossEntropyOptions<'a> {
    /// One non-negative weight per class (`weight=` in PyTorch); `None` means all 1.
    pub class_weights: Option<&'a [f32]>,
    /// `ε` in [0, 1]: the target mixes `1 − ε` of the one-hot with `ε` of the uniform.
    pub label_smoothing: f32,
}

/// Loss and softmax probabilities of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropyOutput {
    /// The (weighted) mean loss.
    pub loss: f32,
    /// `p` [N, K], each row summing to 1: what [`backward`] needs.
    pub probs: Tensor,
}

/// `(N, K)` after checking the matrix, the targets and the options.
fn validate(
    op: &'static str,
    m: &Tensor,
    targets: &[usize],
    opts: &CrossEntropyOptions,
) -> Result<(usize, usize), TensorError> {
    let &[n, k] = m.dims() else {
        return Err(TensorError::WrongRank { op, expected: 2, shape: m.dims().to_vec() });
    };
    if n == 0 || k == 0 {
        let what = format!("shape {:?} needs at least one row and one class", m.dims());
        return Err(TensorError::InvalidParameter { op, what });
    }
    if targets.len() != n {
        return Err(TensorError::LengthMismatch {
            op,
            shape: m.dims().to_vec(),
            expected: n,
            got: targets.len(),
        });
    }
    if let Some((row, &target)) = targets.iter().enumerate().find(|&(_, &t)| t >= k) {
        return Err(TensorError::TargetOutOfRange { op, row, target, classes: k });
    }
    let eps = opts.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        let what = format!("label_smoothing {eps} must be in [0, 1]");
        return Err(TensorError::InvalidParameter { op, what });
    }
    if let Some(w) = opts.class_weights {
        if w.len() != k {
            return Err(TensorError::LengthMismatch {
                op,
                shape: vec![k],
                expected: k,
                got: w.len(),
            });
        }
        if let Some(bad) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            let what = format!("class weight {bad} must be finite and non-negative");
            return Err(TensorError::InvalidParameter { op, what });
        }
        // The mean divides by Σ_i w[y_i]: all-zero target weights would give 0/0.
        if targets.iter().all(|&t| w[t] == 0.0) {
            let what = "every target's class weight is 0, so the weighted mean is undefined".into();
            return Err(TensorError::InvalidParameter { op, what });
        }
    }
    Ok((n, k))
}

/// Softmax probabilities of `logits` [N, K] and their cross-entropy against `targets` [N]
/// (class indices), averaged as PyTorch's `reduction='mean'` does (module docs).
///
/// # Errors
/// [`TensorError::WrongRank`] unless `logits` is 2-D; [`TensorError::LengthMismatch`] when
/// `targets` has not N entries or the weights not K; [`TensorError::TargetOutOfRange`] for a
/// target ≥ K; [`TensorError::InvalidParameter`] for empty shapes, smoothing outside [0, 1],
/// negative or non-finite weights, all-zero target weights, or a NaN/infinite logit.
pub fn forward(
    logits: &Tensor,
    targets: &[usize],
    opts: &CrossEntropyOptions,
) -> Result<CrossEntropyOutput, TensorError> {
    let mut probs = Tensor::default();
    let loss = forward_into(logits, targets, opts, &mut probs)?;
    Ok(CrossEntropyOutput { loss, probs })
}

/// [`forward`] writing the probabilities `p` [N, K] into a caller-owned `probs` (resized, no
/// allocation once it is big enough) and returning the loss.
///
/// # Errors
/// As [`forward`].
pub fn forward_into(
    logits: &Tensor,
    targets: &[usize],
    opts: &CrossEntropyOptions,
    probs: &mut Tensor,
) -> Result<f32, TensorError> {
    let op = "softmax_cross_entropy::forward";
    let (n, k) = validate(op, logits, targets, opts)?;
    if let Some(i) = logits.data().iter().position(|v| !v.is_finite()) {
        let what = format!("logit [{}, {}] is {}", i / k, i % k, logits.data()[i]);
        return Err(TensorError::InvalidParameter { op, what });
    }
    probs.resize_for_overwrite(&[n, k]);
    let (weights, eps) = (opts.class_weights, opts.label_smoothing);
    Ok(reference::forward_into(logits.data(), k, targets, weights, eps, probs.data_mut()))
}

/// `dlogits` [N, K] from the forward's `probs`, the same targets and options, and the upstream
/// `dloss`: `dloss·(S_i·p[i,j] − q[i,j]) / Σ_i w[y_i]` with `S_i = Σ_c q[i,c]`; without options
/// `dloss·(p − onehot)/N`.
///
/// # Errors
/// The target and option errors of [`forward`] (checked against `probs`' shape).
pub fn backward(
    probs: &Tensor,
    targets: &[usize],
    opts: &CrossEntropyOptions,
    dloss: f32,
) -> Result<Tensor, TensorError> {
    let mut dlogits = Tensor::default();
    backward_into(probs, targets, opts, dloss, &mut dlogits)?;
    Ok(dlogits)
}

/// [`backward`] into a caller-owned `dlogits`, resized to [N, K].
///
/// # Errors
/// As [`backward`].
pub fn backward_into(
    probs: &Tensor,
    targets: &[usize],
    opts: &CrossEntropyOptions,
    dloss: f32,
    dlogits: &mut Tensor,
) -> Result<(), TensorError> {
    let op = "softmax_cross_entropy::backward";
    let (n, k) = validate(op, probs, targets, opts)?;
    dlogits.resize_for_overwrite(&[n, k]);
    let (weights, eps) = (opts.class_weights, opts.label_smoothing);
    reference::backward_into(probs.data(), k, targets, weights, eps, dloss, dlogits.data_mut());
    Ok(())
}
