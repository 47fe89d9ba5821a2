//! The training loop: epochs of augmented batches, validation after each epoch, checkpoints,
//! the best model by validation accuracy (ties: lower validation loss), and the test report at
//! the end.
//!
//! Reproducibility: every random choice is keyed, never drawn from a running stream — weights
//! by `(seed, INIT)`, the epoch order by `(seed, epoch)`, each image's augmentation by
//! `(seed, epoch, index)`, dropout by `(seed, step)`, the mixing of a batch's pairs (mixup,
//! CutMix) by `(seed, MIX_STREAM, step)`. So the position `(epoch, step)` plus the
//! weights and optimizer state in a checkpoint determine the rest of the run, and `--resume`
//! ends with the same bits as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use augment::{Dataset, Pipeline, Split};
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::Module;
use autograd::optim::{Adam, AdamW, Optimizer, Sgd};
use autograd::schedule::{LrSchedule, Schedule, clip_factor};
use autograd::{AutogradError, Tape};
use indicatif::{ProgressBar, ProgressStyle};
use tensor::{Rng, Tensor};

use crate::config::{ClassBalance, OptimizerKind, ScheduleKind, TrainConfig};
use crate::evaluate::{Evaluation, evaluate, predictions, views};
use crate::exit::Failure;
use crate::metrics::{self, EpochRecord};
use crate::model::{Network, NetworkSpec};
use crate::report::ClassificationReport;
use crate::run_dir::{RunDir, TrainState};
use crate::{data, doctor, plot};

/// How a call to [`train_new`] or [`resume`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// All epochs done; the test report (if the folder has a test split) was written.
    Finished,
    /// Stopped by `--stop-after-steps` after this many steps; resume with `--resume`.
    Stopped(usize),
}

/// Key word of the batch-mixing streams `Rng::keyed(seed, [MIX_STREAM, step])`.
const MIX_STREAM: u64 = u64::MAX - 4;

/// Batch size of evaluation passes (memory only; results do not depend on it).
const EVAL_BATCH: usize = 64;

/// The network spec a configuration describes, for `classes` classes.
pub fn network_spec(config: &TrainConfig, classes: usize) -> NetworkSpec {
    NetworkSpec {
        architecture: config.architecture,
        init: config.init,
        image_size: config.image_size,
        classes,
        dropout: config.dropout,
        seed: config.seed,
    }
}

/// Starts a new run of `config` in the folder `out`.
///
/// # Errors
/// Bad data ([`Failure::BadInput`]), an existing run in `out` ([`Failure::Usage`]), divergence
/// ([`Failure::Training`]), or I/O errors naming the file.
pub fn train_new(
    config: TrainConfig,
    out: PathBuf,
    stop_after_steps: Option<usize>,
) -> anyhow::Result<Outcome> {
    let ds = data::load_folder(&config.data, config.image_size, config.augment)?;
    if ds.classes.len() < 2 {
        // One class trains to a constant output at zero loss: nothing to learn.
        return Err(Failure::BadInput(format!(
            "{}: only one class folder ({:?}); a classifier needs at least two, one sub-folder \
             per class",
            config.data.display(),
            ds.classes
        ))
        .into());
    }
    let split = data::run_split(&ds, &config)?;
    let dir = RunDir::create(out)?;
    dir.write_json(&dir.config(), &config)?;
    dir.write_json(&dir.classes(), &ds.classes)?;
    let net = Network::new(&network_spec(&config, ds.classes.len()));
    let opt = optimizer(&config);
    println!(
        "run folder {}\ndata {}: {} images, classes {:?}; split {} train / {} val / {} test{}{}{}{}",
        dir.root().display(),
        ds.root.display(),
        ds.len(),
        ds.classes,
        split.train.len(),
        split.val.len(),
        split.test.len(),
        if ds.manifest.is_some() { " (from manifest.csv)" } else { " (seeded group split)" },
        match config.cross_validation {
            Some(cv) => format!("; cross-validation fold {cv} of train + val"),
            None => String::new(),
        },
        if config.train_fraction < 1.0 {
            format!("; training on {} % of the training objects", 100.0 * config.train_fraction)
        } else {
            String::new()
        },
        if config.refit {
            "; refit: the validation images are trained on too, the last epoch's weights are kept"
        } else {
            ""
        }
    );
    let start = Start { net, opt, state: TrainState::start(), history: vec![] };
    Session::new(config, ds, split, dir, start)?.run(stop_after_steps)
}

