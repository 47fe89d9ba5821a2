//! The triple loop: `C[i, j] (+)= Σ_p op(A)[i, p]·op(B)[p, j]`, one loop per index, generic over
//! f32 and f64. No blocking, no SIMD, no threads: this is the definition the fast path is tested
//! against, and the path [`super::gemm`] takes for tiny problems.

use super::{Accumulate, GemmDims, Transpose};
use crate::Real;

/// `op(X)[row, col]` for a row-major matrix stored with `stored_cols` columns.
fn element<T: Real>(x: &[T], t: Transpose, row: usize, col: usize, stored_cols: usize) -> T {
    match t {
        Transpose::No => x[row * stored_cols + col],
        Transpose::Yes => x[col * stored_cols + row],
    }
}

/// `C = op(A)·op(B)` (or `C += …` with [`Accumulate::Add`]), same meaning as [`super::gemm`].
///
/// Shapes: A stored `m×k` (or `k×m` when transposed), B `k×n` (or `n×k`), C `m×n`, all
/// row-major. The caller guarantees the lengths (this is the reference, not an entry point).
pub fn gemm<T: Real>(
    dims: GemmDims,
    a: &[T],
    ta: Transpose,
    b: &[T],
    tb: Transpose,
    c: &mut [T],
    acc: Accumulate,
) {
    let GemmDims { m, n, k } = dims;
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), k * n);
    debug_assert_eq!(c.len(), m * n);
    // Stored column counts: A is m×k or k×m, B is k×n or n×k.
    let a_cols = if ta == Transpose::No { k } else { m };
    let b_cols = if tb == Transpose::No { n } else { k };
    for i in 0..m {
        for j in 0..n {
            let mut sum = T::ZERO;
            for p in 0..k {
                sum += element(a, ta, i, p, a_cols) * element(b, tb, p, j, b_cols);
            }
            c[i * n + j] = match acc {
                Accumulate::Overwrite => sum,
                Accumulate::Add => c[i * n + j] + sum,
            };
        }
    }
}
