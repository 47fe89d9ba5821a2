//! Elementwise arithmetic that a tape needs around the big kernels: `add`, `scale`, `sum`, `mean`,
//! and `add_assign`, the one place where gradients are summed.
//!
//! Every op here is memory-bound, so the loops are plain iterators over contiguous slices (the
//! compiler vectorises them) split into fixed chunks for rayon. Reductions (`sum`, `mean`) use a
//! fixed partition into [`SUM_CHUNK`]-element blocks, each summed in f64 in index order, and the
//! block sums are added in block order: the result is bit-identical for any thread count.
//!
//! Deliberately not here: broadcasting. Both operands of a binary op have the same shape.

pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Tensor, TensorError};
use rayon::prelude::*;

/// Elements per parallel task in the streaming ops: big enough to amortise rayon's overhead.
const PAR_CHUNK: usize = 1 << 15;

/// Elements per block of the fixed reduction partition (see the module docs).
pub const SUM_CHUNK: usize = 4096;

fn check_same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<(), TensorError> {
    if a.dims() != b.dims() {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: a.dims().to_vec(),
            rhs: b.dims().to_vec(),
            why: "elementwise operands must have the same shape",
        });
    }
    Ok(())
}

/// `y = a + b`, elementwise. Shapes: a, b, y all the same.
///
/// Its backward needs no kernel: `da = dy` and `db = dy` (a sum routes its gradient to both
/// operands unchanged), so a tape passes `dy` on to both inputs.
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when `a` and `b` differ in shape.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    add_into(a, b, &mut y)?;
    Ok(y)
}

/// [`add`] writing into `y`, which is reshaped (reusing its allocation).
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when `a` and `b` differ in shape.
pub fn add_into(a: &Tensor, b: &Tensor, y: &mut Tensor) -> Result<(), TensorError> {
    check_same_shape("add", a, b)?;
    y.resize_for_overwrite(a.dims());
    y.data_mut()
        .par_chunks_mut(PAR_CHUNK)
        .zip(a.data().par_chunks(PAR_CHUNK))
        .zip(b.data().par_chunks(PAR_CHUNK))
        .for_each(|((y, a), b)| {
            for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
                *y = a + b;
            }
        });
    Ok(())
}

/// `acc += x`, elementwise: the single place where gradients are summed. A tape calls it when a
/// value feeds several ops, so its gradient is the sum of what each consumer sends back.
///
/// # Errors
/// [`TensorError::ShapeMismatch`] when the shapes differ.
pub fn add_assign(acc: &mut Tensor, x: &Tensor) -> Result<(), TensorError> {
    check_same_shape("add_assign", acc, x)?;
    acc.data_mut().par_chunks_mut(PAR_CHUNK).zip(x.data().par_chunks(PAR_CHUNK)).for_each(
        |(acc, x)| {
            for (acc, x) in acc.iter_mut().zip(x) {
                *acc += x;
            }
        },
    );
    Ok(())
}

/// `y = s·x`, elementwise. Shapes: y like x.
///
/// It is its own backward: `dx = s·dy`.
pub fn scale(x: &Tensor, s: f32) -> Tensor {
    let mut y = Tensor::default();
    scale_into(x, s, &mut y);
    y
}

/// [`scale`] writing into `y`, which is reshaped (reusing its allocation).
pub fn scale_into(x: &Tensor, s: f32, y: &mut Tensor) {
    y.resize_for_overwrite(x.dims());
    y.data_mut().par_chunks_mut(PAR_CHUNK).zip(x.data().par_chunks(PAR_CHUNK)).for_each(
        |(y, x)| {
            for (y, x) in y.iter_mut().zip(x) {
                *y = s * x;
            }
        },
    );
}

/// `x ← s·x`, elementwise, in place (gradient clipping rescales with it).
pub fn scale_in_place(x: &mut Tensor, s: f32) {
    x.data_mut().par_chunks_mut(PAR_CHUNK).for_each(|x| {
        for v in x {
            *v *= s;
        }
    });
}

/// `Σ_i x_i` over every element, accumulated in f64 in a fixed order (see the module docs), then
/// rounded to f32. An empty tensor sums to 0.
pub fn sum(x: &Tensor) -> f32 {
    sum_f64(x.data()) as f32
}

/// The fixed-partition sum in f64, shared by [`sum`] and [`mean`].
fn sum_f64(x: &[f32]) -> f64 {
    // Block sums in parallel; each block is summed in index order by one thread, and the blocks
    // are then added in block order, so the thread count never changes the rounding.
    let blocks: Vec<f64> = x
        .par_chunks(SUM_CHUNK)
        .map(|block| block.iter().map(|&v| f64::from(v)).sum::<f64>())
        .collect();
    blocks.iter().sum::<f64>()
}

/// `(1/len) Σ_i x_i`: [`sum`] divided by the element count (in f64, before rounding).
///
/// # Errors
/// [`TensorError::InvalidParameter`] for an empty tensor, whose mean is undefined.
pub fn mean(x: &Tensor) -> Result<f32, TensorError> {
    if x.is_empty() {
        return Err(TensorError::InvalidParameter {
            op: "mean",
            what: format!("mean of an empty tensor (shape {:?})", x.dims()),
        });
    }
    Ok((sum_f64(x.data()) / x.len() as f64) as f32)
}

/// Backward of [`sum`] (and, with `dy / len`, of [`mean`]): every input contributed with weight
/// one, so `dx_i = dy` for all `i`. Writes into `dx`, shaped like the input `x_dims`.
pub fn broadcast_into(dy: f32, x_dims: &[usize], dx: &mut Tensor) {
    dx.resize_for_overwrite(x_dims);
    dx.fill(dy);
}
