//! 2-D convolution (cross-correlation, as in PyTorch) over NCHW tensors, with stride and zero
//! padding, and its backward.
//!
//! `y[n,co,oh,ow] = b[co] + Σ_ci Σ_i Σ_j w[co,ci,i,j] · x[n, ci, oh·s + i − pad, ow·s + j − pad]`
//!
//! Shapes: x [N, C_in, H, W], w [C_out, C_in, KH, KW], b [C_out] → y [N, C_out, OH, OW] with
//! `OH = (H + 2·pad − KH)/s + 1` (same for OW), computed only by [`Conv2dParams::output_hw`].
//!
//! The fast path lowers each image to a matrix product (im2col + GEMM):
//!
//! ```text
//! cols_n = im2col(x_n)       [C_in·KH·KW, OH·OW]   one column per output pixel
//! y_n    = W · cols_n + b    [C_out, OH·OW]        W viewed as [C_out, C_in·KH·KW]
//! dW     = Σ_n dY_n · cols_nᵀ, db = Σ_n Σ_pixels dY_n
//! dx_n   = col2im(Wᵀ · dY_n)
//! ```
//!
//! For stride 1 (every layer of the paper) `cols` is never built: on the zero-padded image's
//! grid each row of it is the padded image shifted, and the GEMM reads it in place
//! (`implicit.rs`); with "same" padding `dx` is then the padded `dy` convolved with the
//! 180°-turned kernel, one GEMM with no col2im. `docs/convolution.md` §7 derives both.
//!
//! 3×3 layers with stride 1, padding 1, at least 64 input and output channels and at least 15
//! pixels wide (conv4 and conv5 of the paper) run Winograd's F(2×2, 3×3) instead
//! (`winograd.rs`, forward and the backward's `dx`): 16 GEMMs over transformed 4×4 tiles,
//! 2.25× fewer multiplies (`docs/convolution.md` §8).
//!
//! [`forward_relu_into`] and [`backward_relu_into`] are `relu(conv2d(x))` in one op: the ReLU is
//! applied in the pass that already writes `y` (adding the bias), and its backward mask
//! (`dy` where `y > 0`) in the pass that already copies `dy` into the padded grid. The unfused
//! composition costs two extra passes over the output in each direction.
//! [`backward_relu_pool_into`] goes one step further back: the gradient of a max-pool after the
//! ReLU is scattered to the pool's winners straight into that padded copy (`upstream.rs`).
//!
//! Images run in parallel (rayon); each GEMM is split over the pool too only when the batch
//! alone cannot keep it busy. Scratch buffers are per thread, so a warmed-up call allocates
//! only its outputs (and the `_into` variants nothing). The batch is cut into chunks of
//! [`BATCH_CHUNK`] images whose partial `dW`, `db` are summed in chunk order: the chunking does
//! not depend on the number of threads, so the gradients are bit-identical whatever
//! `RAYON_NUM_THREADS` is.

mod im2col;
mod implicit;
mod kernel;
pub mod reference;
mod relu_pool;
mod scratch;
#[cfg(test)]
mod tests;
mod upstream;
mod winograd;

use std::ops::Range;

use rayon::prelude::*;

use self::im2col::Im2col;
use self::implicit::{OutputColumns, PaddedGrid};
use self::relu_pool::{RawImage, relu_pool};
use self::scratch::{COLS, FLIPPED, PARTIALS, STARTS, TAPS_FIRST, WINOGRAD_WEIGHTS, with_scratch};
use self::upstream::{Layout, PoolWindows, Upstream, scatter_pooled};
use self::winograd::{Planes, Winograd};
use crate::ops::gemm::{Accumulate, GemmDims, IN_PLACE_RUN, Operand, Threads, Transpose, gemm_on};
use crate::ops::max_pool2d::Pool2dParams;
use crate::{Shape4, Tensor, TensorError};

/// Below this many output channels the implicit path computes `dW` with its own kernel
/// (`implicit::weight_grad`) instead of a GEMM. A GEMM with M = C_out < 64 has at most 8 A
/// panels to spread the cost of packing dY and colsᵀ over; measured on one thread, 8 images
/// (CPU ms, GEMM → own kernel): conv1 3→16 @224 10.8 → 6.7, conv2 16→32 @112 22.8 → 20.6,
/// conv3 32→64 @56 19.9 → 21.0, conv5 64→128 @56 76.4 → 78.2 (docs/benchmarks.md).
const DIRECT_WEIGHT_GRAD: usize = 64;

/// 3×3, stride-1, padding-1 convolutions with at least this many input and output channels
/// run Winograd's F(2×2, 3×3) (`winograd.rs`) instead of the implicit im2col GEMM, forward
/// and for the implicit backward's `dx` (a convolution from C_out to C_in channels). Its
/// transforms cost O((C_in + C_out)·tiles) next to the GEMMs' O(C_in·C_out·tiles), so it
/// pays only when both are wide. Batch 32, 2 threads, direct-convolution GFLOP/s, im2col →
/// Winograd, alternating runs (docs/benchmarks.md, "Winograd F(2×2, 3×3)"): forward conv4
/// 64→64 @56 213 → 241–243, conv5 64→128 @56 214–216 → 267–272 (PyTorch 207, 212); backward
/// (dW and dx) conv4 202 → 226, conv5 201 → 227. conv3 32→64 (its dx is 64→32) was level at
/// 56×56 (forward 202 → 202–204, backward 200–201 → 200–205) and the 64² step was no faster
/// with it, so it stays on the GEMM; conv2 16→32 @112 was slower (186–190 → 150–156).
const WINOGRAD_MIN_CHANNELS: usize = 64;

/// Narrowest image the Winograd path takes: its transforms run 8 tiles of one tile row at a
/// time (`kernel::winograd_output_lanes`), so a row of fewer than 8 tiles (W < 15) leaves
/// lanes idle: half of them at 8×8, three quarters at 4×4. Measured on `wide-bn` at 64², batch
/// 64, whose 128→128 @8 and 128→256 @4 layers it excludes (`trainer bench`, img/s, old =
/// im2col everywhere): old 414–426, Winograd on every wide layer 401–425, without those two
/// 417–439; at 128², batch 32: 111.8–112.4, 112.9–113.7, 114.7–116.6 (docs/benchmarks.md).
const WINOGRAD_MIN_WIDTH: usize = 15;

/// Images per backward task. Each chunk sums its own `dW`, `db`; the chunks are then added in
/// order. Fixed (never derived from the thread count) so that results are reproducible; small
/// enough that a batch of 32 gives 8 tasks to balance over the threads.
const BATCH_CHUNK: usize = 4;

/// What the pass that writes `y` does to each value `v = (W·cols)[co, pixel] + b[co]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// `y = v`: the plain convolution.
    Identity,
    /// `y = v where v > 0, else 0`: ReLU, exactly as `relu::forward` (a comparison, not `max`,
    /// so a NaN gives 0 in both).
    Relu,
}

impl Activation {
    fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Identity => v,
            Activation::Relu if v > 0.0 => v,
            Activation::Relu => 0.0,
        }
    }
}

/// Stride and zero padding of a convolution (the same in both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between window origins, at least 1.
    pub stride: usize,
    /// Zeros added on each side of the input (top, bottom, left, right).
    pub padding: usize,
}

impl Conv2dParams {
    /// Output size for an `h×w` input and a `kh×kw` kernel:
    /// `OH = (H + 2·pad − KH)/s + 1`, `OW = (W + 2·pad − KW)/s + 1` (floor division).
    ///
    /// # Errors
    /// [`TensorError::InvalidParameter`] for a zero stride or an empty kernel;
    /// [`TensorError::WindowTooLarge`] when the kernel is larger than the padded input.
    pub fn output_hw(
        &self,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
    ) -> Result<(usize, usize), TensorError> {
        let op = "conv2d";
        if self.stride == 0 || kh == 0 || kw == 0 {
            let what = format!("stride {} and kernel {kh}x{kw} must be at least 1", self.stride);
            return Err(TensorError::InvalidParameter { op, what });
        }
        let (padded_h, padded_w) = (h + 2 * self.padding, w + 2 * self.padding);
        if kh > padded_h || kw > padded_w {
            return Err(TensorError::WindowTooLarge { op, kh, kw, pad: self.padding, h, w });
        }
        Ok(((padded_h - kh) / self.stride + 1, (padded_w - kw) / self.stride + 1))
    }
}

