//! # autograd
//!
//! Reverse-mode automatic differentiation for astroconv: a tape of tensor ops, layers built on
//! it, a softmax cross-entropy loss, SGD / Adam / AdamW written from PyTorch's formulas,
//! learning-rate schedules, gradient checking and safetensors checkpoints.
//!
//! How backprop works here, in three sentences. Every op called during the forward pass appends
//! a node to a [`Tape`] with its output and whatever its backward needs. [`Tape::backward`] walks
//! the nodes newest first and calls each op's backward kernel, which turns `∂loss/∂output` into
//! `∂loss/∂input` for each input; contributions to one value are summed in one place
//! (`Tape::accumulate`). Parameters are copied onto the tape with [`Tape::param`], and
//! [`Tape::take_param_grads`] hands their gradients back to the [`Parameter`]s (or
//! [`Tape::accumulate_param_grads`] adds them, to sum several backward passes).
//!
//! All math is in `tensor::ops`; files in [`ops`] are glue that records nodes and calls kernels.
//!
//! A training loop (runs as a doctest on an empty batch list):
//!
//! ```
//! use autograd::init::Init;
//! use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
//! use autograd::nn::*;
//! use autograd::optim::{Optimizer, Sgd};
//! use autograd::Tape;
//! # fn main() -> autograd::Result<()> {
//! # let batches: Vec<(tensor::Tensor, Vec<usize>)> = Vec::new();
//! let mut rng = tensor::Rng::new(0);
//! let same = Conv2dParams { stride: 1, padding: 1 };
//! let mut model = Sequential::new(vec![
//!     Box::new(Conv2d::new(3, 16, 3, same, Init::PytorchDefault, &mut rng)),
//!     Box::new(ReLU),
//!     Box::new(MaxPool2d::new(2, 2)),
//!     Box::new(GlobalAvgPool),
//!     Box::new(Flatten),
//!     Box::new(Linear::new(16, 3, Init::PytorchDefault, &mut rng)),
//! ]);
//! let mut opt = Sgd::new(0.01).momentum(0.9);
//! let mut tape = Tape::new();
//! for (images, labels) in &batches {
//!     tape.reset();                                     // keep buffers, forget the graph
//!     let x = tape.input_from(images);                  // [N, 3, H, W]
//!     let logits = model.forward(&mut tape, x)?;        // [N, 3]
//!     let loss = softmax_cross_entropy(&mut tape, logits, labels, &CrossEntropyOptions::default())?;
//!     tape.backward(loss)?;                             // ∂loss/∂node for every node
//!     tape.take_param_grads(&mut model.parameters_mut())?; // p.grad = ∂loss/∂p
//!     opt.step(&mut model.parameters_mut())?;
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod doctor;
mod error;
pub mod gradcheck;
pub mod init;
pub mod inspect;
pub mod io;
pub mod loss;
pub mod nn;
pub mod ops;
pub mod optim;
mod parameter;
pub mod schedule;
mod tape;

pub use error::{AutogradError, Result};
pub use parameter::{Buffer, ParamId, Parameter};
pub use tape::{Fusion, OpTime, Profile, Tape, Var};
