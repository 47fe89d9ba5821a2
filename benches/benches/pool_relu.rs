//! The memory-bound ops of the paper's network against a plain copy of the same tensor, in
//! bytes moved per second, on 2 rayon threads: conv1's output [32, 16, 224, 224] (103 MB) is
//! what the first ReLU and the first 2×2 max-pool read, the biggest of their calls in a step.
//! The max-pool also runs on the last pool's input of the 64² network, [64, 128, 16, 16]
//! (8 MB): 8 outputs per row, fewer than one SIMD block, so every row is a padded tail.
//!
//! Bytes counted per call (f32 and u32 are 4 bytes, `L` = elements of x):
//! copy 8·L (read x, write y); relu forward 8·L; relu backward 12·L (x, dy, dx);
//! max_pool2d forward 6·L (x, then y and argmax at L/4 each); backward 6·L (dy and argmax at
//! L/4 each, dx). An op at the copy's GB/s is as fast as the memory lets it be.
//!
//! ```text
//! cargo bench -p benches --bench pool_relu -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use std::hint::black_box;
use tensor::ops::max_pool2d::{self, Pool2dParams};
use tensor::ops::relu;
use tensor::{Rng, Tensor};

const THREADS: usize = 2;
const DIMS: [usize; 4] = [32, 16, 224, 224];

fn memory_bound(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(THREADS).build().expect("2 threads");
    let mut rng = Rng::new(3);
    let x = Tensor::from_fn(&DIMS, |_| rng.uniform(-1.0, 1.0));
    let len = x.len() as u64;
    let p = Pool2dParams { kernel: 2, stride: 2 };
    let name = "[32, 16, 224, 224]";
    let mut g = c.benchmark_group("memory_bound");
    g.sample_size(10);

    let mut y = Tensor::zeros(&DIMS);
    g.throughput(Throughput::Bytes(8 * len));
    g.bench_function(BenchmarkId::new("copy", name), |b| {
        b.iter(|| {
            pool.install(|| {
                let dst = y.data_mut().par_chunks_mut(1 << 16);
                dst.zip(x.data().par_chunks(1 << 16)).for_each(|(d, s)| d.copy_from_slice(s));
            })
        })
    });
    g.bench_function(BenchmarkId::new("relu forward", name), |b| {
        b.iter(|| pool.install(|| relu::forward_into(black_box(&x), &mut y)))
    });
    let dy = Tensor::from_fn(&DIMS, |_| rng.uniform(-1.0, 1.0));
    let mut dx = Tensor::zeros(&DIMS);
    g.throughput(Throughput::Bytes(12 * len));
    g.bench_function(BenchmarkId::new("relu backward", name), |b| {
        b.iter(|| pool.install(|| relu::backward_into(black_box(&x), &dy, &mut dx)))
    });

    let last_pool_64 = Tensor::from_fn(&[64, 128, 16, 16], |_| rng.uniform(-1.0, 1.0));
    for (x, name) in [(&x, name), (&last_pool_64, "[64, 128, 16, 16]")] {
        let (mut pooled, mut argmax) = (Tensor::default(), Vec::new());
        g.throughput(Throughput::Bytes(6 * x.len() as u64));
        g.bench_function(BenchmarkId::new("max_pool2d 2x2 forward", name), |b| {
            b.iter(|| {
                pool.install(|| max_pool2d::forward_into(black_box(x), p, &mut pooled, &mut argmax))
            })
        });
        let x_shape = x.shape4("bench").expect("4-D");
        let dpooled = Tensor::from_fn(pooled.dims(), |_| rng.uniform(-1.0, 1.0));
        g.bench_function(BenchmarkId::new("max_pool2d 2x2 backward", name), |b| {
            b.iter(|| {
                let dy = black_box(&dpooled);
                pool.install(|| max_pool2d::backward_into(dy, &argmax, x_shape, &mut dx))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, memory_bound);
criterion_main!(benches);
