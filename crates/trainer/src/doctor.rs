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
//! - **Gradient flow.** A parameter whose gradient is exactly 0 in every entry at every step of
//!   an epoch has stopped learning. A ReLU passes gradient only where its input was positive
//!   (`∂relu(v)/∂v = [v > 0]`), so once every unit of a layer is negative for every image (dead
//!   ReLUs), nothing reaches the parameters in front of it: the paper's Adam trial dies this way.
//!   Collapse says *that* the network stopped learning; this says *where*.

use autograd::Parameter;

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
/// `predicted` are class indices; `classes` names them; `images` says which images they are
/// (e.g. `"validation"`), for the message. Warns when one class takes more than
/// [`COLLAPSE_SHARE`] of the predictions while the split itself is not that lopsided.
pub fn check_collapse(
    predicted: &[usize],
    truth: &[usize],
    classes: &[String],
    images: &str,
) -> Option<Warning> {
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
            "{:.0} % of the {images} images are predicted as `{}` (which is {:.0} % of them): \
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

/// Which parameters received any non-zero gradient during the current epoch.
///
/// Feed it every step's gradients ([`GradientFlow::record`]), ask at the end of the epoch
/// ([`GradientFlow::end_epoch`]). Cheap: a parameter is scanned only until its first non-zero
/// entry each epoch, so a live network costs one comparison per parameter and step, and only a
/// parameter that really gets nothing is read in full.
#[derive(Debug, Clone, Default)]
pub struct GradientFlow {
    /// Parameter names, in the order the network lists them.
    names: Vec<String>,
    /// `reached[i]`: some gradient entry of parameter `i` was non-zero this epoch.
    reached: Vec<bool>,
    /// Steps recorded this epoch.
    steps: usize,
}

impl GradientFlow {
    /// Notes which of `params` got a non-zero gradient in this step.
    pub fn record(&mut self, params: &[&mut Parameter]) {
        if self.names.len() != params.len() {
            self.names = params.iter().map(|p| p.name.clone()).collect();
            self.reached = vec![false; params.len()];
        }
        for (reached, p) in self.reached.iter_mut().zip(params) {
            *reached = *reached || p.grad.data().iter().any(|&g| g != 0.0);
        }
        self.steps += 1;
    }

    /// Ends an epoch of `steps_in_epoch` steps: warns when some parameters got an all-zero
    /// gradient at every step of it, then starts counting afresh.
    ///
    /// An epoch only partly recorded (resumed in its middle) gives no verdict: the steps before
    /// the interruption may have reached the parameters.
    pub fn end_epoch(&mut self, epoch: usize, steps_in_epoch: usize) -> Option<Warning> {
        let dead: Vec<&str> = self
            .names
            .iter()
            .zip(&self.reached)
            .filter(|(_, reached)| !**reached)
            .map(|(name, _)| name.as_str())
            .collect();
        let whole_epoch = self.steps == steps_in_epoch && steps_in_epoch > 0;
        let warning = (whole_epoch && !dead.is_empty()).then(|| {
            const SHOWN: usize = 6;
            let mut listed = dead.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
            if dead.len() > SHOWN {
                listed.push_str(&format!(" and {} more", dead.len() - SHOWN));
            }
            Warning(format!(
                "no gradient reached {listed} ({} of {} parameters) in epoch {epoch}: every \
                 entry was exactly 0 at every step, so they have stopped learning. Usually every \
                 ReLU after them is dead (negative for every image), e.g. after a too-large \
                 step. Try a smaller --lr, batch norm (--arch wide-bn) or the default preset.",
                dead.len(),
                self.names.len()
            ))
        });
        self.reached.iter_mut().for_each(|r| *r = false);
        self.steps = 0;
        warning
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

    fn parameter(name: &str, grad: &[f32]) -> Parameter {
        let mut p = Parameter::new(name, tensor::Tensor::zeros(&[grad.len()]));
        p.grad.data_mut().copy_from_slice(grad);
        p
    }

    #[test]
    fn gradient_flow_names_the_parameters_that_got_nothing_for_a_whole_epoch() {
        let mut flow = GradientFlow::default();
        let mut conv = parameter("features.0.weight", &[0.0, 0.0, 0.0]);
        let mut head = parameter("classifier.4.bias", &[0.0, -0.5]);
        flow.record(&[&mut conv, &mut head]);
        // A single non-zero entry in one step is enough to count as reached.
        conv.grad.data_mut()[2] = 1e-30;
        flow.record(&[&mut conv, &mut head]);
        assert_eq!(flow.end_epoch(1, 2), None);

        // Next epoch nothing reaches the convolution at any step.
        conv.grad.data_mut().fill(0.0);
        for _ in 0..3 {
            flow.record(&[&mut conv, &mut head]);
        }
        let w = flow.end_epoch(2, 3).expect("a dead parameter");
        assert!(w.0.contains("features.0.weight (1 of 2 parameters) in epoch 2"), "{}", w.0);
        assert!(!w.0.contains("classifier.4.bias"), "{}", w.0);

        // An epoch resumed in its middle (2 of its 3 steps seen here) gives no verdict.
        flow.record(&[&mut conv, &mut head]);
        flow.record(&[&mut conv, &mut head]);
        assert_eq!(flow.end_epoch(3, 3), None);
    }

    /// One real backward pass of the paper's network (32×32, batch 4) into `flow`; with
    /// `dead`, the bias in front of the last ReLU is set to −100 first, so that ReLU is 0 for
    /// every image.
    fn paper_step(flow: &mut GradientFlow, dead: bool) {
        use crate::config::{Architecture, InitScheme};
        use crate::model::{Network, NetworkSpec};
        use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
        use autograd::nn::Module;

        let spec = NetworkSpec {
            architecture: Architecture::Paper,
            init: InitScheme::PytorchDefault,
            image_size: 32,
            classes: 3,
            dropout: 0.0,
            seed: 5,
        };
        let mut net = Network::new(&spec);
        if dead {
            let mut params = net.parameters_mut();
            let bias = params.iter_mut().find(|p| p.name == "classifier.2.bias").unwrap();
            bias.value.data_mut().fill(-100.0);
        }
        let mut x = tensor::Tensor::zeros(&[4, 3, 32, 32]);
        let mut rng = tensor::Rng::keyed(9, &[]);
        x.data_mut().iter_mut().for_each(|v| *v = rng.next_f32());
        let mut tape = autograd::Tape::new();
        let xv = tape.input(x);
        let logits = net.forward(&mut tape, xv).unwrap();
        let loss = softmax_cross_entropy(
            &mut tape,
            logits,
            &[0, 1, 2, 0],
            &CrossEntropyOptions::default(),
        )
        .unwrap();
        tape.backward(loss).unwrap();
        let mut params = net.parameters_mut();
        tape.take_param_grads(&mut params).unwrap();
        flow.record(&params);
    }

    #[test]
    fn gradient_flow_sees_a_dead_relu_stop_every_gradient_before_it() {
        let mut flow = GradientFlow::default();
        paper_step(&mut flow, false);
        assert_eq!(flow.end_epoch(1, 1), None, "every parameter of a live network learns");

        paper_step(&mut flow, true);
        let w = flow.end_epoch(2, 1).expect("a dead network");
        // Only the output layer's bias still gets a gradient: its weight multiplies the dead
        // ReLU's zeros, and everything in front of the ReLU gets its zero gradient.
        assert!(w.0.contains("(15 of 16 parameters)"), "{}", w.0);
        assert!(w.0.contains("features.0.weight") && !w.0.contains("classifier.4.bias"), "{}", w.0);
    }

    #[test]
    fn gradient_flow_lists_at_most_six_names() {
        let mut flow = GradientFlow::default();
        let mut params: Vec<Parameter> =
            (0..8).map(|i| parameter(&format!("layer{i}.weight"), &[0.0])).collect();
        let mut live = parameter("head.bias", &[1.0]);
        let mut refs: Vec<&mut Parameter> = params.iter_mut().collect();
        refs.push(&mut live);
        flow.record(&refs);
        let w = flow.end_epoch(1, 1).expect("dead parameters");
        assert!(w.0.contains("layer5.weight and 2 more (8 of 9 parameters)"), "{}", w.0);
        assert!(!w.0.contains("layer6.weight"), "{}", w.0);
    }

    #[test]
    fn collapse_is_flagged_only_when_the_data_is_not_lopsided() {
        let truth = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
        let collapsed = [1; 10];
        let w = check_collapse(&collapsed, &truth, &names(), "validation").unwrap();
        assert!(w.0.contains("100 % of the validation images") && w.0.contains("`b`"), "{}", w.0);
        assert_eq!(check_collapse(&truth, &truth, &names(), "validation"), None);
        // A split that really is 95 % one class predicted as such is not a collapse.
        let mut lopsided = [0usize; 20];
        lopsided[0] = 1;
        assert_eq!(check_collapse(&[0; 20], &lopsided, &names(), "validation"), None);
    }
}
