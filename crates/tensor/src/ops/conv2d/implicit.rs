//! Implicit im2col: the im2col matrix of a stride-1 convolution, read without being built.
//!
//! Pad the image once with zeros, `xp [C_in, Hp, Wp]` with `Hp = H + 2·pad` rows of pitch
//! `Wp = W + pad`: each row is `pad` zeros then the W pixels, and the zeros that would pad it
//! on the right are the next row's left zeros (the window of the last output pixel of a row,
//! `ow = OW − 1`, reads up to `pad` columns past the row's end, i.e. the next row's first `pad`
//! columns, which are zeros). Number the output pixels on this grid, `q = oh·Wp + ow`. Then the
//! im2col entry of row `k = (ci, i, j)` and pixel `q` is
//!
//! ```text
//! cols[k, q] = xp[ci, oh + i, ow + j] = xp[ci·plane + i·Wp + j + q]
//! ```
//!
//! so row `k` of `cols` is `xp` itself, shifted by `start[k] = ci·plane + i·Wp + j`, with
//! `plane = Hp·Wp + pad` (the last row's right zeros are `pad` extra zeros after it). The GEMM
//! takes such a matrix as a table of row starts (`gemm::RowStarts::At`) and packs its panels
//! straight from `xp`: im2col's KH·KW-fold copy of the image is never written, and the copy
//! made here (the padding) is KH·KW times smaller.
//!
//! The price is `Wp − OW` extra output pixels per row (`ow ≥ OW` runs into the padding and
//! wraps to the next row): the GEMM computes them and [`PaddedGrid::compact`] drops them
//! (1 of every 57 columns at 56×56 with a 3×3 kernel). The last row's extra pixels are left out
//! of the GEMM altogether, so no shifted row reads past the end of `xp`.
//!
//! When OW is a whole number of SIMD vectors (16×16, 32×32, 112×112, 224×224 with AVX-512) the
//! GEMM skips them instead: it takes the columns of `cols` in runs, one per output row,
//! `q = oh·OW + ow ↦ oh·Wp + ow` (`gemm::Runs`, [`PaddedGrid::in_runs`]), reads each vector of a
//! step in place as before, and writes only the real pixels, `[C_out, OH·OW]` per image. Every
//! output is still the same sum of the same terms in the same order, so the values do not change
//! by a bit; at 16×16 the forward and `dx` GEMMs do 1 024 columns of work instead of 1 087.
//! The backward's `dW = dY·colsᵀ` then also sums over the real pixels only (both operands
//! packed from the runs), 1 024 terms instead of 1 087 of which 63 were dY's border zeros.
//!
//! Small images are laid side by side on one grid ([`PaddedGrid::side_by_side`]): image `t`
//! starts `t·(W + pad)` columns to the right, its right border doubling as the next image's
//! left border, as the last image's does for the next row's first. A window of image `t` reads
//! only columns `t·(W + pad) .. t·(W + pad) + W + 2·pad`, its own padded block, so the images
//! do not mix (when a window would also count as one of the next block's, `pad ≥ KW`, it lies
//! wholly in the shared zeros, and both outputs are the same 0). One GEMM of `images` times
//! the columns packs `W` once for all of them. At 16×16 (conv3–conv5 of a 64×64 input) one
//! image is 271 columns, 9 micro-panels of 32 for 256 real pixels; four side by side are
//! 1 087 columns, 34 panels for 1 024.
//!
//! The backward lays each chunk's images side by side in the same way (`mod.rs`,
//! `Implicit`): `xp` and the padded `dy` share the grid, so `dW`'s reduction runs over all the
//! images' columns at once (the borders of `dy` are zeros and add nothing) and `dx`'s GEMM
//! packs the turned kernel once.
//!
//! The `dW` GEMM of the wider layers reads `cols` channels-last instead
//! ([`PaddedGrid::channels_last`]): `xt [plane, C_in]`, `xt[pos·C_in + ci] = xp[ci·plane +
//! pos]`. `dW = dY·colsᵀ` sums over pixels, and in `cols` [C_in·KH·KW, pixels] a pixel is a
//! column, so a GEMM that wants one step of the sum (one pixel) as a contiguous row of op(B)
//! would have to transpose all KH·KW·C_in shifted rows of `xp` while packing, nine times the
//! image for a 3×3 kernel. In `xt` the taps of one pixel are already rows: with the columns of
//! `colsᵀ` ordered `(i, j, ci)` (tap-major), step `q` of op(B) = colsᵀ [pixels, KH·KW·C_in] is
//!
//! ```text
//! colsᵀ[q, (i·KW + j)·C_in + ci] = xt[(q + i·Wp + j)·C_in + ci]
//! ```
//!
//! KH·KW runs of C_in consecutive floats (`gemm::Runs`), which the micro-kernel reads in place
//! when C_in is a whole number of vectors. The image is transposed once (C_in·plane floats, in
//! 8×8 blocks), and the GEMM's result `dW` [C_out, KH·KW·C_in] is put back in the order of `w`
//! [C_out, C_in, KH, KW] once the chunks' partial sums are added: a pure permutation, each
//! value the same sum.
//!
//! What this is not: a general im2col. Stride 1 only; the backward pass also needs "same"
//! padding (`KH = KW = 2·pad + 1`, see `mod.rs`). Other convolutions take the explicit
//! im2col path (`im2col.rs`).

