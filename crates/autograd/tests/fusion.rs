//! `Conv2d, ReLU` in a `Sequential` records one fused `conv2d_relu` node, and `Conv2d, ReLU,
//! MaxPool2d` one `conv2d_relu_pool` node (under the default `Fusion::On`), and must mean
//! exactly what the layers mean: the same logits, loss and parameter gradients, bit for bit, as
//! the unfused graph (`Fusion::Off`). Under `Fusion::Inference` an evaluation-mode batch norm
//! is folded into the convolution before it: the same logits and input gradient up to rounding.

use autograd::init::Init;
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{
    BatchNorm2d, Conv2d, Conv2dParams, Flatten, Linear, MaxPool2d, Mode, Module, ReLU, Sequential,
};
use autograd::{Fusion, Tape};
use tensor::{Rng, Tensor};

/// conv 3→4 (bias) → relu → 2×2 max-pool → conv 4→5 (no bias) → relu → flatten → linear → relu
/// → linear, on 7×7 images (odd: the pool drops a row and a column), with stride-2 second conv
/// so both kernel paths (implicit and im2col) are fused.
fn model() -> Sequential {
    let mut rng = Rng::new(11);
    let same = Conv2dParams { stride: 1, padding: 1 };
    let strided = Conv2dParams { stride: 2, padding: 1 };
    Sequential::new(vec![
        Box::new(Conv2d::new(3, 4, 3, same, Init::KaimingNormal, &mut rng)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Conv2d::new(4, 5, 3, strided, Init::KaimingNormal, &mut rng).without_bias()),
        Box::new(ReLU),
        Box::new(Flatten),
        Box::new(Linear::new(5 * 2 * 2, 6, Init::PytorchDefault, &mut rng)),
        Box::new(ReLU),
        Box::new(Linear::new(6, 3, Init::PytorchDefault, &mut rng)),
    ])
}

/// Bits of every float, so that equality means bit-identical.
fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

/// (nodes recorded, logits, loss, every parameter gradient) of one step under `fusion`.
fn step(fusion: Fusion) -> (usize, Vec<u32>, u32, Vec<Vec<u32>>) {
    let mut model = model();
    let mut rng = Rng::new(5);
    let images = Tensor::from_fn(&[3, 3, 7, 7], |_| rng.uniform(-1.0, 1.0));
    let mut tape = Tape::new();
    tape.set_fusion(fusion);
    let x = tape.input_from(&images);
    let logits = model.forward(&mut tape, x).expect("shapes fit");
    let opts = CrossEntropyOptions::default();
    let loss = softmax_cross_entropy(&mut tape, logits, &[0, 2, 1], &opts).expect("valid");
    let nodes = tape.len();
    tape.backward(loss).expect("scalar loss");
    tape.take_param_grads(&mut model.parameters_mut()).expect("same shapes");
    let logits = bits(tape.value(logits).expect("on the tape"));
    let loss = tape.scalar(loss).expect("scalar").to_bits();
    (nodes, logits, loss, model.parameters().iter().map(|p| bits(&p.grad)).collect())
}

#[test]
fn conv2d_then_relu_means_the_same_fused_or_not() {
    let (fused_nodes, fused_logits, fused_loss, fused_grads) = step(Fusion::On);
    let (nodes, logits, loss, grads) = step(Fusion::Off);
    // conv, relu, pool → one node; conv, relu → one node; the linear layer's ReLU stays.
    assert_eq!(fused_nodes + 3, nodes);
    assert_eq!(fused_logits, logits);
    assert_eq!(fused_loss, loss);
    assert_eq!(fused_grads.len(), 7);
    for (i, (fused, plain)) in fused_grads.iter().zip(&grads).enumerate() {
        assert_eq!(fused, plain, "gradient of parameter {i}");
        assert!(fused.iter().any(|&b| b != 0), "parameter {i} gets a gradient");
    }
}

