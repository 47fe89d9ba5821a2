//! Batch norm: fast == reference in both modes, backward == central differences of the f64
//! reference (batch norm is smooth: no kinks to avoid), the running-average update by hand, and
//! thread-count independence.

use super::*;
use crate::Rng;
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = Shape4> {
    let dim = prop::sample::select(vec![1usize, 2, 3, 7, 8, 9]);
    (1usize..4, 1usize..4, dim.clone(), dim)
        .prop_map(|(n, c, h, w)| Shape4::new(n, c, h, w))
        .prop_filter("training needs two values per channel", |s| s.n * s.h * s.w >= 2)
}

fn random(len: usize, rng: &mut Rng, low: f32, high: f32) -> Vec<f64> {
    (0..len).map(|_| f64::from(rng.uniform(low, high))).collect()
}

fn tensor(dims: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_vec(dims, v.iter().map(|&v| v as f32).collect()).unwrap()
}

fn close(got: &[f32], want: &[f64], atol: f64, rtol: f64) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(&g, &w)| (f64::from(g) - w).abs() <= atol + rtol * w.abs())
}

fn central_difference(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
            xp[i] += h;
            xm[i] -= h;
            (f(&xp) - f(&xm)) / (2.0 * h)
        })
        .collect()
}

const EPS: f32 = 1e-5;

proptest! {
    #[test]
    fn fast_matches_reference_in_training(s in shape(), seed in 0u64..1000) {
        let mut rng = Rng::new(seed);
        let x = random(s.len(), &mut rng, -2.0, 3.0);
        let gamma = random(s.c, &mut rng, 0.5, 1.5);
        let beta = random(s.c, &mut rng, -1.0, 1.0);
        let dy = random(s.len(), &mut rng, -1.0, 1.0);
        let (xt, gt, bt, dyt) = (tensor(&s.dims(), &x), tensor(&[s.c], &gamma), tensor(&[s.c], &beta), tensor(&s.dims(), &dy));
        let (y, stats) = forward_train(&xt, &gt, &bt, EPS).unwrap();
        let (mean, var) = reference::batch_stats(&x, s);
        prop_assert!(close(stats.mean.data(), &mean, 1e-6, 1e-5));
        prop_assert!(close(stats.var.data(), &var, 1e-6, 1e-5));
        let want = reference::forward_train(&x, s, &gamma, &beta, f64::from(EPS));
        // x̂ is O(1) but can reach √M; f32 rounding of μ, σ² and the product gives ~1e-5 relative.
        prop_assert!(close(y.data(), &want, 1e-4, 1e-4));
        let g = backward(&xt, &gt, &stats, EPS, &dyt, Statistics::Batch).unwrap();
        let (dx, dgamma, dbeta) = reference::backward_train(&x, s, &gamma, f64::from(EPS), &dy);
        prop_assert!(close(g.dbeta.data(), &dbeta, 1e-5, 1e-5));
        prop_assert!(close(g.dgamma.data(), &dgamma, 1e-4, 1e-4));
        // dx subtracts nearly equal terms when M is small and σ tiny: allow 1e-3 absolute.
        prop_assert!(close(g.dx.data(), &dx, 1e-3, 1e-3));
    }

    #[test]
    fn fast_matches_reference_in_evaluation(s in shape(), seed in 0u64..1000) {
        let mut rng = Rng::new(seed);
        let x = random(s.len(), &mut rng, -2.0, 3.0);
        let gamma = random(s.c, &mut rng, 0.5, 1.5);
        let beta = random(s.c, &mut rng, -1.0, 1.0);
        let mean = random(s.c, &mut rng, -0.5, 0.5);
        let var = random(s.c, &mut rng, 0.5, 2.0);
        let dy = random(s.len(), &mut rng, -1.0, 1.0);
        let running = BatchStats { mean: tensor(&[s.c], &mean), var: tensor(&[s.c], &var) };
        let (xt, gt, bt) = (tensor(&s.dims(), &x), tensor(&[s.c], &gamma), tensor(&[s.c], &beta));
        let y = forward_eval(&xt, &gt, &bt, &running, EPS).unwrap();
        let want = reference::normalize(&x, s, &gamma, &beta, &mean, &var, f64::from(EPS));
        prop_assert!(close(y.data(), &want, 1e-5, 1e-5));
        // The affine map a convolution folds in is the one the forward applies, bit for bit.
        let (a, shift) = eval_affine(&gt, &bt, &running, EPS).unwrap();
        let plane = s.h * s.w;
        for (i, (&yi, &xi)) in y.data().iter().zip(xt.data()).enumerate() {
            let c = (i / plane) % s.c;
            prop_assert_eq!(yi.to_bits(), (xi * a[c] + shift[c]).to_bits());
        }
        let g = backward(&xt, &gt, &running, EPS, &tensor(&s.dims(), &dy), Statistics::Running).unwrap();
        let (dx, dgamma, dbeta) = reference::backward_eval(&x, s, &gamma, &mean, &var, f64::from(EPS), &dy);
        prop_assert!(close(g.dx.data(), &dx, 1e-6, 1e-5));
        prop_assert!(close(g.dgamma.data(), &dgamma, 1e-5, 1e-5));
        prop_assert!(close(g.dbeta.data(), &dbeta, 1e-5, 1e-5));
    }

    #[test]
    fn training_backward_is_the_derivative(s in shape(), seed in 0u64..1000) {
        // loss = Σ y·r with a random r; differentiate x, γ and β through the batch statistics.
        let mut rng = Rng::new(seed);
        let x = random(s.len(), &mut rng, -2.0, 3.0);
        let gamma = random(s.c, &mut rng, 0.5, 1.5);
        let beta = random(s.c, &mut rng, -1.0, 1.0);
        let r = random(s.len(), &mut rng, -1.0, 1.0);
        let eps = 1e-3;
        let dot = |y: Vec<f64>| y.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>();
        let (dx, dgamma, dbeta) = reference::backward_train(&x, s, &gamma, eps, &r);
        let nx = central_difference(|x| dot(reference::forward_train(x, s, &gamma, &beta, eps)), &x, 1e-6);
        let ng = central_difference(|g| dot(reference::forward_train(&x, s, g, &beta, eps)), &gamma, 1e-6);
        let nb = central_difference(|b| dot(reference::forward_train(&x, s, &gamma, b, eps)), &beta, 1e-6);
        for (a, b) in dx.iter().zip(&nx).chain(dgamma.iter().zip(&ng)).chain(dbeta.iter().zip(&nb)) {
            prop_assert!((a - b).abs() <= 1e-6 + 1e-5 * b.abs(), "{a} vs {b}");
        }
    }

    #[test]
    fn evaluation_backward_is_the_derivative(s in shape(), seed in 0u64..1000) {
        let mut rng = Rng::new(seed);
        let x = random(s.len(), &mut rng, -2.0, 3.0);
        let gamma = random(s.c, &mut rng, 0.5, 1.5);
        let beta = random(s.c, &mut rng, -1.0, 1.0);
        let mean = random(s.c, &mut rng, -0.5, 0.5);
        let var = random(s.c, &mut rng, 0.5, 2.0);
        let r = random(s.len(), &mut rng, -1.0, 1.0);
        let dot = |y: Vec<f64>| y.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>();
        let (dx, dgamma, _) = reference::backward_eval(&x, s, &gamma, &mean, &var, 1e-5, &r);
        let nx = central_difference(|x| dot(reference::normalize(x, s, &gamma, &beta, &mean, &var, 1e-5)), &x, 1e-6);
        let ng = central_difference(|g| dot(reference::normalize(&x, s, g, &beta, &mean, &var, 1e-5)), &gamma, 1e-6);
        for (a, b) in dx.iter().zip(&nx).chain(dgamma.iter().zip(&ng)) {
            prop_assert!((a - b).abs() <= 1e-6 + 1e-5 * b.abs(), "{a} vs {b}");
        }
    }
}

