//! Every tape op, and a whole small CNN, against finite differences through the public
//! `gradcheck` API, over random shapes and values.
//!
//! Ops with a tensor output are reduced to a scalar with `loss = Σ y·r` for a fixed random `r`
//! (a `linear` with `r` as its weight row), so every output element gets its own upstream
//! gradient and a wrong index or scale anywhere shows up.
//!
//! Kinks: ReLU inputs are kept at least 0.05 from 0 and max-pool inputs are distinct multiples
//! of 0.02, both more than the biggest finite-difference step (1e-2), so no difference crosses
//! a kink. The CNN test rejects (prop_assume) cases with a ReLU input or a pool near-tie
//! within its margin.

use autograd::gradcheck::{GradcheckOptions, gradcheck};
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::ops::{self, BatchNormMode};
use autograd::{Result, Tape, Var};
use proptest::prelude::*;
use tensor::ops::batch_norm2d::BatchStats;
use tensor::ops::conv2d::{self, Conv2dParams};
use tensor::ops::max_pool2d::Pool2dParams;
use tensor::{Rng, Tensor};

/// f32 finite differences: a relative error of 1e-2 is what rounding allows (see the module
/// docs of `autograd::gradcheck`); real glue bugs give errors of order 1.
const TOLERANCE: f64 = 1e-2;

fn uniform(dims: &[usize], rng: &mut Rng, low: f32, high: f32) -> Tensor {
    Tensor::from_fn(dims, |_| rng.uniform(low, high))
}

/// `Σ y·r` as a one-element tape value, with `r` a constant input of y's size.
fn weighted_sum(tape: &mut Tape, y: Var, r: &Tensor) -> Result<Var> {
    let len = tape.value(y)?.len();
    let flat = ops::reshape(tape, y, &[1, len])?;
    let r = tape.input_from(&r.clone().reshape(&[1, len])?);
    let dot = ops::linear(tape, flat, r, None)?;
    ops::sum(tape, dot)
}

fn r_for(dims: &[usize], seed: u64) -> Tensor {
    uniform(dims, &mut Rng::keyed(seed, &[99]), -1.0, 1.0)
}

fn check(
    f: impl FnMut(&mut Tape, &[Var]) -> Result<Var>,
    inputs: &[Tensor],
) -> std::result::Result<(), TestCaseError> {
    let report = gradcheck(f, inputs, &GradcheckOptions::default()).unwrap();
    prop_assert!(report.worst() < TOLERANCE, "{report:#?}");
    Ok(())
}

