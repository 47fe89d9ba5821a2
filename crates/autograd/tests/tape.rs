//! The tape's bookkeeping: gradients summed over consumers, parameters receiving theirs,
//! stale handles and non-scalar losses rejected, and a small CNN that learns.

use autograd::init::Init;
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{Conv2d, Conv2dParams, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use autograd::optim::{Optimizer, Sgd};
use autograd::{AutogradError, Parameter, Tape, ops};
use tensor::{Rng, Tensor};

#[test]
fn a_value_used_twice_gets_the_sum_of_both_gradients() {
    // loss = Σ (x + x) + Σ 3x = 5·Σ x, so ∂loss/∂x = 5 everywhere.
    let mut tape = Tape::new();
    let x = tape.leaf(Tensor::from_vec(&[2, 2], vec![1.0, -2.0, 3.0, 0.5]).unwrap());
    let doubled = ops::add(&mut tape, x, x).unwrap();
    let tripled = ops::scale(&mut tape, x, 3.0).unwrap();
    let both = ops::add(&mut tape, doubled, tripled).unwrap();
    let loss = ops::sum(&mut tape, both).unwrap();
    tape.backward(loss).unwrap();
    assert_eq!(tape.scalar(loss).unwrap(), 5.0 * 2.5);
    assert_eq!(tape.grad(x).unwrap().unwrap().data(), &[5.0; 4]);
    // A second backward starts from scratch rather than adding to the first.
    tape.backward(loss).unwrap();
    assert_eq!(tape.grad(x).unwrap().unwrap().data(), &[5.0; 4]);
}

#[test]
fn inputs_get_no_gradient_and_stale_vars_are_errors() {
    let mut tape = Tape::new();
    let x = tape.input(Tensor::full(&[3], 2.0));
    let loss = ops::mean(&mut tape, x).unwrap();
    tape.backward(loss).unwrap();
    assert!(tape.grad(x).unwrap().is_none());
    tape.reset();
    assert!(matches!(tape.value(x), Err(AutogradError::StaleVar { .. })));
    assert!(matches!(ops::relu(&mut tape, x), Err(AutogradError::StaleVar { op: "relu", .. })));
}

#[test]
fn backward_needs_a_scalar_loss() {
    let mut tape = Tape::new();
    let x = tape.leaf(Tensor::zeros(&[2, 3]));
    let err = tape.backward(x).unwrap_err();
    assert!(err.to_string().contains("single value"), "{err}");
}

#[test]
fn parameter_gradients_accumulate_until_zeroed() {
    // loss = Σ 2·w  ⇒  ∂loss/∂w = 2; two backward passes without zeroing give 4.
    let mut w = Parameter::new("w", Tensor::full(&[3], 1.0));
    let mut tape = Tape::new();
    for _ in 0..2 {
        tape.reset();
        let v = tape.param(&w);
        let y = ops::scale(&mut tape, v, 2.0).unwrap();
        let loss = ops::sum(&mut tape, y).unwrap();
        tape.backward(loss).unwrap();
        tape.accumulate_param_grads(&mut [&mut w]).unwrap();
    }
    assert_eq!(w.grad.data(), &[4.0; 3]);
    w.zero_grad();
    assert_eq!(w.grad.data(), &[0.0; 3]);
}

#[test]
fn shape_errors_name_the_op() {
    let mut tape = Tape::new();
    let a = tape.leaf(Tensor::zeros(&[2, 3]));
    let b = tape.leaf(Tensor::zeros(&[3, 2]));
    let err = ops::add(&mut tape, a, b).unwrap_err();
    assert!(err.to_string().starts_with("add:"), "{err}");
    // The failed op recorded nothing.
    assert_eq!(tape.len(), 2);
}

/// conv → relu → pool → flatten → linear on 8×8 images of two classes that differ in where
/// the bright blob is; a few SGD steps must lower the loss clearly.
#[test]
fn a_small_cnn_learns() {
    let mut rng = Rng::new(42);
    let pad1 = Conv2dParams { stride: 1, padding: 1 };
    let mut model = Sequential::new(vec![
        Box::new(Conv2d::new(1, 4, 3, pad1, Init::KaimingNormal, &mut rng)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Flatten),
        Box::new(Linear::new(4 * 4 * 4, 2, Init::PytorchDefault, &mut rng)),
    ]);
    let names: Vec<String> = model.parameters().iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, ["0.weight", "0.bias", "4.weight", "4.bias"]);

    let n = 8;
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let images = Tensor::from_fn(&[n, 1, 8, 8], |i| {
        let (img, pixel) = (i / 64, i % 64);
        let (row, col) = (pixel / 8, pixel % 8);
        let left = labels[img] == 0;
        let bright = if left { col < 4 } else { col >= 4 };
        if bright && (2..6).contains(&row) { 1.0 } else { 0.1 * ((i * 7 % 5) as f32 / 5.0) }
    });
    let mut opt = Sgd::new(0.1).momentum(0.9);
    let mut tape = Tape::new();
    let mut losses = Vec::new();
    for _ in 0..15 {
        tape.reset();
        let x = tape.input_from(&images);
        let logits = model.forward(&mut tape, x).unwrap();
        let loss =
            softmax_cross_entropy(&mut tape, logits, &labels, &CrossEntropyOptions::default())
                .unwrap();
        losses.push(tape.scalar(loss).unwrap());
        model.zero_grad();
        tape.backward(loss).unwrap();
        tape.accumulate_param_grads(&mut model.parameters_mut()).unwrap();
        opt.step(&mut model.parameters_mut()).unwrap();
    }
    assert!(losses[14] < 0.5 * losses[0], "loss went {losses:?}");
}

