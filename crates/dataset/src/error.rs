//! The one error type of the `dataset` crate. Every message names the file or the step that failed.

use std::path::PathBuf;

/// What building or reading the data set can fail on.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Reading or writing a file or folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// An image could not be decoded or encoded.
    #[error("image {path}: {source}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's or encoder's reason.
        source: image::ImageError,
    },
    /// A CSV table is malformed or lacks a column or a value we need.
    #[error("{path}, line {line}: {message}")]
    Csv {
        /// The table.
        path: PathBuf,
        /// 1-based line of the record (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Stellarium's `textures.json` could not be read even leniently.
    #[error("textures.json {path}: {message}")]
    TexturesJson {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An external program the builder needs is not installed.
    #[error(
        "`{tool}` is not available ({purpose}); install it, or unpack the packages yourself and pass --unpacked DIR"
    )]
    MissingTool {
        /// The program, e.g. `apt-get`.
        tool: &'static str,
        /// What it is needed for.
        purpose: &'static str,
    },
    /// An external program ran but failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    /// A downloaded package is not the pinned one.
    #[error("{path}: SHA-256 is {got}, expected the pinned {expected}")]
    ChecksumMismatch {
        /// The `.deb` file.
        path: PathBuf,
        /// The recorded hash.
        expected: &'static str,
        /// The hash of the file on disk.
        got: String,
    },
    /// An input file or folder the builder needs is missing.
    #[error("{path} is missing: {what}")]
    MissingInput {
        /// Where it was looked for.
        path: PathBuf,
        /// What it should have been.
        what: String,
    },
    /// A row of the label or body table is inconsistent with the packages.
    #[error("label {file}: {message}")]
    Label {
        /// The row's file or body name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Two images of the output are byte-identical.
    #[error("{a} and {b} are identical images; every shipped image must be distinct")]
    DuplicateImage {
        /// One file.
        a: String,
        /// The other file.
        b: String,
    },
    /// The manifest disagrees with the image folders.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl DatasetError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Wraps an image error with the path it concerns.
    pub fn image(path: impl Into<PathBuf>, source: image::ImageError) -> Self {
        Self::Image { path: path.into(), source }
    }
}