/// Whether [`backward`] computes `dx`. The first layer's input is the image, whose gradient
/// nobody needs: skipping it saves the `Wᵀ·dY` GEMM and the col2im, about a third of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputGrad {
    /// Compute `dx`.
    Compute,
    /// Leave `dx` as `None`.
    Skip,
}

/// The gradients of a convolution with respect to its input, weights and bias.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conv2dGrads {
    /// `∂loss/∂x` [N, C_in, H, W], or `None` under [`InputGrad::Skip`].
    pub dx: Option<Tensor>,
    /// `∂loss/∂w` [C_out, C_in, KH, KW], summed over the batch.
    pub dw: Tensor,
    /// `∂loss/∂b` [C_out], summed over the batch and all output positions.
    pub db: Tensor,
}

/// Validated shapes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// `[N, C_in, H, W]`.
    x: Shape4,
    /// `[C_out, C_in, KH, KW]` in the fields n, c, h, w.
    w: Shape4,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn y_dims(&self) -> [usize; 4] {
        [self.x.n, self.w.n, self.out_h, self.out_w]
    }

    /// The padded grid of the implicit path, which needs stride 1.
    fn padded_grid(&self, p: Conv2dParams) -> Option<PaddedGrid> {
        (p.stride == 1).then_some(PaddedGrid {
            h: self.x.h,
            w: self.x.w,
            kh: self.w.h,
            kw: self.w.w,
            padding: p.padding,
            out_h: self.out_h,
            out_w: self.out_w,
            images: 1,
            ragged_runs: false,
        })
    }

    /// [`Geometry::padded_grid`] for a forward pass: its GEMM may take the output columns in
    /// runs that are not whole vectors ([`PaddedGrid::in_runs`]).
    fn forward_grid(&self, p: Conv2dParams) -> Option<PaddedGrid> {
        self.padded_grid(p).map(|grid| PaddedGrid { ragged_runs: true, ..grid })
    }

    /// The Winograd path's shapes, when it takes this convolution: 3×3, stride 1, padding 1,
    /// [`WINOGRAD_MIN_CHANNELS`] and [`WINOGRAD_MIN_WIDTH`].
    fn winograd(&self, p: Conv2dParams) -> Option<Winograd> {
        let shape = (self.w.h, self.w.w, p.stride, p.padding);
        let wide =
            self.x.c.min(self.w.n) >= WINOGRAD_MIN_CHANNELS && self.x.w >= WINOGRAD_MIN_WIDTH;
        (shape == (3, 3, 1, 1) && wide).then_some(Winograd {
            c_in: self.x.c,
            c_out: self.w.n,
            h: self.x.h,
            w: self.x.w,
        })
    }

    /// The Winograd shapes of the implicit backward's `dx` when it takes that path: `dx` is
    /// the convolution of the padded dY (C_out channels) with the turned kernel W' (C_in
    /// outputs), so the rule of [`Geometry::winograd`] applies to that convolution, whose
    /// input has C_out channels.
    fn winograd_dx(&self, p: Conv2dParams) -> Option<Winograd> {
        let x = Shape4 { c: self.w.n, ..self.x };
        let w = Shape4 { n: self.x.c, c: self.w.n, ..self.w };
        Geometry { x, w, ..*self }.winograd(p)
    }

    fn im2col(&self, p: Conv2dParams) -> Im2col {
        Im2col {
            c_in: self.x.c,
            h: self.x.h,
            w: self.x.w,
            kh: self.w.h,
            kw: self.w.w,
            out_h: self.out_h,
            out_w: self.out_w,
            stride: p.stride,
            padding: p.padding,
        }
    }
}

/// Checks ranks, channel agreement, non-empty dimensions and that the window fits.
fn geometry(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    p: Conv2dParams,
) -> Result<Geometry, TensorError> {
    let xs = x.shape4(op)?;
    let ws = w.shape4(op)?;
    if xs.c != ws.c {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: xs.dims().to_vec(),
            rhs: ws.dims().to_vec(),
            why: "x is [N, C_in, H, W] and w is [C_out, C_in, KH, KW]: C_in must agree",
        });
    }
    if xs.is_empty() || ws.n == 0 {
        let what = format!("x {xs} and w {ws} must have no zero-sized dimension");
        return Err(TensorError::InvalidParameter { op, what });
    }
    let (out_h, out_w) = p.output_hw(xs.h, xs.w, ws.h, ws.w)?;
    Ok(Geometry { x: xs, w: ws, out_h, out_w })
}

/// Convolution of `x` [N, C_in, H, W] with `w` [C_out, C_in, KH, KW] plus an optional bias
/// `b` [C_out], giving `y` [N, C_out, OH, OW] (formula in the module docs).
///
/// # Errors
/// [`TensorError::WrongRank`] unless `x` and `w` are 4-D;
/// [`TensorError::ShapeMismatch`] when C_in disagrees or `b` is not [C_out];
/// [`TensorError::InvalidParameter`] for zero-sized dimensions or stride;
/// [`TensorError::WindowTooLarge`] when the kernel exceeds the padded input.
pub fn forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: Conv2dParams,
) -> Result<Tensor, TensorError> {
    let mut y = Tensor::default();
    forward_into(x, w, b, p, &mut y)?;
    Ok(y)
}

/// [`forward`] into a caller-owned `y`, resized to [N, C_out, OH, OW].
///
/// # Errors
/// As [`forward`].
pub fn forward_into(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: Conv2dParams,
    y: &mut Tensor,
) -> Result<(), TensorError> {
    forward_activated("conv2d::forward", x, w, b, p, Activation::Identity, y)
}

/// `y = relu(conv2d(x, w, b))` into a caller-owned `y` [N, C_out, OH, OW]: [`forward_into`] and
/// `relu::forward_into` fused, with bit-identical results. The ReLU (`v where v > 0, else 0`) is
/// applied as each output value is first stored, so it costs no pass of its own.
///
/// # Errors
/// As [`forward`] (the messages name `conv2d_relu::forward`).
pub fn forward_relu_into(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: Conv2dParams,
    y: &mut Tensor,
) -> Result<(), TensorError> {
    forward_activated("conv2d_relu::forward", x, w, b, p, Activation::Relu, y)
}

