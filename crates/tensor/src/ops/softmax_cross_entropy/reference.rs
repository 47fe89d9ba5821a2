//! Softmax + cross-entropy as plain loops, generic over f32/f64. The op is tiny next to the
//! convolutions (N·K with K = a handful of classes), so these loops are also what
//! [`super::forward`] runs, in f32: there is no separate fast path.
//!
//! Per row `i` with logits `z`, target `y_i`, class weights `w` (all 1 by default) and label
//! smoothing `ε` over `K` classes, the target distribution is
//! `q[i,c] = (1 − ε)·w[y_i]·[c = y_i] + (ε/K)·w[c]`, and PyTorch's `reduction='mean'` gives
//! `loss = Σ_i Σ_c q[i,c]·(−log p[i,c]) / Σ_i w[y_i]`.

use crate::Real;

/// Writes `p[c] = e^(z[c] − m) / Σ_c' e^(z[c'] − m)` with `m = max z` for one row and returns
/// `(m, ln Σ_c' e^(z[c'] − m))`, so that `log p[c] = (z[c] − m) − ln_sum`. Subtracting the max
/// keeps every exponent ≤ 0, so nothing overflows.
fn softmax_row<T: Real>(z: &[T], p: &mut [T]) -> (T, T) {
    let m = z.iter().copied().fold(z[0], |m, v| if v > m { v } else { m });
    let mut sum = T::ZERO;
    for (pc, &zc) in p.iter_mut().zip(z) {
        *pc = (zc - m).exp();
        sum += *pc;
    }
    for pc in p.iter_mut() {
        *pc = *pc / sum;
    }
    (m, sum.ln())
}

/// Class `c`'s weight (1 without weights).
fn weight<T: Real>(weights: Option<&[T]>, c: usize) -> T {
    weights.map_or(T::ONE, |w| w[c])
}

/// `q[i,c]` for row `i` with target `y` (see the module docs).
fn target_mass<T: Real>(weights: Option<&[T]>, smoothing: T, k: usize, y: usize, c: usize) -> T {
    let hit = if c == y { (T::ONE - smoothing) * weight(weights, y) } else { T::ZERO };
    hit + smoothing / T::from_usize(k) * weight(weights, c)
}

/// Loss and probabilities for `logits` [N, K] (row-major) and `targets` [N].
///
/// # Panics
/// When a target is not below `k`, or `logits` is not `targets.len()·k` long: this is a test
/// oracle, and [`super::forward`] validates.
pub fn forward<T: Real>(
    logits: &[T],
    k: usize,
    targets: &[usize],
    weights: Option<&[T]>,
    smoothing: T,
) -> (T, Vec<T>) {
    let mut probs = vec![T::ZERO; logits.len()];
    let loss = forward_into(logits, k, targets, weights, smoothing, &mut probs);
    (loss, probs)
}

/// [`forward`] writing the probabilities into `probs` (as long as `logits`); returns the loss.
///
/// # Panics
/// As [`forward`], or when `probs` is shorter than `logits`.
pub fn forward_into<T: Real>(
    logits: &[T],
    k: usize,
    targets: &[usize],
    weights: Option<&[T]>,
    smoothing: T,
    probs: &mut [T],
) -> T {
    let (mut total, mut mass) = (T::ZERO, T::ZERO);
    for (i, &y) in targets.iter().enumerate() {
        let z = &logits[i * k..(i + 1) * k];
        let (m, ln_sum) = softmax_row(z, &mut probs[i * k..(i + 1) * k]);
        for (c, &zc) in z.iter().enumerate() {
            let log_p = zc - m - ln_sum;
            total += target_mass(weights, smoothing, k, y, c) * -log_p;
        }
        mass += weight(weights, y);
    }
    total / mass
}

/// `∂loss/∂z[i,j] = dloss · (S_i·p[i,j] − q[i,j]) / Σ_i w[y_i]` with `S_i = Σ_c q[i,c]`,
/// since `∂(−log p[c])/∂z[j] = p[j] − [c = j]`. With no weights and no smoothing this is
/// `dloss·(p − onehot)/N`.
///
/// # Panics
/// As [`forward`].
pub fn backward<T: Real>(
    probs: &[T],
    k: usize,
    targets: &[usize],
    weights: Option<&[T]>,
    smoothing: T,
    dloss: T,
) -> Vec<T> {
    let mut dlogits = vec![T::ZERO; probs.len()];
    backward_into(probs, k, targets, weights, smoothing, dloss, &mut dlogits);
    dlogits
}

/// [`backward`] writing into `dlogits` (as long as `probs`).
///
/// # Panics
/// As [`forward`], or when `dlogits` is shorter than `probs`.
pub fn backward_into<T: Real>(
    probs: &[T],
    k: usize,
    targets: &[usize],
    weights: Option<&[T]>,
    smoothing: T,
    dloss: T,
    dlogits: &mut [T],
) {
    let mass = targets.iter().fold(T::ZERO, |acc, &y| acc + weight(weights, y));
    for (i, &y) in targets.iter().enumerate() {
        let mut s = T::ZERO;
        for c in 0..k {
            s += target_mass(weights, smoothing, k, y, c);
        }
        for j in 0..k {
            let q = target_mass(weights, smoothing, k, y, j);
            dlogits[i * k + j] = dloss * (s * probs[i * k + j] - q) / mass;
        }
    }
}