#[test]
fn the_doctor_names_the_non_finite_parameter_and_node() {
    let mut a = Parameter::new("features.0.weight", Tensor::zeros(&[2]));
    let mut b = Parameter::new("classifier.1.bias", Tensor::zeros(&[3]));
    assert!(autograd::doctor::check_parameters([&a, &b]).is_ok());
    b.grad.data_mut()[2] = f32::NAN;
    let err = autograd::doctor::check_parameters([&a, &b]).unwrap_err();
    assert_eq!(err.to_string(), "classifier.1.bias (grad): element 2 is NaN (not finite)");
    a.value.data_mut()[1] = f32::INFINITY;
    let mut tape = Tape::new();
    let x = tape.param(&a);
    let y = ops::relu(&mut tape, x).unwrap();
    let _ = ops::scale(&mut tape, y, 2.0).unwrap();
    let err = tape.check_finite().unwrap_err();
    assert_eq!(err.to_string(), "node 0 (parameter) value: element 1 is inf (not finite)");
}

#[test]
fn taking_parameter_gradients_overwrites_and_zeroes_the_unreached() {
    // loss = Σ 2·w + Σ 3·w (w recorded twice) ⇒ ∂loss/∂w = 5; u is not used ⇒ 0.
    let mut w = Parameter::new("w", Tensor::full(&[3], 1.0));
    let mut u = Parameter::new("u", Tensor::full(&[2], 1.0));
    u.grad.fill(7.0);
    let mut tape = Tape::new();
    for _ in 0..2 {
        tape.reset();
        let a = tape.param(&w);
        let b = tape.param(&w);
        let a = ops::scale(&mut tape, a, 2.0).unwrap();
        let b = ops::scale(&mut tape, b, 3.0).unwrap();
        let y = ops::add(&mut tape, a, b).unwrap();
        let loss = ops::sum(&mut tape, y).unwrap();
        tape.backward(loss).unwrap();
        tape.take_param_grads(&mut [&mut w, &mut u]).unwrap();
        // The same every step: overwritten, not accumulated.
        assert_eq!(w.grad.data(), &[5.0; 3]);
        assert_eq!(u.grad.data(), &[0.0; 2]);
    }
}

