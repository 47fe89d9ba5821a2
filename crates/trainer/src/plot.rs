//! `curves.png`: training and validation loss (left) and accuracy (right) per epoch.
//!
//! Text is drawn with DejaVu Sans Mono, shipped in `assets/` under its free licence
//! (`assets/DejaVuSansMono-LICENSE.txt`) and compiled into the binary, so plotting needs no
//! system fonts or fontconfig (plotters' `ab_glyph` backend).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use plotters::prelude::*;

use crate::metrics::EpochRecord;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// Registers the shipped font as plotters' "sans-serif" once per process.
pub(crate) fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    anyhow::ensure!(ok, "the bundled font assets/DejaVuSansMono.ttf could not be parsed");
    Ok(())
}

/// One curve: how to read its value from a row, and its legend.
type Series = (fn(&EpochRecord) -> f32, &'static str);

/// Width and height of `curves.png` in pixels.
pub const SIZE: (u32, u32) = (1200, 480);

/// Draws the loss and accuracy curves of `records` into the PNG `path`.
///
/// # Errors
/// No records, or the PNG cannot be written.
pub fn draw_curves(records: &[EpochRecord], title: &str, path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(!records.is_empty(), "no epochs to plot");
    register_font()?;
    // plotters draws into an RGB buffer; the `image` crate (already a dependency) encodes it.
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    draw(records, title, &mut rgb).map_err(|e| anyhow::anyhow!("drawing the curves: {e}"))?;
    let img = image::RgbImage::from_raw(SIZE.0, SIZE.1, rgb)
        .context("the plot buffer has SIZE.0 × SIZE.1 × 3 bytes by construction")?;
    crate::atomic::write_with(path, |tmp| img.save_with_format(tmp, image::ImageFormat::Png))
        .with_context(|| format!("writing {}", path.display()))
}

fn draw<'a>(
    records: &[EpochRecord],
    title: &str,
    rgb: &'a mut [u8],
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let last = records.iter().map(|r| r.epoch).max().unwrap_or(1).max(2) as f32;
    let finite_max = |f: fn(&EpochRecord) -> f32| {
        records.iter().map(f).filter(|v| v.is_finite()).fold(0.0f32, f32::max)
    };
    let loss_top = finite_max(|r| r.train_loss).max(finite_max(|r| r.val_loss)).max(0.1) * 1.05;

    let panels: [(&DrawingArea<_, _>, &str, f32, [Series; 2]); 2] = [
        (&left, "loss", loss_top, [(|r| r.train_loss, "train"), (|r| r.val_loss, "val")]),
        (&right, "accuracy", 1.0, [(|r| r.train_acc, "train"), (|r| r.val_acc, "val")]),
    ];
    for (area, name, top, series) in panels {
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(1.0f32..last, 0.0f32..top)?;
        chart.configure_mesh().x_desc("epoch").y_desc(name).draw()?;
        for ((value, label), colour) in series.into_iter().zip([BLUE, RED]) {
            let points =
                records.iter().map(|r| (r.epoch as f32, value(r))).filter(|p| p.1.is_finite());
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_of_the_right_size() {
        let rows: Vec<EpochRecord> = (1..=5)
            .map(|e| EpochRecord {
                epoch: e,
                lr: 0.01,
                train_loss: 1.0 / e as f32,
                train_acc: 0.2 * e as f32,
                val_loss: if e == 3 { f32::NAN } else { 1.2 / e as f32 },
                val_acc: 0.18 * e as f32,
                seconds: 1.0,
                images_per_second: 10.0,
            })
            .collect();
        let path = std::env::temp_dir().join(format!("trainer-curves-{}.png", std::process::id()));
        draw_curves(&rows, "test run", &path).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), SIZE);
        // Not blank: both blue and red curve pixels were drawn.
        let rgb = img.to_rgb8();
        let has = |c: [u8; 3]| rgb.pixels().any(|p| p.0 == c);
        assert!(has([0, 0, 255]) && has([255, 0, 0]));
        let _ = std::fs::remove_file(path);
    }
}