/// conv 3→4 (no bias) → batch norm → relu → 2×2 max-pool → conv 4→5 (bias) → batch norm →
/// relu → conv 5→2 (no bias) → batch norm → flatten → linear: every pattern the inference
/// folding takes (with and without a bias, with a pool, with a ReLU only, and alone).
fn normalised_model() -> Sequential {
    let mut rng = Rng::new(3);
    let same = Conv2dParams { stride: 1, padding: 1 };
    Sequential::new(vec![
        Box::new(Conv2d::new(3, 4, 3, same, Init::KaimingNormal, &mut rng).without_bias()),
        Box::new(BatchNorm2d::new(4)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Conv2d::new(4, 5, 3, same, Init::KaimingNormal, &mut rng)),
        Box::new(BatchNorm2d::new(5)),
        Box::new(ReLU),
        Box::new(Conv2d::new(5, 2, 3, same, Init::KaimingNormal, &mut rng).without_bias()),
        Box::new(BatchNorm2d::new(2)),
        Box::new(Flatten),
        Box::new(Linear::new(2 * 3 * 3, 3, Init::PytorchDefault, &mut rng)),
    ])
}

/// (nodes, logits, d loss / d images) of one forward and backward of `model` under `fusion`.
fn inference(model: &mut Sequential, images: &Tensor, fusion: Fusion) -> (usize, Tensor, Tensor) {
    let mut tape = Tape::new();
    tape.set_fusion(fusion);
    let x = tape.leaf(images.clone());
    let logits = model.forward(&mut tape, x).expect("shapes fit");
    let opts = CrossEntropyOptions::default();
    let loss = softmax_cross_entropy(&mut tape, logits, &[0, 2, 1], &opts).expect("valid");
    let nodes = tape.len();
    tape.backward(loss).expect("scalar loss");
    let logits = tape.value(logits).expect("on the tape").clone();
    let dx = tape.grad(x).expect("on the tape").expect("a leaf gets a gradient").clone();
    (nodes, logits, dx)
}

#[test]
fn inference_folds_evaluation_batch_norm_into_the_convolution() {
    let mut model = normalised_model();
    let mut rng = Rng::new(8);
    // Give the norms statistics and parameters far from the identity: a few training forwards
    // move the running averages, and γ, β are drawn at random.
    for _ in 0..3 {
        let batch = Tensor::from_fn(&[4, 3, 7, 7], |_| rng.uniform(-1.0, 2.0));
        let mut tape = Tape::new();
        let x = tape.input_from(&batch);
        model.forward(&mut tape, x).expect("shapes fit");
    }
    for p in model.parameters_mut() {
        if p.value.dims().len() == 1 {
            p.value.data_mut().iter_mut().for_each(|v| *v = rng.uniform(-1.5, 1.5));
        }
    }
    let images = Tensor::from_fn(&[3, 3, 7, 7], |_| rng.uniform(-1.0, 1.0));

    // In training mode the norm uses each batch's statistics: nothing may be folded.
    let (train_nodes, train_logits, _) = inference(&mut model, &images, Fusion::Inference);
    let (on_nodes, on_logits, _) = inference(&mut model, &images, Fusion::On);
    assert_eq!(train_nodes, on_nodes);
    assert_eq!(bits(&train_logits), bits(&on_logits));

    model.set_mode(Mode::Eval);
    let (folded_nodes, folded_logits, folded_dx) =
        inference(&mut model, &images, Fusion::Inference);
    let (nodes, logits, dx) = inference(&mut model, &images, Fusion::Off);
    // Unfolded, each of the three blocks records its weight (and bias), γ, β and the norm
    // (plus the ReLU and the pool); folded, it records the two constants and one convolution.
    assert_eq!(folded_nodes + 4 + 4 + 2, nodes);
    let close = |a: &Tensor, b: &Tensor, what: &str| {
        let scale = b.data().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (i, (x, y)) in a.data().iter().zip(b.data()).enumerate() {
            assert!((x - y).abs() <= 1e-5 * scale, "{what}[{i}]: {x} folded, {y} by the layers");
        }
    };
    close(&folded_logits, &logits, "logits");
    assert!(logits.data().iter().any(|v| v.abs() > 0.1), "logits far from zero");
    close(&folded_dx, &dx, "d loss / d images");
    assert!(dx.data().iter().any(|&v| v != 0.0), "the input gets a gradient");
}
