//! The gradient that reaches a convolution's backward, `∂loss/∂(its output)`, in the three
//! forms the fused ops give it, and how each becomes `dz = ∂loss/∂conv(x)` as it is first
//! copied (into the padded grid, or a dense scratch image):
//!
//! ```text
//! conv2d                      dz = dy
//! relu(conv2d)                dz = dy where y > 0, else 0              (y: the ReLU's output)
//! max_pool2d(relu(conv2d))    dz = 0, then dz[argmax[o]] += dy[o] where y[o] > 0
//!                                                                      (y, dy: pooled)
//! ```
//!
//! The last is the pool's backward (a scatter to each window's winner) followed by the ReLU's
//! mask: the winner's ReLU output is the pooled value `y[o]`, so the mask needs no full-size
//! tensor, and the full-size `dz` is never written outside the cache-sized padded grid.
//!
//! The scatter writes one image's `OH×OW` block of each channel plane and nothing else
//! ([`Layout`]): on a padded grid holding several images side by side, the borders belong to
//! the grid (`PaddedGrid::zero_borders`) and the neighbours' blocks to their own scatters.

use crate::TensorError;
use crate::ops::max_pool2d::kernel::{LANES, max_pool_2x2_backward_lanes};

/// Windows of the pool in [`Upstream::ReluPool`]: side `kernel`, step `stride`, over a conv
/// output of `conv_hw` giving `pooled_hw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PoolWindows {
    pub kernel: usize,
    pub stride: usize,
    pub conv_hw: (usize, usize),
    pub pooled_hw: (usize, usize),
}

/// Where one image's `dz` [C_out, OH, OW] is written: channel planes `plane` floats apart, rows
/// `pitch` apart, pixel (0, 0) at `origin` within each plane. Dense: `plane = OH·OW`,
/// `pitch = OW`, `origin = 0`. Image `t` of a padded grid: `pitch = Wp`, `origin =
/// pad·Wp + pad + t·(W + pad)` (the grid's layout, `implicit.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub plane: usize,
    pub pitch: usize,
    pub origin: usize,
}

impl Layout {
    /// `dst[c·plane + origin + row·pitch ..][..width]`: part of row `row` of channel `c`'s block.
    fn row<'d>(&self, dst: &'d mut [f32], c: usize, row: usize, width: usize) -> &'d mut [f32] {
        &mut dst[c * self.plane + self.origin + row * self.pitch..][..width]
    }
}

/// `∂loss/∂(the op's output)`, see the module docs. Every slice covers the same images.
#[derive(Debug, Clone, Copy)]
pub(super) enum Upstream<'a> {
    /// The plain convolution's `dy` [N, C_out, OH, OW].
    Conv { dy: &'a [f32] },
    /// `relu(conv)`: `dy` and the output `y`, both [N, C_out, OH, OW].
    Relu { dy: &'a [f32], y: &'a [f32] },
    /// `max_pool2d(relu(conv))`: `dy` and the output `y`, both [N, C_out, PH, PW], and per
    /// output the flat index of its window's winner in the whole conv output [N, C_out, OH, OW]
    /// (as `max_pool2d::forward` records it); these slices start at image `first_image`.
    ReluPool {
        dy: &'a [f32],
        y: &'a [f32],
        argmax: &'a [u32],
        windows: PoolWindows,
        first_image: usize,
    },
}

impl<'a> Upstream<'a> {
    /// Images `range` out of the `count` images these slices hold.
    pub fn images(self, range: std::ops::Range<usize>, count: usize) -> Self {
        let per_image = self.dy().len() / count;
        let floats = range.start * per_image..range.end * per_image;
        match self {
            Upstream::Conv { dy } => Upstream::Conv { dy: &dy[floats] },
            Upstream::Relu { dy, y } => Upstream::Relu { dy: &dy[floats.clone()], y: &y[floats] },
            Upstream::ReluPool { dy, y, argmax, windows, first_image } => Upstream::ReluPool {
                dy: &dy[floats.clone()],
                y: &y[floats.clone()],
                argmax: &argmax[floats],
                windows,
                first_image: first_image + range.start,
            },
        }
    }

