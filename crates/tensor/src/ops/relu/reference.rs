//! ReLU as plain loops, generic over f32/f64: the ground truth for tests. No SIMD, no threads.

use crate::Real;

/// `y[i] = x[i] if x[i] > 0, else 0`.
pub fn forward<T: Real>(x: &[T]) -> Vec<T> {
    let mut y = vec![T::ZERO; x.len()];
    forward_into(x, &mut y);
    y
}

/// [`forward`] into `y` (same length as `x`).
pub fn forward_into<T: Real>(x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    for (i, yi) in y.iter_mut().enumerate() {
        *yi = if x[i] > T::ZERO { x[i] } else { T::ZERO };
    }
}

/// `dx[i] = dy[i] if x[i] > 0, else 0` (forward: y = x on x > 0, y = 0 elsewhere).
pub fn backward<T: Real>(x: &[T], dy: &[T]) -> Vec<T> {
    let mut dx = vec![T::ZERO; x.len()];
    backward_into(x, dy, &mut dx);
    dx
}

/// [`backward`] into `dx` (all three of the same length).
pub fn backward_into<T: Real>(x: &[T], dy: &[T], dx: &mut [T]) {
    debug_assert!(x.len() == dy.len() && x.len() == dx.len());
    for (i, dxi) in dx.iter_mut().enumerate() {
        *dxi = if x[i] > T::ZERO { dy[i] } else { T::ZERO };
    }
}
