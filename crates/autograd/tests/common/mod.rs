//! A small network and a training step shared by the integration tests.

use autograd::init::Init;
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{
    BatchNorm2d, Conv2d, Conv2dParams, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU,
    Sequential,
};
use autograd::optim::Optimizer;
use autograd::{Result, Tape};
use tensor::{Rng, Tensor};

/// `features` (conv → batch norm → relu → pool → dropout) and `classifier` (flatten → linear),
/// named like the PyTorch `nn.Sequential` equivalent: `features.0.weight`, `classifier.1.bias`.
pub fn tiny_net(seed: u64, hw: usize) -> Sequential {
    let mut rng = Rng::new(seed);
    let same = Conv2dParams { stride: 1, padding: 1 };
    let features = Sequential::new(vec![
        Box::new(Conv2d::new(3, 8, 3, same, Init::KaimingNormal, &mut rng)),
        Box::new(BatchNorm2d::new(8)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Dropout::new(0.25, Rng::keyed(seed, &[1])).expect("0.25 is a valid p")),
    ]);
    let classifier = Sequential::new(vec![
        Box::new(Flatten),
        Box::new(Linear::new(8 * (hw / 2) * (hw / 2), 3, Init::PytorchDefault, &mut rng)),
    ]);
    Sequential::named(vec![
        ("features".into(), Box::new(features)),
        ("classifier".into(), Box::new(classifier)),
    ])
}

/// A batch of `n` random images [n, 3, hw, hw] and labels, from `seed`.
pub fn batch(seed: u64, n: usize, hw: usize) -> (Tensor, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let images = Tensor::from_fn(&[n, 3, hw, hw], |_| rng.uniform(0.0, 1.0));
    let labels = (0..n).map(|_| rng.below(3)).collect();
    (images, labels)
}

/// One training step; returns the loss.
pub fn train_step(
    model: &mut Sequential,
    opt: &mut dyn Optimizer,
    tape: &mut Tape,
    images: &Tensor,
    labels: &[usize],
) -> Result<f32> {
    tape.reset();
    let x = tape.input_from(images);
    let logits = model.forward(tape, x)?;
    let loss = softmax_cross_entropy(tape, logits, labels, &CrossEntropyOptions::default())?;
    model.zero_grad();
    tape.backward(loss)?;
    tape.accumulate_param_grads(&mut model.parameters_mut())?;
    opt.step(&mut model.parameters_mut())?;
    tape.scalar(loss)
}

/// Every parameter and buffer value as raw bits, in model order.
pub fn state_bits(model: &Sequential) -> Vec<Vec<u32>> {
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    model
        .parameters()
        .iter()
        .map(|p| bits(&p.value))
        .chain(model.buffers().iter().map(|b| bits(&b.value)))
        .collect()
}