use super::{Activation, kernel, relu_grad};
use crate::ops::gemm::{IN_PLACE_RUN, Operand, Runs, Transpose};

/// Where the output pixels of the images on a [`PaddedGrid`] lie among the columns of the GEMM
/// that computes them (the forward's `y`, the backward's `dx`): pixel `(oh, ow)` of image `t`
/// is column `t·image_step + oh·pitch + ow` of `columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutputColumns {
    /// Columns of the GEMM.
    pub columns: usize,
    /// Columns from one image's first pixel to the next image's.
    pub image_step: usize,
    /// Columns from one output row to the next.
    pub pitch: usize,
}

/// The padded grid of a stride-1 convolution of one `h×w` image with a `kh×kw` kernel.
#[derive(Debug, Clone, Copy)]
pub(super) struct PaddedGrid {
    /// Input height and width (unpadded).
    pub h: usize,
    pub w: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    pub padding: usize,
    /// Output height and width: `H + 2·pad − KH + 1` (and the same for W).
    pub out_h: usize,
    pub out_w: usize,
    /// Images side by side on the grid (1 unless made by [`PaddedGrid::side_by_side`]).
    pub images: usize,
    /// Whether the GEMMs may also take the output columns in runs when OW is not a whole
    /// number of vectors ([`PaddedGrid::in_runs`]). The forward sets it; the backward does not,
    /// so its `dW` keeps summing over the grid columns (and its blocking of that sum).
    pub ragged_runs: bool,
}

impl PaddedGrid {
    /// The same grid with `images` images side by side (see the module docs).
    pub fn side_by_side(self, images: usize) -> Self {
        Self { images, ..self }
    }

    /// Columns from the first column of one image's padded block to the next image's:
    /// `W + pad`.
    pub fn image_step(&self) -> usize {
        self.w + self.padding
    }

    /// `Wp = images·(W + pad)`: floats from one padded row to the next (`W + pad` for one
    /// image; a row's right border is the next row's left border).
    pub fn pitch(&self) -> usize {
        self.images * self.image_step()
    }

    /// `Hp·Wp + pad`: floats in one padded channel, its last `pad` zeros the right border of
    /// its last row.
    pub fn plane(&self) -> usize {
        (self.h + 2 * self.padding) * self.pitch() + self.padding
    }

