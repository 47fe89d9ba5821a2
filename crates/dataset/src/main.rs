//! `build-dataset`: rebuilds `data/hubble` from the pinned Debian packages.
//!
//! ```text
//! cargo run --release -p dataset --bin build-dataset            # download, unpack, build
//! cargo run --release -p dataset --bin build-dataset -- --unpacked /tmp/unpacked
//! ```

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use dataset::{BuildConfig, CLASSES, PackageArgs, PackageSource, Split, build};

/// Rebuild the three-class image set from stellarium-data and kstars-data.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where stellarium-data and kstars-data come from.
    #[command(flatten)]
    packages: PackageArgs,
    /// Folder with dso_labels.csv and solar_bodies.csv.
    #[arg(long, value_name = "DIR", default_value = "data/labels")]
    labels: PathBuf,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "data/hubble")]
    out: PathBuf,
    /// Seed of every random choice (renders, edits, split).
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// JPEG quality (1-100).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    jpeg_quality: u8,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let source = args.packages.source();
    if let PackageSource::Download { cache } = &source {
        eprintln!("fetching and unpacking the pinned packages into {}", cache.display());
    }
    let sources = source.hubble_sources().context("preparing the pinned packages")?;
    eprintln!(
        "building {} from {} and {}",
        args.out.display(),
        sources.stellarium.display(),
        sources.kstars.display()
    );
    let config = BuildConfig {
        sources,
        labels_dir: args.labels.clone(),
        out_dir: args.out.clone(),
        seed: args.seed,
        jpeg_quality: args.jpeg_quality,
        progress: !args.quiet,
    };
    let report = build(&config).with_context(|| format!("building {}", args.out.display()))?;
    println!("{:<14}{:>7}{:>7}{:>7}{:>7}{:>7}", "class", "train", "val", "test", "total", "gray");
    for class in CLASSES {
        let n = |s: Split| report.counts.0.get(class).and_then(|m| m.get(&s)).copied().unwrap_or(0);
        println!(
            "{class:<14}{:>7}{:>7}{:>7}{:>7}{:>7}",
            n(Split::Train),
            n(Split::Val),
            n(Split::Test),
            report.counts.class_total(class),
            report.gray.get(class).copied().unwrap_or(0)
        );
    }
    println!(
        "{:.2} MB of JPEG at quality {}, {} renders redrawn for being too dark, {:.1} s",
        report.jpeg_bytes as f64 / 1e6,
        args.jpeg_quality,
        report.redrawn_renders,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
