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
use dataset::{
    CLASSES, OUTSIDE_PACKAGES, OutsideConfig, Split, build_outside, fetch_and_unpack_one,
    locate_share_dir,
};

/// Rebuild data/outside from mate-screensaver-common and munipack-doc.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Use already-unpacked packages: DIR/<share dir> or DIR/<package>/<share dir> for each
    /// (usr/share/backgrounds/cosmos, usr/share/doc/munipack).
    #[arg(long, value_name = "DIR")]
    unpacked: Option<PathBuf>,
    /// Where to download and unpack the .deb files (when --unpacked is not given).
    #[arg(long, value_name = "DIR", default_value = "target/dataset-cache")]
    cache: PathBuf,
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
    let dir = |i: usize| -> anyhow::Result<PathBuf> {
        let p = &OUTSIDE_PACKAGES[i];
        Ok(match &args.unpacked {
            Some(root) => locate_share_dir(root, p)?,
            None => fetch_and_unpack_one(p, &args.cache)
                .with_context(|| format!("preparing {} in {}", p.name, args.cache.display()))?,
        })
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