    /// Output pixels on the padded grid that the GEMM computes:
    /// `(OH − 1)·Wp + (images − 1)·(W + pad) + OW`, every row at full pitch except the last,
    /// which stops at the last image's last real pixel.
    pub fn columns(&self) -> usize {
        (self.out_h - 1) * self.pitch() + (self.images - 1) * self.image_step() + self.out_w
    }

    /// Whether the GEMMs that produce this grid's outputs compute only the real pixels: when
    /// OW is a whole number of the GEMM's vectors ([`IN_PLACE_RUN`], 16 floats with AVX-512),
    /// each output row is one run of the implicit im2col's columns ([`Runs`]) that the
    /// micro-kernel still reads in place, and the border columns between rows (one in every
    /// `W + pad`: 1 087 computed for 1 024 pixels at 16×16, four images side by side) are
    /// skipped, and the backward's `dW` GEMM sums over the real pixels only.
    ///
    /// With [`PaddedGrid::ragged_runs`] (the forward) a single image whose rows are at least a
    /// vector wide and do not overlap (`OW ≤ Wp`) is taken in runs too: the runs then lie in
    /// order on the grid, and the micro-kernel reads a vector that crosses from one output row
    /// into the next as two loads (`gemm::Runs`). At 56×56 with AVX-512 (OW = 3½ vectors) the
    /// forward GEMM computes the 3 136 pixels instead of 3 191 grid columns (3 200 with the
    /// last partial micro-panel). Other grids compute every grid column. (The direct
    /// weight-gradient kernel for few output channels, `weight_grad`, always runs over the
    /// grid columns.)
    pub fn in_runs(&self) -> bool {
        self.out_w.is_multiple_of(IN_PLACE_RUN)
            || (self.ragged_runs
                && self.images == 1
                && self.out_w >= IN_PLACE_RUN
                && self.out_w <= self.pitch())
    }

    /// The columns of the GEMMs that produce this grid's outputs: the real pixels, image after
    /// image and row after row ([`PaddedGrid::in_runs`]), or every grid column up to
    /// [`PaddedGrid::columns`].
    pub fn output_columns(&self) -> OutputColumns {
        if self.in_runs() {
            let pixels = self.out_h * self.out_w;
            OutputColumns { columns: self.images * pixels, image_step: pixels, pitch: self.out_w }
        } else {
            let (image_step, pitch) = (self.image_step(), self.pitch());
            OutputColumns { columns: self.columns(), image_step, pitch }
        }
    }

    /// Entries of the run table [`PaddedGrid::run_starts`] writes: one per output row of each
    /// image, none unless [`PaddedGrid::in_runs`].
    pub fn runs(&self) -> usize {
        if self.in_runs() { self.images * self.out_h } else { 0 }
    }

    /// Writes the grid column of each output row, `runs[t·OH + oh] = t·(W + pad) + oh·Wp`
    /// (`self.runs()` entries).
    pub fn run_starts(&self, runs: &mut [usize]) {
        let rows = (0..self.images).flat_map(|t| (0..self.out_h).map(move |oh| (t, oh)));
        for (run, (t, oh)) in runs.iter_mut().zip(rows) {
            *run = t * self.image_step() + oh * self.pitch();
        }
    }

