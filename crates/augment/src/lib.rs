//! # augment
//!
//! The data side of astroconv: the paper's image augmentations with torchvision's semantics,
//! image-folder loading, train/validation/test splits and seeded, parallel batches.
//!
//! - [`Image`]: one RGB image, planar f32 `[3, H, W]`, values in `[0, 1]`.
//! - [`transforms`]: each transform a pure function of (image, parameters); random ones have a
//!   limits type with `sample(…, &mut Rng)`. Golden tests pin them to torchvision.
//! - [`Pipeline`] / [`AugmentPreset`]: transforms with probabilities; presets `none`, `paper`,
//!   `default`.
//! - [`folder`]: ImageFolder loading (parallel decode, bad-file policy, `manifest.csv`).
//! - [`split`]: manifest or seeded stratified split that keeps each object's files together.
//! - [`batch`]: NCHW batches augmented in parallel, with randomness keyed by
//!   `(seed, epoch, sample)`, so results do not depend on thread count or batch order.
//! - [`expand`]: the paper's offline expansion, and preview grids.
//! - [`mix`]: mixup and CutMix, pairing the images of a batch and mixing their labels alike.
//! - [`shift`]: fixed alterations (gray, zoomed out, rotated, dark, blurred, JPEG, …) for
//!   checking how a model holds up on images unlike its training set.
//! - [`tta`]: the eight flips and quarter turns of a square batch, for test-time augmentation.
//!
//! Library code takes every `Rng` explicitly; seeds belong to the trainer.

#![forbid(unsafe_code)]

pub mod batch;
mod error;
pub mod expand;
pub mod folder;
mod image;
mod jpeg;
pub mod mix;
pub mod pipeline;
pub mod shift;
pub mod split;
pub mod transforms;
pub mod tta;

pub use batch::{augment_sample, balanced_epoch, make_batch, shuffled_epoch};
pub use error::AugmentError;
pub use expand::{expand, preview_grid};
pub use folder::{
    BadImagePolicy, Dataset, LoadOptions, LoadSize, Sample, SkippedFile, load, read_image,
};
pub use image::{CHANNELS, Image, stack};
pub use mix::{MixKind, MixedBatch, mix_batch};
pub use pipeline::{AugmentPreset, Pipeline, Step, Transform};
pub use shift::Shift;
pub use split::{Part, Split, SplitFractions};
pub use tta::Symmetry;
