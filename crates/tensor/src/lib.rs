//! # tensor
//!
//! NCHW f32 tensors and the compute kernels of astroconv, written by hand: a BLIS-style packed
//! GEMM with SIMD micro-kernels, im2col convolution, max-pooling, ReLU, linear layers and softmax
//! cross-entropy, each with a plain reference kernel beside it that defines what "correct" means.
//!
//! This crate knows no tape: every op is a pair of functions, `forward` and `backward`, that take
//! tensors and return fresh tensors (plus `_into` variants that write into caller-owned buffers so
//! a training loop allocates nothing in its steady state). `autograd` glues them into a graph.
//!
//! Layout: `ops/<op>/mod.rs` validates and dispatches, `reference.rs` holds the nested loops,
//! `kernel.rs` the SIMD inner loops, `tests.rs` the property tests.

mod error;
pub mod ops;
mod real;
pub mod rng;
mod shape;
mod tensor;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::TensorError;
pub use real::Real;
pub use rng::Rng;
pub use shape::Shape4;
pub use tensor::Tensor;
