//! Layers: modules that own parameters and record tape ops in `forward`.
//!
//! Names follow PyTorch's `state_dict`: a layer calls its tensors `weight`, `bias`,
//! `running_mean`, …, and [`Sequential`] prefixes each child's names with its position
//! (`"0.weight"`) or given name, so a model saves as `features.0.weight` exactly like the
//! equivalent `nn.Sequential` and checkpoints load in either framework.

mod batch_norm2d;
mod conv2d;
mod dropout;
mod flatten;
mod global_avg_pool;
mod linear;
mod max_pool2d;
mod relu;
mod sequential;

pub use batch_norm2d::BatchNorm2d;
pub use conv2d::Conv2d;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use global_avg_pool::GlobalAvgPool;
pub use linear::Linear;
pub use max_pool2d::MaxPool2d;
pub use relu::ReLU;
pub use sequential::Sequential;
pub use tensor::ops::conv2d::Conv2dParams;
pub use tensor::ops::max_pool2d::Pool2dParams;

use crate::{Buffer, Parameter, Result, Tape, Var};

/// Training or evaluation behaviour (dropout on/off, batch vs running statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Dropout drops, batch norm uses and updates batch statistics.
    #[default]
    Train,
    /// Dropout is the identity, batch norm uses its running statistics.
    Eval,
}

/// A layer or a composition of layers.
///
/// `forward` takes `&mut self` because some layers change state while running (batch norm's
/// running averages, dropout's random stream). Parameters are listed in a fixed order, which
/// optimisers rely on to keep their per-parameter state.
///
/// `Any` lets a layer recognise the layers after it that it can fuse (see
/// [`Module::forward_fused`]).
pub trait Module: std::fmt::Debug + Send + std::any::Any {
    /// Records this module's ops on `tape`, from input `x` to the returned output.
    ///
    /// # Errors
    /// Whatever the ops reject (shapes that do not fit the layer, stale vars).
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var>;

    /// Records this layer and the first few of the layers that follow it (`next`, in order)
    /// as one fused node with bit-identical values and gradients, returning its output and how
    /// many of `next` it took; `Ok(None)` (the default) leaves every layer to its own
    /// [`Module::forward`]. [`Conv2d`] takes a [`ReLU`] (`ops::conv2d_relu`), and a
    /// [`MaxPool2d`] after it (`ops::conv2d_relu_pool`). [`Sequential`] asks, unless the
    /// tape says [`Fusion::Off`](crate::Fusion::Off).
    ///
    /// # Errors
    /// As [`Module::forward`].
    fn forward_fused(
        &mut self,
        _tape: &mut Tape,
        _x: Var,
        _next: &[Box<dyn Module>],
    ) -> Result<Option<(Var, usize)>> {
        Ok(None)
    }

    /// The trainable parameters, in a fixed order.
    fn parameters(&self) -> Vec<&Parameter> {
        Vec::new()
    }

    /// The trainable parameters, writable, in the same order as [`Module::parameters`].
    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        Vec::new()
    }

    /// Non-trainable saved state (batch norm's running statistics), in a fixed order.
    fn buffers(&self) -> Vec<&Buffer> {
        Vec::new()
    }

    /// The buffers, writable (checkpoint loading fills them).
    fn buffers_mut(&mut self) -> Vec<&mut Buffer> {
        Vec::new()
    }

    /// Switches between training and evaluation behaviour.
    fn set_mode(&mut self, _mode: Mode) {}

    /// Sets every parameter's gradient to zero.
    fn zero_grad(&mut self) {
        for p in self.parameters_mut() {
            p.zero_grad();
        }
    }
}

/// Prepends `prefix.` to a name (`"weight"` → `"features.0.weight"`).
fn prefixed(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}
