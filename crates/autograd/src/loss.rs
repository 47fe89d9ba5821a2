//! Losses. `softmax_cross_entropy` is the one classification needs; its options (class weights,
//! label smoothing) are the kernel's, re-exported here so callers need only this crate.

pub use crate::ops::softmax_cross_entropy;
pub use tensor::ops::softmax_cross_entropy::CrossEntropyOptions;
