//! Direct loops for the elementwise ops, in f64: ground truth for the tests, no parallelism.

/// `y_i = a_i + b_i`.
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut y = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        y.push(a[i] + b[i]);
    }
    y
}

/// `Σ_i x_i`, left to right.
pub fn sum(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for v in x {
        s += v;
    }
    s
}
