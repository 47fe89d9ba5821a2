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

use crate::loss::{CrossEntropyOptions, softmax_cross_entropy};
use crate::nn::Module;
use crate::ops::{self, BatchNormMode};
use crate::{Result, Tape, Var};
use tensor::ops::batch_norm2d::BatchStats;
use tensor::ops::conv2d::Conv2dParams;
use tensor::ops::max_pool2d::Pool2dParams;
use tensor::{Rng, Tensor};

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
#[derive(Debug, Clone, PartialEq)]
pub struct InputReport {
    /// Which input: `"input 0"`, … for [`gradcheck`], the parameter name for [`gradcheck_module`].
    pub name: String,
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

impl InputReport {
    fn new(name: String) -> Self {
        Self {
            name,
            worst_relative_error: 0.0,
            worst_index: 0,
            analytic: 0.0,
            numeric: 0.0,
            checked: 0,
        }
    }

    /// Counts element `index` and keeps it if its error is the worst so far.
    fn record(&mut self, index: usize, analytic: f64, (error, numeric): (f64, f64)) {
        self.checked += 1;
        if error >= self.worst_relative_error {
            self.worst_relative_error = error;
            self.worst_index = index;
            self.analytic = analytic;
            self.numeric = numeric;
        }
    }
}

/// The central difference `(L(v + h) − L(v − h)) / (2h)` of one element whose value is
/// `original`, for every step `h` in `opts.steps`, keeping the one that agrees best with
/// `analytic`: returns `(relative error, numeric derivative)`. `loss_at(v)` sets the element to
/// `v` and evaluates the loss; the caller restores the element afterwards.
fn best_central_difference(
    analytic: f64,
    original: f32,
    opts: &GradcheckOptions,
    mut loss_at: impl FnMut(f32) -> Result<f64>,
) -> Result<(f64, f64)> {
    let mut best = (f64::INFINITY, 0.0);
    for &h in &opts.steps {
        let plus = loss_at(original + h)?;
        let minus = loss_at(original - h)?;
        // The step actually taken in f32, not the nominal h.
        let taken = f64::from(original + h) - f64::from(original - h);
        let numeric = (plus - minus) / taken;
        let error = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(opts.floor);
        if error < best.0 {
            best = (error, numeric);
        }
    }
    Ok(best)
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
        let mut report = InputReport::new(format!("input {i}"));
        for j in checked_indices(values[i].len(), opts.max_elements) {
            let a = f64::from(grad.data()[j]);
            let original = values[i].data()[j];
            let best = best_central_difference(a, original, opts, |v| {
                values[i].data_mut()[j] = v;
                evaluate(&values)
            });
            values[i].data_mut()[j] = original;
            report.record(j, a, best?);
        }
        reports.push(report);
    }
    Ok(GradcheckReport { inputs: reports })
}

/// The elements of a `len`-element tensor that a check visits: all, or at most `max` evenly
/// spaced ones.
fn checked_indices(len: usize, max: usize) -> impl Iterator<Item = usize> {
    let stride = match max {
        0 => 1,
        m => len.div_ceil(m).max(1),
    };
    (0..len).step_by(stride)
}