/// `y = max_pool2d(relu(conv2d(x, w, b)), pool)` [N, C_out, PH, PW] and the pool's winners
/// (`argmax`, flat indices into the conv output [N, C_out, OH, OW]) into caller-owned buffers:
/// [`forward_relu_into`] then `max_pool2d::forward_into`, fused, with bit-identical values and
/// winners. The pool runs on each image's GEMM output while it is in cache, so the full-size
/// convolution output is never stored.
///
/// # Errors
/// As [`forward`], the pool's window errors for the output [OH, OW], and
/// [`TensorError::InvalidParameter`] when the conv output has more elements than `u32`
/// winners can address (messages name `conv2d_relu_pool::forward`).
pub fn forward_relu_pool_into(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    (p, pool): (Conv2dParams, Pool2dParams),
    y: &mut Tensor,
    argmax: &mut Vec<u32>,
) -> Result<(), TensorError> {
    let op = "conv2d_relu_pool::forward";
    let g = geometry(op, x, w, p)?;
    check_bias(op, &g, w, b)?;
    let pooled_hw = pool.output_hw(g.out_h, g.out_w)?;
    let conv_len = g.x.n * g.w.n * g.out_h * g.out_w;
    if u32::try_from(conv_len).is_err() {
        let what = format!("a conv output of {conv_len} elements is too big for u32 winners");
        return Err(TensorError::InvalidParameter { op, what });
    }
    let windows = PoolWindows {
        kernel: pool.kernel,
        stride: pool.stride,
        conv_hw: (g.out_h, g.out_w),
        pooled_hw,
    };
    y.resize_for_overwrite(&[g.x.n, g.w.n, pooled_hw.0, pooled_hw.1]);
    argmax.resize(y.len(), 0);
    let (x, w, b) = (x.data(), w.data(), b.map(Tensor::data));
    let (y, argmax) = (y.data_mut(), argmax.as_mut_slice());
    if let Some(geo) = g.winograd(p) {
        return winograd::forward_relu_pool(geo, x, w, b, windows, y, argmax);
    }
    let (image_len, pooled_len) = (g.x.c * g.x.h * g.x.w, g.w.n * pooled_hw.0 * pooled_hw.1);
    let c_out = g.w.n;
    match g.forward_grid(p) {
        Some(grid) => with_grids(&grid, g.x.c, g.x.n, |grids| {
            let per_grid = grids.full.images;
            let conv_len = c_out * g.out_h * g.out_w;
            let threads = inner_threads(g.x.n.div_ceil(per_grid));
            let outputs = y
                .par_chunks_mut(per_grid * pooled_len)
                .zip(argmax.par_chunks_mut(per_grid * pooled_len));
            let groups = outputs.zip(x.par_chunks(per_grid * image_len)).enumerate();
            groups.try_for_each(|(group, ((y, argmax), x))| {
                let (grid, starts) = grids.for_images(x.len() / image_len);
                conv_on_grid((&grid, starts), g.x.c, x, w, threads, |wide, channels| {
                    let outputs =
                        y.chunks_exact_mut(pooled_len).zip(argmax.chunks_exact_mut(pooled_len));
                    let OutputColumns { columns, image_step, pitch } = grid.output_columns();
                    let per_channel = pooled_hw.0 * pooled_hw.1;
                    let part = channels.start * per_channel..channels.end * per_channel;
                    let bias = b.map(|b| &b[channels.clone()]);
                    for (i, (y, argmax)) in outputs.enumerate() {
                        let src = &wide[i * image_step..];
                        let raw = RawImage { src, plane: columns, pitch, bias };
                        let first =
                            (group * per_grid + i) * conv_len + channels.start * g.out_h * g.out_w;
                        let (y, argmax) = (&mut y[part.clone()], &mut argmax[part.clone()]);
                        relu_pool(raw, windows, first, y, argmax);
                    }
                })
            })
        }),
        None => {
            let geo = g.im2col(p);
            let (k, pixels) = (geo.rows(), geo.columns());
            let dims = GemmDims { m: c_out, n: pixels, k };
            let threads = inner_threads(g.x.n);
            let outputs = y.par_chunks_mut(pooled_len).zip(argmax.par_chunks_mut(pooled_len));
            let images = outputs.zip(x.par_chunks(image_len)).enumerate();
            images.try_for_each(|(image, ((y, argmax), x))| {
                with_scratch(&COLS, k * pixels + c_out * pixels, |scratch| {
                    // cols: [C_in·KH·KW, OH·OW]; dense: [C_out, OH·OW] = W·cols.
                    let (cols, dense) = scratch.split_at_mut(k * pixels);
                    geo.im2col(x, cols);
                    let (w, cols) =
                        (Operand::new(w, Transpose::No), Operand::new(cols, Transpose::No));
                    gemm_on(threads, dims, w, cols, dense, Accumulate::Overwrite)?;
                    let raw = RawImage { src: dense, plane: pixels, pitch: g.out_w, bias: b };
                    relu_pool(raw, windows, image * c_out * pixels, y, argmax);
                    Ok(())
                })
            })
        }
    }
}

/// Checks that the bias, if any, is [C_out].
fn check_bias(
    op: &'static str,
    g: &Geometry,
    w: &Tensor,
    b: Option<&Tensor>,
) -> Result<(), TensorError> {
    match b {
        Some(b) if b.dims() != [g.w.n] => Err(TensorError::ShapeMismatch {
            op,
            lhs: w.dims().to_vec(),
            rhs: b.dims().to_vec(),
            why: "the bias must be [C_out]",
        }),
        _ => Ok(()),
    }
}

/// Validates, then runs the forward path for this geometry with `activation` as the epilogue.
fn forward_activated(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: Conv2dParams,
    activation: Activation,
    y: &mut Tensor,
) -> Result<(), TensorError> {
    let g = geometry(op, x, w, p)?;
    check_bias(op, &g, w, b)?;
    y.resize_for_overwrite(&g.y_dims());
    let (x, w, b, y) = (x.data(), w.data(), b.map(Tensor::data), y.data_mut());
    if let Some(geo) = g.winograd(p) {
        return winograd::forward(geo, x, w, b, activation, y);
    }
    match g.forward_grid(p) {
        Some(grid) => implicit_gemm_forward(&grid, g.x.c, x, w, b, activation, y),
        None => im2col_gemm_forward(&g.im2col(p), x, w, b, activation, y),
    }
}

/// The im2col matrix of one image, the first half of the fast path, on its own so that it can
/// be printed and studied (`trainer im2col`, `docs/convolution.md`):
///
/// `cols[(ci·KH + i)·KW + j, oh·OW + ow] = x[0, ci, oh·s + i − pad, ow·s + j − pad]` (0 in the
/// padding). Shapes: x [1, C_in, H, W] → cols [C_in·KH·KW, OH·OW]; `y = W·cols` with `W` viewed
/// as [C_out, C_in·KH·KW] is then the convolution.
///
/// # Errors
/// [`TensorError::WrongRank`] unless `x` is 4-D; [`TensorError::InvalidParameter`] unless it
/// holds exactly one non-empty image; the window errors of [`Conv2dParams::output_hw`].
pub fn im2col(
    x: &Tensor,
    (kh, kw): (usize, usize),
    p: Conv2dParams,
) -> Result<Tensor, TensorError> {
    let geo = one_image(&x.shape4("conv2d::im2col")?, (kh, kw), p, "conv2d::im2col")?;
    let mut cols = Tensor::zeros(&[geo.rows(), geo.columns()]);
    geo.im2col(x.data(), cols.data_mut());
    Ok(cols)
}

/// The adjoint of [`im2col`]: adds every entry of `cols` [C_in·KH·KW, OH·OW] onto the input
/// pixel it was copied from (entries from the padding are dropped), giving [1, C_in, H, W] for
/// an input of shape `x_shape`. With `cols = Wᵀ·dY` this is the convolution's `dx`.
///
/// # Errors
/// As [`im2col`] for `x_shape`, and [`TensorError::ShapeMismatch`] when `cols` is not
/// [C_in·KH·KW, OH·OW].
pub fn col2im(
    cols: &Tensor,
    x_shape: Shape4,
    (kh, kw): (usize, usize),
    p: Conv2dParams,
) -> Result<Tensor, TensorError> {
    let op = "conv2d::col2im";
    let geo = one_image(&x_shape, (kh, kw), p, op)?;
    if cols.dims() != [geo.rows(), geo.columns()] {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: vec![geo.rows(), geo.columns()],
            rhs: cols.dims().to_vec(),
            why: "cols must be [C_in·KH·KW, OH·OW] for this input and kernel",
        });
    }
    let mut dx = Tensor::zeros4(x_shape);
    geo.col2im(cols.data(), dx.data_mut());
    Ok(dx)
}

/// The im2col geometry of a single non-empty image of shape `x`.
fn one_image(
    x: &Shape4,
    (kh, kw): (usize, usize),
    p: Conv2dParams,
    op: &'static str,
) -> Result<Im2col, TensorError> {
    if x.n != 1 || x.is_empty() {
        let what = format!("expects one non-empty image [1, C_in, H, W], got {x}");
        return Err(TensorError::InvalidParameter { op, what });
    }
    let (out_h, out_w) = p.output_hw(x.h, x.w, kh, kw)?;
    Ok(Im2col {
        c_in: x.c,
        h: x.h,
        w: x.w,
        kh,
        kw,
        out_h,
        out_w,
        stride: p.stride,
        padding: p.padding,
    })
}

/// Forward, one image per rayon task: `y_n = activation(W·im2col(x_n) + b)`.
fn im2col_gemm_forward(
    geo: &Im2col,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    activation: Activation,
    y: &mut [f32],
) -> Result<(), TensorError> {
    let (k, pixels) = (geo.rows(), geo.columns());
    let c_out = w.len() / k;
    let dims = GemmDims { m: c_out, n: pixels, k };
    let threads = inner_threads(x.len() / (geo.c_in * geo.h * geo.w));
    let images = y.par_chunks_mut(c_out * pixels).zip(x.par_chunks(geo.c_in * geo.h * geo.w));
    images.try_for_each(|(y, x)| {
        with_scratch(&COLS, k * pixels, |cols| {
            // cols: [C_in·KH·KW, OH·OW]
            geo.im2col(x, cols);
            // y_n: [C_out, OH·OW] = W [C_out, C_in·KH·KW] · cols
            let (w, cols) = (Operand::new(w, Transpose::No), Operand::new(cols, Transpose::No));
            gemm_on(threads, dims, w, cols, y, Accumulate::Overwrite)
        })?;
        if let Some(b) = b {
            for (row, &bias) in y.chunks_exact_mut(pixels).zip(b) {
                row.iter_mut().for_each(|v| *v += bias);
            }
        }
        if activation == Activation::Relu {
            y.iter_mut().for_each(|v| *v = activation.apply(*v));
        }
        Ok(())
    })
}