    /// The matrix whose row `r` is the grid `data[starts[r]..]` read at the columns of
    /// [`PaddedGrid::output_columns`] (`runs` from [`PaddedGrid::run_starts`]), used as `op(X)`
    /// per `t`. With `starts` from [`PaddedGrid::starts`] this is the implicit im2col matrix of
    /// the padded images `data`, restricted to the output pixels; with each row starting at a
    /// plane's corner `(pad, pad)`, it is a padded `dy` [C, pixels].
    pub fn at_outputs<'a>(
        &self,
        (data, t): (&'a [f32], Transpose),
        starts: &'a [usize],
        runs: &'a [usize],
    ) -> Operand<'a> {
        if self.in_runs() {
            let runs = Runs { len: self.out_w, starts: runs };
            Operand::rows_in_runs(data, t, starts, runs)
        } else {
            Operand::rows_at(data, t, starts)
        }
    }

    /// Rows of the implicit im2col matrix of a `channels`-channel image: `C·KH·KW`.
    pub fn rows(&self, channels: usize) -> usize {
        channels * self.kh * self.kw
    }

    /// Writes the row starts of the implicit im2col matrix of a padded image with
    /// `starts.len() / (KH·KW)` channels: `start[(c·KH + i)·KW + j] = c·plane + i·Wp + j`
    /// (row `k` of `cols` is `xp[start[k]..]`).
    pub fn starts(&self, starts: &mut [usize]) {
        let (plane, pitch) = (self.plane(), self.pitch());
        let channels = starts.len() / (self.kh * self.kw);
        let mut rows = starts.iter_mut();
        for c in 0..channels {
            for i in 0..self.kh {
                for (j, start) in (0..self.kw).zip(rows.by_ref()) {
                    *start = c * plane + i * pitch + j;
                }
            }
        }
    }

    /// Copies `src` [images, C, H, W] into `dst` [C, plane] (`plane = Hp·Wp + pad`), the images side by side, with a
    /// zero border of `pad` around each. Every float of `dst` is written.
    pub fn pad(&self, src: &[f32], dst: &mut [f32]) {
        self.pad_rows(dst, |start, body| body.copy_from_slice(&src[start..][..body.len()]));
    }

    /// `xt[pos·C + c] = xp[c·plane + pos]`: the padded planes `xp` [C, plane] that
    /// [`PaddedGrid::pad`] writes, stored channels-last, `xt` [plane, C].
    pub fn channels_last(&self, xp: &[f32], xt: &mut [f32]) {
        let plane = self.plane();
        let channels = xp.len() / plane;
        // 8 channels at a time: 8 planes read front to back, each position's 8 channels
        // written as one run.
        for c0 in (0..channels).step_by(8) {
            let count = 8.min(channels - c0);
            channels_last_block(
                &xp[c0 * plane..],
                plane,
                (count, plane),
                (&mut xt[c0..], channels),
            );
        }
    }

    /// Writes the grid position of each column of the `dW` GEMM's sum
    /// ([`PaddedGrid::output_columns`]: the real pixels, image after image and row after row,
    /// when [`PaddedGrid::in_runs`], else every grid column), times `channels`: where each
    /// pixel's row of the channels-last `colsᵀ` starts in `xt` (`self.output_columns().columns`
    /// entries).
    pub fn pixel_starts(&self, channels: usize, starts: &mut [usize]) {
        if self.in_runs() {
            let rows = (0..self.images).flat_map(|t| (0..self.out_h).map(move |oh| (t, oh)));
            for (run, (t, oh)) in starts.chunks_exact_mut(self.out_w).zip(rows) {
                let first = t * self.image_step() + oh * self.pitch();
                for (ow, start) in run.iter_mut().enumerate() {
                    *start = (first + ow) * channels;
                }
            }
        } else {
            starts.iter_mut().enumerate().for_each(|(q, start)| *start = q * channels);
        }
    }

    /// Writes the offset of each tap's run of `channels` floats from a pixel's start in `xt`:
    /// `taps[i·KW + j] = (i·Wp + j)·channels` (KH·KW entries).
    pub fn tap_starts(&self, channels: usize, taps: &mut [usize]) {
        let pitch = self.pitch();
        let offsets = (0..self.kh).flat_map(|i| (0..self.kw).map(move |j| i * pitch + j));
        taps.iter_mut().zip(offsets).for_each(|(tap, offset)| *tap = offset * channels);
    }

    /// `op(B) = colsᵀ` [pixels, KH·KW·C] read from the channels-last grid `xt` [plane, C] (see
    /// the module docs): row `q` starts at `pixels[q]` ([`PaddedGrid::pixel_starts`]) and
    /// column `(i·KW + j)·C + c` lies `taps[i·KW + j] + c` after it
    /// ([`PaddedGrid::tap_starts`]).
    pub fn channels_last_cols<'a>(
        &self,
        (xt, channels): (&'a [f32], usize),
        pixels: &'a [usize],
        taps: &'a [usize],
    ) -> Operand<'a> {
        Operand::rows_in_runs(xt, Transpose::No, pixels, Runs { len: channels, starts: taps })
    }

    /// [`PaddedGrid::pad`] of the fused ReLU's `dz = dy where y > 0, else 0`, for `dy` and the
    /// forward output `y`, both [C, H, W]: the mask costs no pass of its own.
    pub fn pad_relu_grad(&self, dy: &[f32], y: &[f32], dst: &mut [f32]) {
        debug_assert_eq!(dy.len(), y.len());
        self.pad_rows(dst, |start, body| {
            let end = start + body.len();
            relu_grad(&y[start..end], &dy[start..end], body);
        });
    }

    /// Zeroes the borders of every plane of `dst` [C, plane]: every float outside the images'
    /// `H×W` blocks, which are left as they are (for a writer that fills them itself).
    pub fn zero_borders(&self, dst: &mut [f32]) {
        self.pad_rows(dst, |_, _| {});
    }

    /// Zeroes the borders of every plane of `dst` [C, plane] and has `write_row(start, body)`
    /// fill each image's W real pixels of each row, `start` being that row's offset in the
    /// [images, C, H, W] source.
    fn pad_rows(&self, dst: &mut [f32], mut write_row: impl FnMut(usize, &mut [f32])) {
        let (h, w, pad, pitch, step) =
            (self.h, self.w, self.padding, self.pitch(), self.image_step());
        let channels = dst.len() / self.plane();
        for (c, dst) in dst.chunks_exact_mut(self.plane()).enumerate() {
            // The top border and the first row's left border; then each row, every image's
            // pixels followed by the border it shares with the next image, the last one's
            // being the next row's left border; then the bottom border and the plane's last
            // `pad` zeros.
            let (top, rest) = dst.split_at_mut(pad * pitch + pad);
            top.fill(0.0);
            let (rows, bottom) = rest.split_at_mut(h * pitch);
            for (row, mut dst) in rows.chunks_exact_mut(pitch).enumerate() {
                for image in 0..self.images {
                    let (body, rest) = dst.split_at_mut(w);
                    write_row(((image * channels + c) * h + row) * w, body);
                    // The last image's border runs on into the next row's: one fill for both.
                    let gap = if image + 1 == self.images { rest.len() } else { step - w };
                    let (gap, rest) = rest.split_at_mut(gap);
                    gap.fill(0.0);
                    dst = rest;
                }
            }
            bottom.fill(0.0);
        }
    }

    /// `out[c, oh, ow] = activation(wide[c, image·image_step + oh·pitch + ow] (+ bias[c]))`:
    /// the pixels of image `image` of a GEMM result over [`PaddedGrid::output_columns`]
    /// (`wide` [C, columns]), back into an NCHW image `out` [C, OH, OW].
    pub fn compact(
        &self,
        wide: &[f32],
        bias: Option<&[f32]>,
        activation: Activation,
        (image, out): (usize, &mut [f32]),
    ) {
        let OutputColumns { columns, image_step, pitch } = self.output_columns();
        let pixels = self.out_h * self.out_w;
        debug_assert!(image < self.images && wide.len() / columns == out.len() / pixels);
        let planes = wide.chunks_exact(columns).zip(out.chunks_exact_mut(pixels));
        for (c, (wide, out)) in planes.enumerate() {
            let wide = &wide[image * image_step..];
            // Row `oh` starts at `oh·Wp` (OW may exceed Wp when pad ≥ KW: rows then overlap
            // in the wraparound's zeros).
            let rows = (0..self.out_h).map(|oh| &wide[oh * pitch..][..self.out_w]);
            let rows = rows.zip(out.chunks_exact_mut(self.out_w));
            match (bias.map(|b| b[c]), activation) {
                (None, Activation::Identity) => {
                    rows.for_each(|(src, dst)| dst.copy_from_slice(&src[..self.out_w]));
                }
                (Some(b), Activation::Identity) => {
                    for (src, dst) in rows {
                        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s + b);
                    }
                }
                (b, Activation::Relu) => {
                    // Without a bias, `+ 0.0` changes only −0.0 and NaN, which ReLU maps to 0.
                    let b = b.unwrap_or(0.0);
                    for (src, dst) in rows {
                        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = activation.apply(s + b));
                    }
                }
            }
        }
    }
}

