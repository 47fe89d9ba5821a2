//! Per-thread scratch buffers, so a convolution allocates nothing once warmed up: each thread
//! keeps the largest buffer of each kind it has needed so far.
//!
//! A buffer is *taken* out of its thread-local slot for the duration of the work rather than
//! borrowed: while one image's GEMM waits on its rayon subtasks, the same worker may steal
//! another image's task and ask for the same kind of scratch. It then finds the slot empty and
//! allocates; when both give theirs back, the larger one stays. The two kinds have separate
//! slots because one is held (the batch's partial sums) while the other is used inside it.

use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    /// im2col matrices (`cols`, `dcols`) of one image.
    pub(super) static COLS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// Per-chunk partial sums of `dW` and `db` in backward.
    pub(super) static PARTIALS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on `len` floats (contents unspecified) of this thread's `slot`.
pub(super) fn with_scratch<R>(
    slot: &'static LocalKey<Cell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = slot.take();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let result = f(&mut buf[..len]);
    let other = slot.take();
    slot.set(if other.len() > buf.len() { other } else { buf });
    result
}
