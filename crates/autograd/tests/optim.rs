//! Optimiser updates, schedules and clipping against numbers worked out by hand from the
//! formulas in the doc comments (each test says how). One scalar parameter θ = 1 keeps the
//! arithmetic checkable on paper; f32 arithmetic gives agreement to ~1e-7 relative.

use autograd::optim::{Adam, AdamW, Optimizer, Sgd};
use autograd::schedule::{LrSchedule, Schedule, clip_grad_norm};
use autograd::{AutogradError, Parameter};
use tensor::Tensor;

fn scalar_param(value: f32) -> Parameter {
    Parameter::new("theta", Tensor::from_vec(&[1], vec![value]).unwrap())
}

/// Runs `opt` with the given gradients in turn and returns θ after each step.
fn run(opt: &mut dyn Optimizer, grads: &[f32]) -> Vec<f32> {
    let mut p = scalar_param(1.0);
    grads
        .iter()
        .map(|&g| {
            p.grad.data_mut()[0] = g;
            opt.step(&mut [&mut p]).unwrap();
            p.value.data()[0]
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((f64::from(*g) - w).abs() <= 1e-6 * w.abs().max(1.0), "got {got:?}, want {want:?}");
    }
}

#[test]
fn plain_sgd() {
    // θ = 1 − 0.1·0.5 = 0.95, then 0.95 − 0.1·0.5 = 0.90.
    assert_close(&run(&mut Sgd::new(0.1), &[0.5, 0.5]), &[0.95, 0.90]);
}

#[test]
fn sgd_momentum_dampening_weight_decay() {
    // lr 0.1, μ 0.9, τ 0.1, λ 0.01, raw gradient 0.5 both steps.
    // t=1: g = 0.5 + 0.01·1 = 0.51, b = g = 0.51 (no dampening on the first step),
    //      θ = 1 − 0.1·0.51 = 0.949
    // t=2: g = 0.5 + 0.01·0.949 = 0.50949, b = 0.9·0.51 + 0.9·0.50949 = 0.917541,
    //      θ = 0.949 − 0.1·0.917541 = 0.8572459
    let mut opt = Sgd::new(0.1).momentum(0.9).dampening(0.1).weight_decay(0.01);
    assert_close(&run(&mut opt, &[0.5, 0.5]), &[0.949, 0.857_245_9]);
}

#[test]
fn sgd_nesterov() {
    // lr 0.1, μ 0.9, λ 0.01, raw gradient 0.5 both steps.
    // t=1: g = 0.51, b = 0.51, update = g + μ·b = 0.969, θ = 1 − 0.0969 = 0.9031
    // t=2: g = 0.5 + 0.01·0.9031 = 0.509031, b = 0.9·0.51 + 0.509031 = 0.968031,
    //      update = 0.509031 + 0.9·0.968031 = 1.3802589, θ = 0.9031 − 0.13802589 = 0.76507411
    let mut opt = Sgd::new(0.1).momentum(0.9).nesterov().weight_decay(0.01);
    assert_close(&run(&mut opt, &[0.5, 0.5]), &[0.9031, 0.765_074_11]);
    // PyTorch rejects Nesterov without momentum or with dampening; so do we.
    let mut bad = Sgd::new(0.1).nesterov();
    assert!(matches!(
        bad.step(&mut [&mut scalar_param(1.0)]),
        Err(AutogradError::InvalidHyperParameter { .. })
    ));
}

#[test]
fn adam_with_bias_correction() {
    // lr 0.1, β (0.9, 0.999), ε 1e-8; gradients 0.5 then −0.25.
    // t=1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, θ = 1 − 0.1·0.5/(0.5 + 1e-8) = 0.900000002
    // t=2: m = 0.045 − 0.025 = 0.02, v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225,
    //      θ = 0.9 − (0.1/0.19)·0.02/(√0.00031225/√0.001999 + 1e-8) = 0.8733662987
    assert_close(&run(&mut Adam::new(0.1), &[0.5, -0.25]), &[0.900_000_002, 0.873_366_298_7]);
}

#[test]
fn adam_l2_weight_decay_goes_through_the_gradient() {
    // λ = 0.1: g₁ = 0.5 + 0.1·1 = 0.6 → θ = 1 − 0.1·0.6/(0.6 + 1e-8) = 0.9000000017;
    // g₂ = −0.25 + 0.1·0.9 = −0.16, m = 0.054 − 0.016 = 0.038,
    // v = 0.999·0.00036 + 0.001·0.0256 = 0.00038524 → θ = 0.8544413675.
    let mut opt = Adam::new(0.1).weight_decay(0.1);
    assert_close(&run(&mut opt, &[0.5, -0.25]), &[0.900_000_001_7, 0.854_441_367_5]);
}

#[test]
fn adamw_decays_the_weights_directly() {
    // λ = 0.1: t=1: θ = 1·(1 − 0.1·0.1) = 0.99, then the Adam step −0.1·0.5/(0.5 + 1e-8):
    //      θ = 0.890000002
    // t=2: θ = 0.89·0.99 = 0.8811, then the same Adam step as plain Adam's t=2 (−0.0266337):
    //      θ = 0.8544662987
    let mut opt = AdamW::new(0.1).weight_decay(0.1);
    assert_close(&run(&mut opt, &[0.5, -0.25]), &[0.890_000_002, 0.854_466_298_7]);
}

#[test]
fn amsgrad_keeps_the_largest_second_moment() {
    // Gradients 1, 0, 0.1. v: 0.001, 0.000999, 0.000998101 — falling after t=1, so AMSGrad
    // divides by v_max = 0.001 at t=2 and t=3 and takes smaller steps than Adam:
    // Adam θ: 0.900000001, 0.8329941765, 0.7750933109
    // AMSGrad θ: 0.900000001, 0.8330276878, 0.7751268222
    assert_close(
        &run(&mut Adam::new(0.1), &[1.0, 0.0, 0.1]),
        &[0.9, 0.832_994_176_5, 0.775_093_310_9],
    );
    let mut ams = Adam::new(0.1).amsgrad();
    assert_close(&run(&mut ams, &[1.0, 0.0, 0.1]), &[0.9, 0.833_027_687_8, 0.775_126_822_2]);
}

#[test]
fn an_optimizer_refuses_a_different_parameter_list() {
    let mut opt = Sgd::new(0.1).momentum(0.9);
    let mut a = scalar_param(1.0);
    opt.step(&mut [&mut a]).unwrap();
    let mut b = Parameter::new("other", Tensor::zeros(&[1]));
    let err = opt.step(&mut [&mut b]).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(opt.step(&mut [&mut a, &mut b]).is_err());
}

#[test]
fn schedules_follow_their_formulas() {
    let step = Schedule::new(0.1, LrSchedule::Step { step_size: 3, gamma: 0.5 }, 0).unwrap();
    // 0.1·0.5^⌊t/3⌋
    let lrs: Vec<f32> = (0..7).map(|t| step.lr_at(t)).collect();
    assert_eq!(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);

    let cosine = Schedule::new(0.1, LrSchedule::Cosine { t_max: 4, eta_min: 0.0 }, 0).unwrap();
    // 0.1·(1 + cos(π t/4))/2: t=1 → 0.0853553, t=2 → 0.05, t=4 → 0, held after.
    assert!((cosine.lr_at(1) - 0.085_355_34).abs() < 1e-7);
    assert!((cosine.lr_at(2) - 0.05).abs() < 1e-7);
    assert!(cosine.lr_at(4).abs() < 1e-7 && cosine.lr_at(9).abs() < 1e-7);

    let warm = Schedule::new(0.1, LrSchedule::Constant, 4).unwrap();
    // (t + 1)/4 of the base during warm-up: 0.025, 0.05, 0.075, 0.1, then 0.1.
    let lrs: Vec<f32> = (0..6).map(|t| warm.lr_at(t)).collect();
    for (got, want) in lrs.iter().zip([0.025, 0.05, 0.075, 0.1, 0.1, 0.1]) {
        assert!((got - want).abs() < 1e-7, "{lrs:?}");
    }
    assert!(Schedule::new(0.1, LrSchedule::Step { step_size: 0, gamma: 0.5 }, 0).is_err());
    assert!(Schedule::new(f32::NAN, LrSchedule::Constant, 0).is_err());
}

#[test]
fn clipping_rescales_all_gradients_together() {
    // ‖(3, 4, 12)‖ = 13; max 6.5 ⇒ factor 6.5/(13 + 1e-6) ≈ 0.5.
    let mut a = Parameter::new("a", Tensor::zeros(&[2]));
    let mut b = Parameter::new("b", Tensor::zeros(&[1]));
    a.grad = Tensor::from_vec(&[2], vec![3.0, 4.0]).unwrap();
    b.grad = Tensor::from_vec(&[1], vec![12.0]).unwrap();
    let norm = clip_grad_norm(&mut [&mut a, &mut b], 6.5).unwrap();
    assert_eq!(norm, 13.0);
    assert_close(a.grad.data(), &[1.5, 2.0]);
    assert_close(b.grad.data(), &[6.0]);
    // Below the limit nothing changes.
    let norm = clip_grad_norm(&mut [&mut a, &mut b], 100.0).unwrap();
    assert!((norm - 6.5).abs() < 1e-5);
    assert_close(b.grad.data(), &[6.0]);
    assert!(clip_grad_norm(&mut [&mut a], 0.0).is_err());
}

/// Parameters with `len` elements each, values and gradients drawn from `seed`: long enough
/// for several parallel chunks, with gradients large enough for clipping to bite.
fn random_params(lens: &[usize], seed: u64) -> Vec<Parameter> {
    let mut rng = tensor::Rng::new(seed);
    lens.iter()
        .enumerate()
        .map(|(i, &len)| {
            let mut p = Parameter::new(
                format!("p{i}"),
                Tensor::from_fn(&[len], |_| rng.uniform(-1.0, 1.0)),
            );
            p.grad = Tensor::from_fn(&[len], |_| rng.uniform(-3.0, 3.0));
            p
        })
        .collect()
}

/// Three steps of `fused` with the clipping factor inside the update against three steps of
/// `separate` after `clip_grad_norm` scaled the gradients: every value and every state tensor
/// must agree bit for bit.
fn clip_inside_equals_clip_first(mut fused: Box<dyn Optimizer>, mut separate: Box<dyn Optimizer>) {
    let lens = [40_000, 17, 1];
    let mut a = random_params(&lens, 3);
    let mut b = random_params(&lens, 3);
    for step in 0..3u64 {
        // New gradients each step (the same for both), some steps clipped and some not.
        let fresh = random_params(&lens, 100 + step);
        let max_norm = if step == 1 { 1e6 } else { 20.0 };
        for ((pa, pb), f) in a.iter_mut().zip(b.iter_mut()).zip(&fresh) {
            pa.grad = f.grad.clone();
            pb.grad = f.grad.clone();
        }
        let mut pa: Vec<&mut Parameter> = a.iter_mut().collect();
        let norm = autograd::schedule::grad_norm(&pa);
        let scale = autograd::schedule::clip_factor(norm, max_norm).unwrap();
        assert_eq!(scale < 1.0, step != 1, "step {step}: norm {norm}");
        fused.step_scaled(&mut pa, scale).unwrap();
        let mut pb: Vec<&mut Parameter> = b.iter_mut().collect();
        clip_grad_norm(&mut pb, max_norm).unwrap();
        separate.step(&mut pb).unwrap();
        for (pa, pb) in a.iter().zip(&b) {
            assert_eq!(pa.value, pb.value, "step {step}, {}", pa.name);
        }
    }
    assert_eq!(fused.state(), separate.state());
}

#[test]
fn clipping_inside_the_update_gives_the_same_bits_as_scaling_first() {
    clip_inside_equals_clip_first(Box::new(Sgd::new(0.1)), Box::new(Sgd::new(0.1)));
    let sgd = || Sgd::new(0.05).momentum(0.9).dampening(0.1).weight_decay(0.01);
    clip_inside_equals_clip_first(Box::new(sgd()), Box::new(sgd()));
    let nesterov = || Sgd::new(0.05).momentum(0.9).nesterov().weight_decay(0.01);
    clip_inside_equals_clip_first(Box::new(nesterov()), Box::new(nesterov()));
    let adam = || Adam::new(0.01).weight_decay(0.01);
    clip_inside_equals_clip_first(Box::new(adam()), Box::new(adam()));
    let amsgrad = || Adam::new(0.01).amsgrad();
    clip_inside_equals_clip_first(Box::new(amsgrad()), Box::new(amsgrad()));
    let adamw = || AdamW::new(0.01);
    clip_inside_equals_clip_first(Box::new(adamw()), Box::new(adamw()));
    let adamw_ams = || AdamW::new(0.01).amsgrad();
    clip_inside_equals_clip_first(Box::new(adamw_ams()), Box::new(adamw_ams()));
}

#[test]
fn a_gradient_scale_must_be_finite_and_not_negative() {
    let mut p = scalar_param(1.0);
    for bad in [-1.0, f32::NAN, f32::INFINITY] {
        assert!(Sgd::new(0.1).step_scaled(&mut [&mut p], bad).is_err());
        assert!(AdamW::new(0.1).step_scaled(&mut [&mut p], bad).is_err());
    }
    assert_eq!(p.value.data(), &[1.0], "a rejected step changes nothing");
}

#[test]
fn the_clip_factor_is_one_within_the_bound() {
    assert_eq!(autograd::schedule::clip_factor(3.0, 5.0).unwrap(), 1.0);
    // 6.5 / (13 + 1e-6), rounded to f32.
    let f = autograd::schedule::clip_factor(13.0, 6.5).unwrap();
    assert_eq!(f, (6.5f64 / (13.0 + 1e-6)) as f32);
    assert!(autograd::schedule::clip_factor(1.0, 0.0).is_err());
}