/// Continues the run in `run` from its last checkpoint.
///
/// # Errors
/// As [`train_new`]; [`Failure::BadInput`] when the folder is not a resumable run.
pub fn resume(run: &Path, stop_after_steps: Option<usize>) -> anyhow::Result<Outcome> {
    let dir = RunDir::open(run)?;
    let mut config = dir.read_config()?;
    let classes = dir.read_classes()?;
    let state: TrainState = dir.read_json(&dir.state())?;
    if state.finished {
        println!("{}: this run has already finished all {} epochs", run.display(), config.epochs);
        return Ok(Outcome::Finished);
    }
    let Some(checkpoint) = state.checkpoint.clone() else {
        return Err(Failure::BadInput(format!(
            "{}: state.json names no checkpoint",
            run.display()
        ))
        .into());
    };
    // Runs written before data paths were stored absolute name it relative to where they ran.
    config.data = crate::run_dir::resolve_data_dir(&config.data);
    let ds = data::load_folder(&config.data, config.image_size, config.augment)?;
    if ds.classes != classes {
        return Err(Failure::BadInput(format!(
            "{}: its classes are now {:?}, but the run was trained on {:?}",
            config.data.display(),
            ds.classes,
            classes
        ))
        .into());
    }
    let split = data::run_split(&ds, &config)?;
    let mut net = Network::new(&network_spec(&config, classes.len()));
    let mut opt = optimizer(&config);
    let path = dir.file(&checkpoint);
    autograd::io::load(&path, &mut net, Some(opt.as_mut()))
        .map_err(|e| Failure::BadInput(format!("resuming from {}: {e}", path.display())))?;
    let mut history = metrics::read(&dir.metrics())?;
    history.retain(|r| r.epoch <= state.epoch);
    println!(
        "resuming {} at epoch {}, step {} of the epoch ({} steps done)",
        run.display(),
        state.epoch + 1,
        state.step_in_epoch,
        state.global_step
    );
    let start = Start { net, opt, state, history };
    Session::new(config, ds, split, dir, start)?.run(stop_after_steps)
}

/// The optimizer a configuration asks for, at its base learning rate.
pub fn optimizer(config: &TrainConfig) -> Box<dyn Optimizer> {
    match config.optimizer {
        OptimizerKind::Sgd => Box::new(
            Sgd::new(config.lr).momentum(config.momentum).weight_decay(config.weight_decay),
        ),
        OptimizerKind::Adam => Box::new(Adam::new(config.lr).weight_decay(config.weight_decay)),
        OptimizerKind::Adamw => Box::new(AdamW::new(config.lr).weight_decay(config.weight_decay)),
    }
}

/// Where a session starts: fresh, or as loaded from a checkpoint.
struct Start {
    net: Network,
    opt: Box<dyn Optimizer>,
    state: TrainState,
    history: Vec<EpochRecord>,
}

/// One run in progress: everything the loop reads and updates.
struct Session {
    config: TrainConfig,
    ds: Dataset,
    split: Split,
    dir: RunDir,
    net: Network,
    opt: Box<dyn Optimizer>,
    schedule: Schedule,
    class_weights: Option<Vec<f32>>,
    pipeline: Pipeline,
    val: Vec<(Tensor, Vec<usize>)>,
    state: TrainState,
    history: Vec<EpochRecord>,
    tape: Tape,
    collapse_warned: bool,
    /// Which parameters got any gradient this epoch (the doctor's gradient-flow check).
    gradient_flow: doctor::GradientFlow,
    dead_warned: bool,
}

impl Session {
    fn new(
        config: TrainConfig,
        ds: Dataset,
        split: Split,
        dir: RunDir,
        start: Start,
    ) -> anyhow::Result<Self> {
        let Start { net, opt, state, history } = start;
        let steps_per_epoch = split.train.len().div_ceil(config.batch_size);
        let kind = match config.schedule {
            ScheduleKind::Constant => LrSchedule::Constant,
            ScheduleKind::Step => LrSchedule::Step {
                step_size: config.step_every_epochs * steps_per_epoch,
                gamma: config.step_gamma,
            },
            ScheduleKind::Cosine => {
                LrSchedule::Cosine { t_max: config.epochs * steps_per_epoch, eta_min: 0.0 }
            }
        };
        let schedule = Schedule::new(config.lr, kind, config.warmup_epochs * steps_per_epoch)?;
        let class_weights = match config.class_balance {
            ClassBalance::None => None,
            ClassBalance::WeightedLoss => Some(data::balanced_class_weights(&ds, &split.train)),
        };
        let pipeline = data::train_pipeline(config.augment, config.image_size)?;
        let val = data::eval_batches(&ds, &split.val, config.image_size, EVAL_BATCH)?;
        Ok(Self {
            config,
            ds,
            split,
            dir,
            net,
            opt,
            schedule,
            class_weights,
            pipeline,
            val,
            state,
            history,
            tape: Tape::new(),
            collapse_warned: false,
            gradient_flow: doctor::GradientFlow::default(),
            dead_warned: false,
        })
    }

