//! Loading an image folder for training or evaluation, with errors that say what to do.

use std::path::Path;

use augment::{
    AugmentPreset, BadImagePolicy, Dataset, Image, LoadOptions, LoadSize, Pipeline, Split,
    SplitFractions,
};
use tensor::Tensor;

use crate::config::{AugmentChoice, CvFold, TrainConfig};
use crate::exit::Failure;

/// The split seed used when the folder has no `manifest.csv`: fixed, so every run (whatever its
/// `--seed`) is validated and tested on the same images.
pub const SPLIT_SEED: u64 = 0;

/// The augment crate's preset for an [`AugmentChoice`].
pub fn preset(choice: AugmentChoice) -> AugmentPreset {
    match choice {
        AugmentChoice::None => AugmentPreset::None,
        AugmentChoice::Paper => AugmentPreset::Paper,
        AugmentChoice::Default => AugmentPreset::Default,
    }
}

/// Loads `dir` (an ImageFolder) with every image resized to the working size the augmentation
/// wants for `image_size` inputs (`AugmentPreset::working_size`: the input size, or a little
/// more for the Default preset's random crops).
///
/// # Errors
/// [`Failure::BadInput`] naming the folder or the file and the problem (missing folder, no
/// classes, empty class, corrupt image, manifest mismatch).
pub fn load_folder(
    dir: &Path,
    image_size: usize,
    choice: AugmentChoice,
) -> anyhow::Result<Dataset> {
    if !dir.is_dir() {
        let problem = if dir.exists() { "not a folder" } else { "no such folder" };
        return Err(Failure::BadInput(format!(
            "--data {}: {problem}. Give an image folder with one sub-folder per class \
             (e.g. data/hubble in the repository)",
            dir.display()
        ))
        .into());
    }
    augment::load(dir, &load_options(image_size, choice)).map_err(|e| {
        Failure::BadInput(format!(
            "loading the image folder {}: {e}. Fix or remove that file/folder and run again",
            dir.display()
        ))
        .into()
    })
}

/// How a run with this image size and augmentation holds images in memory: centre squares at
/// the preset's working size, a bad file is an error.
fn load_options(image_size: usize, choice: AugmentChoice) -> LoadOptions {
    LoadOptions {
        size: LoadSize::CenterSquare(preset(choice).working_size(image_size) as u32),
        bad_images: BadImagePolicy::Fail,
        ..LoadOptions::default()
    }
}

/// One image file as [`load_folder`] would hold it for a run with these settings, so `predict`
/// gives a file the same pixels, and so the same probabilities, as `eval` gives it in a folder.
///
/// # Errors
/// [`Failure::BadInput`] naming the file and the problem (unreadable, not an image, corrupt or
/// truncated, too small, too large).
pub fn load_image(path: &Path, image_size: usize, choice: AugmentChoice) -> anyhow::Result<Image> {
    let rgb = augment::read_image(path, &load_options(image_size, choice))
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    Ok(Image::from_rgb8(&rgb).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?)
}

/// The train/validation/test split: the manifest's when it has one, else the seeded stratified
/// group split (70/15/15) with [`SPLIT_SEED`].
///
/// # Errors
/// [`Failure::BadInput`] when the training or validation part is empty.
pub fn split(ds: &Dataset) -> anyhow::Result<Split> {
    let split = Split::from_dataset(ds, SplitFractions::default(), SPLIT_SEED)
        .map_err(|e| Failure::BadInput(format!("splitting {}: {e}", ds.root.display())))?;
    if split.train.is_empty() || split.val.is_empty() {
        return Err(Failure::BadInput(format!(
            "{}: the split leaves {} training and {} validation images; training needs both. \
             Add images (each class needs a few distinct objects) or fix manifest.csv",
            ds.root.display(),
            split.train.len(),
            split.val.len()
        ))
        .into());
    }
    Ok(split)
}

