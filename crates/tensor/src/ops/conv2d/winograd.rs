//! Winograd's minimal filtering F(2×2, 3×3) for 3×3 convolutions with stride 1 and padding 1:
//! the same output as the direct formula with 16 multiplies per 2×2 output tile per channel
//! pair instead of 36 (Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural
//! Networks"; `docs/convolution.md` §8 derives it).
//!
//! For one channel pair, the 4×4 input tile `d` whose 3×3 windows give the 2×2 outputs
//! `y[2ty .. 2ty + 2, 2tx .. 2tx + 2]` (rows and columns `2ty − 1 .. 2ty + 3`, `2tx − 1 ..
//! 2tx + 3` of the image, zero outside it) and the filter `g` [3, 3] give
//!
//! ```text
//! Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A              [2, 2]
//!
//!      ⎡1  0 −1  0⎤        ⎡ 1    0    0 ⎤        ⎡1  1  1  0⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢ ½    ½    ½ ⎥   Aᵀ = ⎣0  1 −1 −1⎦
//!      ⎢0 −1  1  0⎥        ⎢ ½   −½    ½ ⎥
//!      ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
//! ```
//!
//! `⊙` multiplies the two 4×4 matrices element by element: 16 products. The sum over input
//! channels commutes with `Aᵀ · A`, so it happens on the transformed tiles: for each of the
//! 16 positions `ξ = 4·i + j` of a transformed tile, over a block of tiles `t`,
//!
//! ```text
//! U_ξ[ci, co] = (G w[co, ci] Gᵀ)[i, j]     [C_in, C_out]   the weights, once per call
//! V_ξ[ci, t]  = (Bᵀ d[ci, t] B)[i, j]      [C_in, tiles]   the input tiles
//! M_ξ[co, t]  = Σ_ci U_ξ[ci, co] · V_ξ[ci, t]             one GEMM: U_ξᵀ · V_ξ [C_out, tiles]
//! Y[co, t]    = Aᵀ M[·, co, t] A (+ b[co])                  the 2×2 outputs of tile t
//! ```
//!
//! so a convolution is 16 GEMMs of `C_out × C_in × tiles` instead of one of
//! `C_out × 9·C_in × 4·tiles`: 16/36 of the multiply-adds, plus the transforms, which cost
//! O(C·tiles) next to the GEMMs' O(C_in·C_out·tiles).
//!
//! **Blocking.** A whole 56×56 image is 784 tiles, and its V for 64 channels 16·64·784 floats
//! = 3.2 MB: written by the input transform, read by 16 GEMMs, it would go out to L3 and come
//! back. So tiles go in blocks of [`block_tiles`] (a fixed function of the channel counts),
//! sized so that V and M of one block stay in a core's 1 MiB L2: transform the block's input,
//! run the 16 GEMMs, transform their output, next block. The GEMMs read V in place (its rows
//! are handed over as row starts, [`Operand::rows_at`]): only `U_ξ` is packed, and stored as
//! [C_in, C_out] so packing it is contiguous copies.
//!
//! **Reproducibility.** Every output is computed from its own tile by the same arithmetic in
//! the same order, whatever block, task or thread computes it: the GEMMs run on the calling
//! thread and sum over `C_in` in an order fixed by the sizes. So the bits depend neither on
//! the thread count nor on the other images of the batch.
//!
//! **Accuracy.** Each output is exactly the direct sum in real arithmetic, rounded along a
//! different path. The transforms add and subtract before multiplying (`Bᵀ d B` sums up to 4
//! values of `d`, `G g Gᵀ` up to 9 of `g`, scaled by ¼; `Aᵀ M A` adds 9 of the 16 channel
//! sums), so the values being rounded are up to a few times larger than the direct sum's terms
//! and the worst case is a constant factor above im2col's: the tests allow 4× the direct paths'
//! tolerance. But the C_in·9-term dot product also becomes 16 sums of C_in terms, which round
//! less: measured on uniform inputs, Winograd's largest error against the f64 reference was
//! 0.3–0.7× im2col's, its RMS error 0.6–0.9× (`tests.rs`,
//! `winograd_error_is_within_a_small_factor_of_the_im2col_paths`).

use std::ops::{Add, Sub};

use rayon::prelude::*;