fn small_dim() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![1usize, 2, 3, 5])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn add_scale_sum_mean_reshape(n in small_dim(), m in small_dim(), seed in 0u64..10_000) {
        let mut rng = Rng::new(seed);
        let a = uniform(&[n, m], &mut rng, -1.0, 1.0);
        let b = uniform(&[n, m], &mut rng, -1.0, 1.0);
        let r = r_for(&[m, n], seed);
        check(|tape, v| {
            let s = ops::add(tape, v[0], v[1])?;
            let s = ops::add(tape, s, v[0])?; // a used twice: its gradient is summed
            let s = ops::scale(tape, s, -1.5)?;
            let t = ops::reshape(tape, s, &[m, n])?;
            let y = weighted_sum(tape, t, &r)?;
            let mean = ops::mean(tape, v[1])?;
            let total = ops::sum(tape, v[0])?;
            let y = ops::add(tape, y, mean)?;
            ops::add(tape, y, total)
        }, &[a, b])?;
    }

    #[test]
    fn relu_off_the_kink(n in small_dim(), m in small_dim(), seed in 0u64..10_000) {
        let mut rng = Rng::new(seed);
        // |x| in [0.05, 1]: every finite difference stays on one side of 0.
        let x = Tensor::from_fn(&[n, m], |_| {
            let v = rng.uniform(0.05, 1.0);
            if rng.bernoulli(0.5) { v } else { -v }
        });
        let r = r_for(&[n, m], seed);
        check(|tape, v| {
            let y = ops::relu(tape, v[0])?;
            weighted_sum(tape, y, &r)
        }, &[x])?;
    }

    #[test]
    fn max_pool2d_without_ties(n in 1usize..3, c in 1usize..3, h in 2usize..7, w in 2usize..7,
                               kernel in 1usize..3, stride in 1usize..3, seed in 0u64..10_000) {
        prop_assume!(kernel <= h && kernel <= w);
        let len = n * c * h * w;
        let mut order: Vec<usize> = (0..len).collect();
        Rng::new(seed).shuffle(&mut order);
        // Distinct values 0.02 apart (more than the largest step, 1e-2): no window has a
        // near-tie. Centred on 0 so the loss stays small and its f32 rounding with it.
        let x = Tensor::from_fn(&[n, c, h, w], |i| (order[i] as f32 - len as f32 / 2.0) * 0.02);
        let p = Pool2dParams { kernel, stride };
        let (oh, ow) = p.output_hw(h, w).unwrap();
        let r = r_for(&[n, c, oh, ow], seed);
        check(|tape, v| {
            let y = ops::max_pool2d(tape, v[0], p)?;
            weighted_sum(tape, y, &r)
        }, &[x])?;
    }

    #[test]
    fn conv2d_all_three_inputs(n in 1usize..3, c_in in 1usize..3, c_out in 1usize..3,
                               h in 3usize..6, w in 3usize..6, k in 1usize..4,
                               stride in 1usize..3, padding in 0usize..2, seed in 0u64..10_000) {
        let mut rng = Rng::new(seed);
        let x = uniform(&[n, c_in, h, w], &mut rng, -1.0, 1.0);
        let wt = uniform(&[c_out, c_in, k, k], &mut rng, -1.0, 1.0);
        let b = uniform(&[c_out], &mut rng, -1.0, 1.0);
        let p = Conv2dParams { stride, padding };
        let (oh, ow) = p.output_hw(h, w, k, k).unwrap();
        let r = r_for(&[n, c_out, oh, ow], seed);
        check(|tape, v| {
            let y = ops::conv2d(tape, v[0], v[1], Some(v[2]), p)?;
            weighted_sum(tape, y, &r)
        }, &[x, wt, b])?;
    }

    #[test]
    fn linear_all_three_inputs(n in small_dim(), inputs in small_dim(), outputs in small_dim(), seed in 0u64..10_000) {
        let mut rng = Rng::new(seed);
        let x = uniform(&[n, inputs], &mut rng, -1.0, 1.0);
        let w = uniform(&[outputs, inputs], &mut rng, -1.0, 1.0);
        let b = uniform(&[outputs], &mut rng, -1.0, 1.0);
        let r = r_for(&[n, outputs], seed);
        check(|tape, v| {
            let y = ops::linear(tape, v[0], v[1], Some(v[2]))?;
            weighted_sum(tape, y, &r)
        }, &[x, w, b])?;
    }

    #[test]
    fn batch_norm2d_in_both_modes(n in 1usize..3, c in 1usize..3, h in 1usize..4, w in 2usize..4, seed in 0u64..10_000) {
        // With two or three values per channel x̂ barely depends on x and its curvature (∝ 1/σ²)
        // swamps f32 finite differences; the f64 kernel tests cover those sizes exactly.
        prop_assume!(n * h * w >= 4);
        let mut rng = Rng::new(seed);
        let x = uniform(&[n, c, h, w], &mut rng, -1.0, 2.0);
        let gamma = uniform(&[c], &mut rng, 0.5, 1.5);
        let beta = uniform(&[c], &mut rng, -0.5, 0.5);
        let r = r_for(&[n, c, h, w], seed);
        let running = BatchStats { mean: uniform(&[c], &mut rng, -0.2, 0.2), var: uniform(&[c], &mut rng, 0.5, 1.5) };
        check(|tape, v| {
            let mut fresh = running.clone(); // the update must not leak between evaluations
            let mode = BatchNormMode::Train { running: &mut fresh, momentum: 0.1 };
            let y = ops::batch_norm2d(tape, v[0], v[1], v[2], 1e-5, mode)?;
            weighted_sum(tape, y, &r)
        }, &[x.clone(), gamma.clone(), beta.clone()])?;
        check(|tape, v| {
            let y = ops::batch_norm2d(tape, v[0], v[1], v[2], 1e-5, BatchNormMode::Eval { running: &running })?;
            weighted_sum(tape, y, &r)
        }, &[x, gamma, beta])?;
    }

    #[test]
    fn dropout_global_pool_flatten(n in 1usize..3, c in 1usize..4, h in 1usize..4, w in 1usize..4, seed in 0u64..10_000) {
        let x = uniform(&[n, c, h, w], &mut Rng::new(seed), -1.0, 1.0);
        let r1 = r_for(&[n, c, h, w], seed);
        let r2 = r_for(&[n, c], seed + 1);
        check(|tape, v| {
            // Re-seeded on every call, so every evaluation drops the same elements.
            let y = ops::dropout(tape, v[0], 0.3, &mut Rng::new(seed))?;
            let a = weighted_sum(tape, y, &r1)?;
            let pooled = ops::global_avg_pool2d(tape, v[0])?;
            let flat = ops::flatten(tape, pooled)?;
            let b = weighted_sum(tape, flat, &r2)?;
            ops::add(tape, a, b)
        }, &[x])?;
    }

    #[test]
    fn cross_entropy_with_weights_and_smoothing(n in 1usize..5, k in 2usize..5, smoothing in 0.0f32..0.3, seed in 0u64..10_000) {
        let mut rng = Rng::new(seed);
        let logits = uniform(&[n, k], &mut rng, -2.0, 2.0);
        let targets: Vec<usize> = (0..n).map(|_| rng.below(k)).collect();
        let weights: Vec<f32> = (0..k).map(|_| rng.uniform(0.5, 2.0)).collect();
        for class_weights in [None, Some(weights.as_slice())] {
            let opts = CrossEntropyOptions { class_weights, label_smoothing: smoothing };
            check(|tape, v| {
                let loss = softmax_cross_entropy(tape, v[0], &targets, &opts)?;
                ops::scale(tape, loss, 2.0) // a non-unit upstream gradient into the loss
            }, std::slice::from_ref(&logits))?;
        }
    }

    /// conv → relu → max-pool → flatten → linear → cross-entropy, gradients of the input and
    /// of every parameter at once.
    #[test]
    fn small_cnn(n in 1usize..3, c_in in 1usize..3, c_mid in 1usize..3, hw in 4usize..7,
                 classes in 2usize..4, seed in 0u64..10_000) {
        let mut rng = Rng::new(seed);
        let p = Conv2dParams { stride: 1, padding: 1 };
        let x = uniform(&[n, c_in, hw, hw], &mut rng, -1.0, 1.0);
        let w1 = uniform(&[c_mid, c_in, 3, 3], &mut rng, -0.5, 0.5);
        let b1 = uniform(&[c_mid], &mut rng, -0.5, 0.5);
        let pooled = hw / 2;
        let w2 = uniform(&[classes, c_mid * pooled * pooled], &mut rng, -0.5, 0.5);
        let b2 = uniform(&[classes], &mut rng, -0.5, 0.5);
        let targets: Vec<usize> = (0..n).map(|_| rng.below(classes)).collect();

        // Off the kinks. This test differences with steps h ≤ 1e-3; one step moves a
        // pre-activation z by at most h·max(1, max|w1|) (inputs are in [−1, 1]). Reject cases
        // where some z is within twice that of 0, or some pool window's winner (if positive)
        // is within it of the runner-up.
        let steps = vec![1e-3, 3e-4];
        let margin = 2.0 * 1e-3 * w1.data().iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let z = conv2d::forward(&x, &w1, Some(&b1), p).unwrap();
        prop_assume!(z.data().iter().all(|v| v.abs() > margin));
        for zp in z.data().chunks(hw * hw) {
            for (oy, ox) in (0..pooled).flat_map(|a| (0..pooled).map(move |b| (a, b))) {
                let mut window: Vec<f32> =
                    (0..4).map(|q| zp[(2 * oy + q / 2) * hw + 2 * ox + q % 2].max(0.0)).collect();
                window.sort_by(|a, b| b.total_cmp(a));
                prop_assume!(window[0] == 0.0 || window[0] - window[1] > margin);
            }
        }
        // Steps this small make f32 rounding of the loss (ulp ≈ 1.2e-7 at a loss ≈ 1) worth
        // ≈ 1e-4 in each difference, so gradients below 0.05 are compared absolutely (floor).
        let opts = GradcheckOptions { steps, floor: 5e-2, ..GradcheckOptions::default() };
        let report = gradcheck(|tape, v| {
            let y = ops::conv2d(tape, v[0], v[1], Some(v[2]), p)?;
            let y = ops::relu(tape, y)?;
            let y = ops::max_pool2d(tape, y, Pool2dParams { kernel: 2, stride: 2 })?;
            let y = ops::flatten(tape, y)?;
            let logits = ops::linear(tape, y, v[3], Some(v[4]))?;
            softmax_cross_entropy(tape, logits, &targets, &CrossEntropyOptions::default())
        }, &[x, w1, b1, w2, b2], &opts).unwrap();
        prop_assert!(report.worst() < TOLERANCE, "{report:#?}");
    }
}

