//! `trainer profile`: where the time of a training step goes, layer by layer. Runs a few steps
//! of a preset's network and optimiser on random images (the time of a step does not depend on
//! the pixel values) with the tape's profiling on, and prints `autograd::inspect::layer_profile`
//! as a table.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use autograd::Tape;
use autograd::inspect::{LayerProfile, layer_profile};
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::Module;
use autograd::schedule::clip_factor;
use clap::Args;
use tensor::{Rng, Tensor};

use super::set_threads;
use crate::config::{Architecture, Preset, TrainConfig};
use crate::doctor::GradientFlow;
use crate::exit::Failure;
use crate::model::Network;
use crate::train;

/// Classes of the profiled network (the shipped data set has three).
const CLASSES: usize = 3;

/// Options of `trainer profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Network, optimiser, image size and batch size of this preset.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    /// Override the preset's architecture.
    #[arg(long, value_enum)]
    pub arch: Option<Architecture>,
    /// Override the preset's image size S (images are S×S).
    #[arg(long, value_name = "S")]
    pub image_size: Option<usize>,
    /// Override the preset's batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Profiled steps (after two unprofiled warm-up steps).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Where one step's time went outside the tape: the same calls, in the same order, as the
/// training loop's step (`train.rs`).
#[derive(Default, Clone, Copy)]
struct Outside {
    /// `take_param_grads`: the tape's gradient buffers swapped into the parameters.
    handover: Duration,
    /// `doctor::checked_grad_norm`: the NaN/Inf check of values and gradients, and ‖g‖.
    check: Duration,
    /// The gradient-flow record (which parameters got a non-zero gradient).
    flow: Duration,
    /// The optimiser update, with the clipping factor applied inside it.
    optimizer: Duration,
}

/// `trainer profile`.
///
/// # Errors
/// Bad sizes or thread counts, or a kernel error.
pub fn profile(args: &ProfileArgs) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    let mut config = TrainConfig::preset(args.preset, PathBuf::new());
    config.architecture = args.arch.unwrap_or(config.architecture);
    config.image_size = args.image_size.unwrap_or(config.image_size);
    config.batch_size = args.batch_size.unwrap_or(config.batch_size);
    if config.image_size < 8 || config.batch_size == 0 || args.steps == 0 {
        return Err(
            Failure::Usage("--image-size ≥ 8, --batch-size ≥ 1 and --steps ≥ 1".into()).into()
        );
    }
    let (s, n) = (config.image_size, config.batch_size);
    let mut net = Network::new(&train::network_spec(&config, CLASSES));
    let mut opt = train::optimizer(&config);
    let mut rng = Rng::keyed(config.seed, &[0x9F0F]);
    let images = Tensor::from_fn(&[n, 3, s, s], |_| rng.uniform(0.0, 1.0));
    let targets: Vec<usize> = (0..n).map(|i| i % CLASSES).collect();
    let options =
        CrossEntropyOptions { class_weights: None, label_smoothing: config.label_smoothing };
    let mut tape = Tape::new();

    let mut outside = Outside::default();
    let mut flow = GradientFlow::default();
    let mut run_step = |tape: &mut Tape, outside: &mut Outside, step: u64| -> anyhow::Result<()> {
        net.set_step(step);
        tape.reset();
        let x = tape.input_from(&images);
        let logits = net.forward(tape, x)?;
        let loss = softmax_cross_entropy(tape, logits, &targets, &options)?;
        tape.backward(loss)?;
        let start = Instant::now();
        let mut params = net.parameters_mut();
        tape.take_param_grads(&mut params)?;
        let handed = Instant::now();
        let norm = autograd::doctor::checked_grad_norm(&params)?;
        let checked = Instant::now();
        flow.record(&params);
        let recorded = Instant::now();
        let grad_scale = match config.grad_clip {
            Some(max_norm) => clip_factor(norm, max_norm)?,
            None => 1.0,
        };
        opt.step_scaled(&mut params, grad_scale)?;
        outside.handover += handed - start;
        outside.check += checked - handed;
        outside.flow += recorded - checked;
        outside.optimizer += recorded.elapsed();
        Ok(())
    };
    // Warm-up: buffers allocated, caches filled. Two steps, because `take_param_grads` swaps each
    // parameter's gradient buffer into the tape: the second step is the first to write those
    // (freshly zero-mapped) pages, which costs page faults (~35 ms for FC1's 103 MB at 224²).
    for step in 0..2 {
        run_step(&mut tape, &mut Outside::default(), step)?;
    }
    tape.start_profiling();
    let started = Instant::now();
    for step in 2..2 + args.steps as u64 {
        run_step(&mut tape, &mut outside, step)?;
    }
    let wall = started.elapsed();
    let layers =
        layer_profile(&tape).ok_or_else(|| anyhow::anyhow!("the tape was not profiling"))?;
    print_table(args, &config, &layers, &outside, wall);
    Ok(())
}

