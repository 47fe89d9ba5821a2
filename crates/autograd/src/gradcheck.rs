//! Gradient checking: compares the tape's gradients with central finite differences.
//!
//! The tape runs in f32, so a finite difference `(f(x + h) − f(x − h)) / 2h` has two error
//! sources pulling opposite ways: truncation (∝ h²) and rounding (∝ ε_f32·|f|/h). No single h
//! suits every function, so each element is differenced with several step sizes and the best
//! agreement counts ("step-size robust"). The f64 comparisons against exact derivatives live
//! beside each kernel in `tensor::ops::*::tests`; this check is about the glue: that every
//! op's gradient reaches the right input, scaled and summed correctly, through whole graphs.
//!
//! Relative error of one element: `|analytic − numeric| / max(|analytic|, |numeric|, floor)`.
//! The floor keeps gradients that are ~0 from dividing by ~0: below it the error is absolute.

use crate::{Result, Tape, Var};
use tensor::Tensor;

/// How [`gradcheck`] differentiates numerically.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckOptions {
    /// Step sizes h to try per element; the smallest error wins.
    pub steps: Vec<f32>,
    /// Denominator floor of the relative error.
    pub floor: f64,
    /// Check at most this many elements per input, evenly spaced (0: all of them).
    pub max_elements: usize,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        Self { steps: vec![1e-2, 3e-3, 1e-3], floor: 1e-2, max_elements: 0 }
    }
}

/// The worst element of one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputReport {
    /// Largest relative error over the checked elements.
    pub worst_relative_error: f64,
    /// Flat index of that element.
    pub worst_index: usize,
    /// The tape's gradient there.
    pub analytic: f64,
    /// The best finite difference there.
    pub numeric: f64,
    /// How many elements were checked.
    pub checked: usize,
}

/// What [`gradcheck`] found, one entry per input in order.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Per-input worst cases.
    pub inputs: Vec<InputReport>,
}

impl GradcheckReport {
    /// The largest relative error over all inputs.
    pub fn worst(&self) -> f64 {
        self.inputs.iter().map(|r| r.worst_relative_error).fold(0.0, f64::max)
    }
}

/// Checks the gradients of `f` at `inputs`. `f` records a computation on the tape from the
/// given leaves (one per input, same order) and returns a one-element loss. `f` is called once
/// for the analytic gradient and `2 · steps` times per checked element, so it must be
/// deterministic (re-seed any randomness inside it).
///
/// # Errors
/// Whatever `f` or [`Tape::backward`] return.
pub fn gradcheck(
    mut f: impl FnMut(&mut Tape, &[Var]) -> Result<Var>,
    inputs: &[Tensor],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    let mut tape = Tape::new();
    let leaves: Vec<Var> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let loss = f(&mut tape, &leaves)?;
    tape.backward(loss)?;
    let mut analytic = Vec::with_capacity(inputs.len());
    for (&leaf, input) in leaves.iter().zip(inputs) {
        analytic.push(match tape.grad(leaf)? {
            Some(g) => g.clone(),
            None => Tensor::zeros(input.dims()),
        });
    }

    let mut evaluate = |values: &[Tensor]| -> Result<f64> {
        tape.reset();
        let leaves: Vec<Var> = values.iter().map(|t| tape.input_from(t)).collect();
        let loss = f(&mut tape, &leaves)?;
        Ok(f64::from(tape.scalar(loss)?))
    };
    let mut reports = Vec::with_capacity(inputs.len());
    let mut values = inputs.to_vec();
    for (i, grad) in analytic.iter().enumerate() {
        let len = values[i].len();
        let stride = match opts.max_elements {
            0 => 1,
            m => len.div_ceil(m).max(1),
        };
        let mut report = InputReport {
            worst_relative_error: 0.0,
            worst_index: 0,
            analytic: 0.0,
            numeric: 0.0,
            checked: 0,
        };
        for j in (0..len).step_by(stride) {
            let a = f64::from(grad.data()[j]);
            let original = values[i].data()[j];
            let mut best = (f64::INFINITY, 0.0);
            for &h in &opts.steps {
                values[i].data_mut()[j] = original + h;
                let plus = evaluate(&values)?;
                values[i].data_mut()[j] = original - h;
                let minus = evaluate(&values)?;
                // The step actually taken in f32, not the nominal h.
                let taken = f64::from(original + h) - f64::from(original - h);
                let numeric = (plus - minus) / taken;
                let error = (a - numeric).abs() / a.abs().max(numeric.abs()).max(opts.floor);
                if error < best.0 {
                    best = (error, numeric);
                }
            }
            values[i].data_mut()[j] = original;
            report.checked += 1;
            if best.0 >= report.worst_relative_error {
                report.worst_relative_error = best.0;
                report.worst_index = j;
                report.analytic = a;
                report.numeric = best.1;
            }
        }
        reports.push(report);
    }
    Ok(GradcheckReport { inputs: reports })
}
