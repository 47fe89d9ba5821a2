//! Packing: copy a block of op(A) or op(B) into the exact order the micro-kernel reads it.
//!
//! A block of op(A) (rows `i`, depth `p`) becomes micro-panels of [`MR`] rows, each stored
//! step-major: panel `q` holds `op(A)[i0 + q·MR + r, p]` at `q·MR·kc + p·MR + r`. A block of
//! op(B) becomes micro-panels of [`NR`] columns the same way, with op(B)ᵀ's rows as the panel rows.
//! So both are one function, [`panel`], applied to "a matrix whose rows are the panel direction":
//! op(A) for A, op(B)ᵀ for B. Rows past the matrix edge are packed as zeros, so the kernel always
//! computes whole tiles and the padding contributes exactly 0 to the rows/columns that are kept.
//!
//! Packing also makes transposes free: whether the source is read along rows or columns is
//! decided here, once per element, and the kernel only ever sees contiguous panels.

use super::Transpose;
#[cfg(doc)]
use super::kernel::{MR, NR};
use std::ops::Range;

/// A read-only view of `op(X)`, a `rows×cols` matrix, over the row-major storage of `X`.
#[derive(Debug, Clone, Copy)]
pub(super) struct MatRef<'a> {
    data: &'a [f32],
    t: Transpose,
    rows: usize,
    cols: usize,
}

impl<'a> MatRef<'a> {
    /// `op(X)` of shape `rows×cols`: X is stored `rows×cols` (No) or `cols×rows` (Yes).
    pub(super) fn new(data: &'a [f32], t: Transpose, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { data, t, rows, cols }
    }

    /// The transposed view, without copying: `op(X)ᵀ`.
    pub(super) fn transposed(self) -> Self {
        let t = match self.t {
            Transpose::No => Transpose::Yes,
            Transpose::Yes => Transpose::No,
        };
        Self { data: self.data, t, rows: self.cols, cols: self.rows }
    }

    /// Number of columns of `op(X)`.
    pub(super) fn cols(&self) -> usize {
        self.cols
    }
}

/// Packs one micro-panel of `W` rows of `x`, rows `row0..row0 + W` and columns `depth`, into
/// `dst: [depth.len()][W]` (`dst[p·W + w] = x[row0 + w, depth.start + p]`), writing zeros for
/// rows at or past `x.rows()`.
pub(super) fn panel<const W: usize>(x: MatRef, row0: usize, depth: Range<usize>, dst: &mut [f32]) {
    let kc = depth.len();
    debug_assert_eq!(dst.len(), kc * W);
    let valid = x.rows.saturating_sub(row0).min(W);
    match x.t {
        // X stored rows×cols: each row of the panel is contiguous in X, so read rows and write
        // with stride W.
        Transpose::No => {
            if valid < W {
                dst.fill(0.0);
            }
            for w in 0..valid {
                let start = (row0 + w) * x.cols + depth.start;
                let src = &x.data[start..start + kc];
                for (d, &s) in dst.iter_mut().skip(w).step_by(W).zip(src) {
                    *d = s;
                }
            }
        }
        // X stored cols×rows: each step p of the panel is contiguous in X, so copy W at a time.
        Transpose::Yes => {
            for (p, dst_p) in depth.zip(dst.chunks_exact_mut(W)) {
                let start = p * x.rows + row0;
                dst_p[..valid].copy_from_slice(&x.data[start..start + valid]);
                dst_p[valid..].fill(0.0);
            }
        }
    }
}