#[test]
fn micro_batches_take_the_first_gradient_and_accumulate_the_rest() {
    // loss_k = Σ k·w over micro-batches k = 1, 2, 3 ⇒ the summed gradient is 6 (and the
    // stale 9 from before is overwritten, not added to).
    let mut w = Parameter::new("w", Tensor::full(&[4], 1.0));
    w.grad.fill(9.0);
    let mut tape = Tape::new();
    for k in 1..=3 {
        tape.reset();
        let v = tape.param(&w);
        let y = ops::scale(&mut tape, v, k as f32).unwrap();
        let loss = ops::sum(&mut tape, y).unwrap();
        tape.backward(loss).unwrap();
        if k == 1 {
            tape.take_param_grads(&mut [&mut w]).unwrap();
        } else {
            tape.accumulate_param_grads(&mut [&mut w]).unwrap();
        }
    }
    assert_eq!(w.grad.data(), &[6.0; 4]);
}

#[test]
fn the_fused_check_gives_the_norm_and_names_the_same_culprit() {
    // Lengths around the 8-block groups of 4096: a full group, a partial one, a tiny tensor.
    let mut rng = tensor::Rng::new(5);
    let mut params: Vec<Parameter> = [8 * 4096 + 5000, 4096 * 8, 3]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let mut p = Parameter::new(format!("p{i}"), Tensor::full(&[len], 0.5));
            p.grad = Tensor::from_fn(&[len], |_| rng.uniform(-1.0, 1.0));
            p
        })
        .collect();
    let refs: Vec<&mut Parameter> = params.iter_mut().collect();
    let norm = autograd::doctor::checked_grad_norm(&refs).unwrap();
    assert_eq!(norm.to_bits(), autograd::schedule::grad_norm(&refs).to_bits());
    // The blocks one after the other, as the definition reads.
    let want: f64 = refs
        .iter()
        .map(|p| {
            let blocks = p.grad.data().chunks(4096);
            blocks.map(|b| b.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>()).sum::<f64>()
        })
        .sum::<f64>()
        .sqrt();
    assert_eq!(norm.to_bits(), want.to_bits());
    for (param, at, bad, what) in [
        (0, 36_000, f32::NAN, "grad"),
        (1, 7, f32::INFINITY, "value"),
        (2, 2, f32::NEG_INFINITY, "grad"),
    ] {
        let mut params = params.clone();
        let tensor = match what {
            "grad" => &mut params[param].grad,
            _ => &mut params[param].value,
        };
        tensor.data_mut()[at] = bad;
        let refs: Vec<&mut Parameter> = params.iter_mut().collect();
        let fused = autograd::doctor::checked_grad_norm(&refs).unwrap_err().to_string();
        let separate =
            autograd::doctor::check_parameters(refs.iter().map(|p| &**p)).unwrap_err().to_string();
        assert_eq!(fused, separate);
        assert!(fused.starts_with(&format!("p{param} ({what}): element {at}")), "{fused}");
    }
}

#[test]
fn a_reshape_hands_its_gradient_on_without_changing_it() {
    // y = reshape(x) feeds a scale, and x also feeds a scale directly: x's gradient is the sum
    // of both paths, whichever contribution arrives first; the reshape's own is handed on.
    let x0 = Tensor::from_fn(&[2, 3, 2, 2], |i| i as f32 - 7.0);
    let mut tape = Tape::new();
    for step in 0..3 {
        tape.reset();
        let x = tape.leaf(x0.clone());
        let flat = ops::flatten(&mut tape, x).unwrap();
        assert_eq!(tape.value(flat).unwrap().dims(), &[2, 12]);
        assert_eq!(tape.value(flat).unwrap().data(), x0.data());
        let a = ops::scale(&mut tape, flat, 2.0).unwrap();
        let a = ops::sum(&mut tape, a).unwrap();
        let loss = if step == 2 {
            let b = ops::scale(&mut tape, x, 3.0).unwrap();
            let b = ops::sum(&mut tape, b).unwrap();
            ops::add(&mut tape, a, b).unwrap()
        } else {
            a
        };
        tape.backward(loss).unwrap();
        let dx = tape.grad(x).unwrap().expect("x reaches the loss");
        assert_eq!(dx.dims(), x0.dims());
        let want = if step == 2 { 5.0 } else { 2.0 };
        assert!(dx.data().iter().all(|&g| g == want), "step {step}: {:?}", dx.data());
        assert!(tape.grad(flat).unwrap().is_none(), "the reshape's gradient was handed on");
    }
}
