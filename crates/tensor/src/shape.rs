//! `Shape4`: the four dimensions of an NCHW activation, with names instead of indices.

use crate::TensorError;

/// The dimensions of an NCHW tensor: batch `n`, channels `c`, height `h`, width `w`.
///
/// Element `(n, c, h, w)` lives at flat index `((n·C + c)·H + h)·W + w` (row-major, W fastest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape4 {
    /// Batch size N.
    pub n: usize,
    /// Channels C.
    pub c: usize,
    /// Height H.
    pub h: usize,
    /// Width W.
    pub w: usize,
}

impl Shape4 {
    /// A shape from its four dimensions.
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self { n, c, h, w }
    }

    /// The shape as a slice-like array `[N, C, H, W]`.
    pub const fn dims(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    /// Number of elements `N·C·H·W`.
    pub const fn len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// True when any dimension is zero.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements in one image (`C·H·W`), the stride between batch entries.
    pub const fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Elements in one channel plane (`H·W`).
    pub const fn plane_len(&self) -> usize {
        self.h * self.w
    }

    /// Reads a 4-D shape from a dims slice.
    ///
    /// # Errors
    /// [`TensorError::WrongRank`] when `dims` does not have exactly four entries.
    pub fn from_dims(op: &'static str, dims: &[usize]) -> Result<Self, TensorError> {
        match *dims {
            [n, c, h, w] => Ok(Self { n, c, h, w }),
            _ => Err(TensorError::WrongRank { op, expected: 4, shape: dims.to_vec() }),
        }
    }
}

impl std::fmt::Display for Shape4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {}, {}, {}]", self.n, self.c, self.h, self.w)
    }
}