    fn run(mut self, stop_after_steps: Option<usize>) -> anyhow::Result<Outcome> {
        let seed = self.config.seed;
        while self.state.epoch < self.config.epochs {
            let epoch = self.state.epoch;
            let order = augment::shuffled_epoch(&self.split.train, seed, epoch as u64);
            let batches: Vec<Vec<usize>> =
                order.chunks(self.config.batch_size).map(<[usize]>::to_vec).collect();
            let bar = progress_bar(epoch, self.config.epochs, batches.len());
            bar.set_position(self.state.step_in_epoch as u64);
            let started = Instant::now();
            let mut images = 0usize;
            for chunk in batches.iter().skip(self.state.step_in_epoch) {
                self.step(chunk, epoch, &bar)?;
                images += chunk.len();
                let seen = self.state.epoch_seen.max(1) as f64;
                bar.set_message(format!(
                    "loss {:.4}  acc {:5.1} %  {:.0} img/s",
                    self.state.epoch_loss_sum / self.state.step_in_epoch.max(1) as f64,
                    100.0 * self.state.epoch_correct as f64 / seen,
                    images as f64 / started.elapsed().as_secs_f64().max(1e-9)
                ));
                bar.inc(1);
                if stop_after_steps == Some(self.state.global_step) {
                    bar.finish_and_clear();
                    self.save_checkpoint()?;
                    println!(
                        "stopped after {} steps as asked; continue with: trainer train --resume {}",
                        self.state.global_step,
                        self.dir.root().display()
                    );
                    return Ok(Outcome::Stopped(self.state.global_step));
                }
            }
            let train_seconds = started.elapsed().as_secs_f64();
            bar.finish_and_clear();
            self.end_epoch(started, images as f64 / train_seconds.max(1e-9))?;
        }
        self.finish()
    }

