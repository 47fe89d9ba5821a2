//! The micro-kernel: one MR×NR tile of `A~·B~`, accumulated in SIMD registers.
//!
//! `tile[r][j] = Σ_p a[p][r] · b[p][j]` for a packed A micro-panel `a: [kc][MR]` and a packed B
//! micro-panel `b: [kc][NR]` (see `pack.rs`). Each step `p` is a rank-1 update of the tile: load
//! one row of B (NR floats = two vectors), broadcast each of the MR values of A, and fuse
//! multiply-add them into the 2·MR accumulators. With AVX-512 that is 16 independent `vfmadd`
//! chains, more than the 4-cycle latency × 1 FMA/cycle of a Zen 4 core needs to stay busy, while
//! 16 accumulators + 2 B vectors + 1 broadcast fit the 32 vector registers without spilling.
//! Safe `wide` code is enough: the loop compiles to 16 `vfmadd231ps` per step with no bounds
//! checks (the panels are cut with `as_chunks`), so no `unsafe` is needed here.
//!
//! What this is not: it knows nothing of C, of edges or of blocking. It never reads C (so β = 0
//! needs no special case) and always computes a whole tile; `loops.rs` stores the valid part.

use wide::f32x8;
#[cfg(not(target_feature = "avx512f"))]
use wide::f32x8 as Lanes;
#[cfg(target_feature = "avx512f")]
use wide::f32x16 as Lanes;

/// Floats per SIMD vector: 16 with AVX-512 (`f32x16`), else 8 (`f32x8`: AVX2, or two SSE halves).
pub(super) const LANES: usize = if cfg!(target_feature = "avx512f") { 16 } else { 8 };
/// Rows of a tile: the broadcast side of the kernel. 8 divides every channel count of the
/// paper's network (16…128), so conv GEMMs (M = C_out) pack no padding rows; 6 and 12 measured
/// no faster on square problems (docs/gemm.md).
pub(super) const MR: usize = 8;
/// Columns of a tile: two vectors, so each broadcast of A feeds two FMAs.
pub(super) const NR: usize = 2 * LANES;
/// Vectors per tile row.
pub(super) const VECS: usize = NR / LANES;

/// `tile = a·b` for one packed A micro-panel (`a: [kc][MR]`, row `r` of step `p` at `p·MR + r`)
/// and one packed B micro-panel (`b: [kc][NR]`). Both panels hold the same `kc ≥ 0` steps.
pub(super) fn tile(a: &[f32], b: &[f32], tile: &mut [[f32; NR]; MR]) {
    let (b_steps, b_rest) = b.as_chunks::<NR>();
    debug_assert!(b_rest.is_empty());
    let steps = b_steps.iter().map(|b_p| {
        let (b_vectors, _) = b_p.as_chunks::<LANES>();
        std::array::from_fn(|v| Lanes::new(b_vectors[v]))
    });
    rank_one_updates(a, steps, tile);
}

/// [`tile`] with a B micro-panel that is not packed: vector `v` of step `p` is
/// `b[starts[p] + cols[v]..][..LANES]`. conv2d's implicit im2col gives B in this form (each step
/// a shifted row of the padded image, contiguous for a run of columns), so it is read where it
/// lies; the tile's vectors may come from different runs (`cols[1] ≠ cols[0] + LANES`), e.g.
/// two output rows of a 16-pixel-wide image. `a` holds `starts.len()` steps.
pub(super) fn tile_in_place(
    a: &[f32],
    b: &[f32],
    starts: &[usize],
    cols: [usize; VECS],
    tile: &mut [[f32; NR]; MR],
) {
    let steps = starts.iter().map(|&start| {
        std::array::from_fn(|v| {
            let at = start + cols[v];
            Lanes::new(b[at..at + LANES].try_into().expect("a slice of LANES floats"))
        })
    });
    rank_one_updates(a, steps, tile);
}

/// One vector of a step of an in-place B micro-panel whose columns lie in runs, as offsets from
/// the step's start: lanes `< split` are read from `lo..`, lanes `≥ split` from `hi..`. A vector
/// inside one run has `split = LANES` (and `hi = lo`); one that crosses from a run into the next
/// takes its first `split` columns from the end of the first run and the rest from the start of
/// the next, `hi` being that start minus `split`, so that lane `l ≥ split` of the load at `hi`
/// is the next run's column `l − split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Crossing {
    pub lo: usize,
    pub hi: usize,
    pub split: usize,
}

/// [`tile_in_place`] for a tile whose vectors may cross from one run of B's columns into the
/// next ([`Crossing`]): each such vector is two loads, merged lane by lane (the lanes below
/// `split` from the first). The values reaching each lane, and their order, are those of a
/// packed B, so the tile has the same bits.
pub(super) fn tile_in_place_crossing(
    a: &[f32],
    b: &[f32],
    starts: &[usize],
    vectors: [Crossing; VECS],
    tile: &mut [[f32; NR]; MR],
) {
    // first[v]: all-ones in the lanes that come from `lo`.
    let lane: [f32; LANES] = std::array::from_fn(|l| l as f32);
    let first = vectors.map(|x| Lanes::new(lane).simd_lt(Lanes::splat(x.split as f32)));
    let load = |at: usize| Lanes::new(b[at..at + LANES].try_into().expect("a slice of LANES"));
    let steps = starts.iter().map(|&start| {
        std::array::from_fn(|v| {
            let Crossing { lo, hi, .. } = vectors[v];
            first[v].select(load(start + lo), load(start + hi))
        })
    });
    rank_one_updates(a, steps, tile);
}

/// `tile = Σ_p a_p ⊗ b_p` over the steps of the packed A micro-panel `a` (`[kc][MR]`) and the
/// B rows `b_steps` (VECS vectors = NR floats each, as many as A has steps).
#[inline(always)]
fn rank_one_updates(
    a: &[f32],
    b_steps: impl Iterator<Item = [Lanes; VECS]>,
    tile: &mut [[f32; NR]; MR],
) {
    let (a_steps, a_rest) = a.as_chunks::<MR>();
    debug_assert!(a_rest.is_empty());
    // acc[r][v]: lanes v·LANES.. of tile row r.
    let mut acc = [[Lanes::ZERO; VECS]; MR];
    for (a_p, b_v) in a_steps.iter().zip(b_steps) {
        for (acc_r, &a_pr) in acc.iter_mut().zip(a_p) {
            let a_r = Lanes::splat(a_pr);
            for (acc_rv, &b_pv) in acc_r.iter_mut().zip(&b_v) {
                *acc_rv = a_r.mul_add(b_pv, *acc_rv);
            }
        }
    }
    for (tile_r, acc_r) in tile.iter_mut().zip(&acc) {
        let (tile_vectors, _) = tile_r.as_chunks_mut::<LANES>();
        for (t, v) in tile_vectors.iter_mut().zip(acc_r) {
            *t = v.to_array();
        }
    }
}

/// Transposes an 8×8 block, `out[j][i] = block[i][j]`, in registers (`f32x8::transpose`: unpack
/// and shuffle instructions with AVX). Packing uses it to turn 8 rows of a row-major matrix into
/// 8 steps of a panel with whole-vector loads and stores instead of 64 strided scalar stores.
pub(super) fn transpose8(block: [[f32; 8]; 8]) -> [[f32; 8]; 8] {
    f32x8::transpose(block.map(f32x8::new)).map(f32x8::to_array)
}
