//! Direct loops for global average pooling in f64: ground truth for the tests.

use crate::Shape4;

/// `y[n,c] = (1/(H·W)) Σ_{h,w} x[n,c,h,w]`, returned as N·C values.
pub fn forward(x: &[f64], s: Shape4) -> Vec<f64> {
    let mut y = vec![0.0; s.n * s.c];
    for n in 0..s.n {
        for c in 0..s.c {
            let mut acc = 0.0;
            for h in 0..s.h {
                for w in 0..s.w {
                    acc += x[((n * s.c + c) * s.h + h) * s.w + w];
                }
            }
            y[n * s.c + c] = acc / (s.h * s.w) as f64;
        }
    }
    y
}

/// `dx[n,c,h,w] = dy[n,c] / (H·W)` (forward: every pixel has weight 1/(H·W) in its mean).
pub fn backward(dy: &[f64], s: Shape4) -> Vec<f64> {
    let mut dx = vec![0.0; s.len()];
    for n in 0..s.n {
        for c in 0..s.c {
            for h in 0..s.h {
                for w in 0..s.w {
                    dx[((n * s.c + c) * s.h + h) * s.w + w] = dy[n * s.c + c] / (s.h * s.w) as f64;
                }
            }
        }
    }
    dx
}