fn ms(d: Duration, steps: usize) -> f64 {
    d.as_secs_f64() * 1e3 / steps as f64
}

fn gflops(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |g| format!("{g:.1}"))
}

fn print_table(
    args: &ProfileArgs,
    config: &TrainConfig,
    layers: &[LayerProfile],
    outside: &Outside,
    wall: Duration,
) {
    let steps = args.steps;
    let share = |d: Duration| 100.0 * d.as_secs_f64() / wall.as_secs_f64();
    let threads = rayon::current_num_threads();
    println!(
        "one training step of {:?} ({:?}), {s}×{s} images, batch {}, {threads} thread(s): mean over {steps} steps after two warm-up steps\n",
        config.preset,
        config.architecture,
        config.batch_size,
        s = config.image_size,
    );
    println!(
        "{:>4}  {:<20} {:<18} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "node", "op", "output", "fwd ms", "bwd ms", "fwd GF/s", "bwd GF/s", "share"
    );
    // Parameter copies are many tiny nodes: one line for all of them.
    let (params, shown): (Vec<&LayerProfile>, Vec<&LayerProfile>) =
        layers.iter().partition(|l| l.op == "parameter");
    for l in shown {
        println!(
            "{:>4}  {:<20} {:<18} {:>9.3} {:>9.3} {:>9} {:>9} {:>6.1}%",
            l.node,
            l.op,
            format!("{:?}", l.output),
            ms(l.forward, steps),
            ms(l.backward, steps),
            gflops(l.forward_gflops()),
            gflops(l.backward_gflops()),
            share(l.total()),
        );
    }
    let param_time: Duration = params.iter().map(|l| l.total()).sum();
    println!(
        "{:>4}  {:<39} {:>9.3} {:>9} {:>9} {:>9} {:>6.1}%",
        "",
        format!("parameter copies onto the tape ({})", params.len()),
        ms(param_time, steps),
        "",
        "",
        "",
        share(param_time)
    );
    let tape: Duration = layers.iter().map(LayerProfile::total).sum();
    let Outside { handover, check, flow, optimizer } = *outside;
    let rest = wall.saturating_sub(tape + handover + check + flow + optimizer);
    println!();
    for (what, d) in [
        ("all tape ops (rows above)", tape),
        ("gradients to parameters (buffer swap)", handover),
        ("NaN/Inf check of values and gradients, ‖g‖", check),
        ("gradient-flow record", flow),
        ("optimizer step (clipping factor inside)", optimizer),
        ("everything else (tape bookkeeping, loop)", rest),
    ] {
        println!("      {what:<46} {:>9.3} ms {:>6.1}%", ms(d, steps), share(d));
    }
    let step = wall.as_secs_f64() / steps as f64;
    let convs: Duration =
        layers.iter().filter(|l| l.op.starts_with("conv2d")).map(LayerProfile::total).sum();
    println!(
        "      {:<46} {:>9.3} ms  100.0%   ({:.0} img/s; conv2d alone {:.1}%)",
        "measured step",
        step * 1e3,
        config.batch_size as f64 / step,
        share(convs)
    );
}
