//! Global average pooling: fast == reference, backward == central differences (f64 reference;
//! the op is linear, so there are no kinks to avoid).

use super::*;
use crate::Rng;
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = Shape4> {
    let dim = prop::sample::select(vec![1usize, 2, 7, 8, 9, 17]);
    (1usize..4, 1usize..5, dim.clone(), dim).prop_map(|(n, c, h, w)| Shape4::new(n, c, h, w))
}

fn random(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| f64::from(rng.uniform(-1.0, 1.0))).collect()
}

proptest! {
    #[test]
    fn fast_matches_reference(s in shape(), seed in 0u64..1000) {
        let x64 = random(s.len(), seed);
        let x = Tensor::from_vec(&s.dims(), x64.iter().map(|&v| v as f32).collect()).unwrap();
        let y = forward(&x).unwrap();
        prop_assert_eq!(y.dims(), &[s.n, s.c, 1, 1]);
        for (got, want) in y.data().iter().zip(reference::forward(&x64, s)) {
            prop_assert!((f64::from(*got) - want).abs() <= 1e-6);
        }
        let dy64 = random(s.n * s.c, seed + 7);
        let dy = Tensor::from_vec(&[s.n, s.c], dy64.iter().map(|&v| v as f32).collect()).unwrap();
        let dx = backward(&dy, s).unwrap();
        for (got, want) in dx.data().iter().zip(reference::backward(&dy64, s)) {
            prop_assert!((f64::from(*got) - want).abs() <= 1e-6);
        }
    }

    #[test]
    fn backward_is_the_derivative(s in shape(), seed in 0u64..1000) {
        // loss = Σ y·r with a random r, so every output has its own upstream gradient.
        let x = random(s.len(), seed);
        let r = random(s.n * s.c, seed + 1);
        let loss = |x: &[f64]| reference::forward(x, s).iter().zip(&r).map(|(y, r)| y * r).sum::<f64>();
        let dx = reference::backward(&r, s);
        let h = 1e-6;
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let numeric = (loss(&xp) - loss(&xm)) / (2.0 * h);
            prop_assert!((numeric - dx[i]).abs() <= 1e-7 + 1e-5 * dx[i].abs(), "{i}: {numeric} vs {}", dx[i]);
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    assert!(forward(&Tensor::zeros(&[2, 3])).is_err());
    assert!(forward(&Tensor::zeros(&[1, 1, 0, 3])).is_err());
    let err = backward(&Tensor::zeros(&[5]), Shape4::new(2, 3, 4, 4)).unwrap_err();
    assert!(err.to_string().starts_with("global_avg_pool2d backward"), "{err}");
}
