//! GEMM throughput: square sizes and the im2col GEMMs of the paper's conv layers, for the packed
//! GEMM on one and two threads, with `matrixmultiply::sgemm` in the same group as the in-run
//! baseline. Criterion prints GFLOP/s (`Throughput::Elements(2·m·n·k)`: Gelem/s = GFLOP/s); at
//! the end of each group this file prints the median of each variant as a share of the FMA peak.
//!
//! matrixmultiply sizes its own thread pool once per process from `MATMUL_NUM_THREADS`
//! (default: the physical cores), so run with `MATMUL_NUM_THREADS=1` for the one-thread
//! comparison; its bench ids say which count it used.
//!
//! The machine is shared with other jobs, so wall time mostly measures who else is running.
//! With `GEMM_BENCH_CLOCK=cpu`, one-thread variants are timed by the thread's on-CPU time
//! (`/proc/thread-self/schedstat`, nanoseconds actually spent running), which leaves out the
//! time the thread waited for a core; cache pollution by the other jobs still counts. Two-thread
//! variants always use wall time, since that is what a speedup means.
//!
//! `MATMUL_NUM_THREADS=1 GEMM_BENCH_CLOCK=cpu cargo bench -p benches --bench gemm`
//! (see docs/benchmarks.md for the recorded runs).

use benches::{BATCH, MedianLog, PAPER_LAYERS};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, black_box, criterion_group, criterion_main,
};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tensor::Rng;
use tensor::ops::gemm::{self, Accumulate, GemmDims, Transpose};