/// `dst[j·pitch + c] = src[c·stride + j]` for `j < W`, `c < count ≤ 8`: `count` rows of W
/// pixels, `stride` floats apart, into W runs of `count` channels, `pitch` floats apart. Eight
/// channels go through [`kernel::transpose8`] 8 pixels at a time; fewer channels, and the
/// pixels past the last multiple of 8, are copied one by one.
fn channels_last_block(
    src: &[f32],
    stride: usize,
    (count, w): (usize, usize),
    (dst, pitch): (&mut [f32], usize),
) {
    debug_assert!(count <= 8);
    let whole_w = if count == 8 { w / 8 * 8 } else { 0 };
    for j0 in (0..whole_w).step_by(8) {
        let block: [[f32; 8]; 8] = std::array::from_fn(|c| {
            let start = c * stride + j0;
            src[start..start + 8].try_into().expect("a slice of 8")
        });
        for (j, run) in kernel::transpose8(block).iter().enumerate() {
            let at = (j0 + j) * pitch;
            dst[at..at + 8].copy_from_slice(run);
        }
    }
    for c in 0..count {
        for j in whole_w..w {
            dst[j * pitch + c] = src[c * stride + j];
        }
    }
}

/// Pixels per block of [`weight_grad`]: the R rows of dY for one block (4 × 2048 floats =
/// 32 KiB) stay in L1/L2 while every block of taps passes over them.
const PIXEL_BLOCK: usize = 2048;

