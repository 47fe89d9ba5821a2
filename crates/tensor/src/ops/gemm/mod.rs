//! GEMM: `C = op(A)·op(B)` or `C += op(A)·op(B)` on row-major f32 matrices.
//!
//! Everything heavy in this crate ends up here: conv2d is im2col + GEMM, linear is GEMM + bias,
//! and both backward passes are GEMMs with one operand transposed. So GEMM gets the full BLIS
//! treatment (see `docs/gemm.md` for the loop nest drawn out):
//!
//! - `kernel.rs` — one MR×NR tile of C from a packed A micro-panel and a B micro-panel (packed,
//!   or read in place from rows at offsets), held in SIMD registers (`wide`).
//! - `pack.rs` — copies blocks of A and B into the order the kernel reads them, zero-padding the
//!   edges so the kernel never sees a partial tile.
//! - `loops.rs` — the five BLIS loops (NC, KC, MC, NR, MR), the reused packing buffers, and the
//!   rayon split over blocks of the output.
//! - [`reference`](mod@reference) — the triple loop, generic over f32/f64: the definition of
//!   "correct".
//!
//! This file validates the slice lengths and picks a path by size.

mod kernel;
mod loops;
mod pack;
pub mod reference;
#[cfg(test)]
mod tests;

use crate::{Tensor, TensorError};

/// Whether an operand is used as stored or transposed.
///
/// GEMM never copies a matrix to transpose it: the packing step reads the stored matrix in
/// whichever order `op(X)` needs, so `Transpose::Yes` costs the same as `Transpose::No`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transpose {
    /// `op(X) = X`.
    No,
    /// `op(X) = Xᵀ`.
    Yes,
}

/// What happens to the old contents of C (BLAS's β, restricted to 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accumulate {
    /// `C = op(A)·op(B)` (β = 0). The old C is never read, so it may hold garbage or NaN.
    Overwrite,
    /// `C = C + op(A)·op(B)` (β = 1), e.g. summing weight gradients over a batch.
    Add,
}

/// The sizes of a GEMM: op(A) is `m×k`, op(B) is `k×n`, C is `m×n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmDims {
    /// Rows of op(A) and of C.
    pub m: usize,
    /// Columns of op(B) and of C.
    pub n: usize,
    /// Columns of op(A) = rows of op(B): the length of every dot product.
    pub k: usize,
}

impl GemmDims {
    /// The sizes `m×k · k×n → m×n`.
    pub const fn new(m: usize, n: usize, k: usize) -> Self {
        Self { m, n, k }
    }

    /// Floating-point operations of one GEMM: `2·m·n·k` (one multiply and one add per term).
    pub const fn flops(&self) -> u64 {
        2 * self.m as u64 * self.n as u64 * self.k as u64
    }

    /// The stored shape `[rows, cols]` of A for this `op(A)`.
    const fn a_shape(&self, ta: Transpose) -> [usize; 2] {
        match ta {
            Transpose::No => [self.m, self.k],
            Transpose::Yes => [self.k, self.m],
        }
    }

    /// The stored shape `[rows, cols]` of B for this `op(B)`.
    const fn b_shape(&self, tb: Transpose) -> [usize; 2] {
        match tb {
            Transpose::No => [self.k, self.n],
            Transpose::Yes => [self.n, self.k],
        }
    }
}

/// Problems with fewer multiply-adds than this (`m·n·k`) skip packing and go to the triple loop:
/// packing copies `m·k + k·n` floats and rounds both up to whole MR/NR panels, which for a
/// handful of dot products costs more than computing them directly.
const SMALL_PROBLEM: usize = 16 * 16 * 16;

/// Whether a GEMM may split its work over the rayon pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Split C over the pool's threads once the problem is large enough to pay for it.
    Pool,
    /// Stay on the calling thread. For callers that already keep every thread busy with
    /// independent GEMMs (conv2d runs one per image): splitting each of them again would only
    /// add joins, and when C is split into column ranges every range packs its own copy of A.
    Caller,
}

/// Where each stored row of an [`Operand`] begins in its slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStarts<'a> {
    /// Row-major and contiguous: stored row `r` begins at `r·(stored columns)`.
    Contiguous,
    /// Stored row `r` begins at `starts[r]`, and rows may overlap. This is how conv2d hands over
    /// its im2col matrix without building it: each row of im2col, laid out on the zero-padded
    /// image's grid, is the padded image itself shifted by one offset (`docs/convolution.md`).
    At(&'a [usize]),
    /// Stored row `r` begins at `starts[r]`, and its columns lie in [`Runs`] after that start
    /// rather than all in a row. conv2d uses this to compute only the real output pixels of its
    /// padded grid: one run per output row, skipping the border columns between them.
    AtInRuns(&'a [usize], Runs<'a>),
}

