//! ReLU over whole SIMD lanes (`wide::f32x8`). One thread, no tails: callers pass lengths that
//! are multiples of [`LANES`] and handle the rest with the reference.
//!
//! Both kernels select with a comparison mask rather than `max`, so a NaN input gives 0 exactly
//! as the reference's `if x > 0` does (`max` would propagate or drop NaN depending on operand
//! order and instruction set).

use wide::f32x8;

/// f32 elements per SIMD vector.
pub(super) const LANES: usize = 8;

fn lanes(xs: &[f32]) -> f32x8 {
    f32x8::new(xs.try_into().expect("chunks_exact yields LANES floats"))
}

/// `y = x where x > 0, else 0`, for `x.len()` a multiple of [`LANES`].
pub(super) fn relu_lanes(x: &[f32], y: &mut [f32]) {
    debug_assert!(x.len() == y.len() && x.len().is_multiple_of(LANES));
    for (xs, ys) in x.chunks_exact(LANES).zip(y.chunks_exact_mut(LANES)) {
        let v = lanes(xs);
        ys.copy_from_slice(&v.simd_gt(f32x8::ZERO).select(v, f32x8::ZERO).to_array());
    }
}

/// `dx = dy where x > 0, else 0`, for lengths a multiple of [`LANES`].
pub(super) fn relu_backward_lanes(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    debug_assert!(x.len() == dy.len() && x.len() == dx.len() && x.len().is_multiple_of(LANES));
    let chunks = x.chunks_exact(LANES).zip(dy.chunks_exact(LANES));
    for ((xs, dys), dxs) in chunks.zip(dx.chunks_exact_mut(LANES)) {
        let keep = lanes(xs).simd_gt(f32x8::ZERO);
        dxs.copy_from_slice(&keep.select(lanes(dys), f32x8::ZERO).to_array());
    }
}