/// `dw[co, k] += Σ_{q < columns} dy[co][q] · x[starts[k] + q]`, with `dy[co] =
/// dyp[dy_rows[co]..]`: the weight gradient `dW += dY·colsᵀ` on the padded grid, where row `k`
/// of `cols` is `x` shifted by `starts[k]`, without packing either operand.
///
/// Loops: blocks of [`PIXEL_BLOCK`] pixels, then blocks of [`kernel::DW_ROWS`] channels ×
/// [`kernel::DW_TAPS`] taps in registers ([`kernel::weight_grad_block`]; smaller blocks at the
/// edges). The last `columns mod DW_LANES` pixels go through the same blocks as one more
/// vector: the last whole vector of pixels, `columns − DW_LANES..columns`, with the lanes of dY
/// that the blocks before already counted set to 0 (a copy of DW_ROWS × DW_LANES floats per
/// block of channels). The order of every sum depends on the shapes only.
pub(super) fn weight_grad(
    (dyp, dy_rows): (&[f32], &[usize]),
    (x, starts): (&[f32], &[usize]),
    columns: usize,
    dw: &mut [f32],
) {
    use kernel::{DW_LANES, DW_ROWS};
    let body = columns / DW_LANES * DW_LANES;
    for q0 in (0..body).step_by(PIXEL_BLOCK) {
        let q = q0..body.min(q0 + PIXEL_BLOCK);
        for co0 in (0..dy_rows.len()).step_by(DW_ROWS) {
            let r = DW_ROWS.min(dy_rows.len() - co0);
            let rows = |i: usize| &dyp[dy_rows[co0 + i] + q.start..dy_rows[co0 + i] + q.end];
            let shifted = |k: usize| &x[starts[k] + q.start..starts[k] + q.end];
            weight_grad_rows((r, starts.len()), rows, shifted, &mut dw[co0 * starts.len()..]);
        }
    }
    let tail = columns - body;
    if tail == 0 {
        return;
    }
    if columns < DW_LANES {
        // Fewer pixels than one vector: one by one.
        for (co, &row) in dy_rows.iter().enumerate() {
            for (k, &start) in starts.iter().enumerate() {
                let sum = (0..columns).map(|q| dyp[row + q] * x[start + q]).sum::<f32>();
                dw[co * starts.len() + k] += sum;
            }
        }
        return;
    }
    // The last vector, its first DW_LANES − tail lanes zeroed in dY.
    let q = columns - DW_LANES..columns;
    for co0 in (0..dy_rows.len()).step_by(DW_ROWS) {
        let r = DW_ROWS.min(dy_rows.len() - co0);
        let masked: [[f32; DW_LANES]; DW_ROWS] = std::array::from_fn(|i| {
            let mut lanes = [0.0; DW_LANES];
            if i < r {
                let row = dy_rows[co0 + i];
                lanes[DW_LANES - tail..].copy_from_slice(&dyp[row + body..row + columns]);
            }
            lanes
        });
        let shifted = |k: usize| &x[starts[k] + q.start..starts[k] + q.end];
        let rows = |i: usize| &masked[i][..];
        weight_grad_rows((r, starts.len()), rows, shifted, &mut dw[co0 * starts.len()..]);
    }
}

