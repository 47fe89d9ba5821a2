//! One training step of the paper's network (five 3×3 convs with ReLU, 2×2 max-pools after
//! conv 1, 2 and 5, FC 128·(S/8)²→256→64→3; SGD with momentum) on 2 rayon threads, in img/s,
//! plus where the time goes: each op's forward and backward on the tape, the copies of
//! parameters onto the tape, the gradient hand-back and the optimiser.
//!
//! `TRAIN_STEP_SIZE` (default 224) and `TRAIN_STEP_BATCH` (default 32) choose the input;
//! `RUSTFLAGS="-C target-cpu=native"` comes from `.cargo/config.toml`.
//!
//! ```text
//! cargo bench -p benches --bench train_step
//! TRAIN_STEP_SIZE=64 TRAIN_STEP_BATCH=64 cargo bench -p benches --bench train_step
//! ```

use autograd::init::Init;
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{Conv2d, Conv2dParams, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use autograd::optim::{Optimizer, Sgd};
use autograd::{Profile, Tape};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tensor::{Rng, Tensor};

const THREADS: usize = 2;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The paper's network at `size`×`size` input, PyTorch-default initialisation.
fn paper_net(size: usize, rng: &mut Rng) -> Sequential {
    let same = Conv2dParams { stride: 1, padding: 1 };
    let init = Init::PytorchDefault;
    let flat = 128 * (size / 8) * (size / 8);
    Sequential::new(vec![
        Box::new(Conv2d::new(3, 16, 3, same, init, rng)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Conv2d::new(16, 32, 3, same, init, rng)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Conv2d::new(32, 64, 3, same, init, rng)),
        Box::new(ReLU),
        Box::new(Conv2d::new(64, 64, 3, same, init, rng)),
        Box::new(ReLU),
        Box::new(Conv2d::new(64, 128, 3, same, init, rng)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Flatten),
        Box::new(Linear::new(flat, 256, init, rng)),
        Box::new(ReLU),
        Box::new(Linear::new(256, 64, init, rng)),
        Box::new(ReLU),
        Box::new(Linear::new(64, 3, init, rng)),
    ])
}

/// Everything a step needs, kept between steps so buffers are reused.
struct Trainer {
    model: Sequential,
    opt: Sgd,
    tape: Tape,
    images: Tensor,
    labels: Vec<usize>,
    /// Time outside the tape: gradient hand-back and optimiser step.
    outside: Duration,
}

impl Trainer {
    fn new(size: usize, batch: usize) -> Self {
        let mut rng = Rng::new(1);
        let model = paper_net(size, &mut rng);
        let images = Tensor::from_fn(&[batch, 3, size, size], |_| rng.next_f32());
        let labels = (0..batch).map(|_| rng.below(3)).collect();
        let opt = Sgd::new(1e-3).momentum(0.9);
        Self { model, opt, tape: Tape::new(), images, labels, outside: Duration::ZERO }
    }

    fn step(&mut self) -> f32 {
        let tape = &mut self.tape;
        tape.reset();
        let x = tape.input_from(&self.images);
        let logits = self.model.forward(tape, x).expect("the paper net fits its input");
        let opts = CrossEntropyOptions::default();
        let loss = softmax_cross_entropy(tape, logits, &self.labels, &opts).expect("valid labels");
        tape.backward(loss).expect("scalar loss");
        let start = Instant::now();
        // Swaps the gradient buffers into the parameters: no zero_grad, no copy.
        tape.take_param_grads(&mut self.model.parameters_mut()).expect("same shapes");
        self.opt.step(&mut self.model.parameters_mut()).expect("valid optimiser");
        self.outside += start.elapsed();
        tape.scalar(loss).expect("scalar loss")
    }
}

/// Prints img/s and the time split of `steps` profiled steps.
fn report(size: usize, batch: usize, steps: usize) {
    let mut t = Trainer::new(size, batch);
    for _ in 0..2 {
        t.step(); // warm-up: buffers reach their steady-state sizes
    }
    t.tape.start_profiling();
    t.outside = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..steps {
        t.step();
    }
    let wall = start.elapsed();
    let profile: Profile = t.tape.profile().cloned().unwrap_or_default();
    let per_step = |d: Duration| d.as_secs_f64() * 1e3 / steps as f64;
    println!(
        "\ntrain_step {size}x{size}, batch {batch}, {THREADS} threads: {:.1} img/s ({:.1} ms/step)",
        (batch * steps) as f64 / wall.as_secs_f64(),
        per_step(wall)
    );
    println!("{:<24}{:>8}{:>14}{:>14}", "op", "calls", "forward ms", "backward ms");
    let mut kernels = Duration::ZERO;
    for e in &profile.ops {
        println!(
            "{:<24}{:>8}{:>14.2}{:>14.2}",
            e.op,
            e.calls / steps as u64,
            per_step(e.forward),
            per_step(e.backward)
        );
        if !matches!(e.op, "input" | "parameter" | "leaf") {
            kernels += e.forward + e.backward;
        }
    }
    println!("{:<24}{:>8}{:>14.2}", "grads+sgd", "", per_step(t.outside));
    let untracked = wall.saturating_sub(profile.total() + t.outside);
    println!("{:<24}{:>8}{:>14.2}", "untracked", "", per_step(untracked));
    println!(
        "share of the step inside tensor-kernel ops: {:.1} %\n",
        100.0 * kernels.as_secs_f64() / wall.as_secs_f64()
    );
}

fn train_step(c: &mut Criterion) {
    let size = env_or("TRAIN_STEP_SIZE", 224);
    let batch = env_or("TRAIN_STEP_BATCH", 32);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("a 2-thread pool can be built");
    pool.install(|| report(size, batch, 3));
    let mut t = pool.install(|| {
        let mut t = Trainer::new(size, batch);
        t.step();
        t
    });
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch as u64)); // elements/s = images/s
    g.bench_function(format!("paper_net {size}x{size} N={batch} {THREADS} threads"), |b| {
        b.iter(|| pool.install(|| t.step()))
    });
    g.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
