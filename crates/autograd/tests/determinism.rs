//! Same seed and data → bit-identical parameters, batch-norm statistics and losses after a few
//! training steps, whether rayon runs on one thread or two.

mod common;

use autograd::Tape;
use autograd::optim::Adam;
use common::{batch, state_bits, tiny_net, train_step};

#[test]
fn training_is_bit_identical_on_one_and_two_threads() {
    let hw = 16;
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut model = tiny_net(7, hw);
            let mut opt = Adam::new(1e-2);
            let mut tape = Tape::new();
            let mut losses = Vec::new();
            for step in 0..4 {
                let (images, labels) = batch(100 + step, 8, hw);
                let loss = train_step(&mut model, &mut opt, &mut tape, &images, &labels).unwrap();
                losses.push(loss.to_bits());
            }
            (losses, state_bits(&model))
        })
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.0, two.0, "losses differ");
    assert!(one.1 == two.1, "parameters or running statistics differ between 1 and 2 threads");
    // And the run really trained: parameters moved away from their initial values.
    assert!(state_bits(&tiny_net(7, hw)) != one.1);
}
