//! Fast elementwise ops against the f64 reference, and the thread-count independence of `sum`.

use super::*;
use crate::Rng;
use proptest::prelude::*;

fn random(dims: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::from_fn(dims, |_| rng.uniform(-1.0, 1.0))
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    t.data().iter().map(|&v| f64::from(v)).collect()
}

proptest! {
    #[test]
    fn add_matches_the_reference(n in 1usize..5, len in prop::sample::select(vec![1usize, 7, 8, 9, 17, 40_000]), seed in 0u64..1000) {
        let a = random(&[n, len], seed);
        let b = random(&[n, len], seed + 1);
        let y = add(&a, &b).unwrap();
        let want = reference::add(&to_f64(&a), &to_f64(&b));
        for (got, want) in y.data().iter().zip(&want) {
            // One f32 rounding of an exact f64 sum.
            prop_assert!((f64::from(*got) - want).abs() <= 1e-7 * want.abs().max(1.0));
        }
        let mut acc = a.clone();
        add_assign(&mut acc, &b).unwrap();
        prop_assert_eq!(acc, y);
    }

    #[test]
    fn sum_and_mean_match_the_reference(len in prop::sample::select(vec![0usize, 1, 7, 4095, 4096, 4097, 100_003]), seed in 0u64..1000) {
        let x = random(&[len], seed);
        let want = reference::sum(&to_f64(&x));
        // f64 accumulation of at most 1e5 terms of size ≤ 1: the only visible error is the final
        // rounding to f32.
        prop_assert!((f64::from(sum(&x)) - want).abs() <= 1e-6 * want.abs().max(1.0));
        if len > 0 {
            let m = f64::from(mean(&x).unwrap());
            prop_assert!((m - want / len as f64).abs() <= 1e-6 * (want / len as f64).abs().max(1e-3));
        }
    }
}

#[test]
fn scale_is_its_own_backward_and_broadcast_fills() {
    let x = Tensor::from_vec(&[2, 2], vec![1.0, -2.0, 0.5, 0.0]).unwrap();
    assert_eq!(scale(&x, -3.0).data(), &[-3.0, 6.0, -1.5, 0.0]);
    let mut y = x.clone();
    scale_in_place(&mut y, -3.0);
    assert_eq!(y, scale(&x, -3.0));
    let mut dx = Tensor::default();
    broadcast_into(0.25, &[3, 1], &mut dx);
    assert_eq!(dx.dims(), &[3, 1]);
    assert_eq!(dx.data(), &[0.25; 3]);
}

#[test]
fn sum_is_bit_identical_for_one_and_two_threads() {
    let x = random(&[300_001], 9);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| (sum(&x).to_bits(), mean(&x).unwrap().to_bits()))
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn bad_shapes_and_empty_means_are_errors() {
    let a = Tensor::zeros(&[2, 3]);
    let b = Tensor::zeros(&[3, 2]);
    let err = add(&a, &b).unwrap_err();
    assert!(err.to_string().starts_with("add: shapes [2, 3] and [3, 2]"), "{err}");
    assert!(add_assign(&mut a.clone(), &b).is_err());
    assert!(mean(&Tensor::zeros(&[0])).is_err());
    assert_eq!(sum(&Tensor::zeros(&[0])), 0.0);
}