/// Output pixels that one forward GEMM of the implicit path should cover at least: smaller
/// images are laid side by side on one padded grid (`implicit.rs`), so that the GEMM packs the
/// weights once for several images and the grid's extra columns (the borders) are shared.
/// 16×16 images (conv3–conv5 of a 64×64 input) go four to a grid; 32×32 and larger, one.
const SIDE_BY_SIDE_PIXELS: usize = 1024;

/// The row starts of the implicit im2col matrix on one grid, and the run starts of its
/// output columns ([`PaddedGrid::starts`], [`PaddedGrid::run_starts`]).
#[derive(Clone, Copy)]
struct GridStarts<'a> {
    rows: &'a [usize],
    runs: &'a [usize],
}

impl<'a> GridStarts<'a> {
    /// Entries of both tables for `grid` and `channels` channels.
    fn len(grid: &PaddedGrid, channels: usize) -> usize {
        grid.rows(channels) + grid.runs()
    }

    /// Fills both tables of `grid` into `tables` (`GridStarts::len` entries).
    fn fill(grid: &PaddedGrid, tables: &'a mut [usize]) -> Self {
        let (rows, runs) = tables.split_at_mut(tables.len() - grid.runs());
        grid.starts(rows);
        grid.run_starts(runs);
        Self { rows, runs }
    }
}

/// The grids of one forward pass over a batch: `full` holds `full.images` images side by side,
/// and so does every grid but the last, `last`, which holds what is left. Each comes with the
/// row starts of its implicit im2col matrix and the run starts of its output columns.
struct Grids<'a> {
    full: PaddedGrid,
    last: PaddedGrid,
    full_starts: GridStarts<'a>,
    last_starts: GridStarts<'a>,
}

impl Grids<'_> {
    /// The grid and its tables for a group of `images` images (of the full size, or the last).
    fn for_images(&self, images: usize) -> (PaddedGrid, GridStarts<'_>) {
        if images == self.full.images {
            (self.full, self.full_starts)
        } else {
            (self.last, self.last_starts)
        }
    }
}

/// How many images of the one-image `grid` go side by side on one grid: enough for
/// [`SIDE_BY_SIDE_PIXELS`] output pixels, at least one.
fn images_per_grid(grid: &PaddedGrid) -> usize {
    SIDE_BY_SIDE_PIXELS.div_ceil(grid.out_h * grid.out_w).max(1)
}

/// Runs `f` on the grids for a batch of `batch` images of `channels` channels on `grid`, with
/// [`images_per_grid`] deciding how many go on one grid.
fn with_grids<R>(
    grid: &PaddedGrid,
    channels: usize,
    batch: usize,
    f: impl FnOnce(&Grids) -> R,
) -> R {
    let per_grid = images_per_grid(grid).min(batch);
    let rest = batch % per_grid;
    let (full, last) =
        (grid.side_by_side(per_grid), grid.side_by_side(if rest == 0 { per_grid } else { rest }));
    let full_len = GridStarts::len(&full, channels);
    with_scratch(&STARTS, full_len + GridStarts::len(&last, channels), |tables| {
        let (full_starts, last_starts) = tables.split_at_mut(full_len);
        let (full_starts, last_starts) =
            (GridStarts::fill(&full, full_starts), GridStarts::fill(&last, last_starts));
        f(&Grids { full, last, full_starts, last_starts })
    })
}

/// Floats of GEMM result beyond which one forward GEMM of the implicit path is cut into slabs
/// of output channels ([`slab_channels`]) when its task runs on one thread: 256 Ki floats =
/// 1 MiB, a core's whole L2. conv5 at 56×56 (128 channels × 3 136 pixels = 1.6 MB) is cut;
/// conv3, conv4 at 56×56 (0.8 MB) are not, as slabs measured level to 1 % slower on conv4
/// (docs/benchmarks.md): each slab sweeps the whole padded image, where the whole GEMM reuses
/// a block of NC columns of it in L2 for every 8 channels.
const SLAB_ABOVE: usize = 256 * 1024;

/// Floats of GEMM result per slab ([`slab_channels`]): 32 Ki floats = 128 KiB, which stays in
/// L2 next to the padded image it is computed from (0.86 MB at 56×56, 64 channels) until it is
/// copied into `y`, instead of going out to L3 and memory and coming back.
const SLAB_FLOATS: usize = 32 * 1024;

/// Output channels per GEMM of [`conv_on_grid`] for `c_out` channels on `grid`: all of them,
/// or, for one image on one thread with a result over [`SLAB_ABOVE`], slabs of a multiple of 8
/// (the GEMM's register tile height, so no slab packs padding rows) that keep each slab's
/// result within [`SLAB_FLOATS`]. Each slab packs only its own rows of W. Not on the pool,
/// where each GEMM splits its columns over the threads and every slab would pack W again per
/// thread; not for small images side by side (16×16, four on a grid, 512 KiB at most); not
/// when a slab would be narrower than 8 channels (a result of over 4 096 columns).
fn slab_channels(grid: &PaddedGrid, c_out: usize, threads: Threads) -> usize {
    let columns = grid.output_columns().columns;
    let slab = SLAB_FLOATS / columns / 8 * 8;
    let large = c_out * columns > SLAB_ABOVE;
    if threads == Threads::Caller && grid.images == 1 && large && slab > 0 {
        slab.min(c_out)
    } else {
        c_out
    }
}

/// The step both stride-1 forwards share for one group of images `x` on `grid` (its tables
/// `starts`): pad them onto the grid (`xp` [C_in, plane]), then for each slab of output
/// channels ([`slab_channels`]) one GEMM `wide = W[slab]·cols(xp)` ([slab, columns], the
/// convolution at every column of [`PaddedGrid::output_columns`], in this thread's scratch),
/// handed to `read` with its channels, which copies each image's pixels out. Each output is
/// the same sum in the same order whatever the slabs: they only cut the rows of W.
fn conv_on_grid(
    (grid, starts): (&PaddedGrid, GridStarts),
    c_in: usize,
    x: &[f32],
    w: &[f32],
    threads: Threads,
    mut read: impl FnMut(&[f32], Range<usize>),
) -> Result<(), TensorError> {
    let k = starts.rows.len();
    let (columns, padded) = (grid.output_columns().columns, c_in * grid.plane());
    let c_out = w.len() / k;
    let slab = slab_channels(grid, c_out, threads);
    with_scratch(&COLS, padded + slab * columns, |scratch| {
        let (xp, wide) = scratch.split_at_mut(padded);
        grid.pad(x, xp);
        let cols = grid.at_outputs((xp, Transpose::No), starts.rows, starts.runs);
        for first in (0..c_out).step_by(slab) {
            let channels = first..c_out.min(first + slab);
            let dims = GemmDims { m: channels.len(), n: columns, k };
            let w = Operand::new(&w[channels.start * k..channels.end * k], Transpose::No);
            let wide = &mut wide[..channels.len() * columns];
            gemm_on(threads, dims, w, cols, wide, Accumulate::Overwrite)?;
            read(wide, channels);
        }
        Ok(())
    })
}

/// Forward for stride 1 without an im2col matrix, one rayon task per group of images laid side
/// by side on one zero-padded grid (one image unless they are small, [`SIDE_BY_SIDE_PIXELS`]):
/// the GEMM reads `cols` as shifted rows of it (`implicit.rs`). `y = W·cols(xp)` on the padded
/// grid, then `activation` of each image's real pixels plus `b` go into `y` (one pass, while
/// copying them out). Every output is the same sum as with one image per grid: grouping only
/// changes which columns one GEMM computes.
fn implicit_gemm_forward(
    grid: &PaddedGrid,
    c_in: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    activation: Activation,
    y: &mut [f32],
) -> Result<(), TensorError> {
    let k = grid.rows(c_in);
    let c_out = w.len() / k;
    let (image_len, out_len) = (c_in * grid.h * grid.w, c_out * grid.out_h * grid.out_w);
    let batch = x.len() / image_len;
    with_grids(grid, c_in, batch, |grids| {
        let per_grid = grids.full.images;
        let threads = inner_threads(batch.div_ceil(per_grid));
        let groups = y.par_chunks_mut(per_grid * out_len).zip(x.par_chunks(per_grid * image_len));
        groups.try_for_each(|(y, x)| {
            let (grid, starts) = grids.for_images(x.len() / image_len);
            conv_on_grid((&grid, starts), c_in, x, w, threads, |wide, channels| {
                let pixels = grid.out_h * grid.out_w;
                let b = b.map(|b| &b[channels.clone()]);
                for (image, y) in y.chunks_exact_mut(out_len).enumerate() {
                    let y = &mut y[channels.start * pixels..channels.end * pixels];
                    grid.compact(wide, b, activation, (image, y));
                }
            })
        })
    })
}