    /// The incoming gradient (pooled for [`Upstream::ReluPool`]).
    pub fn dy(self) -> &'a [f32] {
        match self {
            Upstream::Conv { dy } | Upstream::Relu { dy, .. } | Upstream::ReluPool { dy, .. } => dy,
        }
    }
}

/// `dz` of image `image` of [`Upstream::ReluPool`] (its `dy`, `y`, `argmax`) into `dst` laid
/// out as `layout` says, every pixel of the image's `OH×OW` blocks and nothing outside them
/// (zeros first): `dz[argmax[o]] += dy[o]` where `y[o] > 0`, outputs in order, as
/// `max_pool2d::backward` then `relu::backward` would give it, bit for bit.
///
/// # Errors
/// [`TensorError::InvalidParameter`] when a winner lies outside its own window (the pool's
/// forward never records that).
pub(super) fn scatter_pooled(
    (dy, y, argmax): (&[f32], &[f32], &[u32]),
    image: usize,
    windows: PoolWindows,
    layout: Layout,
    dst: &mut [f32],
) -> Result<(), TensorError> {
    let PoolWindows { kernel, stride, conv_hw: (oh, ow), pooled_hw: (ph, pw) } = windows;
    if (kernel, stride) == (2, 2) {
        return scatter_pooled_2x2((dy, y, argmax), image, windows, layout, dst);
    }
    let c_out = dy.len() / (ph * pw);
    for c in 0..c_out {
        (0..oh).for_each(|row| layout.row(dst, c, row, ow).fill(0.0));
    }
    let planes = dy.chunks_exact(ph * pw).zip(y.chunks_exact(ph * pw));
    for (c, ((dy, y), argmax)) in planes.zip(argmax.chunks_exact(ph * pw)).enumerate() {
        let rows = dy.chunks_exact(pw).zip(y.chunks_exact(pw)).zip(argmax.chunks_exact(pw));
        for (i, ((dy, y), argmax)) in rows.enumerate() {
            for (j, ((&dy, &y), &winner)) in dy.iter().zip(y).zip(argmax).enumerate() {
                // The ReLU passes this window's gradient only if its winner was positive, and
                // the pooled value is the winner's.
                let passes = y > 0.0;
                if !passes {
                    continue;
                }
                // Output (c, i, j) reads conv rows top.., columns left..; find the winner's
                // place in that window without dividing (an index before it wraps to huge).
                let (top, left) = (i * stride, j * stride);
                let plane = (image * c_out + c) * oh * ow;
                let rel = (winner as usize).wrapping_sub(plane + top * ow + left);
                let Some(a) = (0..kernel).find(|&a| (a * ow..a * ow + kernel).contains(&rel))
                else {
                    let what =
                        format!("winner {winner} of output ({c}, {i}, {j}) is outside its window");
                    return Err(TensorError::InvalidParameter {
                        op: "conv2d_relu_pool::backward",
                        what,
                    });
                };
                let at = c * layout.plane + layout.origin + (top + a) * layout.pitch + left + rel
                    - a * ow;
                // Added onto the zeros, as the pool's backward does.
                dst[at] += dy;
            }
        }
    }
    Ok(())
}

