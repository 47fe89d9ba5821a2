//! Packing: copy a block of op(A) or op(B) into the exact order the micro-kernel reads it.
//!
//! A block of op(A) (rows `i`, depth `p`) becomes micro-panels of [`MR`] rows, each stored
//! step-major: panel `q` holds `op(A)[i0 + q·MR + r, p]` at `q·MR·kc + p·MR + r`. A block of
//! op(B) becomes micro-panels of [`NR`] columns the same way, with op(B)ᵀ's rows as the panel rows.
//! So both are one function, [`panels`], applied to "a matrix whose rows are the panel direction":
//! op(A) for A, op(B)ᵀ for B. Rows past the matrix edge are packed as zeros, so the kernel always
//! computes whole tiles and the padding contributes exactly 0 to the rows/columns that are kept.
//!
//! Packing also makes transposes free: whether the source is read along rows or columns is
//! decided here, once per element, and the kernel only ever sees contiguous panels.

#[cfg(doc)]
use super::kernel::{MR, NR};
use super::{Operand, RowStarts, Runs, Transpose, kernel};
use std::ops::Range;

/// A read-only view of `op(X)`, a `rows×cols` matrix, over the storage of `X` (row-major, or
/// rows at a table of offsets).
#[derive(Debug, Clone, Copy)]
pub(super) struct MatRef<'a> {
    data: &'a [f32],
    t: Transpose,
    starts: RowStarts<'a>,
    rows: usize,
    cols: usize,
}

impl<'a> MatRef<'a> {
    /// `op(X)` of shape `rows×cols`: X is stored `rows×cols` (No) or `cols×rows` (Yes).
    pub(super) fn new(x: Operand<'a>, rows: usize, cols: usize) -> Self {
        debug_assert!(match x.rows {
            RowStarts::Contiguous => x.data.len() == rows * cols,
            RowStarts::At(starts) | RowStarts::AtInRuns(starts, _) => {
                starts.len() == if x.t == Transpose::No { rows } else { cols }
            }
        });
        Self { data: x.data, t: x.t, starts: x.rows, rows, cols }
    }

    /// The transposed view, without copying: `op(X)ᵀ`.
    pub(super) fn transposed(self) -> Self {
        let t = match self.t {
            Transpose::No => Transpose::Yes,
            Transpose::Yes => Transpose::No,
        };
        Self { t, rows: self.cols, cols: self.rows, ..self }
    }

    /// Number of rows of `op(X)`.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns of `op(X)`.
    pub(super) fn cols(&self) -> usize {
        self.cols
    }

    /// `(data, starts, runs)` when `op(X)ᵀ = X` is stored as rows at offsets, i.e. `op(X)` is
    /// this view transposed and its row `p` is `data[starts[p]..]` (its columns in `runs`, or
    /// all in a row for `None`).
    pub(super) fn shifted_rows(&self) -> Option<(&'a [f32], &'a [usize], Option<Runs<'a>>)> {
        match (self.t, self.starts) {
            (Transpose::Yes, RowStarts::At(starts)) => Some((self.data, starts, None)),
            (Transpose::Yes, RowStarts::AtInRuns(starts, runs)) => {
                Some((self.data, starts, Some(runs)))
            }
            _ => None,
        }
    }

    /// Where stored row `r` of X begins in `data`.
    fn stored_row(&self, r: usize) -> usize {
        match self.starts {
            RowStarts::Contiguous => {
                r * if self.t == Transpose::No { self.cols } else { self.rows }
            }
            RowStarts::At(starts) | RowStarts::AtInRuns(starts, _) => starts[r],
        }
    }

    /// The runs of X's stored rows, if they are not contiguous.
    fn runs(&self) -> Option<Runs<'a>> {
        match self.starts {
            RowStarts::AtInRuns(_, runs) => Some(runs),
            _ => None,
        }
    }

    /// The value of stored row `r`, stored column `c`.
    fn stored(&self, r: usize, c: usize) -> f32 {
        let column = self.runs().map_or(c, |runs| runs.offset(c));
        self.data[self.stored_row(r) + column]
    }
}