/// Backward of [`forward`] given `dy = ∂loss/∂y` [N, C_out, OH, OW]:
///
/// - `db[co] = Σ_n Σ_oh Σ_ow dy[n,co,oh,ow]`
/// - `dw[co,ci,i,j] = Σ_n Σ_oh Σ_ow dy[n,co,oh,ow] · x[n, ci, oh·s + i − pad, ow·s + j − pad]`
/// - `dx[n,ci,h,w] = Σ over every (co, oh, ow, i, j) that read x[n,ci,h,w] of w[co,ci,i,j]·dy`
///
/// `dx` is computed only under [`InputGrad::Compute`]. The bias plays no part in the gradients.
///
/// # Errors
/// The errors of [`forward`], and [`TensorError::ShapeMismatch`] when `dy` is not
/// [N, C_out, OH, OW].
pub fn backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    p: Conv2dParams,
    input_grad: InputGrad,
) -> Result<Conv2dGrads, TensorError> {
    let mut grads = Conv2dGrads::default();
    backward_into(x, w, dy, p, input_grad, &mut grads)?;
    Ok(grads)
}

/// [`backward`] into caller-owned gradients, each resized as needed (`grads.dx` is set to `None`
/// under [`InputGrad::Skip`]).
///
/// # Errors
/// As [`backward`].
pub fn backward_into(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    p: Conv2dParams,
    input_grad: InputGrad,
    grads: &mut Conv2dGrads,
) -> Result<(), TensorError> {
    let op = "conv2d::backward";
    let g = geometry(op, x, w, p)?;
    check_output_shape(op, &g, dy, "dy must have the forward output's shape [N, C_out, OH, OW]")?;
    let upstream = Upstream::Conv { dy: dy.data() };
    backward_masked(&g, p, (x, w), upstream, input_grad, grads)
}

/// Backward of [`forward_relu_into`], given its output `y = relu(conv2d(x))` and
/// `dy = ∂loss/∂y`: the gradients of [`backward_into`] for `dz = dy where y > 0, else 0`
/// (ReLU's rule, subgradient 0 at the kink; `y > 0` exactly where the convolution's output was
/// `> 0`). Bit-identical to `relu::backward_into` followed by [`backward_into`], without the
/// `dz` tensor: the mask is applied where `dy` is first read.
///
/// # Errors
/// As [`backward`], and [`TensorError::ShapeMismatch`] when `y` is not [N, C_out, OH, OW]
/// (messages name `conv2d_relu::backward`).
pub fn backward_relu_into(
    x: &Tensor,
    w: &Tensor,
    y: &Tensor,
    dy: &Tensor,
    p: Conv2dParams,
    input_grad: InputGrad,
    grads: &mut Conv2dGrads,
) -> Result<(), TensorError> {
    let op = "conv2d_relu::backward";
    let g = geometry(op, x, w, p)?;
    check_output_shape(op, &g, dy, "dy must have the forward output's shape [N, C_out, OH, OW]")?;
    check_output_shape(op, &g, y, "y must be the forward output [N, C_out, OH, OW]")?;
    let upstream = Upstream::Relu { dy: dy.data(), y: y.data() };
    backward_masked(&g, p, (x, w), upstream, input_grad, grads)
}

/// Backward of `max_pool2d::forward(relu(conv2d(x, w, b)), pool)` given the pool's output `y`
/// [N, C_out, PH, PW], its winners `argmax` (flat indices into the conv output
/// [N, C_out, OH, OW], as `max_pool2d::forward` returns them) and `dy = ∂loss/∂y`: the gradients
/// of [`backward_into`] for `dz = 0`, then `dz[argmax[o]] += dy[o]` where `y[o] > 0` (the pool's
/// scatter, then the ReLU's mask: a winner's ReLU output is the pooled value). Bit-identical
/// to `max_pool2d::backward`, `relu::backward_into`, [`backward_into`] in a row, without any
/// full-size gradient tensor: the scatter writes straight into the padded copy the convolution's
/// backward reads.
///
/// # Errors
/// As [`backward`]; [`TensorError::ShapeMismatch`] unless `y` and `dy` are the pool's output
/// shape and `argmax` has one index per output; [`TensorError::InvalidParameter`] for an index
/// outside its own window (messages name `conv2d_relu_pool::backward`).
#[allow(clippy::too_many_arguments)]
pub fn backward_relu_pool_into(
    x: &Tensor,
    w: &Tensor,
    (y, argmax): (&Tensor, &[u32]),
    dy: &Tensor,
    p: Conv2dParams,
    pool: Pool2dParams,
    input_grad: InputGrad,
    grads: &mut Conv2dGrads,
) -> Result<(), TensorError> {
    let op = "conv2d_relu_pool::backward";
    let g = geometry(op, x, w, p)?;
    let pooled_hw = pool.output_hw(g.out_h, g.out_w)?;
    let pooled = [g.x.n, g.w.n, pooled_hw.0, pooled_hw.1];
    for (t, why) in [(dy, "dy must be the pool's output shape"), (y, "y must be the pool's output")]
    {
        if t.dims() != pooled {
            let (lhs, rhs) = (pooled.to_vec(), t.dims().to_vec());
            return Err(TensorError::ShapeMismatch { op, lhs, rhs, why });
        }
    }
    if argmax.len() != dy.len() {
        let (shape, expected, got) = (pooled.to_vec(), dy.len(), argmax.len());
        return Err(TensorError::LengthMismatch { op, shape, expected, got });
    }
    let windows = PoolWindows {
        kernel: pool.kernel,
        stride: pool.stride,
        conv_hw: (g.out_h, g.out_w),
        pooled_hw,
    };
    let upstream =
        Upstream::ReluPool { dy: dy.data(), y: y.data(), argmax, windows, first_image: 0 };
    backward_masked(&g, p, (x, w), upstream, input_grad, grads)
}

/// Checks that `t` has the output shape [N, C_out, OH, OW] of geometry `g`.
fn check_output_shape(
    op: &'static str,
    g: &Geometry,
    t: &Tensor,
    why: &'static str,
) -> Result<(), TensorError> {
    if t.dims() == g.y_dims() {
        return Ok(());
    }
    Err(TensorError::ShapeMismatch { op, lhs: g.y_dims().to_vec(), rhs: t.dims().to_vec(), why })
}

