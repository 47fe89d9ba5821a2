//! The fully connected layer as plain loops, generic over f32/f64: ground truth for tests.

use crate::Real;

/// The gradients of a linear layer, as plain vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads<T> {
    /// `∂loss/∂x`, `[N, in]`.
    pub dx: Vec<T>,
    /// `∂loss/∂w`, `[out, in]`.
    pub dw: Vec<T>,
    /// `∂loss/∂b`, `[out]`.
    pub db: Vec<T>,
}

/// `y[n,o] = b[o] + Σ_i x[n,i] · w[o,i]` for `x` [N, in], `w` [out, in], `b` [out] → `y` [N, out].
///
/// # Panics
/// When the slices are shorter than `n·inputs` and `outputs·inputs`.
pub fn forward<T: Real>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    n: usize,
    inputs: usize,
    outputs: usize,
) -> Vec<T> {
    let mut y = vec![T::ZERO; n * outputs];
    for row in 0..n {
        for o in 0..outputs {
            let mut acc = b.map_or(T::ZERO, |b| b[o]);
            for i in 0..inputs {
                acc += x[row * inputs + i] * w[o * inputs + i];
            }
            y[row * outputs + o] = acc;
        }
    }
    y
}

/// Gradients of [`forward`] given `dy` [N, out]. Each term `x[n,i]·w[o,i]` of `y[n,o]` sends
/// `dy[n,o]` to both factors, and the bias to every row:
/// `dx[n,i] = Σ_o dy[n,o]·w[o,i]`, `dw[o,i] = Σ_n dy[n,o]·x[n,i]`, `db[o] = Σ_n dy[n,o]`.
///
/// # Panics
/// As [`forward`].
pub fn backward<T: Real>(
    x: &[T],
    w: &[T],
    dy: &[T],
    n: usize,
    inputs: usize,
    outputs: usize,
) -> Grads<T> {
    let mut g = Grads {
        dx: vec![T::ZERO; n * inputs],
        dw: vec![T::ZERO; outputs * inputs],
        db: vec![T::ZERO; outputs],
    };
    for row in 0..n {
        for o in 0..outputs {
            let d = dy[row * outputs + o];
            g.db[o] += d;
            for i in 0..inputs {
                g.dx[row * inputs + i] += d * w[o * inputs + i];
                g.dw[o * inputs + i] += d * x[row * inputs + i];
            }
        }
    }
    g
}
