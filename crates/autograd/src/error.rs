//! The one error type of the `autograd` crate.

use tensor::TensorError;

/// What the tape, the layers, the optimisers and checkpoint I/O can reject.
#[derive(Debug, thiserror::Error)]
pub enum AutogradError {
    /// A kernel rejected its inputs (the message names the op and the shapes).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A [`Var`](crate::Var) from another tape, or from before the last [`Tape::reset`](crate::Tape::reset).
    #[error("{op}: variable {index} is not on this tape (stale after reset, or from another tape)")]
    StaleVar {
        /// The call that received it.
        op: &'static str,
        /// Its node index.
        index: usize,
    },
    /// `backward` needs a loss with exactly one element.
    #[error("backward: the loss must be a single value, got shape {dims:?}")]
    NonScalarLoss {
        /// Shape of the value passed as the loss.
        dims: Vec<usize>,
    },
    /// A value or gradient is NaN or infinite; `what` names the parameter or tape node.
    #[error("{what}: element {index} is {value} (not finite)")]
    NonFinite {
        /// Which parameter / gradient / node, e.g. `"features.0.weight (grad)"`.
        what: String,
        /// Flat index of the first offending element.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// An optimiser was stepped with parameters that do not match its saved state.
    #[error("optimizer: {0}")]
    OptimizerState(String),
    /// A hyper-parameter is out of range (learning rate, betas, momentum, ...).
    #[error("{what}: invalid value {value} ({why})")]
    InvalidHyperParameter {
        /// Which hyper-parameter.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, in words.
        why: &'static str,
    },
    /// Reading or writing a checkpoint failed at the file-system level.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A checkpoint file is not valid safetensors (truncated, corrupt header, ...).
    #[error("{path}: not a valid safetensors file: {why}")]
    CorruptCheckpoint {
        /// The file.
        path: String,
        /// What the parser reported.
        why: String,
    },
    /// A checkpoint does not fit the model: every problem is listed, one per line.
    #[error("{path}: checkpoint does not match the model:\n  {}", problems.join("\n  "))]
    CheckpointMismatch {
        /// The file.
        path: String,
        /// One entry per missing / unexpected / wrongly shaped or typed tensor.
        problems: Vec<String>,
    },
}

/// `Result` with [`AutogradError`].
pub type Result<T, E = AutogradError> = std::result::Result<T, E>;
