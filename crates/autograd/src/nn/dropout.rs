//! `Dropout` layer: inverted dropout in training, identity in evaluation.

use super::{Mode, Module};
use crate::{AutogradError, Result, Tape, Var, ops};
use tensor::Rng;

/// PyTorch's `nn.Dropout(p)`. Owns its random stream, so a run is reproducible from the seed
/// the caller gives (the trainer derives it, e.g. `Rng::keyed(seed, &[layer])`).
///
/// The stream's position is not part of a checkpoint. A run that must resume bit for bit can
/// call [`Dropout::reseed`] each step with a stream keyed by the step, e.g.
/// `Rng::keyed(seed, &[layer, step])`, or call [`ops::dropout`] itself with such a stream.
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f32,
    rng: Rng,
    mode: Mode,
}

impl Dropout {
    /// Drops each element with probability `p` in training.
    ///
    /// # Errors
    /// [`AutogradError::InvalidHyperParameter`] unless `0 ≤ p < 1`.
    pub fn new(p: f32, rng: Rng) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(AutogradError::InvalidHyperParameter {
                what: "dropout probability",
                value: f64::from(p),
                why: "must be in [0, 1)",
            });
        }
        Ok(Self { p, rng, mode: Mode::Train })
    }

    /// Replaces the random stream (e.g. with one keyed by the step, for exact resumption).
    pub fn reseed(&mut self, rng: Rng) {
        self.rng = rng;
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }
}

impl Module for Dropout {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        match self.mode {
            Mode::Train => ops::dropout(tape, x, self.p, &mut self.rng),
            Mode::Eval => Ok(x),
        }
    }

    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }
}
