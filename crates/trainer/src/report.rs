//! The evaluation report: accuracy, per-class precision / recall / F1 and the confusion matrix,
//! printed as a table and saved as JSON and CSV.
//!
//! Definitions, with `M[t][p]` = number of images of true class `t` predicted as `p`:
//! - accuracy = Σ_k M[k][k] / Σ M
//! - precision_k = M[k][k] / Σ_t M[t][k]  (of the images called k, how many are k)
//! - recall_k = M[k][k] / Σ_p M[k][p]     (of the images that are k, how many were found)
//! - F1_k = 2·P·R / (P + R); each is 0 when its denominator is 0.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Scores of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Class name (folder name).
    pub class: String,
    /// Of the images predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the images of this class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of images of this class.
    pub support: usize,
}

/// The full report for one set of predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// Class names, in index order.
    pub classes: Vec<String>,
    /// Number of images.
    pub total: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Mean cross-entropy loss, when the caller measured it.
    pub mean_loss: Option<f64>,
    /// Per-class scores, in index order.
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean F1 over the classes that occur (as a true or a predicted class).
    pub macro_f1: f64,
    /// `confusion[t][p]`: images of true class `t` predicted as `p`.
    pub confusion: Vec<Vec<usize>>,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

impl ClassificationReport {
    /// Builds the report from true and predicted class indices (same length, each `< classes.len()`).
    ///
    /// # Errors
    /// Lengths differ, or an index is out of range.
    pub fn new(
        classes: &[String],
        truth: &[usize],
        predicted: &[usize],
        mean_loss: Option<f64>,
    ) -> anyhow::Result<Self> {
        let k = classes.len();
        anyhow::ensure!(
            truth.len() == predicted.len(),
            "{} true labels but {} predictions",
            truth.len(),
            predicted.len()
        );
        let mut confusion = vec![vec![0usize; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            anyhow::ensure!(t < k && p < k, "class index {t} or {p} out of range for {k} classes");
            confusion[t][p] += 1;
        }
        let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
        let per_class: Vec<ClassScores> = (0..k)
            .map(|c| {
                let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = ratio(confusion[c][c], predicted_c);
                let recall = ratio(confusion[c][c], support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores { class: classes[c].clone(), precision, recall, f1, support }
            })
            .collect();
        // Over the classes that occur (as truth or prediction), as scikit-learn does: a folder
        // holding only some of the model's classes is not marked down for the ones it lacks.
        let occurring: Vec<f64> = (0..k)
            .filter(|&c| per_class[c].support > 0 || (0..k).any(|t| confusion[t][c] > 0))
            .map(|c| per_class[c].f1)
            .collect();
        let macro_f1 = if occurring.is_empty() {
            0.0
        } else {
            occurring.iter().sum::<f64>() / occurring.len() as f64
        };
        Ok(Self {
            classes: classes.to_vec(),
            total: truth.len(),
            accuracy: ratio(correct, truth.len()),
            mean_loss,
            per_class,
            macro_f1,
            confusion,
        })
    }

    /// The report as text: a per-class table, then the confusion matrix (rows = true class).
    pub fn table(&self) -> String {
        let w = self.classes.iter().map(String::len).max().unwrap_or(5).max(12);
        let mut s = String::new();
        let _ = writeln!(s, "{:<w$}  precision  recall     f1  support", "class");
        for c in &self.per_class {
            let _ = writeln!(
                s,
                "{:<w$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
                c.class, c.precision, c.recall, c.f1, c.support
            );
        }
        let _ = write!(
            s,
            "accuracy {:.2} % of {} images, macro F1 {:.3}",
            100.0 * self.accuracy,
            self.total,
            self.macro_f1
        );
        if let Some(loss) = self.mean_loss {
            let _ = write!(s, ", mean loss {loss:.4}");
        }
        let _ = writeln!(s, "\n\nconfusion matrix (rows: true class, columns: predicted)");
        let cw = self.classes.iter().map(String::len).max().unwrap_or(5).max(6);
        let _ = write!(s, "{:<w$}", "");
        for name in &self.classes {
            let _ = write!(s, "  {name:>cw$}");
        }
        s.push('\n');
        for (name, row) in self.classes.iter().zip(&self.confusion) {
            let _ = write!(s, "{name:<w$}");
            for n in row {
                let _ = write!(s, "  {n:>cw$}");
            }
            s.push('\n');
        }
        s
    }

    /// The confusion matrix as CSV: header `true\predicted,<classes>`, one row per true class.
    pub fn confusion_csv(&self) -> String {
        let mut s = String::from("true\\predicted");
        for c in &self.classes {
            let _ = write!(s, ",{c}");
        }
        s.push('\n');
        for (name, row) in self.classes.iter().zip(&self.confusion) {
            s.push_str(name);
            for n in row {
                let _ = write!(s, ",{n}");
            }
            s.push('\n');
        }
        s
    }

    /// Saves `<stem>.json` (the whole report), `<stem>_confusion.csv` and `<stem>.txt` (the
    /// table) in `dir`.
    ///
    /// # Errors
    /// The I/O error, naming the file.
    pub fn save(&self, dir: &Path, stem: &str) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("serialising the report")?;
        crate::atomic::write_bytes(&dir.join(format!("{stem}.json")), json.as_bytes())?;
        crate::atomic::write_bytes(
            &dir.join(format!("{stem}_confusion.csv")),
            self.confusion_csv().as_bytes(),
        )?;
        crate::atomic::write_bytes(&dir.join(format!("{stem}.txt")), self.table().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["galaxies", "nebulae", "solar_system"].map(String::from).to_vec()
    }

    #[test]
    fn scores_match_a_hand_count() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        // M = [[2,1,0],[0,1,1],[0,0,1]]
        let r = ClassificationReport::new(&names(), &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], None)
            .unwrap();
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // class 0: P = 2/2, R = 2/3, F1 = 2·1·(2/3)/(5/3) = 0.8
        assert!((r.per_class[0].precision - 1.0).abs() < 1e-12);
        assert!((r.per_class[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.per_class[0].f1 - 0.8).abs() < 1e-12);
        // class 1: P = 1/2, R = 1/2; class 2: P = 1/2, R = 1
        assert!((r.per_class[1].f1 - 0.5).abs() < 1e-12);
        assert!((r.per_class[2].precision - 0.5).abs() < 1e-12);
        assert_eq!(r.per_class[2].support, 1);
    }

    #[test]
    fn a_class_never_predicted_scores_zero_not_nan() {
        let r = ClassificationReport::new(&names(), &[0, 1, 2], &[0, 0, 0], None).unwrap();
        assert_eq!(r.per_class[1].precision, 0.0);
        assert_eq!(r.per_class[1].f1, 0.0);
        assert!(r.macro_f1.is_finite());
    }

    #[test]
    fn macro_f1_averages_the_classes_that_occur() {
        // Only galaxies and nebulae in the folder, solar_system never predicted: it is left
        // out of the mean (F1: galaxies 1/2, nebulae 1/2 → 1/2, not 1/3).
        let r = ClassificationReport::new(&names(), &[0, 0, 1, 1], &[0, 1, 1, 0], None).unwrap();
        assert!((r.macro_f1 - 0.5).abs() < 1e-12, "{}", r.macro_f1);
        // Predicted but absent from the truth: it counts, with F1 0.
        let r = ClassificationReport::new(&names(), &[0, 0], &[0, 2], None).unwrap();
        assert!((r.macro_f1 - (2.0 / 3.0) / 2.0).abs() < 1e-12, "{}", r.macro_f1);
        // All three present: the plain mean over the three.
        let r = ClassificationReport::new(&names(), &[0, 1, 2], &[0, 0, 0], None).unwrap();
        assert!((r.macro_f1 - 0.5 / 3.0).abs() < 1e-12, "{}", r.macro_f1);
    }

    #[test]
    fn table_and_csv_show_every_cell() {
        let r =
            ClassificationReport::new(&names(), &[0, 1, 2, 2], &[0, 1, 2, 1], Some(0.5)).unwrap();
        let t = r.table();
        assert!(t.contains("solar_system") && t.contains("75.00 %"), "{t}");
        let csv = r.confusion_csv();
        assert_eq!(csv.lines().nth(3), Some("solar_system,0,1,1"));
        assert!(ClassificationReport::new(&names(), &[0], &[3], None).is_err());
    }
}