/// `dw[i·taps + k] += Σ_q rows(i)[q] · shifted(k)[q]` for the `r ≤ DW_ROWS` channels `i` of one
/// block and every tap `k < taps` (`dw` starts at the block's first channel), in blocks of
/// [`kernel::DW_TAPS`] taps in registers, smaller at the edges. All slices have the same
/// length, a multiple of [`kernel::DW_LANES`].
fn weight_grad_rows<'a>(
    (r, taps): (usize, usize),
    rows: impl Fn(usize) -> &'a [f32],
    shifted: impl Fn(usize) -> &'a [f32],
    dw: &mut [f32],
) {
    use kernel::{DW_ROWS, DW_TAPS, weight_grad_block};
    let mut add = |sums: &[f32], i: usize, k0: usize| {
        let row = &mut dw[i * taps + k0..][..sums.len()];
        row.iter_mut().zip(sums).for_each(|(d, s)| *d += s);
    };
    for k0 in (0..taps).step_by(DW_TAPS) {
        let t = DW_TAPS.min(taps - k0);
        match (r, t) {
            (DW_ROWS, DW_TAPS) => {
                let sums = weight_grad_block::<DW_ROWS, DW_TAPS>(
                    std::array::from_fn(&rows),
                    std::array::from_fn(|j| shifted(k0 + j)),
                );
                sums.iter().enumerate().for_each(|(i, s)| add(s, i, k0));
            }
            (DW_ROWS, _) => {
                for k in k0..k0 + t {
                    let sums =
                        weight_grad_block::<DW_ROWS, 1>(std::array::from_fn(&rows), [shifted(k)]);
                    sums.iter().enumerate().for_each(|(i, s)| add(s, i, k));
                }
            }
            (_, DW_TAPS) => {
                for i in 0..r {
                    let sums = weight_grad_block::<1, DW_TAPS>(
                        [rows(i)],
                        std::array::from_fn(|j| shifted(k0 + j)),
                    );
                    add(&sums[0], i, k0);
                }
            }
            _ => {
                for i in 0..r {
                    for k in k0..k0 + t {
                        add(&weight_grad_block::<1, 1>([rows(i)], [shifted(k)])[0], i, k);
                    }
                }
            }
        }
    }
}
