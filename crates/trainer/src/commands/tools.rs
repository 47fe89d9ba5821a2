//! The learner's and maintainer's tools: `gradcheck`, `augment-preview`, `expand`, `bench`.

use std::time::Instant;

use autograd::Tape;
use autograd::gradcheck::{GradcheckOptions, check_every_op, gradcheck_module};
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{Mode, Module};
use autograd::optim::{Optimizer, Sgd};
use tensor::{Rng, Tensor};

use crate::cli::{BenchArgs, ExpandArgs, GradcheckArgs, PreviewArgs};
use crate::config::{Architecture, InitScheme};
use crate::exit::Failure;
use crate::model::{Network, NetworkSpec};
use crate::{data, run_dir};

/// `trainer gradcheck`: every tape op, then every parameter of the networks.
///
/// # Errors
/// An op rejecting its inputs (a bug), or a worst error above `--tolerance` ([`Failure::Training`]).
pub fn gradcheck(args: &GradcheckArgs) -> anyhow::Result<()> {
    println!(
        "gradient check: tape gradient vs central finite differences (f32, best of h = 1e-2, 3e-3, 1e-3)"
    );
    println!("relative error = |analytic − numeric| / max(|analytic|, |numeric|, 1e-2)\n");
    println!(
        "{:<34} {:>8} {:>14} {:>14} {:>12}",
        "op / parameter", "checked", "analytic", "numeric", "worst error"
    );
    let mut worst = 0.0f64;
    for check in check_every_op(args.seed)? {
        for input in &check.report.inputs {
            let name = format!("{} ({})", check.op, input.name);
            println!(
                "{name:<34} {:>8} {:>14.6e} {:>14.6e} {:>12.2e}",
                input.checked, input.analytic, input.numeric, input.worst_relative_error
            );
            worst = worst.max(input.worst_relative_error);
        }
    }
    // A whole network's f32 loss carries rounding noise of ~1e-4 in its differences, so the
    // network rows measure errors below a gradient of 0.1 absolutely (floor 0.1, not 1e-2).
    let opts =
        GradcheckOptions { max_elements: args.elements, floor: 0.1, ..GradcheckOptions::default() };
    let mut rng = Rng::new(args.seed);
    for architecture in
        [Architecture::Paper, Architecture::GapBn, Architecture::WideBn, Architecture::StemBn]
    {
        // The smallest input whose last feature map is 2×2: at 1×1 every 3×3 kernel's border
        // taps meet only padding, and their gradients would be checked as exact zeros.
        let side = 2usize << architecture.pools();
        let x = Tensor::from_fn(&[2, 3, side, side], |_| rng.uniform(0.0, 1.0));
        let spec = NetworkSpec {
            architecture,
            init: InitScheme::KaimingNormal,
            image_size: side,
            classes: 3,
            dropout: 0.0,
            seed: args.seed,
        };
        let mut net = Network::new(&spec);
        // Batch statistics would change with every probe; running statistics are constants.
        net.set_mode(Mode::Eval);
        println!(
            "\nnetwork {} at {side}×{side}, batch 2, loss = cross-entropy (floor 0.1):",
            architecture.name()
        );
        let report = gradcheck_module(&mut net, &x, &[0, 2], &opts)?;
        for input in &report.inputs {
            println!(
                "{:<34} {:>8} {:>14.6e} {:>14.6e} {:>12.2e}",
                input.name,
                input.checked,
                input.analytic,
                input.numeric,
                input.worst_relative_error
            );
        }
        worst = worst.max(report.worst());
    }
    println!("\nworst relative error overall: {worst:.2e} (tolerance {:.0e})", args.tolerance);
    if worst > args.tolerance {
        return Err(Failure::Training(format!(
            "gradient check failed: worst relative error {worst:.2e} > --tolerance {:.0e}",
            args.tolerance
        ))
        .into());
    }
    Ok(())
}

/// `trainer augment-preview`: one image under N samples of a preset, as a grid PNG.
///
/// # Errors
/// An unreadable image ([`Failure::BadInput`]) or an unwritable output file.
pub fn augment_preview(args: &PreviewArgs) -> anyhow::Result<()> {
    // As training holds it: a centre square at the preset's working size.
    let img = data::load_image(&args.image, args.size, args.preset)?;
    let pipeline = data::train_pipeline(args.preset, args.size)?;
    let grid = augment::preview_grid(&img, &pipeline, args.n, args.seed)?;
    crate::atomic::write_with(&args.out, |tmp| {
        grid.save_with_format(tmp, image::ImageFormat::Png)
    })?;
    println!(
        "wrote {} ({} samples of the {:?} preset at {}×{})",
        args.out.display(),
        args.n,
        args.preset,
        args.size,
        args.size
    );
    Ok(())
}