use super::Activation;
use super::kernel::{self, LANES};
use super::relu_pool::{RawImage, relu_pool};
use super::scratch::{COLS, STARTS, WINOGRAD_WEIGHTS, with_scratch};
use super::upstream::PoolWindows;
use crate::TensorError;
use crate::ops::gemm::{Accumulate, GemmDims, Operand, Threads, Transpose, gemm_on};

/// Positions of a transformed 4×4 tile, one GEMM each.
const POSITIONS: usize = 16;

/// Floats of one block's V [16, C_in, tiles] and M [16, C_out, tiles] together: 192 Ki floats
/// = 768 KiB, three quarters of a core's L2, leaving room for the packed `U_ξ` and the input
/// rows being transformed.
const BLOCK_FLOATS: usize = 192 * 1024;

/// Tiles per block are a multiple of this: 32, the GEMM's micro-panel width with AVX-512 (and
/// two panels without), so no block but a batch's last has a partial panel to pack.
const TILE_STEP: usize = 32;

/// Most tiles per block: past 256 the blocks of the small layers would exceed an image.
const MAX_BLOCK_TILES: usize = 256;

/// `G g`: the weight transform along one axis, 3 filter taps → 4 values.
/// `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`.
pub(super) fn weight_1d([g0, g1, g2]: [f32; 3]) -> [f32; 4] {
    let half_sum = 0.5 * (g0 + g2);
    [g0, half_sum + 0.5 * g1, half_sum - 0.5 * g1, g2]
}