/// The split a run of `config` trains and validates on: [`split`], or with
/// `config.cross_validation` one fold of a K-fold cross-validation over its training and
/// validation images (`augment::Split::cross_validation`, seeded with [`SPLIT_SEED`] so every
/// fold of one cross-validation deals the same folds); then, with `config.train_fraction` < 1,
/// only that share of the training objects (`augment::Split::thin_train`, also with
/// [`SPLIT_SEED`], so every `--seed` trains on the same images).
///
/// # Errors
/// As [`split`]; [`Failure::BadInput`] when the fold leaves a part empty.
pub fn run_split(ds: &Dataset, config: &TrainConfig) -> anyhow::Result<Split> {
    let split = match (config.cross_validation, config.refit) {
        (Some(cv), _) => fold(ds, split(ds)?, cv)?,
        (None, true) => with_val_in_train(split(ds)?),
        (None, false) => split(ds)?,
    };
    if config.train_fraction == 1.0 {
        return Ok(split);
    }
    split.thin_train(ds, config.train_fraction, SPLIT_SEED).map_err(|e| {
        Failure::Usage(format!("--train-fraction {}: {e}", config.train_fraction)).into()
    })
}

/// `--refit`: the validation images join the training images (which stay sorted); the
/// validation part is kept, so each epoch still reports on it, and the test part is untouched.
fn with_val_in_train(mut split: Split) -> Split {
    split.train.extend_from_slice(&split.val);
    split.train.sort_unstable();
    split
}

/// Fold `cv` of the cross-validation over `split`'s training and validation images.
fn fold(ds: &Dataset, split: Split, cv: CvFold) -> anyhow::Result<Split> {
    let folded = split
        .cross_validation(ds, cv.fold, cv.folds, SPLIT_SEED)
        .map_err(|e| Failure::Usage(format!("--cv-fold {cv}: {e}")))?;
    if folded.train.is_empty() || folded.val.is_empty() {
        return Err(Failure::BadInput(format!(
            "--cv-fold {cv} on {}: fold {} gets {} validation images and leaves {} for training; \
             use fewer folds or add images (each class needs several distinct objects)",
            ds.root.display(),
            cv.fold,
            folded.val.len(),
            folded.train.len()
        ))
        .into());
    }
    Ok(folded)
}

/// The augmentation pipeline for training batches.
///
/// # Errors
/// The augment crate's error for a size it cannot build.
pub fn train_pipeline(choice: AugmentChoice, image_size: usize) -> anyhow::Result<Pipeline> {
    Ok(preset(choice).pipeline(image_size)?)
}

/// The evaluation pipeline: resize the shorter side to `image_size` and centre-crop. No
/// randomness, so evaluation batches can be built once and reused.
///
/// # Errors
/// The augment crate's error for a size it cannot build.
pub fn eval_pipeline(image_size: usize) -> anyhow::Result<Pipeline> {
    Ok(AugmentPreset::None.pipeline(image_size)?)
}

/// Evaluation batches of `indices` (in order), `batch_size` images each.
///
/// # Errors
/// The augment crate's error.
pub fn eval_batches(
    ds: &Dataset,
    indices: &[usize],
    image_size: usize,
    batch_size: usize,
) -> anyhow::Result<Vec<(Tensor, Vec<usize>)>> {
    let pipeline = eval_pipeline(image_size)?;
    indices
        .chunks(batch_size.max(1))
        .map(|chunk| Ok(augment::make_batch(ds, chunk, &pipeline, 0, 0)?))
        .collect()
}

/// Class weights `N / (K · N_c)` from the training labels, so each class carries the same total
/// weight in the loss (PyTorch's `weight=` argument; "balanced" in scikit-learn's words).
pub fn balanced_class_weights(ds: &Dataset, train: &[usize]) -> Vec<f32> {
    let k = ds.classes.len();
    let mut counts = vec![0usize; k];
    for &i in train {
        counts[ds.samples[i].class] += 1;
    }
    counts
        .iter()
        .map(|&c| if c == 0 { 0.0 } else { train.len() as f32 / (k as f32 * c as f32) })
        .collect()
}
