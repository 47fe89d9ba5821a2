//! `Sequential`: layers applied one after the other, named like `nn.Sequential`.

use super::{Mode, Module, prefixed};
use crate::{Buffer, Fusion, Parameter, Result, Tape, Var};

/// Applies its children in order. A child may record itself and the children after it as one
/// fused node ([`Module::forward_fused`], e.g. `Conv2d, ReLU, MaxPool2d`) when the tape allows
/// it ([`Fusion::On`]): the same values and gradients, with less memory traffic (and, under
/// [`Fusion::Inference`], an evaluation-mode batch norm folded into the convolution before it).
/// Children's tensor names get the child's name as a prefix: its index for [`Sequential::new`]
/// (`"0.weight"`), or the given name for [`Sequential::named`] (`"features.0.weight"` when the
/// child is itself a `Sequential`).
#[derive(Debug)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// Children named `0`, `1`, … by position.
    pub fn new(layers: Vec<Box<dyn Module>>) -> Self {
        let named = layers.into_iter().enumerate().map(|(i, l)| (i.to_string(), l)).collect();
        Self::named(named)
    }

    /// Children with explicit names, e.g. `[("features", …), ("classifier", …)]`.
    pub fn named(layers: Vec<(String, Box<dyn Module>)>) -> Self {
        let mut out = Vec::with_capacity(layers.len());
        for (name, mut layer) in layers {
            for p in layer.parameters_mut() {
                p.name = prefixed(&name, &p.name);
            }
            for b in layer.buffers_mut() {
                b.name = prefixed(&name, &b.name);
            }
            out.push(layer);
        }
        Self { layers: out }
    }

    /// The children, in order.
    pub fn layers(&self) -> &[Box<dyn Module>] {
        &self.layers
    }
}

impl Module for Sequential {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        let mut x = x;
        let mut i = 0;
        while i < self.layers.len() {
            let (head, next) = self.layers.split_at_mut(i + 1);
            let layer = &mut head[i];
            i += 1;
            if tape.fusion() != Fusion::Off
                && let Some((y, taken)) = layer.forward_fused(tape, x, next)?
            {
                x = y;
                i += taken;
            } else {
                x = layer.forward(tape, x)?;
            }
        }
        Ok(x)
    }

    fn parameters(&self) -> Vec<&Parameter> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }

    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        self.layers.iter_mut().flat_map(|l| l.parameters_mut()).collect()
    }

    fn buffers(&self) -> Vec<&Buffer> {
        self.layers.iter().flat_map(|l| l.buffers()).collect()
    }

    fn buffers_mut(&mut self) -> Vec<&mut Buffer> {
        self.layers.iter_mut().flat_map(|l| l.buffers_mut()).collect()
    }

    fn set_mode(&mut self, mode: Mode) {
        for layer in &mut self.layers {
            layer.set_mode(mode);
        }
    }
}
