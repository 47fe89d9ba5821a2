//! conv2d forward and backward on the paper's layers (3×3, pad 1, batch 32) at 224×224 input
//! and at the 64×64 variant, on 2 threads, in GFLOP/s.
//!
//! Throughput is `Elements(flops)`, so criterion's "Gelem/s" reads as GFLOP/s:
//! forward `2·N·C_out·OH·OW·C_in·KH·KW`; backward with dx twice that (dW and dx are one GEMM of
//! the forward's size each); backward without dx (conv1, whose input is the image) once that.
//! These are the direct convolution's FLOPs whatever path runs: conv4 and conv5 (and every
//! layer with at least 64 input and output channels) take Winograd's F(2×2, 3×3) forward and
//! for dx, which does 16/36 of the multiply-adds, so their GFLOP/s can exceed the FMA peak.
//! PyTorch's figures count the same way.
//! The `_into` variants are timed, as the training loop uses them: outputs are reused, so no
//! page faults from fresh allocations are counted. A small layer also runs the reference loops
//! in the same group, for scale.
//!
//! Run: `cargo bench -p benches --bench conv2d` (target-cpu=native comes from .cargo/config.toml).
//!
//! With `CONV_BENCH_CLOCK=cpu` the forwards are timed by the pool's on-CPU time instead of the
//! wall clock: the nanoseconds its threads actually spent running
//! (`/proc/thread-self/schedstat`), summed and divided by the thread count. On a machine shared
//! with other jobs this leaves out the time a thread waited for a core (not their cache
//! pollution), so two builds compared in the same minutes differ by less noise.

use std::time::Duration;

use benches::{BATCH, ConvLayer, KERNEL, PAD, PAPER_LAYERS};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use tensor::ops::conv2d::{self, Conv2dGrads, Conv2dParams, InputGrad};
use tensor::{Rng, Tensor};

const THREADS: usize = 2;

/// Nanoseconds this thread has spent running on a CPU (first field of its schedstat).
fn on_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Whether the forwards are timed by the pool's on-CPU time (`CONV_BENCH_CLOCK=cpu`).
fn cpu_clock() -> bool {
    std::env::var("CONV_BENCH_CLOCK").is_ok_and(|v| v == "cpu") && on_cpu_ns().is_some()
}

/// On-CPU nanoseconds of all the pool's threads, summed.
fn pool_on_cpu_ns(pool: &rayon::ThreadPool) -> u64 {
    pool.broadcast(|_| on_cpu_ns().unwrap_or(0)).iter().sum()
}

/// Uniform values in [−1, 1).
fn random(dims: &[usize], rng: &mut Rng) -> Tensor {
    Tensor::from_fn(dims, |_| rng.uniform(-1.0, 1.0))
}

/// The layer's x, w, b and an upstream gradient dy, for `images` images.
fn operands(layer: &ConvLayer, images: usize) -> [Tensor; 4] {
    let mut rng = Rng::keyed(2024, &[layer.c_in as u64, layer.c_out as u64, layer.hw as u64]);
    let ConvLayer { c_in, c_out, hw, .. } = *layer;
    [
        random(&[images, c_in, hw, hw], &mut rng),
        random(&[c_out, c_in, KERNEL, KERNEL], &mut rng),
        random(&[c_out], &mut rng),
        random(&[images, c_out, hw, hw], &mut rng),
    ]
}

/// The paper's layers at 224×224 and the same layers for 64×64 input (every side × 64/224).
fn layers() -> Vec<(String, ConvLayer)> {
    let full = PAPER_LAYERS.iter().map(|l| (l.name.to_string(), *l));
    let small = PAPER_LAYERS.iter().map(|l| {
        let hw = l.hw * 64 / 224;
        let name = format!("{} @{hw} (64 input)", l.name.split(" @").next().unwrap_or(l.name));
        (name, ConvLayer { hw, ..*l })
    });
    full.chain(small).collect()
}

fn conv2d_layers(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(THREADS).build().expect("thread pool");
    let p = Conv2dParams { stride: 1, padding: PAD };

    let mut fwd = c.benchmark_group(format!("conv2d forward N={BATCH} threads={THREADS}"));
    fwd.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, layer) in layers() {
        let [x, w, b, _] = operands(&layer, BATCH);
        let mut y = Tensor::default();
        fwd.throughput(Throughput::Elements(layer.forward_flops(BATCH)));
        let mut forward = || {
            pool.install(|| conv2d::forward_into(black_box(&x), &w, Some(&b), p, &mut y))
                .expect("valid layer")
        };
        fwd.bench_function(BenchmarkId::new("im2col_gemm", &name), |bench| {
            if cpu_clock() {
                bench.iter_custom(|iters| {
                    let start = pool_on_cpu_ns(&pool);
                    (0..iters).for_each(|_| forward());
                    let spent = pool_on_cpu_ns(&pool).saturating_sub(start);
                    Duration::from_nanos(spent / THREADS as u64)
                })
            } else {
                bench.iter(&mut forward)
            }
        });
    }
    // The reference loops, on a layer small enough to finish, for scale.
    let tiny = ConvLayer { name: "16->16 @16", c_in: 16, c_out: 16, hw: 16 };
    let [x, w, b, _] = operands(&tiny, 2);
    let xs = tensor::Shape4::new(2, 16, 16, 16);
    let ws = tensor::Shape4::new(16, 16, KERNEL, KERNEL);
    fwd.throughput(Throughput::Elements(tiny.forward_flops(2)));
    fwd.bench_function(BenchmarkId::new("reference", "16->16 @16 N=2"), |bench| {
        bench.iter(|| {
            conv2d::reference::forward(black_box(x.data()), xs, w.data(), ws, Some(b.data()), p)
        })
    });
    let mut y = Tensor::default();
    fwd.bench_function(BenchmarkId::new("im2col_gemm", "16->16 @16 N=2"), |bench| {
        bench.iter(|| {
            pool.install(|| conv2d::forward_into(black_box(&x), &w, Some(&b), p, &mut y))
                .expect("valid layer")
        })
    });
    fwd.finish();

    let mut bwd = c.benchmark_group(format!("conv2d backward N={BATCH} threads={THREADS}"));
    bwd.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (i, (name, layer)) in layers().into_iter().enumerate() {
        let [x, w, _, dy] = operands(&layer, BATCH);
        let mut grads = Conv2dGrads::default();
        let mut run = |label: &str, input_grad: InputGrad, flops: u64| {
            bwd.throughput(Throughput::Elements(flops));
            bwd.bench_function(BenchmarkId::new(label, &name), |bench| {
                bench.iter(|| {
                    pool.install(|| {
                        conv2d::backward_into(black_box(&x), &w, &dy, p, input_grad, &mut grads)
                    })
                    .expect("valid layer")
                })
            });
        };
        run(
            "im2col_gemm dx+dw+db (2x fwd flops)",
            InputGrad::Compute,
            2 * layer.forward_flops(BATCH),
        );
        // The first layer of each network (its input is the image) skips dx in training.
        if i % PAPER_LAYERS.len() == 0 {
            run("im2col_gemm dw+db (1x fwd flops)", InputGrad::Skip, layer.forward_flops(BATCH));
        }
    }
    bwd.finish();
}

criterion_group!(benches, conv2d_layers);
criterion_main!(benches);