/// One problem: C [m×n] = op(A)·op(B), A stored m×k or k×m, B k×n or n×k, all row-major,
/// random in [-1, 1).
struct Problem {
    name: String,
    dims: GemmDims,
    ta: Transpose,
    tb: Transpose,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Problem {
    fn new(name: String, dims: GemmDims) -> Self {
        Self::transposed(name, dims, Transpose::No, Transpose::No)
    }

    fn transposed(name: String, dims: GemmDims, ta: Transpose, tb: Transpose) -> Self {
        let mut rng = Rng::keyed(7, &[dims.m as u64, dims.n as u64, dims.k as u64]);
        let mut random = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let GemmDims { m, n, k } = dims;
        Self { name, dims, ta, tb, a: random(m * k), b: random(k * n), c: vec![0.0; m * n] }
    }

    fn packed(&mut self) {
        gemm::gemm(
            self.dims,
            black_box(&self.a),
            self.ta,
            black_box(&self.b),
            self.tb,
            &mut self.c,
            Accumulate::Overwrite,
        )
        .expect("lengths match by construction");
    }

    fn matrixmultiply(&mut self) {
        let GemmDims { m, n, k } = self.dims;
        assert!(self.a.len() == m * k && self.b.len() == k * n && self.c.len() == m * n);
        // (row stride, column stride) of op(A) and op(B) inside their storage.
        let (rsa, csa) = if self.ta == Transpose::No { (k, 1) } else { (1, m) };
        let (rsb, csb) = if self.tb == Transpose::No { (n, 1) } else { (1, k) };
        // SAFETY: the assert above shows A holds m×k, B k×n and C m×n floats, and the strides
        // above address op(A)[i, p] and op(B)[p, j] inside those slices (C: row stride n,
        // column stride 1); C does not alias A or B (distinct Vecs).
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                self.a.as_ptr(),
                rsa as isize,
                csa as isize,
                self.b.as_ptr(),
                rsb as isize,
                csb as isize,
                0.0,
                self.c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }
}

/// Per-iteration times of each (variant, problem) bench: the samples criterion asked for.
type Samples = Mutex<MedianLog>;

/// Nanoseconds this thread has spent running on a CPU (first field of its schedstat).
fn on_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Whether one-thread variants are timed by on-CPU time (`GEMM_BENCH_CLOCK=cpu`).
fn cpu_clock() -> bool {
    std::env::var("GEMM_BENCH_CLOCK").is_ok_and(|v| v == "cpu") && on_cpu_ns().is_some()
}

/// Times `iters` calls of `f` inside `pool` and logs the sample under `threads` (the count the
/// variant uses: the pool's for ours, matrixmultiply's own for it).
fn timed(
    samples: &Samples,
    label: &str,
    (pool, threads): (&rayon::ThreadPool, usize),
    flops: u64,
    iters: u64,
    f: impl FnMut() + Send,
) -> Duration {
    let mut f = f;
    let elapsed = pool.install(|| {
        let (start, start_cpu) = (Instant::now(), on_cpu_ns());
        for _ in 0..iters {
            f();
        }
        match (threads == 1 && cpu_clock(), start_cpu, on_cpu_ns()) {
            (true, Some(from), Some(to)) => Duration::from_nanos(to - from),
            _ => start.elapsed(),
        }
    });
    let mut log = samples.lock().expect("no bench thread panicked");
    log.record(label, threads, flops, iters, elapsed);
    elapsed
}

/// Prints the median of every logged bench (see [`MedianLog::report`]).
fn report(samples: &Samples) {
    let clock = if cpu_clock() { "on-CPU time for 1 thread, wall for 2" } else { "wall time" };
    samples.lock().expect("no bench thread panicked").report(clock);
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
    // One pool per thread count for the whole group, as training keeps one pool: its threads
    // and their packing buffers persist from sample to sample. (A pool built per sample spawns
    // fresh threads whose buffers page-fault in again: at 1024³ on two threads that was 4 % of
    // the time in the kernel's page clearing and a lower, noisier speedup; docs/benchmarks.md.)
    let pool = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool")
    };
    let pools = [pool(1), pool(2)];
    let mm_threads = matmul_threads();
    let mut g = c.benchmark_group(group);
    // Flat sampling: 10 samples of equal iteration counts, so a 0.2 s GEMM is run ~10 times,
    // not the 55 of criterion's linear ramp.
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for mut p in problems {
        let flops = p.dims.flops();
        g.throughput(Throughput::Elements(flops));
        let thread_counts: &[usize] = if two_threads { &[1, 2] } else { &[1] };
        for &threads in thread_counts {
            let variant = format!("packed {threads}t");
            let label = format!("{variant} {}", p.name);
            let on = (&pools[threads - 1], threads);
            g.bench_function(BenchmarkId::new(variant, &p.name), |b| {
                b.iter_custom(|iters| timed(&samples, &label, on, flops, iters, || p.packed()))
            });
        }
        // matrixmultiply runs its own threads; it is called from the one-thread pool.
        let variant = format!("matrixmultiply {mm_threads}t");
        let label = format!("{variant} {}", p.name);
        let on = (&pools[0], mm_threads);
        g.bench_function(BenchmarkId::new(variant, &p.name), |b| {
            b.iter_custom(|iters| timed(&samples, &label, on, flops, iters, || p.matrixmultiply()))
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
/// At batch 32 N is huge (1.6M columns for conv1): the whole minibatch as one GEMM. conv2d
/// actually calls GEMM once per image, so the per-image group has the three GEMMs it runs:
/// forward, `dW = dY·colsᵀ` (A·Bᵀ, k = H·W) and `dcols = Wᵀ·dY` (Aᵀ·B, k = C_out).
fn im2col(c: &mut Criterion) {
    let per_batch = PAPER_LAYERS
        .iter()
        .map(|l| Problem::new(format!("{} N={BATCH}", l.name), l.im2col_gemm(BATCH)))
        .collect();
    bench_group(c, "gemm im2col batch", per_batch, true);
    let mut per_image = Vec::new();
    for l in &PAPER_LAYERS {
        let GemmDims { m: c_out, n: pixels, k } = l.im2col_gemm(1);
        let (no, yes) = (Transpose::No, Transpose::Yes);
        per_image.push(Problem::new(format!("{} fwd", l.name), GemmDims::new(c_out, pixels, k)));
        let dw = GemmDims::new(c_out, k, pixels);
        per_image.push(Problem::transposed(format!("{} dW", l.name), dw, no, yes));
        let dcols = GemmDims::new(k, pixels, c_out);
        per_image.push(Problem::transposed(format!("{} dcols", l.name), dcols, yes, no));
    }
    bench_group(c, "gemm conv per image", per_image, false);
}

criterion_group!(benches, square, im2col);
criterion_main!(benches);