/// [`scatter_pooled`] for 2×2 windows with stride 2, which do not overlap: each row pair of
/// the block is written once, `dy` (masked) at each window's winner and 0 at its other three
/// elements, with no zero fill first; only what no window covers (a last odd row or column)
/// is zeroed on its own. Rows of windows narrower than the pool's SIMD block ([`LANES`]) whose
/// width divides it (8 windows: conv5 of the 64×64 network) go [`LANES`]`/PW` rows per block
/// ([`scatter_row_block_2x2`]).
fn scatter_pooled_2x2(
    (dy, y, argmax): (&[f32], &[f32], &[u32]),
    image: usize,
    windows: PoolWindows,
    layout: Layout,
    dst: &mut [f32],
) -> Result<(), TensorError> {
    let PoolWindows { conv_hw: (oh, ow), pooled_hw: (ph, pw), .. } = windows;
    let pitch = layout.pitch;
    let c_out = dy.len() / (ph * pw);
    let planes = dy.chunks_exact(ph * pw).zip(y.chunks_exact(ph * pw));
    for (c, ((dy, y), argmax)) in planes.zip(argmax.chunks_exact(ph * pw)).enumerate() {
        if oh > 2 * ph {
            layout.row(dst, c, 2 * ph, ow).fill(0.0); // an odd last row
        }
        // Whole blocks of `rows_per_block` rows of windows first, when rows are that narrow.
        let rows_per_block = if pw < LANES && LANES.is_multiple_of(pw) { LANES / pw } else { 1 };
        let blocked = if rows_per_block > 1 { ph / rows_per_block * rows_per_block } else { 0 };
        for i in (0..blocked).step_by(rows_per_block) {
            let windows = i * pw..(i + rows_per_block) * pw;
            let pooled = (&dy[windows.clone()], &y[windows.clone()], &argmax[windows]);
            let origin = ((image * c_out + c) * oh + 2 * i) * ow;
            scatter_row_block_2x2(pooled, (c, i), origin, (ow, pw), layout, dst)?;
        }
        let rows = dy.chunks_exact(pw).zip(y.chunks_exact(pw)).zip(argmax.chunks_exact(pw));
        for (i, ((dy, y), argmax)) in rows.enumerate().skip(blocked) {
            // Rows 2i and 2i + 1 of the block, OW pixels each.
            let pair = layout.row(dst, c, 2 * i, pitch + ow);
            let (top, bottom) = pair.split_at_mut(pitch);
            let (top, bottom) = (&mut top[..ow], &mut bottom[..ow]);
            for row in [&mut *top, &mut *bottom] {
                row[2 * pw..].fill(0.0); // an odd last column
            }
            let (top, bottom) = (&mut top[..2 * pw], &mut bottom[..2 * pw]);
            // Flat index of window (i, 0)'s top-left element in the whole conv output.
            let origin = ((image * c_out + c) * oh + 2 * i) * ow;
            // Blocks of LANES windows in the pool's SIMD backward, on dy masked by the ReLU
            // (`y > 0`: the winner, i.e. the pooled value, was positive). A row that is not a
            // whole number of blocks ends with a block overlapping the one before it (its
            // windows are written twice, with the same values); a row narrower than one block
            // goes one window at a time, below.
            let body = if pw < LANES { 0 } else { pw };
            let last = body.saturating_sub(LANES);
            for j0 in (0..last).step_by(LANES).chain((body > 0).then_some(last)) {
                let mut g = [0.0f32; LANES];
                let block = dy[j0..j0 + LANES].iter().zip(&y[j0..j0 + LANES]);
                g.iter_mut()
                    .zip(block)
                    .for_each(|(g, (&dy, &y))| *g = if y > 0.0 { dy } else { 0.0 });
                let winners: &[u32; LANES] =
                    argmax[j0..j0 + LANES].try_into().expect("LANES indices");
                let (t, b) =
                    (&mut top[2 * j0..2 * j0 + 2 * LANES], &mut bottom[2 * j0..2 * j0 + 2 * LANES]);
                let (t, b) =
                    (t.try_into().expect("2·LANES floats"), b.try_into().expect("2·LANES floats"));
                let first = u32::try_from(origin + 2 * j0).map_err(|_| bad(c, i, j0))?;
                let w = u32::try_from(ow).map_err(|_| bad(c, i, j0))?;
                if !max_pool_2x2_backward_lanes(&g, winners, first, w, t, b) {
                    return Err(bad(c, i, j0));
                }
            }
            let windows = dy.iter().zip(y).zip(argmax).skip(body);
            let cells = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2)).skip(body);
            for (j, (((&dy, &y), &winner), (top, bottom))) in windows.zip(cells).enumerate() {
                let j = body + j;
                // `0 + dy` as the pool's backward writes it (−0.0 becomes +0.0).
                let g = if y > 0.0 { 0.0 + dy } else { 0.0 };
                let rel = (winner as usize).wrapping_sub(origin + 2 * j);
                if !matches!(rel, 0 | 1) && rel != ow && rel != ow + 1 {
                    return Err(bad(c, i, j));
                }
                let at = |place: usize| if rel == place { g } else { 0.0 };
                top.copy_from_slice(&[at(0), at(1)]);
                bottom.copy_from_slice(&[at(ow), at(ow + 1)]);
            }
        }
    }
    Ok(())
}

