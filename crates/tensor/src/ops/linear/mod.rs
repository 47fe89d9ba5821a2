//! The fully connected (linear) layer, PyTorch layout: `y = x·Wᵀ + b`.
//!
//! Shapes: x [N, in], w [out, in], b [out] → y [N, out]. Forward is one GEMM plus a bias row;
//! backward is two GEMMs (`dx = dY·W`, `dW = dYᵀ·x`) and a column sum (`db = Σ_n dY`).

pub mod reference;
#[cfg(test)]
mod tests;

use crate::ops::gemm::{Accumulate, GemmDims, Transpose, gemm};
use crate::{Tensor, TensorError};

/// The gradients of a linear layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinearGrads {
    /// `∂loss/∂x` [N, in].
    pub dx: Tensor,
    /// `∂loss/∂w` [out, in], summed over the batch.
    pub dw: Tensor,
    /// `∂loss/∂b` [out], summed over the batch.
    pub db: Tensor,
}

/// `(N, in, out)` after checking that `x` is [N, in] and `w` is [out, in].
fn dims(op: &'static str, x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize), TensorError> {
    let (&[n, inputs], &[outputs, w_inputs]) = (x.dims(), w.dims()) else {
        let bad = if x.rank() == 2 { w } else { x };
        return Err(TensorError::WrongRank { op, expected: 2, shape: bad.dims().to_vec() });
    };
    if inputs != w_inputs {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: x.dims().to_vec(),
            rhs: w.dims().to_vec(),
            why: "x is [N, in] and w is [out, in]: in must agree",
        });
    }
    if n == 0 || inputs == 0 || outputs == 0 {
        let what =
            format!("x {:?} and w {:?} must have no zero-sized dimension", x.dims(), w.dims());
        return Err(TensorError::InvalidParameter { op, what });
    }
    Ok((n, inputs, outputs))
}

/// `y[n,o] = b[o] + Σ_i x[n,i]·w[o,i]`: x [N, in], w [out, in], b [out] → y [N, out].
///
/// # Errors
/// [`TensorError::WrongRank`] unless `x` and `w` are 2-D; [`TensorError::ShapeMismatch`] when
/// the `in` sizes differ or `b` is not [out]; [`TensorError::InvalidParameter`] for an empty
/// dimension.
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    forward_into(x, w, b, &mut y)?;
    Ok(y)
}

/// [`forward`] into a caller-owned `y`, resized to [N, out].
///
/// # Errors
/// As [`forward`].
pub fn forward_into(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    y: &mut Tensor,
) -> Result<(), TensorError> {
    let op = "linear::forward";
    let (n, inputs, outputs) = dims(op, x, w)?;
    if let Some(b) = b
        && b.dims() != [outputs]
    {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: w.dims().to_vec(),
            rhs: b.dims().to_vec(),
            why: "the bias must be [out]",
        });
    }
    y.resize_for_overwrite(&[n, outputs]);
    // y [N, out] = x [N, in] · Wᵀ (W is stored [out, in], i.e. already transposed for us).
    let dims = GemmDims { m: n, n: outputs, k: inputs };
    gemm(
        dims,
        x.data(),
        Transpose::No,
        w.data(),
        Transpose::Yes,
        y.data_mut(),
        Accumulate::Overwrite,
    )?;
    if let Some(b) = b {
        for row in y.data_mut().chunks_exact_mut(outputs) {
            row.iter_mut().zip(b.data()).for_each(|(v, &bias)| *v += bias);
        }
    }
    Ok(())
}

/// Backward of [`forward`] given `dy` [N, out]:
/// `dx = dY·W` [N, in], `dW = dYᵀ·x` [out, in], `db[o] = Σ_n dy[n,o]`.
///
/// # Errors
/// The shape errors of [`forward`], and [`TensorError::ShapeMismatch`] when `dy` is not [N, out].
pub fn backward(x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<LinearGrads, TensorError> {
    let mut grads = LinearGrads::default();
    backward_into(x, w, dy, &mut grads)?;
    Ok(grads)
}

/// [`backward`] into caller-owned gradients, each resized as needed.
///
/// # Errors
/// As [`backward`].
pub fn backward_into(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    grads: &mut LinearGrads,
) -> Result<(), TensorError> {
    let op = "linear::backward";
    let (n, inputs, outputs) = dims(op, x, w)?;
    if dy.dims() != [n, outputs] {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: vec![n, outputs],
            rhs: dy.dims().to_vec(),
            why: "dy must be [N, out]",
        });
    }
    grads.dx.resize_for_overwrite(&[n, inputs]);
    grads.dw.resize_for_overwrite(&[outputs, inputs]);
    grads.db.resize_for_overwrite(&[outputs]);
    let over = Accumulate::Overwrite;
    // forward: y = x·Wᵀ, so dx = dY·W: [N, out]·[out, in].
    let dims = GemmDims { m: n, n: inputs, k: outputs };
    gemm(dims, dy.data(), Transpose::No, w.data(), Transpose::No, grads.dx.data_mut(), over)?;
    // … and dW = dYᵀ·x: [out, N]·[N, in], with dY stored [N, out].
    let dims = GemmDims { m: outputs, n: inputs, k: n };
    gemm(dims, dy.data(), Transpose::Yes, x.data(), Transpose::No, grads.dw.data_mut(), over)?;
    // forward: y = … + b on every row, so db = Σ_rows dY (rows added in order).
    let db = grads.db.data_mut();
    db.fill(0.0);
    for row in dy.data().chunks_exact(outputs) {
        db.iter_mut().zip(row).for_each(|(d, &g)| *d += g);
    }
    Ok(())
}