/// `trainer expand`: the paper's offline expansion of the training split.
///
/// # Errors
/// Bad data ([`Failure::BadInput`]), or an output folder that exists and is not empty.
pub fn expand(args: &ExpandArgs) -> anyhow::Result<()> {
    let folder = run_dir::resolve_data_dir(&args.data);
    let ds = data::load_folder(&folder, args.size, args.preset)?;
    let split = data::split(&ds)?;
    let pipeline = data::train_pipeline(args.preset, args.size)?;
    let written = augment::expand(&ds, &split.train, args.copies, &pipeline, args.seed, &args.out)
        .map_err(|e| Failure::Usage(format!("--out {}: {e}", args.out.display())))?;
    println!(
        "wrote {written} images ({} training originals + {} augmented copies each) and manifest.csv to {}",
        split.train.len(),
        args.copies,
        args.out.display()
    );
    Ok(())
}

/// `trainer bench`: training throughput of a network on random images, with the time per op.
///
/// # Errors
/// A size the network rejects.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let spec = NetworkSpec {
        architecture: args.arch,
        init: InitScheme::PytorchDefault,
        image_size: args.size,
        classes: 3,
        dropout: 0.0,
        seed: 0,
    };
    let multiple = 1usize << args.arch.pools();
    if args.size < multiple || !args.size.is_multiple_of(multiple) {
        return Err(Failure::Usage(format!(
            "--size {}: must be a positive multiple of {multiple} for --arch {}",
            args.size,
            args.arch.name()
        ))
        .into());
    }
    let mut net = Network::new(&spec);
    // Like PyTorch's reference step (`pytorch_reference.py`): SGD, lr 0.01, momentum 0.9.
    let mut opt = Sgd::new(0.01).momentum(0.9);
    let mut rng = Rng::new(1);
    let x = Tensor::from_fn(&[args.batch, 3, args.size, args.size], |_| rng.uniform(0.0, 1.0));
    let targets: Vec<usize> = (0..args.batch).map(|i| i % 3).collect();
    let mut tape = Tape::new();
    let ce = CrossEntropyOptions { class_weights: None, label_smoothing: 0.0 };
    let mut step = |tape: &mut Tape, net: &mut Network| -> anyhow::Result<()> {
        tape.reset();
        let xv = tape.input_from(&x);
        let logits = net.forward(tape, xv)?;
        let loss = softmax_cross_entropy(tape, logits, &targets, &ce)?;
        tape.backward(loss)?;
        let mut params = net.parameters_mut();
        tape.take_param_grads(&mut params)?;
        opt.step(&mut params)?;
        Ok(())
    };
    // Warm-up: the first steps size the tape's buffers and the optimizer's state.
    for _ in 0..args.warmup {
        step(&mut tape, &mut net)?;
    }
    tape.start_profiling();
    let started = Instant::now();
    for _ in 0..args.steps {
        step(&mut tape, &mut net)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let images = (args.batch * args.steps) as f64;
    println!(
        "{:?} network, {}×{} images, batch {}, {} threads: {} steps in {:.2} s = {:.1} img/s",
        args.arch,
        args.size,
        args.size,
        args.batch,
        rayon::current_num_threads(),
        args.steps,
        seconds,
        images / seconds
    );
    if let Some(profile) = tape.profile() {
        let per_step = |d: std::time::Duration| 1e3 * d.as_secs_f64() / args.steps as f64;
        let total = profile.total().as_secs_f64();
        println!("\ntime per step by op (all layers of a kind summed), ms:");
        println!("{:<24} {:>6} {:>10} {:>10} {:>8}", "op", "calls", "forward", "backward", "share");
        for op in &profile.ops {
            println!(
                "{:<24} {:>6} {:>10.2} {:>10.2} {:>7.1} %",
                op.op,
                op.calls / args.steps as u64,
                per_step(op.forward),
                per_step(op.backward),
                100.0 * (op.forward + op.backward).as_secs_f64() / total.max(1e-12)
            );
        }
        println!(
            "tape ops {:.1} ms of {:.1} ms per step ({:.1} %); the rest is gradients to parameters and the optimizer",
            1e3 * total / args.steps as f64,
            1e3 * seconds / args.steps as f64,
            100.0 * total / seconds
        );
    }
    Ok(())
}
