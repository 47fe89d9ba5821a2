//! Per-thread scratch buffers, so a convolution allocates nothing once warmed up.
//!
//! A buffer is *taken* out of its thread-local slot for the duration of the work rather than
//! borrowed: while one image's GEMM waits on its rayon subtasks, the same worker may steal
//! another image's task and ask for the same kind of scratch. So each slot holds a small stack
//! of buffers, not one: the outer task has popped the top buffer, the stolen task pops the next
//! one, and both push theirs back when done. After a few steps every buffer a thread ever holds
//! at once has grown to the largest size it is asked for, and no call allocates — even when
//! work-stealing nests two or three convolutions on one thread. The kinds have separate slots
//! because some are held (the batch's partial sums, the flipped kernel) while another is used
//! inside them.

use std::cell::Cell;
use std::thread::LocalKey;

/// Buffers kept per slot and thread: the deepest nesting of one kind of scratch on one thread
/// that stays allocation-free. Deeper nesting still works; it allocates, and the smallest
/// buffer is dropped on the way back.
const KEPT_PER_SLOT: usize = 4;

/// A slot: this thread's stack of spare buffers of one kind.
type Slot<T> = Cell<Vec<Vec<T>>>;

thread_local! {
    /// im2col matrices (`cols`, `dcols`) of one image.
    pub(super) static COLS: Slot<f32> = const { Cell::new(Vec::new()) };
    /// Per-chunk partial sums of `dW` and `db` in backward.
    pub(super) static PARTIALS: Slot<f32> = const { Cell::new(Vec::new()) };
    /// The kernel turned 180° with C_in and C_out swapped, for the implicit path's `dx`.
    pub(super) static FLIPPED: Slot<f32> = const { Cell::new(Vec::new()) };
    /// `dW` in the channels-last GEMM's order [C_out, KH·KW, C_in], before it is permuted.
    pub(super) static TAPS_FIRST: Slot<f32> = const { Cell::new(Vec::new()) };
    /// Winograd's transformed weights `U` [16, C_in, C_out], held while the images run.
    pub(super) static WINOGRAD_WEIGHTS: Slot<f32> = const { Cell::new(Vec::new()) };
    /// The implicit path's row-start tables.
    pub(super) static STARTS: Slot<usize> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on `len` values (contents unspecified) of a buffer from this thread's `slot`.
pub(super) fn with_scratch<T: Copy + Default, R>(
    slot: &'static LocalKey<Slot<T>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    // The stack is put back before `f` runs, so a nested call on this thread finds it.
    let mut spares = slot.take();
    let mut buf = spares.pop().unwrap_or_default();
    slot.set(spares);
    if buf.len() < len {
        buf.resize(len, T::default());
    }
    let result = f(&mut buf[..len]);
    let mut spares = slot.take();
    spares.push(buf);
    if spares.len() > KEPT_PER_SLOT {
        // Keep the largest: drop the smallest buffer.
        if let Some((smallest, _)) = spares.iter().enumerate().min_by_key(|(_, b)| b.len()) {
            spares.swap_remove(smallest);
        }
    }
    slot.set(spares);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST_SLOT: Slot<f32> = const { Cell::new(Vec::new()) };
    }

    /// The addresses of the buffers one round of nested calls uses (outer, inner, innermost).
    fn nested_round(lens: [usize; 3]) -> Vec<usize> {
        let mut seen = Vec::new();
        with_scratch(&TEST_SLOT, lens[0], |outer| {
            seen.push(outer.as_ptr() as usize);
            with_scratch(&TEST_SLOT, lens[1], |inner| {
                seen.push(inner.as_ptr() as usize);
                with_scratch(&TEST_SLOT, lens[2], |innermost| {
                    seen.push(innermost.as_ptr() as usize);
                    assert_eq!(
                        (outer.len(), inner.len(), innermost.len()),
                        (lens[0], lens[1], lens[2])
                    );
                });
            });
        });
        seen
    }

    #[test]
    fn nested_calls_reuse_their_buffers_once_warmed_up() {
        // The first rounds allocate and grow the buffers (the nesting order moves which buffer
        // serves which depth, so sizes are reached after a few rounds); from then on every
        // round, whatever the sizes up to the largest seen, reuses the same three buffers.
        let sizes = [[1000, 10, 500], [10, 1000, 500], [500, 500, 1000]];
        for lens in sizes.iter().cycle().take(9) {
            nested_round(*lens);
        }
        let mut warmed: Vec<usize> = nested_round(sizes[0]);
        warmed.sort_unstable();
        for lens in sizes.iter().cycle().take(12) {
            let mut again = nested_round(*lens);
            again.sort_unstable();
            assert_eq!(again, warmed, "a warmed-up nested call allocated a new buffer");
        }
        // The three buffers are distinct: nested calls never share one.
        warmed.dedup();
        assert_eq!(warmed.len(), 3);
        // And all three wait in the slot between calls, each grown to the largest size, so
        // the next nested round needs no allocator (a single-buffer slot would keep only one
        // and allocate the other two every round, possibly at the same freed addresses).
        let spares = TEST_SLOT.take();
        let lens: Vec<usize> = spares.iter().map(Vec::len).collect();
        TEST_SLOT.set(spares);
        assert_eq!(lens, [1000, 1000, 1000]);
    }
}