#[test]
fn running_stats_follow_pytorchs_update() {
    // By hand, momentum 0.1, M = 4 values per channel:
    //   mean: 0.9·1.0 + 0.1·3.0 = 1.2
    //   var:  0.9·2.0 + 0.1·(0.5·4/3) = 1.8 + 0.0666… = 1.8666…   (unbiased: σ²·M/(M−1))
    let mut running = BatchStats {
        mean: Tensor::from_vec(&[1], vec![1.0]).unwrap(),
        var: Tensor::from_vec(&[1], vec![2.0]).unwrap(),
    };
    let batch = BatchStats {
        mean: Tensor::from_vec(&[1], vec![3.0]).unwrap(),
        var: Tensor::from_vec(&[1], vec![0.5]).unwrap(),
    };
    update_running_stats(&mut running, &batch, 4, 0.1).unwrap();
    assert!((running.mean.data()[0] - 1.2).abs() < 1e-6);
    assert!((running.var.data()[0] - (1.8 + 0.2 / 3.0)).abs() < 1e-6);
    assert!(update_running_stats(&mut running, &batch, 1, 0.1).is_err());
}

#[test]
fn statistics_are_bit_identical_for_one_and_two_threads() {
    let s = Shape4::new(4, 3, 33, 31);
    let mut rng = Rng::new(11);
    let x = Tensor::from_fn(&s.dims(), |_| rng.uniform(-1.0, 1.0));
    let dy = Tensor::from_fn(&s.dims(), |_| rng.uniform(-1.0, 1.0));
    let (gamma, beta) = (Tensor::full(&[3], 1.5), Tensor::full(&[3], 0.1));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let (y, stats) = forward_train(&x, &gamma, &beta, EPS).unwrap();
            let g = backward(&x, &gamma, &stats, EPS, &dy, Statistics::Batch).unwrap();
            (y, stats, g)
        })
    };
    let (a, b) = (run(1), run(2));
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.0), bits(&b.0));
    assert_eq!(bits(&a.1.var), bits(&b.1.var));
    assert_eq!(bits(&a.2.dx), bits(&b.2.dx));
    assert_eq!(bits(&a.2.dgamma), bits(&b.2.dgamma));
}

#[test]
fn bad_inputs_are_errors() {
    let x = Tensor::zeros(&[2, 3, 4, 4]);
    let three = Tensor::zeros(&[3]);
    let err = forward_train(&x, &Tensor::zeros(&[2]), &three, EPS).unwrap_err();
    assert!(err.to_string().contains("gamma must hold one value per channel"), "{err}");
    assert!(forward_train(&x, &three, &three, 0.0).is_err());
    assert!(forward_train(&Tensor::zeros(&[1, 3, 1, 1]), &three, &three, EPS).is_err());
    assert!(forward_train(&Tensor::zeros(&[3, 4]), &three, &three, EPS).is_err());
    let stats = BatchStats { mean: three.clone(), var: three.clone() };
    let err = backward(&x, &three, &stats, EPS, &Tensor::zeros(&[2, 3, 4, 3]), Statistics::Batch)
        .unwrap_err();
    assert!(err.to_string().starts_with("batch_norm2d backward"), "{err}");
    let err = eval_affine(&three, &Tensor::zeros(&[2]), &stats, EPS).unwrap_err();
    assert!(err.to_string().contains("beta must hold one value per channel"), "{err}");
    assert!(eval_affine(&three, &three, &stats, -1.0).is_err());
}