    /// One optimizer step on the batch `chunk` of `epoch`.
    fn step(&mut self, chunk: &[usize], epoch: usize, bar: &ProgressBar) -> anyhow::Result<()> {
        let (mut x, targets) =
            augment::make_batch(&self.ds, chunk, &self.pipeline, self.config.seed, epoch as u64)
                .with_context(|| format!("building a batch of epoch {}", epoch + 1))?;
        let step = self.state.global_step;
        // Mixup / CutMix: image i becomes a mix of itself (share λ) and image partner[i].
        let mixed = match self.config.mix.kind() {
            Some(kind) => {
                let mut rng = Rng::keyed(self.config.seed, &[MIX_STREAM, step as u64]);
                let mixed = augment::mix_batch(&mut x, kind, self.config.mix_alpha, &mut rng)?;
                let partner_targets = mixed.partner_targets(&targets);
                Some((mixed.lambda, partner_targets))
            }
            None => None,
        };
        self.opt.set_lr(self.schedule.lr_at(step));
        self.net.set_step(step as u64);
        let options = CrossEntropyOptions {
            class_weights: self.class_weights.as_deref(),
            label_smoothing: self.config.label_smoothing,
        };
        let tape = &mut self.tape;
        tape.reset();
        let xv = tape.input(x);
        let logits = self.net.forward(tape, xv)?;
        if let Err(AutogradError::NonFinite { .. }) =
            autograd::doctor::check_tensor(tape.value(logits)?, String::new)
        {
            let culprit = tape.check_finite().err().map_or_else(String::new, |e| e.to_string());
            return Err(self.diverged(format!("the forward pass produced NaN/Inf: {culprit}")));
        }
        // With mixing, the loss is λ·CE(z, y) + (1 − λ)·CE(z, y_partner): cross-entropy against
        // the mixed label.
        let loss = match &mixed {
            None => softmax_cross_entropy(tape, logits, &targets, &options)?,
            Some((lambda, partner_targets)) => {
                let own = softmax_cross_entropy(tape, logits, &targets, &options)?;
                let other = softmax_cross_entropy(tape, logits, partner_targets, &options)?;
                let own = autograd::ops::scale(tape, own, *lambda)?;
                let other = autograd::ops::scale(tape, other, 1.0 - lambda)?;
                autograd::ops::add(tape, own, other)?
            }
        };
        let loss_value = tape.scalar(loss)?;
        if !loss_value.is_finite() {
            return Err(self.diverged(doctor::non_finite_loss(loss_value, epoch + 1, step)));
        }
        if step == 0
            && let Some(w) = doctor::check_initial_loss(loss_value, self.ds.classes.len())
        {
            bar.suspend(|| eprintln!("{w}"));
        }
        // A mixed image counts as right when the prediction names its larger share.
        let scored = match &mixed {
            Some((lambda, partner_targets)) if *lambda < 0.5 => partner_targets,
            _ => &targets,
        };
        let correct =
            predictions(tape.value(logits)?).iter().zip(scored).filter(|(p, t)| p == t).count();
        tape.backward(loss)?;
        // One backward per step: the tape's gradient buffers become the parameters' gradients
        // by swapping, with no zeroing and no summing pass (and no allocation). One parameter
        // list serves the whole update (each list is a few small allocations).
        let mut params = self.net.parameters_mut();
        tape.take_param_grads(&mut params)?;
        // One pass over values and gradients: the doctor's NaN/Inf check and ‖g‖ for clipping.
        let norm = match autograd::doctor::checked_grad_norm(&params) {
            Ok(norm) => norm,
            Err(e) => {
                return Err(self.diverged(format!("{e} at epoch {}, step {step}", epoch + 1)));
            }
        };
        self.gradient_flow.record(&params);
        // Clipping scales each gradient inside the update (same bits as scaling it first).
        let grad_scale = match self.config.grad_clip {
            Some(max_norm) => clip_factor(norm, max_norm)?,
            None => 1.0,
        };
        self.opt.step_scaled(&mut params, grad_scale)?;
        let s = &mut self.state;
        s.global_step += 1;
        s.step_in_epoch += 1;
        s.epoch_loss_sum += f64::from(loss_value);
        s.epoch_correct += correct;
        s.epoch_seen += targets.len();
        Ok(())
    }

    /// The training-failure error, naming where the last good checkpoint is.
    fn diverged(&self, what: String) -> anyhow::Error {
        let kept = match &self.state.checkpoint {
            Some(c) => format!("the last good checkpoint is {}", self.dir.file(c).display()),
            None => "no checkpoint was written yet".to_string(),
        };
        Failure::Training(format!("{what}; training stopped ({kept})")).into()
    }

    fn end_epoch(&mut self, started: Instant, images_per_second: f64) -> anyhow::Result<()> {
        let views = views(self.config.test_time_augmentation);
        let val = evaluate(&mut self.net, &mut self.tape, &self.val, views)?;
        let s = &self.state;
        let record = EpochRecord {
            epoch: s.epoch + 1,
            lr: self.opt.lr(),
            train_loss: (s.epoch_loss_sum / s.step_in_epoch.max(1) as f64) as f32,
            train_acc: (s.epoch_correct as f64 / s.epoch_seen.max(1) as f64) as f32,
            val_loss: val.mean_loss as f32,
            val_acc: val.accuracy() as f32,
            seconds: started.elapsed().as_secs_f32(),
            images_per_second: images_per_second as f32,
        };
        // Better accuracy, or the same accuracy at a lower loss: with ~90 validation images
        // many epochs tie on accuracy, and the loss tells the more confident of them apart.
        // A refit trains on its validation images, so they cannot choose: the last epoch wins.
        let improved = self.config.refit
            || self.state.best.is_none_or(|(best_acc, best_epoch)| {
                let best_loss =
                    self.history.iter().find(|r| r.epoch == best_epoch).map(|r| r.val_loss);
                record.val_acc > best_acc
                    || (record.val_acc == best_acc
                        && best_loss.is_some_and(|l| record.val_loss < l))
            });
        println!(
            "epoch {:>3}/{}  train loss {:.4} acc {:5.1} %  val loss {:.4} acc {:5.1} %  lr {:.2e}  \
             {:.1} s ({:.0} img/s){}",
            record.epoch,
            self.config.epochs,
            record.train_loss,
            100.0 * record.train_acc,
            record.val_loss,
            100.0 * record.val_acc,
            record.lr,
            record.seconds,
            record.images_per_second,
            if improved && !self.config.refit { "  * best" } else { "" }
        );
        // Batch norm's running statistics are still settling during warm-up: judge after it.
        if !self.collapse_warned
            && record.epoch > self.config.warmup_epochs.max(1)
            && let Some(w) =
                doctor::check_collapse(&val.predicted, &val.truth, &self.ds.classes, "validation")
        {
            eprintln!("{w}");
            self.collapse_warned = true;
        }
        let steps_in_epoch = self.split.train.len().div_ceil(self.config.batch_size);
        if let Some(w) = self.gradient_flow.end_epoch(record.epoch, steps_in_epoch)
            && !self.dead_warned
        {
            eprintln!("{w}");
            self.dead_warned = true;
        }
        if improved {
            let best = self.dir.best();
            crate::atomic::write_with(&best, |tmp| autograd::io::save(tmp, &self.net, None))?;
            self.state.best = Some((record.val_acc, record.epoch));
        }
        self.history.push(record);
        let s = &mut self.state;
        s.epoch += 1;
        s.step_in_epoch = 0;
        s.epoch_loss_sum = 0.0;
        s.epoch_correct = 0;
        s.epoch_seen = 0;
        self.save_checkpoint()?;
        let title = format!(
            "{} ({:?} preset, seed {})",
            self.dir.root().display(),
            self.config.preset,
            self.config.seed
        );
        plot::draw_curves(&self.history, &title, &self.dir.curves())
    }

