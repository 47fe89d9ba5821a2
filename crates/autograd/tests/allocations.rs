//! Issue 2: once a training loop has warmed up, a step allocates nothing on the heap.
//!
//! This binary installs a global allocator that counts every allocation (its own binary, so the
//! counting applies nowhere else), runs a small CNN on the tape (conv, batch norm, relu,
//! max-pool, dropout, linear, cross-entropy, SGD with momentum or AdamW, `tape.reset()`), and
//! counts what the steps after the warm-up allocate, at two batch sizes.
//!
//! The only allocations left are those of the `Vec<&mut Parameter>` list that
//! `Module::parameters_mut` builds (the loop asks for one per step and hands it to
//! `take_param_grads` and `opt.step`): a fixed count per step that depends on the model's
//! layout, not on the batch size or the step number. The test measures that count on its own
//! and asserts a step allocates exactly that.
//!
//! rayon: every parallel loop called from outside the pool pushes one job onto the pool's
//! injector queue, which allocates a new block every 63 jobs. That is amortised, not per step,
//! and disappears when the loop itself runs on a pool thread, which is how this test runs it.
//! The pool has one thread so that the count is exact: with two, work stealing decides which
//! thread first runs which piece of a layer, and a step after the warm-up occasionally made a
//! few more allocations (3 once, at batch 8) before settling.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use autograd::init::Init;
use autograd::loss::{CrossEntropyOptions, softmax_cross_entropy};
use autograd::nn::{
    BatchNorm2d, Conv2d, Conv2dParams, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU,
    Sequential,
};
use autograd::optim::{AdamW, Optimizer, Sgd};
use autograd::{Result, Tape};
use tensor::{Rng, Tensor};

/// Allocations (including reallocations) made by any thread since the program started.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the counter is a relaxed atomic and never affects the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// conv 3→8 → batch norm → relu → 2×2 max-pool → conv 8→8 → relu → 2×2 max-pool → flatten →
/// linear → relu → dropout → linear to 3 classes, for `hw`×`hw` images.
fn small_cnn(hw: usize) -> Sequential {
    let mut rng = Rng::new(7);
    let same = Conv2dParams { stride: 1, padding: 1 };
    Sequential::new(vec![
        Box::new(Conv2d::new(3, 8, 3, same, Init::KaimingNormal, &mut rng).without_bias()),
        Box::new(BatchNorm2d::new(8)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Conv2d::new(8, 8, 3, same, Init::KaimingNormal, &mut rng)),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(Flatten),
        Box::new(Linear::new(8 * (hw / 4) * (hw / 4), 16, Init::PytorchDefault, &mut rng)),
        Box::new(ReLU),
        Box::new(Dropout::new(0.25, Rng::new(8)).expect("0.25 is a valid p")),
        Box::new(Linear::new(16, 3, Init::PytorchDefault, &mut rng)),
    ])
}

/// One training step as the trainer runs it.
fn step(
    model: &mut Sequential,
    opt: &mut dyn Optimizer,
    tape: &mut Tape,
    images: &Tensor,
    labels: &[usize],
) -> Result<f32> {
    tape.reset();
    let x = tape.input_from(images);
    let logits = model.forward(tape, x)?;
    let opts = CrossEntropyOptions { class_weights: None, label_smoothing: 0.1 };
    let loss = softmax_cross_entropy(tape, logits, labels, &opts)?;
    tape.backward(loss)?;
    let mut params = model.parameters_mut();
    tape.take_param_grads(&mut params)?;
    opt.step(&mut params)?;
    tape.scalar(loss)
}

/// Allocations of each of `steps` steps after `warmup` steps, at batch size `n` of 20×20 images.
fn allocations_per_step(
    opt: &mut dyn Optimizer,
    n: usize,
    warmup: usize,
    steps: usize,
) -> Vec<u64> {
    let hw = 20;
    let mut model = small_cnn(hw);
    let mut tape = Tape::new();
    let mut rng = Rng::new(n as u64);
    let images = Tensor::from_fn(&[n, 3, hw, hw], |_| rng.uniform(0.0, 1.0));
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let mut counts = Vec::with_capacity(steps);
    let mut losses = Vec::with_capacity(warmup + steps);
    for i in 0..warmup + steps {
        let before = allocations();
        let loss = step(&mut model, opt, &mut tape, &images, &labels).expect("valid step");
        let after = allocations();
        losses.push(loss);
        if i >= warmup {
            counts.push(after - before);
        }
    }
    // The steps really train: the loss on this fixed batch goes down.
    assert!(losses[losses.len() - 1] < losses[0], "losses {losses:?}");
    counts
}

#[test]
fn a_warmed_up_training_step_allocates_only_the_parameter_list() {
    // A pool of our own, and every step on its thread: see the module docs on rayon.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("one thread");
    pool.install(|| {
        let list = {
            let mut model = small_cnn(20);
            let before = allocations();
            drop(model.parameters_mut());
            allocations() - before
        };
        assert!(list > 0, "a Vec of 8 parameters is on the heap");
        for n in [2, 8] {
            let sgd = &mut Sgd::new(0.01).momentum(0.9);
            let adamw = &mut AdamW::new(0.01);
            for opt in [sgd as &mut dyn Optimizer, adamw] {
                let counts = allocations_per_step(opt, n, 2, 4);
                assert_eq!(counts, vec![list; 4], "batch {n}, {opt:?}: allocations per step");
            }
        }
    });
}
