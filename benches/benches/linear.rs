//! The fully connected layer of the paper's network (`linear::forward` / `backward`) at the
//! shapes training runs it, on one and two threads, plus the backward's two GEMMs on their own
//! so the profile of each can be read off:
//!
//! - forward `y = x·Wᵀ`: x [N, in], W [out, in] → [N, out] (m = N, n = out, k = in);
//! - `dx = dY·W`: [N, out]·[out, in] (m = N, n = in, k = out);
//! - `dW = dYᵀ·x`: [out, N]·[N, in] (m = out, n = in, k = N: a short sum).
//!
//! Shapes: FC1 after the 64² network's last pool (x [64, 128·8·8 = 8192], W [256, 8192]) and
//! after the 224² network's (x [32, 128·28·28 = 100352], W [256, 100352]). Criterion prints
//! GFLOP/s (`Throughput::Elements` = FLOPs); after the group this file prints each median as a
//! share of the FMA peak. Wall clock, one persistent rayon pool per thread count.
//!
//! `cargo bench -p benches --bench linear` (docs/benchmarks.md has the recorded runs).

use benches::MedianLog;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, black_box, criterion_group, criterion_main,
};
use std::time::{Duration, Instant};
use tensor::ops::gemm::{self, Accumulate, GemmDims, Transpose};
use tensor::ops::linear::{self, LinearGrads};
use tensor::{Rng, Tensor};

/// One layer shape with its operands, random in [-1, 1).
struct Layer {
    name: &'static str,
    x: Tensor,
    w: Tensor,
    b: Tensor,
    dy: Tensor,
}

impl Layer {
    fn new(name: &'static str, batch: usize, inputs: usize, outputs: usize) -> Self {
        let mut rng = Rng::keyed(11, &[batch as u64, inputs as u64, outputs as u64]);
        let mut random = |dims: &[usize]| Tensor::from_fn(dims, |_| rng.uniform(-1.0, 1.0));
        Self {
            name,
            x: random(&[batch, inputs]),
            w: random(&[outputs, inputs]),
            b: random(&[outputs]),
            dy: random(&[batch, outputs]),
        }
    }

    /// `(N, in, out)`.
    fn sizes(&self) -> (usize, usize, usize) {
        (self.x.dims()[0], self.x.dims()[1], self.w.dims()[0])
    }

    /// FLOPs of one GEMM of the layer: `2·N·in·out` (forward, dx and dW each).
    fn gemm_flops(&self) -> u64 {
        let (n, inputs, outputs) = self.sizes();
        GemmDims::new(n, outputs, inputs).flops()
    }
}

fn timed(
    log: &mut MedianLog,
    label: &str,
    (pool, threads): (&rayon::ThreadPool, usize),
    flops: u64,
    iters: u64,
    f: &mut (dyn FnMut() + Send),
) -> Duration {
    let elapsed = pool.install(|| {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    });
    log.record(label, threads, flops, iters, elapsed);
    elapsed
}

fn linear_layers(c: &mut Criterion) {
    let layers = [
        Layer::new("fc1 @64 N=64", 64, 128 * 8 * 8, 256),
        Layer::new("fc1 @224 N=32", 32, 128 * 28 * 28, 256),
    ];
    let pool = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool")
    };
    let pools = [pool(1), pool(2)];
    let mut log = MedianLog::default();
    let mut g = c.benchmark_group("linear");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for layer in &layers {
        let (n, inputs, outputs) = layer.sizes();
        let flops = layer.gemm_flops();
        let mut y = Tensor::default();
        let mut grads = LinearGrads::default();
        let mut c_dx = vec![0.0; n * inputs];
        let mut c_dw = vec![0.0; outputs * inputs];
        for threads in [1, 2] {
            let on = (&pools[threads - 1], threads);
            let mut bench = |what: &str, flops: u64, f: &mut (dyn FnMut() + Send)| {
                let variant = format!("{what} {threads}t");
                let label = format!("{variant} {}", layer.name);
                g.throughput(Throughput::Elements(flops));
                g.bench_function(BenchmarkId::new(variant, layer.name), |b| {
                    b.iter_custom(|iters| timed(&mut log, &label, on, flops, iters, &mut *f))
                });
            };
            bench("forward", flops, &mut || {
                linear::forward_into(black_box(&layer.x), &layer.w, Some(&layer.b), &mut y)
                    .expect("shapes match by construction");
            });
            bench("backward", 2 * flops, &mut || {
                linear::backward_into(black_box(&layer.x), &layer.w, &layer.dy, &mut grads)
                    .expect("shapes match by construction");
            });
            // The backward's GEMMs alone, as `linear::backward_into` calls them.
            let over = Accumulate::Overwrite;
            bench("gemm dx", flops, &mut || {
                let dims = GemmDims::new(n, inputs, outputs);
                let (dy, w) = (black_box(layer.dy.data()), layer.w.data());
                gemm::gemm(dims, dy, Transpose::No, w, Transpose::No, &mut c_dx, over)
                    .expect("lengths match by construction");
            });
            bench("gemm dW", flops, &mut || {
                let dims = GemmDims::new(outputs, inputs, n);
                let (dy, x) = (black_box(layer.dy.data()), layer.x.data());
                gemm::gemm(dims, dy, Transpose::Yes, x, Transpose::No, &mut c_dw, over)
                    .expect("lengths match by construction");
            });
        }
    }
    g.finish();
    log.report("wall time");
}

criterion_group!(benches, linear_layers);
criterion_main!(benches);