/// Where the columns of a stored row lie after the row's start: runs of `len` consecutive
/// columns, run `s` (columns `s·len..(s + 1)·len`, the last one possibly shorter) beginning
/// `starts[s]` floats after the row's start. Column `c` is at offset `starts[c / len] + c % len`.
///
/// When op(B) = B is given this way the micro-kernel still reads B where it lies, one vector at
/// a time, if `len` is a multiple of [`IN_PLACE_RUN`], or if the runs are at least that long and
/// lie in order without overlapping (`starts[s + 1] ≥ starts[s] + len`): a vector that crosses
/// from one run into the next is then two loads, merged. Other runs are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runs<'a> {
    /// Columns per run (at least 1).
    pub len: usize,
    /// Offset of each run from its row's start: `⌈columns / len⌉` entries.
    pub starts: &'a [usize],
}

impl Runs<'_> {
    /// Offset of column `c` from its row's start.
    fn offset(&self, c: usize) -> usize {
        self.starts[c / self.len] + c % self.len
    }

    /// Whether the micro-kernel reads op(B) = B in these runs in place (see [`Runs`]): whole
    /// vectors, or runs of at least a vector in order, so that a vector crossing the end of a
    /// run reads only that run and the next (and never starts before the row's start).
    fn in_place(self) -> bool {
        self.len.is_multiple_of(IN_PLACE_RUN)
            || (self.len >= IN_PLACE_RUN
                && self.starts.windows(2).all(|w| w[1] >= w[0].saturating_add(self.len)))
    }

    /// One past the largest offset of a row of `cols` columns.
    fn extent(&self, cols: usize) -> usize {
        let runs = self.starts.iter().enumerate();
        runs.map(|(s, &start)| start + self.len.min(cols - s * self.len)).max().unwrap_or(0)
    }
}

/// Runs of a multiple of this many columns (one SIMD vector: 16 with AVX-512, else 8) are read
/// in place by the micro-kernel when they make up op(B); shorter or ragged runs are packed.
pub const IN_PLACE_RUN: usize = kernel::LANES;

/// One input of [`gemm_on`]: `op(X)` for a matrix X whose values are read from `data`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operand<'a> {
    /// The values of X.
    pub data: &'a [f32],
    /// Whether the product uses X or Xᵀ.
    pub t: Transpose,
    /// Where X's stored rows begin in `data`.
    pub rows: RowStarts<'a>,
}

impl<'a> Operand<'a> {
    /// A contiguous row-major X, used as `op(X)` per `t`.
    pub const fn new(data: &'a [f32], t: Transpose) -> Self {
        Self { data, t, rows: RowStarts::Contiguous }
    }

    /// An X whose stored row `r` is `data[starts[r]..]` (as long as a stored row is).
    pub const fn rows_at(data: &'a [f32], t: Transpose, starts: &'a [usize]) -> Self {
        Self { data, t, rows: RowStarts::At(starts) }
    }

    /// An X whose stored row `r` begins at `data[starts[r]]` and has its columns in `runs`.
    pub const fn rows_in_runs(
        data: &'a [f32],
        t: Transpose,
        starts: &'a [usize],
        runs: Runs<'a>,
    ) -> Self {
        Self { data, t, rows: RowStarts::AtInRuns(starts, runs) }
    }
}

/// `C[m×n] = op(A)·op(B)`, or `C += op(A)·op(B)` with [`Accumulate::Add`].
///
/// `c[i·n + j] (+)= Σ_{p<k} op(A)[i, p] · op(B)[p, j]`
///
/// All matrices are row-major and contiguous. A is stored as `m×k` ([`Transpose::No`]) or `k×m`
/// ([`Transpose::Yes`]); B as `k×n` or `n×k`; C is always `m×n`. With
/// [`Accumulate::Overwrite`] the old C is never read. Large problems are split over the rayon
/// pool ([`Threads::Pool`]; see [`gemm_on`] to keep one on the calling thread).
///
/// Results are bit-identical whatever the number of rayon threads: work is split over blocks of
/// C, so every element is summed in the same order. (A small C over a long sum, `k ≥ 4096`,
/// `k ≥ max(m, n)`, `m·n ≤ 65536`, both operands contiguous, is instead cut into slices of
/// about 2048 steps of the sum fixed by the sizes alone; the slices' products are added in
/// order, so their bits too are the same on any number of threads. See `docs/gemm.md`.)
///
/// # Errors
/// [`TensorError::LengthMismatch`] (op `"gemm"`, naming the operand's stored shape) when a slice
/// length differs from what `dims` and the transposes imply, and
/// [`TensorError::InvalidParameter`] when a size product overflows `usize`.
pub fn gemm(
    dims: GemmDims,
    a: &[f32],
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    c: &mut [f32],
    acc: Accumulate,
) -> Result<(), TensorError> {
    gemm_on(Threads::Pool, dims, Operand::new(a, ta), Operand::new(b, tb), c, acc)
}

