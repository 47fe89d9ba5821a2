//! GEMM throughput: square sizes and the im2col GEMMs of the paper's conv layers, for the packed
//! GEMM on one and two threads, with `matrixmultiply::sgemm` in the same group as the in-run
//! baseline. Criterion prints GFLOP/s (`Throughput::Elements(2·m·n·k)`: Gelem/s = GFLOP/s); at
//! the end of each group this file prints the median of each variant as a share of the FMA peak.
//!
//! matrixmultiply sizes its own thread pool once per process from `MATMUL_NUM_THREADS`
//! (default: the physical cores), so run with `MATMUL_NUM_THREADS=1` for the one-thread
//! comparison; its bench ids say which count it used.
//!
//! `cargo bench -p benches --bench gemm` (see docs/benchmarks.md for the recorded runs).

use benches::{BATCH, PAPER_LAYERS, peak_gflops};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tensor::Rng;
use tensor::ops::gemm::{self, Accumulate, GemmDims, Transpose};

/// One problem: A [m×k], B [k×n], C [m×n], all row-major, random in [-1, 1).
struct Problem {
    name: String,
    dims: GemmDims,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Problem {
    fn new(name: String, dims: GemmDims) -> Self {
        let mut rng = Rng::keyed(7, &[dims.m as u64, dims.n as u64, dims.k as u64]);
        let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let GemmDims { m, n, k } = dims;
        Self { name, dims, a: random(m * k), b: random(k * n), c: vec![0.0; m * n] }
    }

    fn packed(&mut self) {
        gemm::gemm(
            self.dims,
            black_box(&self.a),
            Transpose::No,
            black_box(&self.b),
            Transpose::No,
            &mut self.c,
            Accumulate::Overwrite,
        )
        .expect("lengths match by construction");
    }

    fn matrixmultiply(&mut self) {
        let GemmDims { m, n, k } = self.dims;
        assert!(self.a.len() == m * k && self.b.len() == k * n && self.c.len() == m * n);
        // SAFETY: the assert above shows A holds m×k, B k×n and C m×n floats, and the strides
        // (row stride = columns, column stride = 1) keep every access inside those slices; C
        // does not alias A or B (distinct Vecs).
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                self.a.as_ptr(),
                k as isize,
                1,
                self.b.as_ptr(),
                n as isize,
                1,
                0.0,
                self.c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }
}

/// Per-iteration times of each (variant, problem) bench: the samples criterion asked for.
type Samples = Mutex<Vec<(String, usize, u64, Vec<f64>)>>;

/// Times `iters` calls of `f` inside a rayon pool of `threads` threads and logs the sample.
fn timed(
    samples: &Samples,
    label: &str,
    threads: usize,
    flops: u64,
    iters: u64,
    f: impl FnMut() + Send,
) -> Duration {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool");
    let mut f = f;
    let elapsed = pool.install(|| {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    });
    let mut log = samples.lock().expect("no bench thread panicked");
    let seconds = elapsed.as_secs_f64() / iters as f64;
    match log.iter_mut().find(|(l, _, _, _)| l == label) {
        Some((_, _, _, times)) => times.push(seconds),
        None => log.push((label.to_string(), threads, flops, vec![seconds])),
    }
    elapsed
}

/// Prints the median GFLOP/s of every logged bench and its share of the FMA peak.
fn report(samples: &Samples) {
    let mut log = samples.lock().expect("no bench thread panicked");
    for (label, threads, flops, times) in log.iter_mut() {
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let gflops = *flops as f64 / median / 1e9;
        let peak = peak_gflops(*threads);
        println!(
            "{label:<58} {gflops:7.1} GFLOP/s = {:5.1} % of the {threads}-core peak ({peak:.0})",
            100.0 * gflops / peak
        );
    }
    log.clear();
}

/// The thread count matrixmultiply uses in this process (it reads the variable once).
fn matmul_threads() -> usize {
    std::env::var("MATMUL_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 4)
}

fn bench_group(c: &mut Criterion, group: &str, problems: Vec<Problem>, two_threads: bool) {
    let samples = Samples::default();
    let mm_threads = matmul_threads();
    let mut g = c.benchmark_group(group);
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for mut p in problems {
        let flops = p.dims.flops();
        g.throughput(Throughput::Elements(flops));
        let thread_counts: &[usize] = if two_threads { &[1, 2] } else { &[1] };
        for &threads in thread_counts {
            let variant = format!("packed {threads}t");
            let label = format!("{variant} {}", p.name);
            g.bench_function(BenchmarkId::new(variant, &p.name), |b| {
                b.iter_custom(|iters| timed(&samples, &label, threads, flops, iters, || p.packed()))
            });
        }
        let variant = format!("matrixmultiply {mm_threads}t");
        let label = format!("{variant} {}", p.name);
        g.bench_function(BenchmarkId::new(variant, &p.name), |b| {
            b.iter_custom(|iters| {
                timed(&samples, &label, mm_threads, flops, iters, || p.matrixmultiply())
            })
        });
    }
    g.finish();
    report(&samples);
}

fn square(c: &mut Criterion) {
    let problems = [256, 512, 1024, 2048]
        .iter()
        .map(|&s| Problem::new(format!("{s}^3"), GemmDims::new(s, s, s)))
        .collect();
    bench_group(c, "gemm square", problems, true);
}

/// Forward im2col GEMMs of the paper's layers: `W [C_out, C_in·9] · cols [C_in·9, H·W·N]`.
/// At batch 32 N is huge (1.6M columns for conv1), which is how conv2d calls GEMM when it
/// batches the whole minibatch; per image (N = 1) shows the shape a per-image loop would see.
fn im2col(c: &mut Criterion) {
    let per_batch = PAPER_LAYERS
        .iter()
        .map(|l| Problem::new(format!("{} N={BATCH}", l.name), l.im2col_gemm(BATCH)))
        .collect();
    bench_group(c, "gemm im2col batch", per_batch, true);
    let per_image =
        PAPER_LAYERS.iter().map(|l| Problem::new(format!("{} N=1", l.name), l.im2col_gemm(1)));
    bench_group(c, "gemm im2col image", per_image.collect(), false);
}

criterion_group!(benches, square, im2col);
criterion_main!(benches);
