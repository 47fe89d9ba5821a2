//! Shared pieces of the benchmarks: the paper's convolution layers, FLOP counts, and this
//! machine's FMA peak so each bench can print its share of it.
#![forbid(unsafe_code)]

use std::time::Duration;

use tensor::ops::gemm::GemmDims;

/// Batch size of the paper's training runs, used by every layer benchmark.
pub const BATCH: usize = 32;

/// One convolution layer of the paper's network: 3×3 kernel, padding 1, stride 1, so the output
/// has the input's `hw × hw` size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvLayer {
    /// Short name for reports, e.g. `"conv3 32->64 @56"`.
    pub name: &'static str,
    /// Input channels C_in.
    pub c_in: usize,
    /// Output channels C_out.
    pub c_out: usize,
    /// Input (and output) height = width.
    pub hw: usize,
}

/// Kernel height = width of every layer in [`PAPER_LAYERS`].
pub const KERNEL: usize = 3;
/// Zero padding of every layer in [`PAPER_LAYERS`].
pub const PAD: usize = 1;

/// The five convolution layers of the paper's network at 224×224 input.
pub const PAPER_LAYERS: [ConvLayer; 5] = [
    ConvLayer { name: "conv1 3->16 @224", c_in: 3, c_out: 16, hw: 224 },
    ConvLayer { name: "conv2 16->32 @112", c_in: 16, c_out: 32, hw: 112 },
    ConvLayer { name: "conv3 32->64 @56", c_in: 32, c_out: 64, hw: 56 },
    ConvLayer { name: "conv4 64->64 @56", c_in: 64, c_out: 64, hw: 56 },
    ConvLayer { name: "conv5 64->128 @56", c_in: 64, c_out: 128, hw: 56 },
];

impl ConvLayer {
    /// Forward FLOPs for `images` images: `2·N·C_out·H·W·C_in·KH·KW` (one multiply-add per
    /// weight per output pixel). The backward pass (dx and dw) costs twice this.
    pub const fn forward_flops(&self, images: usize) -> u64 {
        2 * (images * self.c_out * self.hw * self.hw * self.c_in * KERNEL * KERNEL) as u64
    }

    /// The forward pass as one im2col GEMM over `images` images:
    /// `W [C_out, C_in·9] · cols [C_in·9, H·W·N] → y [C_out, H·W·N]`.
    pub const fn im2col_gemm(&self, images: usize) -> GemmDims {
        GemmDims::new(self.c_out, self.hw * self.hw * images, self.c_in * KERNEL * KERNEL)
    }
}

/// Core clock in GHz while running FMAs. /proc/cpuinfo reports the nominal 2596 MHz, but a loop
/// of independent 512-bit FMAs runs at 117 GFLOP/s per on-CPU second on one core, i.e.
/// 117 / 32 FLOP per cycle ≈ 3.66 GHz: the core boosts (docs/gemm.md has the probe).
pub const CLOCK_GHZ: f64 = 3.66;

/// FLOPs per cycle per core: this Zen 4 core (EPYC, family 25 model 17) runs one 512-bit FMA
/// per cycle (its two 256-bit FMA pipes together), i.e. 16 lanes × 2 FLOPs (multiply and add).
/// Zen 5 would do two per cycle; this machine is not Zen 5.
pub const FLOPS_PER_CYCLE: f64 = 32.0;

/// FMA peak of `threads` cores in GFLOP/s: GHz × 16 lanes × 2 (FMA) × 1 FMA/cycle × threads
/// (≈ 117 per core).
pub fn peak_gflops(threads: usize) -> f64 {
    CLOCK_GHZ * FLOPS_PER_CYCLE * threads as f64
}

/// A measured rate as a fraction of [`peak_gflops`].
pub fn share_of_peak(gflops: f64, threads: usize) -> f64 {
    gflops / peak_gflops(threads)
}

/// The per-call times of each bench in a group, so that the group can end with one line per
/// bench: its median time, GFLOP/s and share of the FMA peak (criterion prints only its own
/// statistics, in "elements" per second).
#[derive(Debug, Default)]
pub struct MedianLog {
    entries: Vec<MedianEntry>,
}

/// One bench of a [`MedianLog`]: its label, thread count, FLOPs per call and seconds per call.
#[derive(Debug)]
struct MedianEntry {
    label: String,
    threads: usize,
    flops: u64,
    seconds: Vec<f64>,
}

impl MedianLog {
    /// Logs one sample of `label`: `iters` calls took `elapsed` on `threads` threads, each call
    /// doing `flops` FLOPs.
    pub fn record(
        &mut self,
        label: &str,
        threads: usize,
        flops: u64,
        iters: u64,
        elapsed: Duration,
    ) {
        let seconds = elapsed.as_secs_f64() / iters as f64;
        match self.entries.iter_mut().find(|e| e.label == label) {
            Some(entry) => entry.seconds.push(seconds),
            None => self.entries.push(MedianEntry {
                label: label.to_string(),
                threads,
                flops,
                seconds: vec![seconds],
            }),
        }
    }

    /// Prints the median time per call of every logged bench, its GFLOP/s and its share of
    /// [`peak_gflops`] for its thread count, under a heading naming `clock`; then forgets them.
    pub fn report(&mut self, clock: &str) {
        println!("median of the samples ({clock}):");
        for entry in &mut self.entries {
            entry.seconds.sort_by(f64::total_cmp);
            let median = entry.seconds[entry.seconds.len() / 2];
            let gflops = entry.flops as f64 / median / 1e9;
            let (label, threads) = (&entry.label, entry.threads);
            println!(
                "{label:<58} {:8.3} ms {gflops:7.1} GFLOP/s = {:5.1} % of the {threads}-core peak \
                 ({:.0})",
                median * 1e3,
                100.0 * share_of_peak(gflops, threads),
                peak_gflops(threads)
            );
        }
        self.entries.clear();
    }
}
