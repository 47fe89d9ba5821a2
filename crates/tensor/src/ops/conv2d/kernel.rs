//! SIMD pieces of the conv2d fast path (`wide`). One thread, whole vectors; the callers handle
//! the tails.
//!
//! What this is not: the convolution's arithmetic, which is the GEMM's micro-kernel
//! (`ops/gemm/kernel.rs`); these are the passes around it.

use wide::f32x8;

/// f32 elements per SIMD vector.
const LANES: usize = 8;
/// Independent partial sums in [`sum_lanes`]: a vector add has a latency of 3–4 cycles, so one
/// running sum would wait on itself at every step; four chains keep the adder busy.
const CHAINS: usize = 4;

/// Floats per step of [`sum_lanes`]: `CHAINS·LANES`.
pub(super) const SUM_BLOCK: usize = CHAINS * LANES;

/// `Σ x`, for `x.len()` a multiple of [`SUM_BLOCK`] (32).
///
/// The bias gradient is a sum over every output pixel (`db[co] = Σ_p dY[co, p]`, 50 176 terms
/// per image on conv1). Written as `iter().sum()` it is one chain of dependent scalar adds,
/// which on conv1 cost more than the whole weight-gradient GEMM; here `CHAINS·LANES` partial
/// sums advance together, then fold. The summation order is fixed by the length alone, so the
/// result does not depend on the thread that runs it.
pub(super) fn sum_lanes(x: &[f32]) -> f32 {
    debug_assert!(x.len().is_multiple_of(SUM_BLOCK));
    let mut acc = [f32x8::ZERO; CHAINS];
    for block in x.chunks_exact(SUM_BLOCK) {
        let (vectors, _) = block.as_chunks::<LANES>();
        for (a, v) in acc.iter_mut().zip(vectors) {
            *a += f32x8::new(*v);
        }
    }
    let [a, b, c, d] = acc;
    ((a + b) + (c + d)).reduce_add()
}
