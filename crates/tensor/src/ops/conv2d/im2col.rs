//! im2col and col2im: the two halves that turn a convolution into one GEMM per image.
//!
//! `cols[(ci·KH + i)·KW + j, oh·OW + ow] = x[ci, oh·s + i − pad, ow·s + j − pad]` (0 in the
//! padding), so `y = W·cols` with `W` viewed as `[C_out, C_in·KH·KW]`. col2im is the adjoint:
//! it adds every column entry back onto the input pixel it was copied from, which is exactly
//! `dx` once `dcols = Wᵀ·dY`.
//!
//! Each row of `cols` is a shifted (and for stride > 1, subsampled) copy of input rows, so both
//! functions work one output row at a time on the range of `ow` whose source pixel lies inside
//! the image; everything left of or right of it is padding.

/// The `[lo, hi)` range of output positions `o` whose source `o·s + tap − pad` lies in
/// `0..len`. For stride 1 the copy is contiguous, which is what makes the 3×3/pad-1 case fast.
fn valid_outputs(
    tap: usize,
    pad: usize,
    stride: usize,
    len: usize,
    outputs: usize,
) -> (usize, usize) {
    // o·s + tap ≥ pad  ⇔  o ≥ ⌈(pad − tap)/s⌉
    let lo = pad.saturating_sub(tap).div_ceil(stride);
    // o·s + tap − pad < len  ⇔  o < ⌈(len + pad − tap)/s⌉
    let hi = (len + pad).saturating_sub(tap).div_ceil(stride);
    (lo.min(outputs), hi.clamp(lo.min(outputs), outputs))
}

/// Shapes and parameters of one image's im2col, all validated by the caller.
#[derive(Debug, Clone, Copy)]
pub(super) struct Im2col {
    /// Input channels, height and width.
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    /// Output height and width.
    pub out_h: usize,
    pub out_w: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Im2col {
    /// Rows of `cols`: `C_in·KH·KW`, the GEMM's reduction length.
    pub fn rows(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Columns of `cols`: `OH·OW`, one per output pixel.
    pub fn columns(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Fills `cols` [C_in·KH·KW, OH·OW] from one image `x` [C_in, H, W].
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        debug_assert!(
            x.len() == self.c_in * self.h * self.w && cols.len() == self.rows() * self.columns()
        );
        let (s, pad) = (self.stride, self.padding);
        let mut rows = cols.chunks_exact_mut(self.columns());
        for ci in 0..self.c_in {
            let plane = &x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            for i in 0..self.kh {
                let (oh_lo, oh_hi) = valid_outputs(i, pad, s, self.h, self.out_h);
                for j in 0..self.kw {
                    let row = rows.next().expect("cols has C_in·KH·KW rows");
                    let (ow_lo, ow_hi) = valid_outputs(j, pad, s, self.w, self.out_w);
                    for (oh, dst) in row.chunks_exact_mut(self.out_w).enumerate() {
                        if oh < oh_lo || oh >= oh_hi || ow_lo == ow_hi {
                            dst.fill(0.0);
                            continue;
                        }
                        let src_row = &plane[(oh * s + i - pad) * self.w..][..self.w];
                        let first = ow_lo * s + j - pad;
                        dst[..ow_lo].fill(0.0);
                        if s == 1 {
                            dst[ow_lo..ow_hi]
                                .copy_from_slice(&src_row[first..first + ow_hi - ow_lo]);
                        } else {
                            let src = src_row[first..].iter().step_by(s);
                            for (d, &v) in dst[ow_lo..ow_hi].iter_mut().zip(src) {
                                *d = v;
                            }
                        }
                        dst[ow_hi..].fill(0.0);
                    }
                }
            }
        }
    }

    /// Adds `cols` [C_in·KH·KW, OH·OW] back onto one image `dx` [C_in, H, W] (the adjoint of
    /// [`Self::im2col`]; entries that came from padding are dropped). `dx` must start at 0.
    pub fn col2im(&self, cols: &[f32], dx: &mut [f32]) {
        debug_assert!(
            dx.len() == self.c_in * self.h * self.w && cols.len() == self.rows() * self.columns()
        );
        let (s, pad) = (self.stride, self.padding);
        let mut rows = cols.chunks_exact(self.columns());
        for ci in 0..self.c_in {
            let plane = &mut dx[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            for i in 0..self.kh {
                let (oh_lo, oh_hi) = valid_outputs(i, pad, s, self.h, self.out_h);
                for j in 0..self.kw {
                    let row = rows.next().expect("cols has C_in·KH·KW rows");
                    let (ow_lo, ow_hi) = valid_outputs(j, pad, s, self.w, self.out_w);
                    if ow_lo == ow_hi {
                        continue;
                    }
                    for oh in oh_lo..oh_hi {
                        let src = &row[oh * self.out_w + ow_lo..oh * self.out_w + ow_hi];
                        let dst_row = &mut plane[(oh * s + i - pad) * self.w..][..self.w];
                        let first = ow_lo * s + j - pad;
                        if s == 1 {
                            for (d, &v) in dst_row[first..first + src.len()].iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            for (d, &v) in dst_row[first..].iter_mut().step_by(s).zip(src) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}