#[test]
fn every_op_passes_the_learners_suite() {
    for seed in 0..4 {
        for check in autograd::gradcheck::check_every_op(seed).unwrap() {
            assert!(check.report.worst() < TOLERANCE, "{}: {:#?}", check.op, check.report);
        }
    }
}

#[test]
fn a_whole_module_checks_out_per_named_parameter() {
    use autograd::gradcheck::gradcheck_module;
    use autograd::init::Init;
    use autograd::nn::{
        BatchNorm2d, Conv2d, Flatten, GlobalAvgPool, Linear, Mode, Module, Sequential,
    };
    // conv → batch norm → global average pool → linear: smooth, so no kink can interfere.
    let mut rng = Rng::new(5);
    let mut model = Sequential::new(vec![
        Box::new(Conv2d::new(
            2,
            3,
            3,
            Conv2dParams { stride: 1, padding: 1 },
            Init::KaimingNormal,
            &mut rng,
        )),
        Box::new(BatchNorm2d::new(3)),
        Box::new(GlobalAvgPool),
        Box::new(Flatten),
        Box::new(Linear::new(3, 4, Init::PytorchDefault, &mut rng)),
    ]);
    let images = uniform(&[3, 2, 4, 4], &mut rng, -1.0, 1.0);
    for mode in [Mode::Train, Mode::Eval] {
        model.set_mode(mode);
        let report =
            gradcheck_module(&mut model, &images, &[0, 3, 1], &GradcheckOptions::default())
                .unwrap();
        let names: Vec<&str> = report.inputs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]);
        assert!(report.worst() < TOLERANCE, "{mode:?}: {report:#?}");
        // The conv bias feeds batch norm, which subtracts the batch mean: in training its
        // gradient is exactly zero, and finite differences agree.
        if mode == Mode::Train {
            assert!(report.inputs[1].analytic.abs() < 1e-6);
        }
    }
    assert!(model.parameters().iter().all(|p| p.grad.data().iter().all(|&g| g == 0.0)));
}
