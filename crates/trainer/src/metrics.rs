//! `metrics.csv`: one row per finished epoch, rewritten whole (atomically) after each epoch so a
//! resumed run continues the same file and a crash never leaves a torn row.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What one epoch measured. Losses are mean cross-entropy per image; accuracies are fractions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f32,
    /// Mean training loss over the epoch's batches (augmented images, training mode).
    pub train_loss: f32,
    /// Training accuracy over the same batches.
    pub train_acc: f32,
    /// Mean validation loss (evaluation mode, no augmentation).
    pub val_loss: f32,
    /// Validation accuracy.
    pub val_acc: f32,
    /// Wall time of the epoch in seconds, validation included.
    pub seconds: f32,
    /// Training images per second (training steps only).
    pub images_per_second: f32,
}

/// The header of `metrics.csv`.
pub const HEADER: &str = "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,images_per_second";

/// The CSV text of `records`, header first.
pub fn to_csv(records: &[EpochRecord]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in records {
        // Writing into a String cannot fail.
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{:.3},{:.1}",
            r.epoch,
            r.lr,
            r.train_loss,
            r.train_acc,
            r.val_loss,
            r.val_acc,
            r.seconds,
            r.images_per_second
        );
    }
    s
}

/// Parses the text [`to_csv`] writes.
///
/// # Errors
/// A message naming the line that does not have eight numeric fields.
pub fn from_csv(text: &str) -> anyhow::Result<Vec<EpochRecord>> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim() == HEADER => {}
        other => anyhow::bail!("expected the header `{HEADER}`, found {other:?}"),
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| parse_row(line).with_context(|| format!("line {}: `{line}`", i + 2)))
        .collect()
}

fn parse_row(line: &str) -> anyhow::Result<EpochRecord> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    anyhow::ensure!(f.len() == 8, "expected 8 fields, found {}", f.len());
    let num = |i: usize| -> anyhow::Result<f32> {
        f[i].parse::<f32>().with_context(|| format!("field {} is not a number", i + 1))
    };
    Ok(EpochRecord {
        epoch: f[0].parse().context("field 1 (epoch) is not an integer")?,
        lr: num(1)?,
        train_loss: num(2)?,
        train_acc: num(3)?,
        val_loss: num(4)?,
        val_acc: num(5)?,
        seconds: num(6)?,
        images_per_second: num(7)?,
    })
}

/// Reads `metrics.csv`; a missing file is an empty history.
///
/// # Errors
/// Unreadable or malformed file, naming it.
pub fn read(path: &Path) -> anyhow::Result<Vec<EpochRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => from_csv(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `metrics.csv` atomically.
///
/// # Errors
/// The I/O error, naming the file.
pub fn write(path: &Path, records: &[EpochRecord]) -> anyhow::Result<()> {
    crate::atomic::write_bytes(path, to_csv(records).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            lr: 0.001,
            train_loss: 1.25,
            train_acc: 0.5,
            val_loss: 1.0,
            val_acc: 0.625,
            seconds: 2.5,
            images_per_second: 100.0,
        }
    }

    #[test]
    fn csv_round_trips() {
        let rows = vec![row(1), row(2)];
        let text = to_csv(&rows);
        assert_eq!(text.lines().count(), 3);
        assert_eq!(from_csv(&text).unwrap(), rows);
    }

    #[test]
    fn a_bad_row_is_named() {
        let text = format!("{HEADER}\n1,2,3\n");
        let err = format!("{:#}", from_csv(&text).unwrap_err());
        assert!(err.contains("line 2"), "{err}");
    }
}