    /// Writes the checkpoint of the current step, then `metrics.csv`, then switches
    /// `state.json` to it and deletes the previous checkpoint.
    fn save_checkpoint(&mut self) -> anyhow::Result<()> {
        let name = RunDir::checkpoint_name(self.state.global_step);
        let path = self.dir.file(&name);
        crate::atomic::write_with(&path, |tmp| {
            autograd::io::save(tmp, &self.net, Some(self.opt.as_ref()))
        })?;
        metrics::write(&self.dir.metrics(), &self.history)?;
        let previous = self.state.checkpoint.replace(name.clone());
        self.dir.write_json(&self.dir.state(), &self.state)?;
        if let Some(old) = previous.filter(|old| *old != name) {
            std::fs::remove_file(self.dir.file(&old))
                .with_context(|| format!("removing the old checkpoint {old}"))?;
        }
        Ok(())
    }

    /// Marks the run finished and writes the test report of the best weights (not for a
    /// cross-validation fold).
    fn finish(mut self) -> anyhow::Result<Outcome> {
        self.state.finished = true;
        self.dir.write_json(&self.dir.state(), &self.state)?;
        let Some((best_acc, best_epoch)) = self.state.best else {
            return Ok(Outcome::Finished);
        };
        if self.config.refit {
            println!(
                "refit: the last epoch's weights (epoch {best_epoch}) in {}; validation \
                 accuracy {:.2} % on images the run trained on",
                self.dir.best().display(),
                100.0 * best_acc
            );
        } else {
            println!(
                "best validation accuracy {:.2} % at epoch {best_epoch}; weights in {}",
                100.0 * best_acc,
                self.dir.best().display()
            );
        }
        if self.split.test.is_empty() {
            eprintln!("note: the data has no test split, so there is no test report");
            return Ok(Outcome::Finished);
        }
        if let Some(cv) = self.config.cross_validation {
            // A cross-validation run scores a setting on its fold; looking at the test split
            // for every fold of every setting tried would turn it into a second validation set.
            println!(
                "cross-validation fold {cv}: no test report (score the setting on the folds' \
                 validation results; test the chosen setting once, without --cv-fold)"
            );
            return Ok(Outcome::Finished);
        }
        autograd::io::load(&self.dir.best(), &mut self.net, None)?;
        let test =
            data::eval_batches(&self.ds, &self.split.test, self.config.image_size, EVAL_BATCH)?;
        let views = views(self.config.test_time_augmentation);
        let result: Evaluation = evaluate(&mut self.net, &mut self.tape, &test, views)?;
        let report = ClassificationReport::new(
            &self.ds.classes,
            &result.truth,
            &result.predicted,
            Some(result.mean_loss),
        )?;
        println!("\ntest split, best weights (epoch {best_epoch}):\n{}", report.table());
        report.save(self.dir.root(), "test")?;
        Ok(Outcome::Finished)
    }
}

fn progress_bar(epoch: usize, epochs: usize, steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
    bar
}