/// One SIMD block of [`scatter_pooled_2x2`] made of `LANES / PW` whole rows of windows, rows
/// `i..` of channel `c` (`dy`, `y`, `argmax`: their `LANES` windows, row after row): lane `l` is
/// window `(i + l / PW, l % PW)`. `origin` is the flat index of window `(i, 0)`'s top-left
/// element in the whole conv output [N, C_out, OH, OW].
///
/// [`max_pool_2x2_backward_lanes`] takes lane `l`'s window to start at `origin + 2·l`, which is
/// right for the first row; window `(i + s, j)` starts `s·(2·OW − 2·PW)` further on (its rows
/// are `2·s` conv rows down, not `2·s·PW` columns on), so its winner is moved back by as much
/// before the check, in wrapping u32 arithmetic like the kernel's own: a winner is accepted
/// exactly when it is one of its own window's four indices.
fn scatter_row_block_2x2(
    (dy, y, argmax): (&[f32], &[f32], &[u32]),
    (c, i): (usize, usize),
    origin: usize,
    (ow, pw): (usize, usize),
    layout: Layout,
    dst: &mut [f32],
) -> Result<(), TensorError> {
    debug_assert!(dy.len() == LANES && LANES.is_multiple_of(pw));
    let first = u32::try_from(origin).map_err(|_| bad(c, i, 0))?;
    let (w, row_skip) = match (u32::try_from(ow), u32::try_from(2 * ow - 2 * pw)) {
        (Ok(w), Ok(skip)) => (w, skip),
        _ => return Err(bad(c, i, 0)),
    };
    // dy masked by the ReLU (the winner, i.e. the pooled value, was positive).
    let g: [f32; LANES] = std::array::from_fn(|l| if y[l] > 0.0 { dy[l] } else { 0.0 });
    let winners: [u32; LANES] = std::array::from_fn(|l| {
        let row = u32::try_from(l / pw).expect("a lane's row is below LANES");
        argmax[l].wrapping_sub(row.wrapping_mul(row_skip))
    });
    let (mut top, mut bottom) = ([0.0; 2 * LANES], [0.0; 2 * LANES]);
    if !max_pool_2x2_backward_lanes(&g, &winners, first, w, &mut top, &mut bottom) {
        return Err(bad(c, i, 0));
    }
    // Row s of windows: its 2·PW elements of `top`/`bottom` are conv rows 2(i + s), 2(i + s) + 1.
    let rows = top.chunks_exact(2 * pw).zip(bottom.chunks_exact(2 * pw));
    for (s, (top, bottom)) in rows.enumerate() {
        let pair = layout.row(dst, c, 2 * (i + s), layout.pitch + ow);
        let (dst_top, dst_bottom) = pair.split_at_mut(layout.pitch);
        for (dst, src) in [(dst_top, top), (&mut dst_bottom[..ow], bottom)] {
            let (windows, odd) = dst[..ow].split_at_mut(2 * pw);
            windows.copy_from_slice(src);
            odd.fill(0.0); // an odd last column
        }
    }
    Ok(())
}

/// The error for a winner outside window `(c, i, j)` (or one a 32-bit index cannot hold).
fn bad(c: usize, i: usize, j: usize) -> TensorError {
    let what = format!("a winner of output ({c}, {i}, {j}) or after it is outside its window");
    TensorError::InvalidParameter { op: "conv2d_relu_pool::backward", what }
}
