//! The kernels. Each op is a folder with `forward` / `backward` in `mod.rs`, the plain loops in
//! `reference.rs` and the property tests in `tests.rs`.

pub mod batch_norm2d;
pub mod conv2d;
pub mod dropout;
pub mod elementwise;
pub mod gemm;
pub mod global_avg_pool2d;
pub mod linear;
pub mod max_pool2d;
pub mod relu;
pub mod softmax_cross_entropy;
