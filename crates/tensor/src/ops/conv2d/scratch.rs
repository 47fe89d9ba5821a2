//! Per-thread scratch buffers, so a convolution allocates nothing once warmed up: each thread
//! keeps the largest buffer of each kind it has needed so far.
//!
//! A buffer is *taken* out of its thread-local slot for the duration of the work rather than
//! borrowed: while one image's GEMM waits on its rayon subtasks, the same worker may steal
//! another image's task and ask for the same kind of scratch. It then finds the slot empty and
//! allocates; when both give theirs back, the larger one stays. The kinds have separate
//! slots because some are held (the batch's partial sums, the flipped kernel) while another is
//! used inside them.

use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    /// im2col matrices (`cols`, `dcols`) of one image.
    pub(super) static COLS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// Per-chunk partial sums of `dW` and `db` in backward.
    pub(super) static PARTIALS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The kernel turned 180° with C_in and C_out swapped, for the implicit path's `dx`.
    pub(super) static FLIPPED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The implicit path's row-start tables.
    pub(super) static STARTS: Cell<Vec<usize>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on `len` values (contents unspecified) of this thread's `slot`.
pub(super) fn with_scratch<T: Copy + Default, R>(
    slot: &'static LocalKey<Cell<Vec<T>>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    let mut buf = slot.take();
    if buf.len() < len {
        buf.resize(len, T::default());
    }
    let result = f(&mut buf[..len]);
    let other = slot.take();
    slot.set(if other.len() > buf.len() { other } else { buf });
    result
}
