//! The training doctor: cheap checks that catch the classic failures early and say what to try.
//!
//! - **Initial loss.** With K classes and an untrained network that has no preference, softmax
//!   gives each class ≈ 1/K, so cross-entropy starts near ln K (1.0986 for 3 classes). Far above
//!   means the logits are huge (init too large, inputs not scaled); far below means the labels
//!   leak or the loss is wrong.
//! - **Collapse.** A network that predicts (almost) one class for everything has stopped
//!   learning from the images: the paper's reported failure. Checked on the validation split.
//! - **Non-finite values.** A NaN/Inf in the loss or a gradient ruins every later step; the run
//!   stops (exit code 4) naming the layer, and the last good checkpoint is kept.

/// A warning to print; training goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning(pub String);

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "doctor: {}", self.0)
    }
}

/// The share of predictions in one class above which the doctor calls it a collapse.
pub const COLLAPSE_SHARE: f64 = 0.9;

/// Checks the mean loss of the first training batch against ln K.
///
/// Warns when it lies outside [0.5·ln K, 2·ln K]: a network that has not learnt anything yet
/// should be roughly uniform over the classes.
pub fn check_initial_loss(loss: f32, classes: usize) -> Option<Warning> {
    let expected = (classes as f32).ln();
    if !loss.is_finite() || classes < 2 {
        return None;
    }
    if loss > 2.0 * expected {
        Some(Warning(format!(
            "the first loss is {loss:.3}, far above ln {classes} = {expected:.3}: the initial \
             logits are large. Check the initialisation (--init) and the input scaling."
        )))
    } else if loss < 0.5 * expected {
        Some(Warning(format!(
            "the first loss is {loss:.3}, far below ln {classes} = {expected:.3}: an untrained \
             network should not be this sure. Check the labels and the data split."
        )))
    } else {
        None
    }
}

/// Checks whether the predictions on a split have collapsed onto one class.
///
/// `predicted` are class indices; `classes` names them. Warns when one class takes more than
/// [`COLLAPSE_SHARE`] of the predictions while the split itself is not that lopsided.
pub fn check_collapse(predicted: &[usize], truth: &[usize], classes: &[String]) -> Option<Warning> {
    if predicted.is_empty() || classes.len() < 2 {
        return None;
    }
    let share_of = |labels: &[usize], c: usize| {
        labels.iter().filter(|&&p| p == c).count() as f64 / labels.len() as f64
    };
    let (top, share) = (0..classes.len())
        .map(|c| (c, share_of(predicted, c)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let true_share = share_of(truth, top);
    if share > COLLAPSE_SHARE && true_share <= COLLAPSE_SHARE {
        Some(Warning(format!(
            "{:.0} % of the validation images are predicted as `{}` (which is {:.0} % of them): \
             the network has collapsed onto one class. Try a smaller --lr, batch norm \
             (--arch wide-bn), class balancing (--balance weighted-loss) or the default preset.",
            100.0 * share,
            classes[top],
            100.0 * true_share
        )))
    } else {
        None
    }
}

/// The message for a non-finite loss at a given step.
pub fn non_finite_loss(loss: f32, epoch: usize, step: usize) -> String {
    format!(
        "the loss became {loss} at epoch {epoch}, step {step}: training diverged. \
         Try a smaller --lr, --grad-clip, or batch norm (--arch wide-bn)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    #[test]
    fn initial_loss_near_ln_k_is_fine() {
        assert_eq!(check_initial_loss(1.10, 3), None);
        assert_eq!(check_initial_loss(0.7, 3), None);
        assert!(check_initial_loss(5.0, 3).unwrap().0.contains("far above"));
        assert!(check_initial_loss(0.1, 3).unwrap().0.contains("far below"));
    }

    #[test]
    fn collapse_is_flagged_only_when_the_data_is_not_lopsided() {
        let truth = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
        let collapsed = [1; 10];
        let w = check_collapse(&collapsed, &truth, &names()).unwrap();
        assert!(w.0.contains("100 %") && w.0.contains("`b`"), "{}", w.0);
        assert_eq!(check_collapse(&truth, &truth, &names()), None);
        // A split that really is 95 % one class predicted as such is not a collapse.
        let mut lopsided = [0usize; 20];
        lopsided[0] = 1;
        assert_eq!(check_collapse(&[0; 20], &lopsided, &names()), None);
    }
}
