//! The hot 2×2 window with stride 2, one `(n, c)` plane at a time, on one thread.
//!
//! Scalar: each output's winner is decided by three compares on two interleaved row pairs, and
//! `wide` offers no even/odd de-interleave, so lanes would cost shuffles built by hand. Walking
//! the two rows with `chunks_exact(2)` removes the bounds checks and the window loops that the
//! generic reference plane loop pays for.

/// `y[i,j] = max(x[2i,2j], x[2i,2j+1], x[2i+1,2j], x[2i+1,2j+1])` over one plane `x` of row
/// length `w`, with `argmax` = `offset` + the flat index of the winner (first on ties, in
/// row-major order, as in the reference). `y` and `argmax` are `[OH, OW]` with OW = `out_w`.
pub(super) fn max_pool_2x2(
    x: &[f32],
    w: usize,
    offset: u32,
    y: &mut [f32],
    argmax: &mut [u32],
    out_w: usize,
) {
    debug_assert!(out_w > 0 && 2 * out_w <= w && y.len() == argmax.len());
    let rows = y.chunks_exact_mut(out_w).zip(argmax.chunks_exact_mut(out_w));
    for (oh, (y_row, arg_row)) in rows.enumerate() {
        let top_start = 2 * oh * w;
        let top = &x[top_start..top_start + 2 * out_w];
        let bottom = &x[top_start + w..top_start + w + 2 * out_w];
        let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for (ow, ((t, b), (yo, ao))) in pairs.zip(y_row.iter_mut().zip(arg_row)).enumerate() {
            // Candidates in row-major order; `>` keeps the earlier one on ties.
            let (mut best, mut at) = (t[0], 0);
            if t[1] > best {
                (best, at) = (t[1], 1);
            }
            if b[0] > best {
                (best, at) = (b[0], w);
            }
            if b[1] > best {
                (best, at) = (b[1], w + 1);
            }
            *yo = best;
            *ao = offset + (top_start + 2 * ow + at) as u32;
        }
    }
}