/// [`gemm`] with a choice of [`Threads`], and operands whose rows may sit anywhere in their
/// slices ([`RowStarts::At`]). The result has the same bits on any number of threads.
///
/// # Errors
/// As [`gemm`]; for [`RowStarts::At`], [`TensorError::LengthMismatch`] when the table does not
/// have one start per stored row, and [`TensorError::InvalidParameter`] when a row would run
/// past the end of its slice.
pub fn gemm_on(
    threads: Threads,
    dims: GemmDims,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    acc: Accumulate,
) -> Result<(), TensorError> {
    check_operand(dims, "A", dims.a_shape(a.t), a)?;
    check_operand(dims, "B", dims.b_shape(b.t), b)?;
    check_len(dims, "C", [dims.m, dims.n], c.len())?;
    let GemmDims { m, n, k } = dims;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // An empty sum: C = 0, or C unchanged.
        if acc == Accumulate::Overwrite {
            c.fill(0.0);
        }
        return Ok(());
    }
    let work = m.saturating_mul(n).saturating_mul(k);
    match (a.rows, b.rows) {
        (RowStarts::Contiguous, RowStarts::Contiguous) if work < SMALL_PROBLEM => {
            reference::gemm(dims, a.data, a.t, b.data, b.t, c, acc);
        }
        _ => loops::packed(dims, a, b, c, acc, threads),
    }
    Ok(())
}

/// Checks a contiguous operand's length, or that every row of a [`RowStarts::At`] operand
/// lies inside its slice.
fn check_operand(
    dims: GemmDims,
    operand: &'static str,
    shape: [usize; 2],
    x: Operand,
) -> Result<(), TensorError> {
    let (starts, extent) = match x.rows {
        RowStarts::Contiguous => return check_len(dims, operand, shape, x.data.len()),
        RowStarts::At(starts) => (starts, shape[1]),
        RowStarts::AtInRuns(starts, runs) => {
            let cols = shape[1];
            if runs.len == 0 || runs.starts.len() != cols.div_ceil(runs.len) {
                return Err(TensorError::InvalidParameter {
                    op: "gemm",
                    what: format!(
                        "{operand}'s {cols} columns in runs of {} need {} run starts, got {}",
                        runs.len,
                        cols.div_ceil(runs.len.max(1)),
                        runs.starts.len()
                    ),
                });
            }
            (starts, runs.extent(cols))
        }
    };
    let [rows, cols] = shape;
    if starts.len() != rows {
        return Err(TensorError::LengthMismatch {
            op: "gemm",
            shape: shape.to_vec(),
            expected: rows,
            got: starts.len(),
        });
    }
    match starts.iter().position(|&s| s.checked_add(extent).is_none_or(|end| end > x.data.len())) {
        None => Ok(()),
        Some(r) => Err(TensorError::InvalidParameter {
            op: "gemm",
            what: format!(
                "{operand}'s row {r} starts at {} and has {cols} values over {extent} floats, \
                 past the end of its {} values",
                starts[r],
                x.data.len()
            ),
        }),
    }
}

/// Checks that an operand holds exactly `rows·cols` elements.
fn check_len(
    dims: GemmDims,
    operand: &'static str,
    shape: [usize; 2],
    got: usize,
) -> Result<(), TensorError> {
    let Some(expected) = shape[0].checked_mul(shape[1]) else {
        return Err(TensorError::InvalidParameter {
            op: "gemm",
            what: format!(
                "{operand} of shape {}x{} overflows usize (m={}, n={}, k={})",
                shape[0], shape[1], dims.m, dims.n, dims.k
            ),
        });
    };
    if expected != got {
        return Err(TensorError::LengthMismatch {
            op: "gemm",
            shape: shape.to_vec(),
            expected,
            got,
        });
    }
    Ok(())
}

/// Matrix product of two 2-D tensors: `[m, k] · [k, n] → [m, n]`.
///
/// # Errors
/// [`TensorError::WrongRank`] unless both are 2-D, [`TensorError::ShapeMismatch`] when the inner
/// dimensions differ.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, TensorError> {
    let (&[m, k], &[k_b, n]) = (a.dims(), b.dims()) else {
        let shape = if a.rank() == 2 { b.dims() } else { a.dims() };
        return Err(TensorError::WrongRank { op: "matmul", expected: 2, shape: shape.to_vec() });
    };
    if k != k_b {
        return Err(TensorError::ShapeMismatch {
            op: "matmul",
            lhs: a.dims().to_vec(),
            rhs: b.dims().to_vec(),
            why: "columns of the left must equal rows of the right",
        });
    }
    let mut c = Tensor::zeros(&[m, n]);
    gemm(
        GemmDims::new(m, n, k),
        a.data(),
        Transpose::No,
        b.data(),
        Transpose::No,
        c.data_mut(),
        Accumulate::Overwrite,
    )?;
    Ok(c)
}
