//! Batches for training: epoch orders (shuffled, or class-balanced) and NCHW batches augmented in
//! parallel.
//!
//! Randomness is keyed, never sequential: sample `i` of epoch `e` is augmented with
//! `Rng::keyed(seed, &[e, i])`, so the augmented data set is the same whatever the thread count,
//! the batch size or the order in which batches are built.

use crate::folder::Dataset;
use crate::{AugmentError, Image, Pipeline, stack};
use rayon::prelude::*;
use tensor::{Rng, Tensor};

/// Key word that separates the epoch-order streams from the per-sample streams `[epoch, index]`.
const ORDER_STREAM: u64 = u64::MAX - 1;

/// The augmented image of sample `index` in `epoch`: `pipeline` driven by
/// `Rng::keyed(seed, &[epoch, index])`.
///
/// # Errors
/// [`AugmentError::IndexOutOfRange`], or the pipeline's error.
pub fn augment_sample(
    ds: &Dataset,
    index: usize,
    pipeline: &Pipeline,
    seed: u64,
    epoch: u64,
) -> Result<Image, AugmentError> {
    let sample = ds.samples.get(index).ok_or(AugmentError::IndexOutOfRange {
        op: "augment_sample",
        index,
        len: ds.samples.len(),
    })?;
    pipeline.apply_owned(sample.image(), &mut Rng::keyed(seed, &[epoch, index as u64]))
}

/// Builds one batch: augments the samples `indices` in parallel (rayon, keyed randomness: see
/// the module docs) and stacks them.
///
/// Returns `(x, targets)`: `x` is `[N, 3, S, S]` (or `[N, 3, H, W]`, the pipeline's output size),
/// `targets[k]` the class of `indices[k]`.
///
/// # Errors
/// [`AugmentError::BadParameter`] for an empty `indices`, [`AugmentError::IndexOutOfRange`],
/// [`AugmentError::SizeMismatch`] when the pipeline's outputs differ in size (give it a final
/// crop or resize), or a pipeline error.
pub fn make_batch(
    ds: &Dataset,
    indices: &[usize],
    pipeline: &Pipeline,
    seed: u64,
    epoch: u64,
) -> Result<(Tensor, Vec<usize>), AugmentError> {
    if indices.is_empty() {
        return Err(AugmentError::bad("make_batch", "no sample indices"));
    }
    let images: Vec<Image> = indices
        .par_iter()
        .map(|&i| augment_sample(ds, i, pipeline, seed, epoch))
        .collect::<Result<_, _>>()?;
    let (want_width, want_height) = (images[0].width(), images[0].height());
    for (img, &index) in images.iter().zip(indices) {
        if (img.width(), img.height()) != (want_width, want_height) {
            return Err(AugmentError::SizeMismatch {
                op: "make_batch",
                index,
                width: img.width(),
                height: img.height(),
                want_width,
                want_height,
            });
        }
    }
    let targets = indices.iter().map(|&i| ds.samples[i].class).collect();
    Ok((stack(&images)?, targets))
}

/// A seeded shuffle of `indices` for `epoch` (a fresh permutation every epoch, the same one for the
/// same `(seed, epoch)`).
pub fn shuffled_epoch(indices: &[usize], seed: u64, epoch: u64) -> Vec<usize> {
    let mut order = indices.to_vec();
    Rng::keyed(seed, &[ORDER_STREAM, epoch]).shuffle(&mut order);
    order
}

/// A class-balanced epoch: `indices.len()` draws with replacement, each picking a class uniformly
/// (among the classes present in `indices`) and then one of that class's samples uniformly, so
/// sample `i` is drawn with probability ∝ `1 / count(class(i))`. Minority classes are seen as
/// often as majority ones; a sample drawn twice in one epoch gets the same augmentation (its key
/// is `(epoch, index)`).
///
/// # Errors
/// [`AugmentError::IndexOutOfRange`] for an index past the data set.
pub fn balanced_epoch(
    ds: &Dataset,
    indices: &[usize],
    seed: u64,
    epoch: u64,
) -> Result<Vec<usize>, AugmentError> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); ds.classes.len()];
    for &i in indices {
        let s = ds.samples.get(i).ok_or(AugmentError::IndexOutOfRange {
            op: "balanced_epoch",
            index: i,
            len: ds.samples.len(),
        })?;
        by_class[s.class].push(i);
    }
    by_class.retain(|c| !c.is_empty());
    let mut rng = Rng::keyed(seed, &[ORDER_STREAM, epoch, 1]);
    Ok((0..indices.len())
        .map(|_| {
            let class = &by_class[rng.below(by_class.len())];
            class[rng.below(class.len())]
        })
        .collect())
}
