//! `AugmentError`: everything the augment crate can reject, each variant naming the file or the
//! transform and the problem, so a user with a broken image folder knows which file to fix.

use std::path::Path;

/// What an `augment` entry point can reject. File paths are stored already formatted with
/// `Path::display`, so names that are not valid UTF-8 are still reported (lossily).
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    /// The OS refused to read or write a file or directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A zero-byte file where an image was expected.
    #[error("{path}: empty file (0 bytes), not an image")]
    EmptyFile {
        /// The file.
        path: String,
    },
    /// The file's content is not in an image format the `image` crate knows.
    #[error("{path}: not an image (unrecognised format)")]
    NotAnImage {
        /// The file.
        path: String,
    },
    /// The format is known but decoding failed (corrupt or truncated data).
    #[error("{path}: cannot decode image: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// The decoder's message.
        reason: String,
    },
    /// Decoding would exceed the decoder memory limit (a huge image, or a forged header).
    #[error(
        "{path}: image too large to decode within the {limit_bytes}-byte limit ({reason}); \
         shrink it first (the network sees a few hundred pixels a side at most)"
    )]
    ImageTooLarge {
        /// The file.
        path: String,
        /// The limit given to the decoder (`LoadOptions::max_decode_bytes`).
        limit_bytes: u64,
        /// The decoder's message.
        reason: String,
    },
    /// The image's shorter side is below the minimum the loader was asked for.
    #[error("{path}: image is {width}x{height}, smaller than the minimum side {min_side}")]
    ImageTooSmall {
        /// The file.
        path: String,
        /// Decoded width.
        width: u32,
        /// Decoded height.
        height: u32,
        /// `LoadOptions::min_side`.
        min_side: u32,
    },
    /// A class folder with no image in it.
    #[error("{path}: class folder contains no images")]
    EmptyClass {
        /// The class folder.
        path: String,
    },
    /// The root folder has no sub-folders, so there are no classes.
    #[error("{path}: no class sub-folders (expected one folder per class, like ImageFolder)")]
    NoClasses {
        /// The root folder.
        path: String,
    },
    /// A class folder whose name is not UTF-8 (class names must be printable strings).
    #[error("{path}: class folder name is not valid UTF-8")]
    NonUtf8ClassName {
        /// The folder, displayed lossily.
        path: String,
    },
    /// `manifest.csv` is malformed.
    #[error("{path}:{line}: {problem}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// 1-based line number (1 = header).
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// `manifest.csv` and the class folders disagree.
    #[error(
        "{path}: manifest and folders disagree: {} listed file(s) missing on disk {missing:?}, \
         {} image file(s) not listed {unlisted:?}",
        missing.len(),
        unlisted.len()
    )]
    ManifestMismatch {
        /// The manifest file.
        path: String,
        /// Listed in the manifest, not found among the loaded images (first few).
        missing: Vec<String>,
        /// Found in a class folder, not listed (first few).
        unlisted: Vec<String>,
    },
    /// A transform or option parameter is out of its valid range.
    #[error("{op}: {problem}")]
    BadParameter {
        /// The transform or function.
        op: &'static str,
        /// What is wrong, with the value.
        problem: String,
    },
    /// Pixel data whose length does not match `3·H·W`.
    #[error("{op}: {width}x{height} RGB image needs {expected} values, got {got}")]
    LengthMismatch {
        /// The function.
        op: &'static str,
        /// Width.
        width: usize,
        /// Height.
        height: usize,
        /// 3·H·W.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A batch whose augmented images do not all come out the same size.
    #[error(
        "{op}: sample {index} came out {width}x{height}, the batch's first image is {want_width}x{want_height}"
    )]
    SizeMismatch {
        /// The function.
        op: &'static str,
        /// The dataset index of the sample.
        index: usize,
        /// Its width after the pipeline.
        width: usize,
        /// Its height after the pipeline.
        height: usize,
        /// The width of the batch's first image.
        want_width: usize,
        /// The height of the batch's first image.
        want_height: usize,
    },
    /// A sample index past the end of the data set.
    #[error("{op}: sample index {index} out of range for {len} samples")]
    IndexOutOfRange {
        /// The function.
        op: &'static str,
        /// The index.
        index: usize,
        /// Number of samples.
        len: usize,
    },
    /// Writing an image failed.
    #[error("{path}: cannot encode image: {reason}")]
    Encode {
        /// The file.
        path: String,
        /// The encoder's message.
        reason: String,
    },
    /// A tensor could not be built (should not happen: shapes are checked first).
    #[error(transparent)]
    Tensor(#[from] tensor::TensorError),
}

impl AugmentError {
    /// An [`AugmentError::Io`] for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    /// An [`AugmentError::BadParameter`].
    pub(crate) fn bad(op: &'static str, problem: impl Into<String>) -> Self {
        Self::BadParameter { op, problem: problem.into() }
    }
}
