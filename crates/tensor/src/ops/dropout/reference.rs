//! Direct loops for dropout in f64: ground truth for the tests.

/// `y_i = x_i · m_i`.
pub fn forward(x: &[f64], mask: &[f64]) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        y.push(x[i] * mask[i]);
    }
    y
}

/// `dx_i = dy_i · m_i` (forward: `∂y_i/∂x_i = m_i`, and `y_i` depends on no other `x_j`).
pub fn backward(dy: &[f64], mask: &[f64]) -> Vec<f64> {
    forward(dy, mask)
}