/// The backward passes, for validated shapes (the convolution's, on `dy` masked by the ReLU's
/// output when `upstream` has one).
fn backward_masked(
    g: &Geometry,
    p: Conv2dParams,
    (x, w): (&Tensor, &Tensor),
    upstream: Upstream,
    input_grad: InputGrad,
    grads: &mut Conv2dGrads,
) -> Result<(), TensorError> {
    grads.dw.resize_for_overwrite(&g.w.dims());
    grads.db.resize_for_overwrite(&[g.w.n]);
    let dx = match input_grad {
        InputGrad::Compute => {
            let dx = grads.dx.get_or_insert_with(Tensor::default);
            dx.resize_for_overwrite(&g.x.dims());
            Some(dx.data_mut())
        }
        InputGrad::Skip => {
            grads.dx = None;
            None
        }
    };
    let (x, w) = (x.data(), w.data());
    let out = Outputs { dx, dw: grads.dw.data_mut(), db: grads.db.data_mut() };
    let image_len = g.x.c * g.x.h * g.x.w;
    match g.padded_grid(p) {
        // "Same" padding: dy padded like x has the same grid, so dx is a convolution of it.
        Some(grid) if g.w.h == g.w.w && g.w.h == 2 * p.padding + 1 => {
            let per_grid = images_per_grid(&grid).min(BATCH_CHUNK);
            let dx_winograd = out.dx.is_some().then(|| g.winograd_dx(p)).flatten();
            let implicit = Implicit { grid, c_in: g.x.c, c_out: g.w.n, per_grid, dx_winograd };
            with_scratch(&FLIPPED, w.len(), |flipped| {
                implicit.flip(w, flipped);
                // dx by Winograd: the turned kernel W' [C_in, C_out, 3, 3] transformed once.
                let u_len = dx_winograd.map_or(0, |geo| geo.weights_len());
                with_scratch(&WINOGRAD_WEIGHTS, u_len, |u| {
                    if let Some(geo) = dx_winograd {
                        geo.transform_weights(flipped, u);
                    }
                    let (flipped, u) = (&*flipped, &*u);
                    in_chunks(x, upstream, image_len, out, |threads, chunk| {
                        implicit.backward_chunk(threads, w, (flipped, u), chunk)
                    })
                })
            })?;
            if implicit.weight_grad_route() == WeightGradRoute::ChannelsLast {
                // The chunks summed dW in the channels-last GEMM's order: put it in w's.
                let dw = grads.dw.data_mut();
                with_scratch(&TAPS_FIRST, dw.len(), |dw_taps| {
                    dw_taps.copy_from_slice(dw);
                    implicit.taps_to_channels(dw_taps, dw);
                });
            }
            Ok(())
        }
        _ => {
            let geo = g.im2col(p);
            in_chunks(x, upstream, image_len, out, |threads, chunk| {
                backward_chunk(threads, &geo, w, chunk)
            })
        }
    }
}

/// How the GEMMs inside a batch of `tasks` parallel tasks (images or chunks) should run: on
/// their own thread when the tasks alone keep the pool busy (at least two per thread, so one
/// slow task does not leave a thread idle for long), else split over the pool as well.
fn inner_threads(tasks: usize) -> Threads {
    if tasks >= 2 * rayon::current_num_threads() { Threads::Caller } else { Threads::Pool }
}

/// The gradients a backward pass writes: `dx` in full (if computed), `dw` and `db` as sums.
struct Outputs<'a> {
    dx: Option<&'a mut [f32]>,
    dw: &'a mut [f32],
    db: &'a mut [f32],
}

/// One chunk of up to [`BATCH_CHUNK`] images: their `x` and upstream gradient, and the chunk's
/// outputs (its own `dx` images, and its partial sums of `dw`, `db`, which the chunk
/// overwrites).
struct Chunk<'a> {
    x: &'a [f32],
    upstream: Upstream<'a>,
    out: Outputs<'a>,
}

/// Runs `chunk_fn` on the batch in chunks of [`BATCH_CHUNK`] images (in parallel), then adds
/// the chunks' partial `dW`, `db` in chunk order ([`sum_partials`]), so the sums do not depend
/// on the thread count.
/// `image_len` is the floats of one image of `x`.
fn in_chunks(
    x: &[f32],
    upstream: Upstream,
    image_len: usize,
    out: Outputs,
    chunk_fn: impl Fn(Threads, Chunk) -> Result<(), TensorError> + Sync,
) -> Result<(), TensorError> {
    let Outputs { dx, dw, db } = out;
    let x_chunk = BATCH_CHUNK * image_len;
    let (images, chunks) = (x.len() / image_len, x.len().div_ceil(x_chunk));
    let threads = inner_threads(chunks);
    // partials: [chunks, C_out·K + C_out], each chunk's dW then db.
    let (dw_len, partial_len) = (dw.len(), dw.len() + db.len());
    with_scratch(&PARTIALS, chunks * partial_len, |partials| {
        let work = partials.par_chunks_mut(partial_len).zip(x.par_chunks(x_chunk)).enumerate();
        let run = |(c, (partial, x)): (usize, (&mut [f32], &[f32])), dx| {
            let (dw, db) = partial.split_at_mut(dw_len);
            let first = c * BATCH_CHUNK;
            let upstream = upstream.images(first..images.min(first + BATCH_CHUNK), images);
            chunk_fn(threads, Chunk { x, upstream, out: Outputs { dx, dw, db } })
        };
        match dx {
            Some(dx) => {
                work.zip(dx.par_chunks_mut(x_chunk)).try_for_each(|(t, dx)| run(t, Some(dx)))
            }
            None => work.try_for_each(|t| run(t, None)),
        }?;
        sum_partials(partials, partial_len, (dw, 0));
        sum_partials(partials, partial_len, (db, dw_len));
        Ok(())
    })
}

/// Floats of `dW` per task of [`sum_partials`] (16 KiB): conv5's 73 728 are 18 tasks.
const SUM_SPAN: usize = 4096;

/// `out[i] = Σ_chunks partials[chunk][offset + i]`, for `partials` [chunks, partial_len], added
/// in chunk order for every `i`. Spans of [`SUM_SPAN`] values run in parallel: the order of
/// each sum is the same whatever thread adds it, and the pool is not left idle while one
/// thread reads every chunk's partials (16 × 288 KiB for conv5 at 64², batch 64).
fn sum_partials(partials: &[f32], partial_len: usize, (out, offset): (&mut [f32], usize)) {
    out.par_chunks_mut(SUM_SPAN).enumerate().for_each(|(span, out)| {
        let values = offset + span * SUM_SPAN..offset + span * SUM_SPAN + out.len();
        let mut chunks = partials.chunks_exact(partial_len).map(|p| &p[values.clone()]);
        let first = chunks.next().expect("a non-empty batch has at least one chunk");
        out.copy_from_slice(first);
        for partial in chunks {
            out.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
        }
    });
}

/// Floats per 64-byte cache line.
const LINE_FLOATS: usize = 64 / size_of::<f32>();

/// The `len` floats of `buf` from its first 64-byte boundary, when `buf` holds at least
/// `len + LINE_FLOATS − 1` floats (from as near it as there is room for, otherwise).
fn on_a_line(buf: &mut [f32], len: usize) -> &mut [f32] {
    let skip = buf.as_ptr().align_offset(64).min(buf.len() - len);
    &mut buf[skip..skip + len]
}

/// `out = dy where y > 0, else 0` (the ReLU's backward rule, bit for bit as
/// `relu::backward_into`): whole vectors in [`kernel::relu_grad_lanes`], the rest one by one.
fn relu_grad(y: &[f32], dy: &[f32], out: &mut [f32]) {
    let body = y.len() / kernel::LANES * kernel::LANES;
    kernel::relu_grad_lanes(&y[..body], &dy[..body], &mut out[..body]);
    let tail = out[body..].iter_mut().zip(&y[body..]).zip(&dy[body..]);
    tail.for_each(|((o, &y), &dy)| *o = if y > 0.0 { dy } else { 0.0 });
}

/// `db[co] += Σ_pixels dY[co, ·]` for one image `dy` [C_out, OH·OW].
/// forward: y = … + b[co] on every pixel, so db[co] = Σ_pixels dY[co, ·].
fn add_bias_grad(dy: &[f32], db: &mut [f32]) {
    let pixels = dy.len() / db.len();
    for (d, row) in db.iter_mut().zip(dy.chunks_exact(pixels)) {
        *d += row_sum(row);
    }
}

/// `Σ row`: whole vectors in [`kernel::sum_lanes`], the last few values one by one.
fn row_sum(row: &[f32]) -> f32 {
    let body = row.len() / kernel::SUM_BLOCK * kernel::SUM_BLOCK;
    kernel::sum_lanes(&row[..body]) + row[body..].iter().sum::<f32>()
}