/// `Bᵀ d`: the input transform along one axis, 4 input values → 4.
/// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`.
#[inline]
pub(super) fn input_1d<T: Copy + Add<Output = T> + Sub<Output = T>>(
    [d0, d1, d2, d3]: [T; 4],
) -> [T; 4] {
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// `Aᵀ m`: the output transform along one axis, 4 transformed values → 2 outputs.
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`.
#[inline]
pub(super) fn output_1d<T: Copy + Add<Output = T> + Sub<Output = T>>(
    [m0, m1, m2, m3]: [T; 4],
) -> [T; 2] {
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// `G g Gᵀ` [4, 4] for one filter `g` [3, 3]: [`weight_1d`] down each column, then along
/// each row.
pub(super) fn weight_tile(g: [[f32; 3]; 3]) -> [[f32; 4]; 4] {
    // gg = G g [4, 3]: column c of gg is G times column c of g.
    let columns: [[f32; 4]; 3] = std::array::from_fn(|c| weight_1d([g[0][c], g[1][c], g[2][c]]));
    // (G g) Gᵀ: row r is G times row r of G g (read as a column).
    std::array::from_fn(|r| weight_1d([columns[0][r], columns[1][r], columns[2][r]]))
}

/// The shapes of one Winograd convolution: `C_in` → `C_out` channels on `h×w` images, 3×3
/// kernel, stride 1, padding 1, so the output is also `h×w`, cut into `⌈h/2⌉ × ⌈w/2⌉` tiles of
/// 2×2 (the last row and column of tiles partial when `h` or `w` is odd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Winograd {
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
}

/// Where the input images lie in a slice: channel `c` of image `i`, row `r` (of `w` values)
/// starts at `origin + i·image_step + c·plane + r·pitch`. Dense NCHW images are
/// `(0, C·H·W, H·W, W)`; the padded grid of the implicit backward has its own.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planes<'a> {
    pub data: &'a [f32],
    pub origin: usize,
    pub image_step: usize,
    pub plane: usize,
    pub pitch: usize,
}

/// One run of tiles in one tile row of one image: tiles `tx` of row `ty` of image `image`,
/// at columns `column ..` of the block's V and M.
#[derive(Debug, Clone)]
struct Segment {
    image: usize,
    ty: usize,
    tx: std::ops::Range<usize>,
    column: usize,
}

impl Winograd {
    fn tiles_h(&self) -> usize {
        self.h.div_ceil(2)
    }

    fn tiles_w(&self) -> usize {
        self.w.div_ceil(2)
    }

    /// Tiles of one image.
    fn tiles(&self) -> usize {
        self.tiles_h() * self.tiles_w()
    }

    /// Tiles per block: the most, a multiple of [`TILE_STEP`] and at most
    /// [`MAX_BLOCK_TILES`], whose V and M take at most [`BLOCK_FLOATS`]. conv5 64→128: 64;
    /// conv4 64→64: 96; conv3 32→64: 128; conv2 16→32: 256. Depends on the channels alone.
    fn block_tiles(&self) -> usize {
        let per_tile = POSITIONS * (self.c_in + self.c_out);
        (BLOCK_FLOATS / per_tile / TILE_STEP * TILE_STEP).clamp(TILE_STEP, MAX_BLOCK_TILES)
    }

    /// Images per rayon task: enough for one block of tiles (several images at 16×16 and
    /// below), at least one. Fixed by the sizes, so the tasks do not depend on the threads.
    pub fn images_per_task(&self) -> usize {
        self.block_tiles().div_ceil(self.tiles()).max(1)
    }

    /// Floats of `U` [16, C_in, C_out].
    pub fn weights_len(&self) -> usize {
        POSITIONS * self.c_in * self.c_out
    }

    /// `u[ξ][ci][co] = (G w[co, ci] Gᵀ)[ξ]` for `w` [C_out, C_in, 3, 3]: every `U_ξ` stored
    /// [C_in, C_out], the layout the GEMM packs by contiguous copies (it uses `U_ξᵀ`).
    pub fn transform_weights(&self, w: &[f32], u: &mut [f32]) {
        let (c_in, c_out) = (self.c_in, self.c_out);
        for (co, filters) in w.chunks_exact(9 * c_in).enumerate() {
            for (ci, g) in filters.chunks_exact(9).enumerate() {
                let g = [[g[0], g[1], g[2]], [g[3], g[4], g[5]], [g[6], g[7], g[8]]];
                let tile = weight_tile(g);
                for (xi, &v) in tile.as_flattened().iter().enumerate() {
                    u[(xi * c_in + ci) * c_out + co] = v;
                }
            }
        }
    }

    /// The scratch layout of one block of `tiles` tiles.
    fn layout(&self) -> Layout {
        let tiles = self.block_tiles();
        Layout {
            tiles,
            v_step: self.c_in * tiles + LINE_FLOATS,
            m_step: self.c_out * tiles + LINE_FLOATS,
        }
    }

    /// `y = activation(conv(x) + b)` for the images of `x` ([`Planes`]), written dense into
    /// `y` [images, C_out, H, W], from the transformed weights `u` ([`transform_weights`]).
    /// Tiles run in blocks of [`Winograd::block_tiles`] across the images, on this thread.
    ///
    /// [`transform_weights`]: Winograd::transform_weights
    pub fn forward_images(
        &self,
        u: &[f32],
        x: Planes,
        b: Option<&[f32]>,
        activation: Activation,
        y: &mut [f32],
    ) -> Result<(), TensorError> {
        let (c_in, c_out) = (self.c_in, self.c_out);
        let images = y.len() / (c_out * self.h * self.w);
        let total = images * self.tiles();
        let layout = self.layout();
        // A zero row and the Bᵀ combinations of 4 input rows, over the widest segment
        // (a whole tile row, rounded up to whole vectors of tiles).
        let line = self.line_len(self.tiles_w());
        let (v_len, m_len) = (POSITIONS * layout.v_step, POSITIONS * layout.m_step);
        with_scratch(&STARTS, POSITIONS * c_in, |starts| {
            // Row ci of V_ξ starts at ξ·v_step + ci·tiles.
            for (xi, starts) in starts.chunks_exact_mut(c_in).enumerate() {
                let rows = starts.iter_mut().enumerate();
                rows.for_each(|(ci, s)| *s = xi * layout.v_step + ci * layout.tiles);
            }
            let starts = &*starts;
            with_scratch(&COLS, v_len + m_len + 5 * line + LINE_FLOATS, |scratch| {
                // v: [16, v_step] on a cache line, m: [16, m_step], lines: [5, line].
                let (v, rest) = on_a_line(scratch, v_len);
                let (m, lines) = rest.split_at_mut(m_len);
                for first in (0..total).step_by(layout.tiles) {
                    let n = layout.tiles.min(total - first);
                    let segments = self.segments(first..first + n);
                    for s in segments.clone() {
                        self.input_segment(x, &s, &layout, v, lines);
                    }
                    // M_ξ [C_out, n] = U_ξᵀ [C_out, C_in] · V_ξ [C_in, n], V read in place.
                    for (xi, m) in m.chunks_exact_mut(layout.m_step).enumerate() {
                        let u = &u[xi * c_in * c_out..][..c_in * c_out];
                        let u = Operand::new(u, Transpose::Yes);
                        let v = Operand::rows_at(v, Transpose::No, &starts[xi * c_in..][..c_in]);
                        let dims = GemmDims { m: c_out, n, k: c_in };
                        let m = &mut m[..c_out * n];
                        gemm_on(Threads::Caller, dims, u, v, m, Accumulate::Overwrite)?;
                    }
                    for s in segments {
                        self.output_segment((m, layout.m_step, n), &s, (b, activation), y);
                    }
                }
                Ok(())
            })
        })
    }

    /// Floats of one line of [`Winograd::input_segment`] for `count` tiles: their padded
    /// columns `2·count + 2`, the tiles rounded up to whole vectors.
    fn line_len(&self, count: usize) -> usize {
        2 * count.next_multiple_of(LANES) + 2
    }

    /// The runs of tiles of the block `tiles` (tile `t` of the batch is tile
    /// `t mod tiles()` of image `t / tiles()`, row-major), one per tile row it touches.
    fn segments(&self, tiles: std::ops::Range<usize>) -> impl Iterator<Item = Segment> + Clone {
        let (per_image, tiles_w) = (self.tiles(), self.tiles_w());
        let first = tiles.start;
        let mut t = tiles.start;
        std::iter::from_fn(move || {
            (t < tiles.end).then(|| {
                let (image, within) = (t / per_image, t % per_image);
                let (ty, tx) = (within / tiles_w, within % tiles_w);
                let len = (tiles_w - tx).min(tiles.end - t);
                let segment = Segment { image, ty, tx: tx..tx + len, column: t - first };
                t += len;
                segment
            })
        })
    }

    /// `V_ξ[ci, column + k] = (Bᵀ d B)[ξ]` for the tiles `tx0 + k` of segment `s`, every
    /// channel, into `v` ([`Layout`]). `lines` is scratch for 5 lines of the segment
    /// ([`Winograd::line_len`]).
    fn input_segment(
        &self,
        x: Planes,
        s: &Segment,
        layout: &Layout,
        v: &mut [f32],
        lines: &mut [f32],
    ) {
        let count = s.tx.len();
        // Padded columns 2·tx0 .. 2·tx1 + 2 of the image, i.e. image columns 2·tx0 − 1 ..
        // 2·tx1 + 1: each tile reads 4 of them, overlapping its neighbour by 2. Past them, up
        // to whole vectors of tiles, zeros.
        let width = self.line_len(count);
        // zeros: a row outside the image; combos [4, width], the rows' Bᵀ combinations.
        let (zeros, combos) = lines[..5 * width].split_at_mut(width);
        zeros.fill(0.0);
        // Columns outside the image (and past the segment) stay 0 in every combination.
        combos.fill(0.0);
        let first_col = 2 * s.tx.start;
        // The image columns this segment reads: padded columns lo .. hi (padded column p is
        // image column p − 1), at lo − first_col .. hi − first_col of a line.
        let (lo, hi) = (first_col.max(1), (first_col + 2 * count + 2).min(self.w + 1));
        // Every tile reads at least one column: 2·tx0 ≤ W − 1, so lo ≤ W − 1 + 1 < hi.
        debug_assert!(lo < hi);
        let inside = lo - first_col..hi - first_col;
        for ci in 0..self.c_in {
            // rows: image rows 2ty − 1 .. 2ty + 3 over those columns, read in place (zeros
            // for a row outside the image).
            let row = |a: usize| {
                let r = (2 * s.ty + a).wrapping_sub(1);
                if r < self.h {
                    let start = x.origin + s.image * x.image_step + ci * x.plane + r * x.pitch;
                    &x.data[start + lo - 1..start + hi - 1]
                } else {
                    &zeros[..hi - lo]
                }
            };
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            // combos: Bᵀ applied down every column, combo i = Σ_a Bᵀ[i][a]·row a.
            let (c0, rest) = combos.split_at_mut(width);
            let (c1, rest) = rest.split_at_mut(width);
            let (c2, c3) = rest.split_at_mut(width);
            let (c0, c1) = (&mut c0[inside.clone()], &mut c1[inside.clone()]);
            let (c2, c3) = (&mut c2[inside.clone()], &mut c3[inside.clone()]);
            for p in 0..hi - lo {
                let [a, b, c, d] = input_1d([r0[p], r1[p], r2[p], r3[p]]);
                (c0[p], c1[p], c2[p], c3[p]) = (a, b, c, d);
            }
            // Then Bᵀ along each row within every tile, LANES tiles at a time: tile k reads
            // columns 2k .. 2k + 4 of its combination row.
            for (i, combo) in combos.chunks_exact(width).enumerate() {
                for k0 in (0..count).step_by(LANES) {
                    let lanes = LANES.min(count - k0);
                    let src = combo[2 * k0..].first_chunk().expect("lines cover whole vectors");
                    let out = kernel::winograd_input_lanes(src);
                    for (j, out) in out.iter().enumerate() {
                        let at = (4 * i + j) * layout.v_step + ci * layout.tiles + s.column + k0;
                        if lanes == LANES {
                            v[at..at + LANES].copy_from_slice(out);
                        } else {
                            v[at..at + lanes].iter_mut().zip(out).for_each(|(d, &x)| *d = x);
                        }
                    }
                }
            }
        }
    }

    /// `y[image, co, 2ty + i, 2tx + j] = activation((Aᵀ M A)[i][j] + b[co])` for the tiles of
    /// segment `s`, from `m` = M_ξ [C_out, n] at `ξ·m_step`; rows and columns past the image
    /// are not written. [`LANES`] tiles at a time go through [`kernel::winograd_output_lanes`];
    /// a last partial group is zero-padded.
    fn output_segment(
        &self,
        (m, m_step, n): (&[f32], usize, usize),
        s: &Segment,
        (b, activation): (Option<&[f32]>, Activation),
        y: &mut [f32],
    ) {
        let (h, w) = (self.h, self.w);
        let image_len = self.c_out * h * w;
        let y = &mut y[s.image * image_len..][..image_len];
        let top = 2 * s.ty;
        let rows = if top + 1 < h { 2 } else { 1 };
        let count = s.tx.len();
        for (co, y) in y.chunks_exact_mut(h * w).enumerate() {
            let bias = b.map_or(0.0, |b| b[co]);
            for k0 in (0..count).step_by(LANES) {
                let lanes = LANES.min(count - k0);
                // tile[ξ]: position ξ of tiles k0 .. k0 + LANES (zeros past the segment), from
                // M_ξ[co, column + k0 ..].
                let mut tile = [[0.0; LANES]; POSITIONS];
                let first = co * n + s.column + k0;
                for (xi, lane) in tile.iter_mut().enumerate() {
                    let src = &m[xi * m_step + first..];
                    if lanes == LANES {
                        // A fixed-size copy: two vector moves, not a call to memmove.
                        lane.copy_from_slice(&src[..LANES]);
                    } else {
                        // Element by element: cheaper than a call to memmove for under 8.
                        lane.iter_mut().zip(&src[..lanes]).for_each(|(d, &v)| *d = v);
                    }
                }
                // out[i]: output row i of these tiles, their two columns interleaved.
                let out = kernel::winograd_output_lanes(&tile, bias, activation);
                let left = 2 * (s.tx.start + k0);
                let cols = (2 * LANES).min(w - left);
                for (i, out) in out.iter().enumerate().take(rows) {
                    let row = &mut y[(top + i) * w + left..];
                    if cols == 2 * LANES {
                        row[..2 * LANES].copy_from_slice(out);
                    } else {
                        row[..cols].iter_mut().zip(out).for_each(|(d, &v)| *d = v);
                    }
                }
            }
        }
    }
}

/// Where one block's V and M lie in scratch: `V_ξ` [C_in, tiles] rows from `ξ·v_step`, `M_ξ`
/// [C_out, n] from `ξ·m_step`. Each step is one cache line more than the matrix: at 64
/// channels and 64 tiles the 16 matrices would otherwise start exactly 16 KiB (V) or 32 KiB
/// (M) apart, all in the same set of the 8-way L1, and the transforms, which touch all 16 at
/// once, would evict their own lines.
struct Layout {
    tiles: usize,
    v_step: usize,
    m_step: usize,
}

/// Floats per 64-byte cache line.
const LINE_FLOATS: usize = 64 / size_of::<f32>();

/// The first `len` floats of `buf` from its first 64-byte boundary, and the rest after them.
/// `buf` holds at least `len + LINE_FLOATS` floats.
fn on_a_line(buf: &mut [f32], len: usize) -> (&mut [f32], &mut [f32]) {
    let skip = buf.as_ptr().align_offset(64).min(LINE_FLOATS);
    buf[skip..].split_at_mut(len)
}

impl Winograd {
    /// Dense NCHW images `x` [images, C_in, H, W] as [`Planes`].
    fn dense<'a>(&self, x: &'a [f32]) -> Planes<'a> {
        let plane = self.h * self.w;
        Planes { data: x, origin: 0, image_step: self.c_in * plane, plane, pitch: self.w }
    }
}

/// Forward of a batch of dense images `x` [N, C_in, H, W] → `y` [N, C_out, H, W] (3×3, stride
/// 1, padding 1) with `w` [C_out, C_in, 3, 3]: the weights transformed once on this thread,
/// then groups of [`Winograd::images_per_task`] images in parallel.
pub(super) fn forward(
    geo: Winograd,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    activation: Activation,
    y: &mut [f32],
) -> Result<(), TensorError> {
    let (image_len, out_len) = (geo.c_in * geo.h * geo.w, geo.c_out * geo.h * geo.w);
    let per_task = geo.images_per_task();
    with_scratch(&WINOGRAD_WEIGHTS, geo.weights_len(), |u| {
        geo.transform_weights(w, u);
        let u = &*u;
        let groups = y.par_chunks_mut(per_task * out_len).zip(x.par_chunks(per_task * image_len));
        groups.try_for_each(|(y, x)| geo.forward_images(u, geo.dense(x), b, activation, y))
    })
}

/// `y = max_pool2d(relu(conv(x) + b), windows)` and its winners (flat indices into the conv
/// output [N, C_out, H, W]): [`forward`] without bias or activation into a per-task scratch
/// image, then the fused pool's pass (`relu_pool.rs`) adds the bias and applies the ReLU as it
/// reads it, exactly as [`forward`] with [`Activation::Relu`] would have (`relu(v + b)`).
pub(super) fn forward_relu_pool(
    geo: Winograd,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    windows: PoolWindows,
    y: &mut [f32],
    argmax: &mut [u32],
) -> Result<(), TensorError> {
    let (image_len, conv_len) = (geo.c_in * geo.h * geo.w, geo.c_out * geo.h * geo.w);
    let pooled_len = geo.c_out * windows.pooled_hw.0 * windows.pooled_hw.1;
    let per_task = geo.images_per_task();
    with_scratch(&WINOGRAD_WEIGHTS, geo.weights_len(), |u| {
        geo.transform_weights(w, u);
        let u = &*u;
        let outputs = y
            .par_chunks_mut(per_task * pooled_len)
            .zip(argmax.par_chunks_mut(per_task * pooled_len));
        let groups = outputs.zip(x.par_chunks(per_task * image_len)).enumerate();
        groups.try_for_each(|(group, ((y, argmax), x))| {
            let images = x.len() / image_len;
            with_scratch(&COLS, images * conv_len, |dense| {
                // dense: [images, C_out, H, W], the convolution before bias and ReLU.
                geo.forward_images(u, geo.dense(x), None, Activation::Identity, dense)?;
                let outputs =
                    y.chunks_exact_mut(pooled_len).zip(argmax.chunks_exact_mut(pooled_len));
                for (i, (y, argmax)) in outputs.enumerate() {
                    let src = &dense[i * conv_len..(i + 1) * conv_len];
                    let raw = RawImage { src, plane: geo.h * geo.w, pitch: geo.w, bias: b };
                    relu_pool(raw, windows, (group * per_task + i) * conv_len, y, argmax);
                }
                Ok(())
            })
        })
    })
}
