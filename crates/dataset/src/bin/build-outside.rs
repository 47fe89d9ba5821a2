//! `build-outside`: rebuilds `data/outside`, the check set of real photos from two packages that
//! `data/hubble` does not use (see `dataset::outside`).
//!
//! ```text
//! cargo run --release -p dataset --bin build-outside            # download, unpack, build
//! cargo run --release -p dataset --bin build-outside -- --unpacked /tmp/unpacked
//! ```

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use dataset::{CLASSES, OUTSIDE_PACKAGES, OutsideConfig, PackageArgs, Split, build_outside};

/// Rebuild data/outside from mate-screensaver-common and munipack-doc.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where mate-screensaver-common and munipack-doc come from (their data folders are
    /// usr/share/backgrounds/cosmos and usr/share/doc/munipack).
    #[command(flatten)]
    packages: PackageArgs,
    /// The label table.
    #[arg(long, value_name = "FILE", default_value = "data/labels/outside.csv")]
    labels: PathBuf,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "data/outside")]
    out: PathBuf,
    /// JPEG quality (1-100).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    jpeg_quality: u8,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let source = args.packages.source();
    let dir = |i: usize| -> anyhow::Result<PathBuf> {
        let p = &OUTSIDE_PACKAGES[i];
        source.share_dir(p).with_context(|| format!("preparing {}", p.name))
    };
    let config = OutsideConfig {
        package_dirs: [dir(0)?, dir(1)?],
        labels: args.labels.clone(),
        out_dir: args.out.clone(),
        jpeg_quality: args.jpeg_quality,
    };
    let counts =
        build_outside(&config).with_context(|| format!("building {}", args.out.display()))?;
    for class in CLASSES {
        let n = counts.0.get(class).and_then(|m| m.get(&Split::Test)).copied().unwrap_or(0);
        println!("{class:<14}{n:>4}");
    }
    Ok(())
}