/// One chunk's gradients by explicit im2col: per image, `dW += dY·colsᵀ`, `db += Σ dY`, and
/// `dx = col2im(Wᵀ·dY)`. The GEMMs run as `threads` says. Behind a fused ReLU (and pool),
/// each image's `dY` is first written into a scratch copy (`upstream.rs`).
fn backward_chunk(
    threads: Threads,
    geo: &Im2col,
    w: &[f32],
    chunk: Chunk,
) -> Result<(), TensorError> {
    let Chunk { x, upstream, out: Outputs { mut dx, dw, db } } = chunk;
    let (k, pixels) = (geo.rows(), geo.columns());
    let c_out = db.len();
    let (image_len, out_len) = (geo.c_in * geo.h * geo.w, c_out * pixels);
    let images = x.len() / image_len;
    let masked_len = if let Upstream::Conv { .. } = upstream { 0 } else { out_len };
    db.fill(0.0);
    with_scratch(&COLS, 2 * k * pixels + masked_len, |scratch| {
        // cols, dcols: [C_in·KH·KW, OH·OW]; masked: [C_out, OH·OW] (empty when unfused).
        let (cols, rest) = scratch.split_at_mut(k * pixels);
        let (dcols, masked) = rest.split_at_mut(k * pixels);
        for image in 0..images {
            let dy = match upstream.images(image..image + 1, images) {
                Upstream::Conv { dy } => dy,
                Upstream::Relu { dy, y } => {
                    relu_grad(y, dy, masked);
                    &*masked
                }
                Upstream::ReluPool { dy, y, argmax, windows, first_image } => {
                    let dense = Layout { plane: pixels, pitch: geo.out_w, origin: 0 };
                    scatter_pooled((dy, y, argmax), first_image, windows, dense, masked)?;
                    &*masked
                }
            };
            geo.im2col(&x[image * image_len..(image + 1) * image_len], cols);
            // forward: y = W·cols, so dW = dY·colsᵀ: [C_out, OH·OW]·[OH·OW, K], summed.
            let acc = if image == 0 { Accumulate::Overwrite } else { Accumulate::Add };
            let dims = GemmDims { m: c_out, n: k, k: pixels };
            let (dy_op, cols) =
                (Operand::new(dy, Transpose::No), Operand::new(cols, Transpose::Yes));
            gemm_on(threads, dims, dy_op, cols, dw, acc)?;
            add_bias_grad(dy, db);
            if let Some(dx) = dx.as_deref_mut() {
                // forward: y = W·cols, so dcols = Wᵀ·dY: [K, C_out]·[C_out, OH·OW].
                let dims = GemmDims { m: k, n: pixels, k: c_out };
                let (w, dy) = (Operand::new(w, Transpose::Yes), Operand::new(dy, Transpose::No));
                gemm_on(threads, dims, w, dy, dcols, Accumulate::Overwrite)?;
                let dx = &mut dx[image * image_len..(image + 1) * image_len];
                dx.fill(0.0);
                geo.col2im(dcols, dx);
            }
        }
        Ok(())
    })
}

/// The implicit path's backward for stride 1 and "same" padding (`KH = KW = 2·pad + 1`, so
/// OH = H, OW = W): x and dy are both padded onto the same grid, and every GEMM reads them as
/// shifted rows (`implicit.rs`).
///
/// - `dW = dY·colsᵀ`, with dY read on the padded grid, whose extra pixels are the padding's
///   zeros, so they add nothing.
/// - `dx` is itself a convolution: `dx[ci,h,w] = Σ_{co,i,j} w[co,ci,i,j]·dy[co, h+pad−i, w+pad−j]`,
///   i.e. the padded dy convolved with the kernel turned 180° and C_in, C_out swapped:
///   `dx = W'·cols(dyp)` with `W'[ci, (co,i,j)] = w[co, ci, KH−1−i, KW−1−j]`. One GEMM with a
///   reduction over C_out·KH·KW writes dx directly: no `dcols` [C_in·KH·KW, H·W] and no col2im.
///
/// Small images go side by side, as in the forward ([`SIDE_BY_SIDE_PIXELS`]): a chunk's images
/// are cut into groups of `per_grid`, and each group is one grid, so one `dW` GEMM reduces over
/// all of its columns and one `dx` GEMM packs `W'` once for all of its images.
///
/// `dW` takes one of three routes ([`WeightGradRoute`]).
struct Implicit {
    /// The grid of one image.
    grid: PaddedGrid,
    c_in: usize,
    c_out: usize,
    /// Images side by side on one grid.
    per_grid: usize,
    /// `dx` by Winograd ([`Geometry::winograd_dx`]) instead of the `W'·cols(dyp)` GEMM.
    dx_winograd: Option<Winograd>,
}

/// How the implicit backward computes `dW = dY·colsᵀ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightGradRoute {
    /// C_out < [`DIRECT_WEIGHT_GRAD`]: its own kernel, `implicit::weight_grad`.
    Direct,
    /// A GEMM whose op(B) = colsᵀ is read in place from the image laid out channels-last
    /// (`implicit.rs`), when C_in is a whole number of the GEMM's vectors ([`IN_PLACE_RUN`]):
    /// only dY is packed. Its `dW` comes out [C_out, KH·KW, C_in] and is permuted back.
    ChannelsLast,
    /// A GEMM that packs both dY and colsᵀ from the padded planes (transposing both).
    Packed,
}

/// The row-start tables of one grid of the implicit backward.
struct Starts<'a> {
    /// Row starts of `cols(xp)` [C_in·KH·KW, columns].
    x: &'a [usize],
    /// Row starts of `cols(dyp)` [C_out·KH·KW, columns].
    dy_cols: &'a [usize],
    /// Row starts of dY on the padded grid [C_out, columns]: each channel from (pad, pad).
    dy_rows: &'a [usize],
    /// Run starts of the output pixels ([`PaddedGrid::run_starts`]; empty unless the grid is
    /// [`PaddedGrid::in_runs`]): `dx`'s columns, and the pixels the `dW` GEMM sums over.
    runs: &'a [usize],
    /// For [`WeightGradRoute::ChannelsLast`] (else empty): where each pixel of the `dW` sum
    /// starts in the channels-last `xt` ([`PaddedGrid::pixel_starts`]), and each tap's offset
    /// from it ([`PaddedGrid::tap_starts`]).
    pixels: &'a [usize],
    taps: &'a [usize],
}

impl Implicit {
    /// The route of this layer's `dW`.
    fn weight_grad_route(&self) -> WeightGradRoute {
        if self.c_out < DIRECT_WEIGHT_GRAD {
            WeightGradRoute::Direct
        } else if self.c_in.is_multiple_of(IN_PLACE_RUN) {
            WeightGradRoute::ChannelsLast
        } else {
            WeightGradRoute::Packed
        }
    }

    /// Entries of [`Starts::pixels`] and [`Starts::taps`] for `grid`: the pixels of the `dW`
    /// sum and the KH·KW taps on the channels-last route, none on the others.
    fn channels_last_lens(&self, grid: &PaddedGrid) -> (usize, usize) {
        match self.weight_grad_route() {
            WeightGradRoute::ChannelsLast => (grid.output_columns().columns, grid.kh * grid.kw),
            WeightGradRoute::Direct | WeightGradRoute::Packed => (0, 0),
        }
    }

    /// Entries of the tables of [`Starts`] for `grid`: `C_in·KH·KW + C_out·KH·KW + C_out +
    /// grid.runs()` and [`Implicit::channels_last_lens`].
    fn starts_len(&self, grid: &PaddedGrid) -> usize {
        let (pixels, taps) = self.channels_last_lens(grid);
        grid.rows(self.c_in) + grid.rows(self.c_out) + self.c_out + grid.runs() + pixels + taps
    }

