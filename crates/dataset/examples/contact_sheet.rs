//! Tiles images into one PNG to look at them together:
//! `cargo run --release -p dataset --example contact_sheet -- OUT.png COLUMNS TILE IMAGE...`
//! (each image is resized to TILE×TILE; files in the given order, row by row).

use anyhow::{Context, bail};
use image::RgbImage;
use image::imageops::FilterType;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, columns, tile, files @ ..] = args.as_slice() else {
        bail!("usage: contact_sheet OUT.png COLUMNS TILE IMAGE...");
    };
    let columns: u32 = columns.parse().context("COLUMNS must be a number")?;
    let tile: u32 = tile.parse().context("TILE must be a number")?;
    if files.is_empty() || columns == 0 || tile == 0 {
        bail!("need at least one image, COLUMNS > 0 and TILE > 0");
    }
    let rows = (files.len() as u32).div_ceil(columns);
    let gap = 2;
    let mut sheet =
        RgbImage::from_pixel(columns * (tile + gap), rows * (tile + gap), image::Rgb([60, 60, 60]));
    for (i, f) in files.iter().enumerate() {
        let img = image::open(f).with_context(|| format!("reading {f}"))?.to_rgb8();
        let small = image::imageops::resize(&img, tile, tile, FilterType::Triangle);
        let (x, y) = ((i as u32 % columns) * (tile + gap), (i as u32 / columns) * (tile + gap));
        image::imageops::replace(&mut sheet, &small, i64::from(x), i64::from(y));
    }
    sheet.save(out).with_context(|| format!("writing {out}"))?;
    Ok(())
}
