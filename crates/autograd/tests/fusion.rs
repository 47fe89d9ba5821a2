//! `Conv2d, ReLU` in a `Sequential` records one fused `conv2d_relu` node, and `Conv2d, ReLU,
//! MaxPool2d` one `conv2d_relu_pool` node (under the default `Fusion::On`), and must mean
//! exactly what the layers mean: the same logits, loss and parameter gradients, bit for bit, as
//! the unfused graph (`Fusion::Off`).

use autograd::init::Init;
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{Conv2d, Conv2dParams, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
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