/// Checks the gradient of a whole model's parameters: the loss is the softmax cross-entropy of
/// `model(images)` against `targets`, one report per parameter (named as in checkpoints).
///
/// Run it in [`Mode::Eval`](crate::nn::Mode::Eval) or without dropout: every evaluation must
/// see the same function. A ReLU input or max-pool near-tie within a step of its kink can
/// make one element disagree; the f32 tolerance discussion in the module docs applies.
/// Parameter values and gradients are restored before returning.
///
/// # Errors
/// Whatever the forward pass or [`Tape::backward`] return.
pub fn gradcheck_module(
    model: &mut dyn Module,
    images: &Tensor,
    targets: &[usize],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    let mut tape = Tape::new();
    let loss_of = |model: &mut dyn Module, tape: &mut Tape| -> Result<f64> {
        tape.reset();
        let x = tape.input_from(images);
        let logits = model.forward(tape, x)?;
        let loss = softmax_cross_entropy(tape, logits, targets, &CrossEntropyOptions::default())?;
        Ok(f64::from(tape.scalar(loss)?))
    };
    // Analytic gradients, without disturbing the caller's accumulated ones.
    let saved: Vec<Tensor> = model.parameters().iter().map(|p| p.grad.clone()).collect();
    model.zero_grad();
    tape.reset();
    let x = tape.input_from(images);
    let logits = model.forward(&mut tape, x)?;
    let loss = softmax_cross_entropy(&mut tape, logits, targets, &CrossEntropyOptions::default())?;
    tape.backward(loss)?;
    tape.accumulate_param_grads(&mut model.parameters_mut())?;
    let analytic: Vec<Tensor> = model.parameters().iter().map(|p| p.grad.clone()).collect();
    for (p, g) in model.parameters_mut().into_iter().zip(saved) {
        p.grad = g;
    }

    let mut reports = Vec::with_capacity(analytic.len());
    for (k, grad) in analytic.iter().enumerate() {
        let mut report = InputReport::new(model.parameters()[k].name.clone());
        for j in checked_indices(grad.len(), opts.max_elements) {
            let a = f64::from(grad.data()[j]);
            let original = model.parameters()[k].value.data()[j];
            let set = |model: &mut dyn Module, v: f32| {
                if let Some(p) = model.parameters_mut().into_iter().nth(k) {
                    p.value.data_mut()[j] = v;
                }
            };
            let best = best_central_difference(a, original, opts, |v| {
                set(model, v);
                loss_of(model, &mut tape)
            });
            set(model, original);
            report.record(j, a, best?);
        }
        reports.push(report);
    }
    Ok(GradcheckReport { inputs: reports })
}

/// One op's check in [`check_every_op`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpCheck {
    /// The op, e.g. `"conv2d"`.
    pub op: &'static str,
    /// Its gradcheck, one entry per differentiated input.
    pub report: GradcheckReport,
}