/// Packs rows `rows` × columns `depth` of `x` into micro-panels of `W` rows:
/// `dst[q·W·kc + p·W + w] = x[rows.start + q·W + w, depth.start + p]`, with zeros for the rows
/// that pad the last panel to `W`. `dst` holds exactly `⌈rows.len()/W⌉` panels.
pub(super) fn panels<const W: usize>(
    x: MatRef,
    rows: Range<usize>,
    depth: Range<usize>,
    dst: &mut [f32],
) {
    let kc = depth.len();
    let valid = rows.len();
    debug_assert!(rows.end <= x.rows && depth.end <= x.cols);
    debug_assert_eq!(dst.len(), valid.div_ceil(W) * W * kc);
    if !valid.is_multiple_of(W) {
        let last = dst.len() - W * kc;
        dst[last..].fill(0.0);
    }
    // Stored rows in runs keep the fast path below when its blocks of 8 steps never straddle
    // two runs (conv2d's weight gradient on 16×16 maps: runs of 16, k cut at multiples of 8).
    let blocks_in_runs = |runs: Runs| {
        x.t == Transpose::No && runs.len.is_multiple_of(8) && depth.start.is_multiple_of(8)
    };
    if x.runs().is_some_and(|runs| !blocks_in_runs(runs)) {
        // Otherwise one value at a time (a slow path; in-place B reads its whole panels itself
        // and leaves only a partial last panel to this).
        for (q, panel) in dst.chunks_exact_mut(W * kc).enumerate() {
            let row0 = rows.start + q * W;
            for w in 0..rows.end.min(row0 + W) - row0 {
                for (step, p) in depth.clone().enumerate() {
                    panel[step * W + w] = match x.t {
                        Transpose::No => x.stored(row0 + w, p),
                        Transpose::Yes => x.stored(p, row0 + w),
                    };
                }
            }
        }
        return;
    }
    match x.t {
        // X stored rows×cols: each panel row is contiguous in X, but the panel wants it spread
        // with stride W. Blocks of 8 rows × 8 steps go through an in-register transpose (8
        // vector loads, 8 vector stores); the rows and steps left over are copied one by one.
        // Steps are walked STEPS at a time so the part of the panel being written (W·STEPS
        // floats: 32 KiB for a B~ panel of NR = 32, 8 KiB for an A~ panel of MR = 8, which has
        // a single row group) stays in L1 or close while every row group visits it. Each visit
        // reads STEPS floats of 8 rows (1 KiB each): with 64 (256 B per row) the rows of W
        // [256, 8192] in the linear layer's forward were read in short bursts that the
        // prefetcher followed poorly, and the forward, one thread, on-CPU time, took
        // 3.56–4.29 ms against 3.19–3.48 with 256, in four alternating rounds.
        Transpose::No => {
            const STEPS: usize = 256;
            const { assert!(W.is_multiple_of(8) && STEPS.is_multiple_of(8)) };
            // Offset of step p from its row's start (within one run for a whole block of 8).
            let column = |p: usize| x.runs().map_or(depth.start + p, |r| r.offset(depth.start + p));
            for (q, panel) in dst.chunks_exact_mut(W * kc).enumerate() {
                let row0 = rows.start + q * W;
                let height = rows.end.min(row0 + W) - row0;
                let (groups, steps) = (height / 8 * 8, kc / 8 * 8);
                for p_chunk in (0..steps).step_by(STEPS) {
                    for g in (0..groups).step_by(8) {
                        for p in (p_chunk..steps.min(p_chunk + STEPS)).step_by(8) {
                            let col = column(p);
                            let block: [[f32; 8]; 8] = std::array::from_fn(|r| {
                                let start = x.stored_row(row0 + g + r) + col;
                                x.data[start..start + 8].try_into().expect("a slice of 8")
                            });
                            for (j, t) in kernel::transpose8(block).iter().enumerate() {
                                let d = (p + j) * W + g;
                                panel[d..d + 8].copy_from_slice(t);
                            }
                        }
                    }
                }
                // Leftovers: steps past the last multiple of 8 for the grouped rows, and every
                // step for the rows past the last multiple of 8.
                for w in 0..height {
                    let first = if w < groups { steps } else { 0 };
                    let dst = panel[first * W..].iter_mut().skip(w).step_by(W);
                    if x.runs().is_some() {
                        let row = row0 + w;
                        dst.zip(first..kc).for_each(|(d, p)| *d = x.stored(row, depth.start + p));
                    } else {
                        let start = x.stored_row(row0 + w) + depth.start + first;
                        dst.zip(&x.data[start..start + kc - first]).for_each(|(d, &v)| *d = v);
                    }
                }
            }
        }
        // X stored cols×rows: step p of every panel is one contiguous run of X. Read each run
        // once, front to back (so the hardware prefetcher sees one stream, not one per panel),
        // and deal it out W floats per panel.
        Transpose::Yes => {
            for (step, p) in depth.enumerate() {
                let start = x.stored_row(p) + rows.start;
                let (whole, rest) = x.data[start..start + valid].as_chunks::<W>();
                // Fixed-length copies (vector moves), then the partial last panel if any.
                for (q, src) in whole.iter().enumerate() {
                    let at = q * W * kc + step * W;
                    dst[at..at + W].copy_from_slice(src);
                }
                if !rest.is_empty() {
                    let at = whole.len() * W * kc + step * W;
                    dst[at..at + rest.len()].copy_from_slice(rest);
                }
            }
        }
    }
}