    /// Fills the tables of `grid` into `tables` ([`Implicit::starts_len`] entries).
    fn starts<'t>(&self, grid: &PaddedGrid, tables: &'t mut [usize]) -> Starts<'t> {
        let (x, rest) = tables.split_at_mut(grid.rows(self.c_in));
        let (dy_cols, rest) = rest.split_at_mut(grid.rows(self.c_out));
        let (dy_rows, rest) = rest.split_at_mut(self.c_out);
        let (runs, rest) = rest.split_at_mut(grid.runs());
        grid.starts(x);
        grid.starts(dy_cols);
        grid.run_starts(runs);
        let corner = grid.padding * grid.pitch() + grid.padding;
        for (co, start) in dy_rows.iter_mut().enumerate() {
            *start = co * grid.plane() + corner;
        }
        let (pixels, taps) = rest.split_at_mut(self.channels_last_lens(grid).0);
        grid.pixel_starts(self.c_in, pixels);
        grid.tap_starts(self.c_in, taps);
        Starts { x, dy_cols, dy_rows, runs, pixels, taps }
    }

    /// `dw[co, ci, t] = dw_taps[co, t, ci]` for the KH·KW taps `t`: the channels-last route's
    /// `dW` [C_out, KH·KW, C_in] in the order of `w` [C_out, C_in, KH, KW]. Only moves values.
    fn taps_to_channels(&self, dw_taps: &[f32], dw: &mut [f32]) {
        let taps = self.grid.kh * self.grid.kw;
        let per_co = taps * self.c_in;
        for (src, dst) in dw_taps.chunks_exact(per_co).zip(dw.chunks_exact_mut(per_co)) {
            for (t, run) in src.chunks_exact(self.c_in).enumerate() {
                for (ci, &v) in run.iter().enumerate() {
                    dst[ci * taps + t] = v;
                }
            }
        }
    }

    /// `flipped[ci, (co·KH + i)·KW + j] = w[co, ci, KH−1−i, KW−1−j]`: [C_in, C_out·KH·KW].
    fn flip(&self, w: &[f32], flipped: &mut [f32]) {
        let (kh, kw) = (self.grid.kh, self.grid.kw);
        let taps = kh * kw;
        for (ci, row) in flipped.chunks_exact_mut(self.c_out * taps).enumerate() {
            for (co, dst) in row.chunks_exact_mut(taps).enumerate() {
                let src = &w[(co * self.c_in + ci) * taps..][..taps];
                // Turning a kh×kw block by 180° reverses its row-major order.
                dst.iter_mut().zip(src.iter().rev()).for_each(|(d, &s)| *d = s);
            }
        }
    }

    /// One chunk's gradients: per group of images on one grid, pad x and dy side by side,
    /// `dW += dY·colsᵀ`, `db += Σ dY`, and `dx = W'·cols(dyp)`. On the channels-last route
    /// `dW` is left in its tap-major order [C_out, KH·KW, C_in].
    fn backward_chunk(
        &self,
        threads: Threads,
        w: &[f32],
        flipped: (&[f32], &[f32]),
        chunk: Chunk,
    ) -> Result<(), TensorError> {
        let Chunk { x, upstream, out: Outputs { mut dx, dw, db } } = chunk;
        let image_len = self.c_in * self.grid.h * self.grid.w;
        let images = x.len() / image_len;
        db.fill(0.0);
        for (group, x) in x.chunks(self.per_grid * image_len).enumerate() {
            let first = group * self.per_grid;
            let count = x.len() / image_len;
            let upstream = upstream.images(first..first + count, images);
            let dx = dx.as_deref_mut().map(|dx| &mut dx[first * image_len..][..x.len()]);
            let acc = if group == 0 { Accumulate::Overwrite } else { Accumulate::Add };
            let out = Outputs { dx, dw: &mut *dw, db: &mut *db };
            let grid = self.grid.side_by_side(count);
            with_scratch(&STARTS, self.starts_len(&grid), |tables| {
                let starts = self.starts(&grid, tables);
                self.backward_grid(threads, (&grid, &starts), (w, flipped), (x, upstream), acc, out)
            })?;
        }
        Ok(())
    }

    /// The gradients of the images on one `grid` (its row starts `starts`): x [images, C_in,
    /// H, W] and their upstream gradient in, their `dx` out, `dW` (overwritten or added to as
    /// `acc` says) and `db` (added to).
    fn backward_grid(
        &self,
        threads: Threads,
        (grid, starts): (&PaddedGrid, &Starts),
        (w, (flipped, u)): (&[f32], (&[f32], &[f32])),
        (x, upstream): (&[f32], Upstream),
        acc: Accumulate,
        out: Outputs,
    ) -> Result<(), TensorError> {
        let Outputs { mut dx, dw, db } = out;
        let route = self.weight_grad_route();
        let (plane, columns) = (grid.plane(), grid.columns());
        // The GEMMs' pixels (dx's columns, dW's sum): the real ones when the grid is in runs,
        // else every grid column.
        let pixels = grid.output_columns().columns;
        let dw_dims = GemmDims { m: self.c_out, n: w.len() / self.c_out, k: pixels };
        let dx_dims = GemmDims { m: self.c_in, n: pixels, k: starts.dy_cols.len() };
        // xt plus room to start it on a cache line.
        let xt_len = match route {
            WeightGradRoute::ChannelsLast => self.c_in * plane + LINE_FLOATS,
            WeightGradRoute::Direct | WeightGradRoute::Packed => 0,
        };
        let scratch_len = (self.c_in + self.c_out) * plane + self.c_in * pixels + xt_len;
        with_scratch(&COLS, scratch_len, |scratch| {
            // xp: [C_in, plane], dyp: [C_out, plane], the images side by side;
            // wide: [C_in, pixels] (dx at the grid's output columns); xt: [plane, C_in] on the
            // channels-last route, else empty.
            let (xp, rest) = scratch.split_at_mut(self.c_in * plane);
            let (dyp, rest) = rest.split_at_mut(self.c_out * plane);
            let (wide, xt) = rest.split_at_mut(self.c_in * pixels);
            // On a cache line: every run of 16 channels the GEMM reads in place is then one
            // aligned vector (C_in is a whole number of vectors), never split over two lines.
            let xt = on_a_line(xt, xt_len.saturating_sub(LINE_FLOATS));
            grid.pad(x, xp);
            if route == WeightGradRoute::ChannelsLast {
                // xt: [plane, C_in], xp channels-last.
                grid.channels_last(xp, xt);
            }
            match upstream {
                Upstream::Conv { dy } => grid.pad(dy, dyp),
                Upstream::Relu { dy, y } => grid.pad_relu_grad(dy, y, dyp),
                Upstream::ReluPool { dy, y, argmax, windows, first_image } => {
                    // Each image scatters into its own block; the grid zeroes the rest.
                    grid.zero_borders(dyp);
                    let (pitch, per_image) = (grid.pitch(), dy.len() / grid.images);
                    let corner = grid.padding * pitch + grid.padding;
                    for image in 0..grid.images {
                        let origin = corner + image * grid.image_step();
                        let part = image * per_image..(image + 1) * per_image;
                        let pooled = (&dy[part.clone()], &y[part.clone()], &argmax[part]);
                        let layout = Layout { plane, pitch, origin };
                        scatter_pooled(pooled, first_image + image, windows, layout, dyp)?;
                    }
                }
            }
            let (xp, dyp) = (&*xp, &*dyp);
            // forward: y = W·cols, so dW = dY·colsᵀ: [C_out, columns]·[columns, K], summed.
            // dY is read at the output pixels only (the grid's borders are zeros in dY).
            let dy = grid.at_outputs((dyp, Transpose::No), starts.dy_rows, starts.runs);
            match route {
                WeightGradRoute::Direct => {
                    if acc == Accumulate::Overwrite {
                        dw.fill(0.0);
                    }
                    implicit::weight_grad((dyp, starts.dy_rows), (xp, starts.x), columns, dw);
                }
                WeightGradRoute::ChannelsLast => {
                    // dW [C_out, KH·KW·C_in] = dY [C_out, pixels] · colsᵀ [pixels, KH·KW·C_in]
                    let cols = grid.channels_last_cols((xt, self.c_in), starts.pixels, starts.taps);
                    gemm_on(threads, dw_dims, dy, cols, dw, acc)?;
                }
                WeightGradRoute::Packed => {
                    let cols = grid.at_outputs((xp, Transpose::Yes), starts.x, starts.runs);
                    gemm_on(threads, dw_dims, dy, cols, dw, acc)?;
                }
            }
            // The padded planes of dY: their border zeros add nothing to Σ dY.
            add_bias_grad(dyp, db);
            if let (Some(dx), Some(geo)) = (dx.as_deref_mut(), self.dx_winograd) {
                // dx = the padded dY [C_out, H, W] per image convolved with W' [C_in, C_out,
                // 3, 3], by Winograd, read straight from the grid.
                let corner = grid.padding * grid.pitch() + grid.padding;
                let (plane, pitch, image_step) = (grid.plane(), grid.pitch(), grid.image_step());
                let dyp = Planes { data: dyp, origin: corner, image_step, plane, pitch };
                geo.forward_images(u, dyp, None, Activation::Identity, dx)?;
            } else if let Some(dx) = dx {
                // dx = W' [C_in, C_out·KH·KW] · cols(dyp) [C_out·KH·KW, pixels]
                let flipped = Operand::new(flipped, Transpose::No);
                let cols = grid.at_outputs((dyp, Transpose::No), starts.dy_cols, starts.runs);
                gemm_on(threads, dx_dims, flipped, cols, wide, Accumulate::Overwrite)?;
                for (image, dx) in dx.chunks_exact_mut(x.len() / grid.images).enumerate() {
                    grid.compact(wide, None, Activation::Identity, (image, dx));
                }
            }
            Ok(())
        })
    }
}
