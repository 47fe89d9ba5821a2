//! Checkpoints: exact round trips (model and optimiser, so resuming continues bit for bit),
//! PyTorch names, every mismatch reported, corrupt files rejected without panics.

mod common;

use autograd::io;
use autograd::nn::Module;
use autograd::optim::{Adam, Optimizer, Sgd};
use autograd::{AutogradError, Tape};
use common::{batch, state_bits, tiny_net, train_step};
use safetensors::tensor::{Dtype, TensorView};
use std::path::PathBuf;

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("autograd-io-{}-{name}.safetensors", std::process::id()))
}

#[test]
fn names_follow_pytorch() {
    let model = tiny_net(1, 8);
    let names: Vec<String> = model.parameters().iter().map(|p| p.name.clone()).collect();
    assert_eq!(
        names,
        [
            "features.0.weight",
            "features.0.bias",
            "features.1.weight",
            "features.1.bias",
            "classifier.1.weight",
            "classifier.1.bias"
        ]
    );
    let buffers: Vec<String> = model.buffers().iter().map(|b| b.name.clone()).collect();
    assert_eq!(buffers, ["features.1.running_mean", "features.1.running_var"]);
}

#[test]
fn save_then_load_resumes_bit_for_bit() {
    let hw = 8;
    let mut model = tiny_net(3, hw);
    let mut opt = Adam::new(1e-2).amsgrad();
    let mut tape = Tape::new();
    for step in 0..2 {
        let (x, y) = batch(step, 4, hw);
        train_step(&mut model, &mut opt, &mut tape, &x, &y).unwrap();
    }
    let path = temp_path("resume");
    io::save_atomic(&path, &model, Some(&opt)).unwrap();

    let mut restored = tiny_net(99, hw); // different initial weights
    let mut restored_opt = Adam::new(0.5).amsgrad();
    io::load(&path, &mut restored, Some(&mut restored_opt)).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(state_bits(&model) == state_bits(&restored));
    assert_eq!(restored_opt.lr(), 1e-2);

    // One more step on both: identical only if the moments and step count came back too.
    // (The dropout streams differ between the two models, so evaluate without dropout.)
    model.set_mode(autograd::nn::Mode::Eval);
    restored.set_mode(autograd::nn::Mode::Eval);
    let (x, y) = batch(7, 4, hw);
    train_step(&mut model, &mut opt, &mut tape, &x, &y).unwrap();
    train_step(&mut restored, &mut restored_opt, &mut Tape::new(), &x, &y).unwrap();
    assert!(state_bits(&model) == state_bits(&restored));
}

#[test]
fn loading_reports_every_mismatch_and_changes_nothing() {
    let bytes = io::to_bytes(&tiny_net(1, 8), None).unwrap();
    // Same layers but 12×12 input: the linear weight is [3, 288] instead of [3, 128].
    let mut other = tiny_net(2, 12);
    let before = state_bits(&other);
    let err = io::from_bytes(&bytes, "ckpt", &mut other, None).unwrap_err();
    let AutogradError::CheckpointMismatch { problems, .. } = &err else {
        panic!("expected a mismatch, got {err}");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("classifier.1.weight: shape [3, 128]"), "{err}");
    assert!(before == state_bits(&other), "a failed load must not change the model");

    // An optimiser state requested but absent, an unexpected tensor, a missing one, an f64.
    let w = vec![0u8; 8 * 3];
    let bad = safetensors::tensor::serialize(
        [
            ("features.0.weight", TensorView::new(Dtype::F64, vec![3], &w).unwrap()),
            ("extra", TensorView::new(Dtype::F64, vec![3], &w).unwrap()),
        ],
        &None,
    )
    .unwrap();
    let mut model = tiny_net(1, 8);
    let mut sgd = Sgd::new(0.1);
    let err = io::from_bytes(&bad, "bad.safetensors", &mut model, Some(&mut sgd)).unwrap_err();
    let text = err.to_string();
    for needle in [
        "features.0.weight: dtype F64",
        "features.0.bias: missing",
        "classifier.1.bias: missing",
        "features.1.running_var: missing",
        "extra: in the file but not in the model",
        "no optimizer state",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}

#[test]
fn corrupt_and_missing_files_are_errors_not_panics() {
    let bytes = io::to_bytes(&tiny_net(1, 8), None).unwrap();
    let mut model = tiny_net(1, 8);
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = io::from_bytes(&bytes[..cut], "cut", &mut model, None).unwrap_err();
        assert!(matches!(err, AutogradError::CorruptCheckpoint { .. }), "cut {cut}: {err}");
    }
    let mut garbage = bytes.clone();
    garbage[8..40].fill(b'#');
    assert!(matches!(
        io::from_bytes(&garbage, "garbage", &mut model, None),
        Err(AutogradError::CorruptCheckpoint { .. })
    ));
    let err = io::load(&temp_path("does-not-exist"), &mut model, None).unwrap_err();
    assert!(matches!(err, AutogradError::Io { .. }), "{err}");
}
