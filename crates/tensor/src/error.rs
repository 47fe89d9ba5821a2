//! The one error type of the `tensor` crate. Every message names the op and the shapes involved,
//! so a user who passes a wrong tensor learns which call rejected it and why.

/// What a `tensor` entry point can reject. Messages name the op and the shapes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// The element count implied by a shape differs from the data supplied.
    #[error("{op}: shape {shape:?} needs {expected} elements, got {got}")]
    LengthMismatch {
        /// The rejecting op.
        op: &'static str,
        /// The requested shape.
        shape: Vec<usize>,
        /// Elements the shape implies.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// Two operands whose shapes must agree do not.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not agree ({why})")]
    ShapeMismatch {
        /// The rejecting op.
        op: &'static str,
        /// First operand's shape.
        lhs: Vec<usize>,
        /// Second operand's shape.
        rhs: Vec<usize>,
        /// Which dimensions must agree.
        why: &'static str,
    },
    /// A tensor has the wrong number of dimensions for the op.
    #[error("{op}: expected a {expected}-D tensor, got shape {shape:?}")]
    WrongRank {
        /// The rejecting op.
        op: &'static str,
        /// Required number of dimensions.
        expected: usize,
        /// Shape supplied.
        shape: Vec<usize>,
    },
    /// A sliding window (kernel) does not fit its (padded) input.
    #[error("{op}: {kh}x{kw} window with padding {pad} does not fit a {h}x{w} input")]
    WindowTooLarge {
        /// The rejecting op.
        op: &'static str,
        /// Window height.
        kh: usize,
        /// Window width.
        kw: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
    },
    /// A parameter is out of its valid range (zero stride, zero-sized dimension, ...).
    #[error("{op}: invalid parameter: {what}")]
    InvalidParameter {
        /// The rejecting op.
        op: &'static str,
        /// What is wrong, in words.
        what: String,
    },
    /// A class index is not below the number of classes.
    #[error("{op}: target {target} at row {row} is not a class index below {classes}")]
    TargetOutOfRange {
        /// The rejecting op.
        op: &'static str,
        /// Row (sample) of the bad target.
        row: usize,
        /// The target supplied.
        target: usize,
        /// Number of classes.
        classes: usize,
    },
}