/// Gradient-checks every tape op on random inputs from `seed`, with `loss = Σ y·r` for a random
/// `r` (so every output element has its own upstream gradient). Inputs are built off the kinks:
/// ReLU inputs at least 0.05 from 0, max-pool inputs distinct and 0.02 apart, batch norm with
/// 12 values per channel. This is what `trainer gradcheck` prints for learners.
///
/// # Errors
/// Only if an op rejects the shapes chosen here, which would be a bug.
pub fn check_every_op(seed: u64) -> Result<Vec<OpCheck>> {
    let mut rng = Rng::new(seed);
    let mut uniform =
        |dims: &[usize], low: f32, high: f32| Tensor::from_fn(dims, |_| rng.uniform(low, high));
    let opts = GradcheckOptions::default();
    let mut checks = Vec::new();
    let mut run = |op: &'static str,
                   inputs: &[Tensor],
                   out_dims: &[usize],
                   f: &dyn Fn(&mut Tape, &[Var]) -> Result<Var>|
     -> Result<()> {
        let r = Tensor::from_fn(out_dims, |i| ((i * 7919 % 17) as f32 - 8.0) / 8.0);
        let report = gradcheck(
            |tape, v| {
                let y = f(tape, v)?;
                weighted_sum(tape, y, &r)
            },
            inputs,
            &opts,
        )?;
        checks.push(OpCheck { op, report });
        Ok(())
    };
    let same = Conv2dParams { stride: 1, padding: 1 };
    let (x, w, b) = (
        uniform(&[2, 2, 5, 5], -1.0, 1.0),
        uniform(&[3, 2, 3, 3], -1.0, 1.0),
        uniform(&[3], -1.0, 1.0),
    );
    run("conv2d", &[x, w, b], &[2, 3, 5, 5], &|t, v| ops::conv2d(t, v[0], v[1], Some(v[2]), same))?;
    // Off the kink: |Σ w·x| ≤ 18 · 0.2 · 0.2 = 0.72 < 1.5 = |b|, so channels 0 and 2 are
    // always positive and channel 1 always cut by the ReLU.
    let (x, w) = (uniform(&[2, 2, 5, 5], -0.2, 0.2), uniform(&[3, 2, 3, 3], -0.2, 0.2));
    let b = Tensor::from_fn(&[3], |c| if c == 1 { -1.5 } else { 1.5 });
    run("conv2d_relu", &[x, w, b], &[2, 3, 5, 5], &|t, v| {
        ops::conv2d_relu(t, v[0], v[1], Some(v[2]), same)
    })?;
    let (x, w, b) =
        (uniform(&[3, 4], -1.0, 1.0), uniform(&[2, 4], -1.0, 1.0), uniform(&[2], -1.0, 1.0));
    run("linear", &[x, w, b], &[3, 2], &|t, v| ops::linear(t, v[0], v[1], Some(v[2])))?;
    let x = uniform(&[2, 6], 0.05, 1.0);
    let signs = Tensor::from_fn(&[2, 6], |i| if i % 3 == 0 { -1.0 } else { 1.0 });
    let x = Tensor::from_fn(&[2, 6], |i| x.data()[i] * signs.data()[i]);
    run("relu", &[x], &[2, 6], &|t, v| ops::relu(t, v[0]))?;
    let mut order: Vec<usize> = (0..2 * 2 * 4 * 4).collect();
    Rng::new(seed ^ 1).shuffle(&mut order);
    let x = Tensor::from_fn(&[2, 2, 4, 4], |i| (order[i] as f32 - 32.0) * 0.02);
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    run("max_pool2d", &[x], &[2, 2, 2, 2], &|t, v| ops::max_pool2d(t, v[0], pool))?;
    let (x, gamma, beta) =
        (uniform(&[3, 2, 2, 2], -1.0, 2.0), uniform(&[2], 0.5, 1.5), uniform(&[2], -0.5, 0.5));
    run("batch_norm2d", &[x, gamma, beta], &[3, 2, 2, 2], &|t, v| {
        let mut running = BatchStats { mean: Tensor::zeros(&[2]), var: Tensor::full(&[2], 1.0) };
        let mode = BatchNormMode::Train { running: &mut running, momentum: 0.1 };
        ops::batch_norm2d(t, v[0], v[1], v[2], 1e-5, mode)
    })?;
    let x = uniform(&[2, 3, 3, 3], -1.0, 1.0);
    run("dropout", std::slice::from_ref(&x), &[2, 3, 3, 3], &|t, v| {
        ops::dropout(t, v[0], 0.3, &mut Rng::new(seed))
    })?;
    run("global_avg_pool2d", std::slice::from_ref(&x), &[2, 3, 1, 1], &|t, v| {
        ops::global_avg_pool2d(t, v[0])
    })?;
    run("flatten", std::slice::from_ref(&x), &[2, 27], &|t, v| ops::flatten(t, v[0]))?;
    let (a, b) = (uniform(&[3, 3], -1.0, 1.0), uniform(&[3, 3], -1.0, 1.0));
    run("add", &[a.clone(), b], &[3, 3], &|t, v| ops::add(t, v[0], v[1]))?;
    run("scale", std::slice::from_ref(&a), &[3, 3], &|t, v| ops::scale(t, v[0], -1.5))?;
    run("sum", std::slice::from_ref(&a), &[], &|t, v| ops::sum(t, v[0]))?;
    run("mean", std::slice::from_ref(&a), &[], &|t, v| ops::mean(t, v[0]))?;
    let logits = uniform(&[4, 3], -2.0, 2.0);
    let weights = [0.5f32, 1.0, 2.0];
    let ce = CrossEntropyOptions { class_weights: Some(&weights), label_smoothing: 0.1 };
    run("softmax_cross_entropy", &[logits], &[], &|t, v| {
        softmax_cross_entropy(t, v[0], &[0, 2, 1, 2], &ce)
    })?;
    Ok(checks)
}

/// `Σ y·r` as a one-element tape value (`r` constant, y's size): a `linear` with `r` as the
/// single weight row, so no extra op is needed.
fn weighted_sum(tape: &mut Tape, y: Var, r: &Tensor) -> Result<Var> {
    let len = tape.value(y)?.len();
    let flat = ops::reshape(tape, y, &[1, len])?;
    let row = tape.input_from(r);
    let row = ops::reshape(tape, row, &[1, len])?;
    let dot = ops::linear(tape, flat, row, None)?;
    ops::sum(tape, dot)
}
