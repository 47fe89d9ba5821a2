//! `Tensor`: a contiguous, row-major f32 array with a shape. NCHW activations are 4-D tensors,
//! matrices 2-D ones, biases 1-D ones. There are no strides and no views: every kernel can assume
//! dense memory, which keeps them short enough to read.

use crate::{Shape4, TensorError};

/// A dense row-major f32 array: `data[i]` is the element whose multi-index, read as digits of the
/// mixed-radix number with bases `dims`, equals `i` (last dimension fastest).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tensor {
    dims: Vec<usize>,
    data: Vec<f32>,
}

fn element_count(dims: &[usize]) -> usize {
    dims.iter().product()
}

impl Tensor {
    /// A tensor of zeros with shape `dims`.
    pub fn zeros(dims: &[usize]) -> Self {
        Self { dims: dims.to_vec(), data: vec![0.0; element_count(dims)] }
    }

    /// A tensor filled with `value`.
    pub fn full(dims: &[usize], value: f32) -> Self {
        Self { dims: dims.to_vec(), data: vec![value; element_count(dims)] }
    }

    /// A tensor that takes ownership of `data`, laid out row-major with shape `dims`.
    ///
    /// # Errors
    /// [`TensorError::LengthMismatch`] when `data.len()` is not the product of `dims`.
    pub fn from_vec(dims: &[usize], data: Vec<f32>) -> Result<Self, TensorError> {
        let expected = element_count(dims);
        if data.len() != expected {
            return Err(TensorError::LengthMismatch {
                op: "Tensor::from_vec",
                shape: dims.to_vec(),
                expected,
                got: data.len(),
            });
        }
        Ok(Self { dims: dims.to_vec(), data })
    }

    /// A tensor whose element at flat index `i` is `f(i)`.
    pub fn from_fn(dims: &[usize], f: impl FnMut(usize) -> f32) -> Self {
        let data = (0..element_count(dims)).map(f).collect();
        Self { dims: dims.to_vec(), data }
    }

    /// A 4-D NCHW tensor of zeros.
    pub fn zeros4(shape: Shape4) -> Self {
        Self::zeros(&shape.dims())
    }

    /// The shape, outermost dimension first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements in row-major order, writable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives up the tensor and returns its elements.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// The shape as [`Shape4`], for ops that take NCHW input.
    ///
    /// # Errors
    /// [`TensorError::WrongRank`] (naming `op`) unless the tensor is 4-D.
    pub fn shape4(&self, op: &'static str) -> Result<Shape4, TensorError> {
        Shape4::from_dims(op, &self.dims)
    }

    /// The same elements under a new shape with the same element count (no copy).
    ///
    /// # Errors
    /// [`TensorError::LengthMismatch`] when the counts differ.
    pub fn reshape(mut self, dims: &[usize]) -> Result<Self, TensorError> {
        self.reshape_in_place(dims)?;
        Ok(self)
    }

    /// Changes the shape in place; the element count must stay the same.
    ///
    /// # Errors
    /// [`TensorError::LengthMismatch`] when the counts differ.
    pub fn reshape_in_place(&mut self, dims: &[usize]) -> Result<(), TensorError> {
        let expected = element_count(dims);
        if expected != self.data.len() {
            return Err(TensorError::LengthMismatch {
                op: "Tensor::reshape",
                shape: dims.to_vec(),
                expected,
                got: self.data.len(),
            });
        }
        self.dims.clear();
        self.dims.extend_from_slice(dims);
        Ok(())
    }

    /// Makes this tensor shape `dims`, reusing its allocation when it is large enough.
    ///
    /// The contents afterwards are unspecified (old values or zeros): callers overwrite them.
    /// This is how buffers are recycled between training steps without touching the allocator.
    pub fn resize_for_overwrite(&mut self, dims: &[usize]) {
        let len = element_count(dims);
        self.data.resize(len, 0.0);
        self.dims.clear();
        self.dims.extend_from_slice(dims);
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: f32) {
        self.data.fill(value);
    }

    /// Copies the tensor into an `ndarray` array of the same shape.
    pub fn to_ndarray(&self) -> ndarray::ArrayD<f32> {
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&self.dims), self.data.clone())
            .expect("dims and data length agree by construction")
    }

    /// Copies any `ndarray` array (any layout) into a row-major tensor.
    pub fn from_ndarray<S, D>(array: &ndarray::ArrayBase<S, D>) -> Self
    where
        S: ndarray::Data<Elem = f32>,
        D: ndarray::Dimension,
    {
        Self { dims: array.shape().to_vec(), data: array.iter().copied().collect() }
    }
}

impl From<ndarray::ArrayD<f32>> for Tensor {
    fn from(array: ndarray::ArrayD<f32>) -> Self {
        Self::from_ndarray(&array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_the_length() {
        let err = Tensor::from_vec(&[2, 3], vec![0.0; 5]).unwrap_err();
        assert_eq!(
            err,
            TensorError::LengthMismatch {
                op: "Tensor::from_vec",
                shape: vec![2, 3],
                expected: 6,
                got: 5
            }
        );
    }

    #[test]
    fn reshape_keeps_row_major_order_and_rejects_other_counts() {
        let t = Tensor::from_fn(&[2, 3], |i| i as f32).reshape(&[3, 2]).unwrap();
        assert_eq!(t.dims(), &[3, 2]);
        assert_eq!(t.data(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(t.reshape(&[4, 2]).is_err());
    }

    #[test]
    fn ndarray_round_trip_respects_layout() {
        // A transposed (column-major) view must come out in logical row-major order.
        let a = ndarray::Array2::from_shape_vec((2, 3), vec![1.0f32, 2., 3., 4., 5., 6.]).unwrap();
        let t = Tensor::from_ndarray(&a.t());
        assert_eq!(t.dims(), &[3, 2]);
        assert_eq!(t.data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let back = t.to_ndarray();
        assert_eq!(back.shape(), &[3, 2]);
        assert_eq!(back[[2, 1]], 6.0);
    }

    #[test]
    fn shape4_names_the_op() {
        let t = Tensor::zeros(&[2, 3]);
        let err = t.shape4("conv2d").unwrap_err();
        assert!(err.to_string().starts_with("conv2d: expected a 4-D tensor"));
    }
}
