//! Seeing inside a network: Grad-CAM on a hand-built network must point at the image region
//! its answer depends on, and feature maps must have the shapes of the layers.

use autograd::Tape;
use autograd::init::Init;
use autograd::inspect::{ClassChoice, ConvLayer, feature_maps, grad_cam};
use autograd::nn::{
    Conv2d, Conv2dParams, Flatten, GlobalAvgPool, Linear, MaxPool2d, ReLU, Sequential,
};
use tensor::{Rng, Tensor};

const SIDE: usize = 16;

/// A network that can only see two things: class 0 is the mean of the positive pixels, class 1
/// the mean of the negative ones (after a 2×2 max-pool). Every weight is set by hand:
/// conv 1→2 3×3 whose channels are +x and −x (centre tap ±1), ReLU, max-pool 2, conv 2→2 1×1
/// identity, ReLU, global average pool, linear identity.
fn two_detector_net() -> Sequential {
    let mut rng = Rng::new(0);
    let same = Conv2dParams { stride: 1, padding: 1 };
    let one = Conv2dParams { stride: 1, padding: 0 };
    let mut detect = Conv2d::new(1, 2, 3, same, Init::PytorchDefault, &mut rng);
    detect.weight.value = Tensor::from_fn(&[2, 1, 3, 3], |i| match i {
        4 => 1.0,   // channel 0, centre tap
        13 => -1.0, // channel 1, centre tap
        _ => 0.0,
    });
    detect.bias = None;
    let mut mix = Conv2d::new(2, 2, 1, one, Init::PytorchDefault, &mut rng).without_bias();
    mix.weight.value = Tensor::from_fn(&[2, 2, 1, 1], |i| if i % 3 == 0 { 1.0 } else { 0.0 });
    let mut classify = Linear::new(2, 2, Init::PytorchDefault, &mut rng).without_bias();
    classify.weight.value = Tensor::from_fn(&[2, 2], |i| if i % 3 == 0 { 1.0 } else { 0.0 });
    Sequential::new(vec![
        Box::new(detect),
        Box::new(ReLU),
        Box::new(MaxPool2d::new(2, 2)),
        Box::new(mix),
        Box::new(ReLU),
        Box::new(GlobalAvgPool),
        Box::new(Flatten),
        Box::new(classify),
    ])
}

/// A 4×4 square of `value` at (row, col).
#[derive(Clone, Copy, Debug)]
struct Square {
    row: usize,
    col: usize,
    value: f32,
}

impl Square {
    fn contains(&self, r: usize, c: usize, margin: usize) -> bool {
        r + margin >= self.row
            && r < self.row + 4 + margin
            && c + margin >= self.col
            && c < self.col + 4 + margin
    }
}

fn image(squares: &[Square]) -> Tensor {
    Tensor::from_fn(&[1, 1, SIDE, SIDE], |i| {
        let (r, c) = (i / SIDE, i % SIDE);
        squares.iter().find(|s| s.contains(r, c, 0)).map_or(0.0, |s| s.value)
    })
}

/// Mean heat inside `square`, and the largest heat more than `margin` pixels away from it.
fn heat_inside_and_away(heat: &Tensor, square: Square, margin: usize) -> (f32, f32) {
    let (mut inside, mut count, mut away) = (0.0, 0, 0.0f32);
    for (i, &h) in heat.data().iter().enumerate() {
        let (r, c) = (i / SIDE, i % SIDE);
        if square.contains(r, c, 0) {
            inside += h;
            count += 1;
        } else if !square.contains(r, c, margin) {
            away = away.max(h);
        }
    }
    (inside / count as f32, away)
}

/// The bright square decides class 0 and the dark one class 1, so Grad-CAM for each class must
/// light up that class's square and nothing more than a pixel or two of bilinear blur away.
#[test]
fn grad_cam_highlights_the_region_the_class_depends_on() {
    let placements = [((2, 2), (10, 9)), ((9, 11), (1, 3)), ((5, 0), (6, 12))];
    for ((pr, pc), (qr, qc)) in placements {
        let bright = Square { row: pr, col: pc, value: 1.0 };
        // Weaker, so the model predicts class 0.
        let dark = Square { row: qr, col: qc, value: -0.5 };
        let x = image(&[bright, dark]);
        let mut net = two_detector_net();
        let mut tape = Tape::new();
        for layer in [ConvLayer::Last, ConvLayer::Index(0)] {
            let cam = grad_cam(&mut net, &mut tape, &x, ClassChoice::Predicted, layer)
                .expect("one image, valid layer");
            assert_eq!(cam.class, 0, "the bright square has the larger mean");
            assert_eq!(cam.heatmap.dims(), &[SIDE, SIDE]);
            assert!(cam.heatmap.data().iter().all(|h| (0.0..=1.0).contains(h)));
            let (inside, away) = heat_inside_and_away(&cam.heatmap, bright, 2);
            assert!(inside > 0.5 && away < 0.05, "{layer:?} at {bright:?}: {inside} vs {away}");

            let cam = grad_cam(&mut net, &mut tape, &x, ClassChoice::Class(1), layer)
                .expect("class 1 exists");
            assert_eq!(cam.class, 1);
            let (inside, away) = heat_inside_and_away(&cam.heatmap, dark, 2);
            assert!(inside > 0.5 && away < 0.05, "{layer:?} at {dark:?}: {inside} vs {away}");
        }
        let sum: f32 = grad_cam(&mut net, &mut tape, &x, ClassChoice::Predicted, ConvLayer::Last)
            .expect("valid")
            .probabilities
            .iter()
            .sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }
}

#[test]
fn grad_cam_rejects_batches_unknown_classes_and_missing_layers() {
    let mut net = two_detector_net();
    let mut tape = Tape::new();
    let one = image(&[]);
    let two = Tensor::zeros(&[2, 1, SIDE, SIDE]);
    let cam = |net: &mut Sequential, tape: &mut Tape, x: &Tensor, class, layer| {
        grad_cam(net, tape, x, class, layer).map(|c| c.class)
    };
    assert!(cam(&mut net, &mut tape, &two, ClassChoice::Predicted, ConvLayer::Last).is_err());
    assert!(cam(&mut net, &mut tape, &one, ClassChoice::Class(2), ConvLayer::Last).is_err());
    assert!(cam(&mut net, &mut tape, &one, ClassChoice::Predicted, ConvLayer::Index(2)).is_err());
    let mut no_conv = Sequential::new(vec![Box::new(Flatten)]);
    let flat = Tensor::zeros(&[1, 1, 1, 3]);
    let err = cam(&mut no_conv, &mut tape, &flat, ClassChoice::Predicted, ConvLayer::Last);
    assert!(err.is_err());
}

/// Every convolution appears once, in order, with the shape its parameters give, and holds what
/// the conv2d kernel computes.
#[test]
fn feature_maps_have_the_shapes_of_the_layers() {
    let mut rng = Rng::new(3);
    let layers = [
        (3, 4, 3, Conv2dParams { stride: 1, padding: 1 }),
        (4, 5, 3, Conv2dParams { stride: 2, padding: 0 }),
        (5, 2, 1, Conv2dParams { stride: 1, padding: 0 }),
    ];
    let mut net = Sequential::new(
        layers
            .iter()
            .map(|&(c_in, c_out, k, p)| {
                Box::new(Conv2d::new(c_in, c_out, k, p, Init::KaimingNormal, &mut rng)) as _
            })
            .chain([Box::new(ReLU) as _])
            .collect(),
    );
    let x = Tensor::from_fn(&[2, 3, 11, 9], |i| ((i * 37) % 17) as f32 / 17.0 - 0.5);
    let maps = feature_maps(&mut net, &mut Tape::new(), &x).expect("shapes fit");
    assert_eq!(maps.len(), layers.len());
    let (mut h, mut w) = (11, 9);
    for (map, (i, &(_, c_out, k, p))) in maps.iter().zip(layers.iter().enumerate()) {
        (h, w) = p.output_hw(h, w, k, k).expect("window fits");
        assert_eq!(map.layer, i);
        assert_eq!(map.value.dims(), &[2, c_out, h, w]);
    }
    let params = net.layers()[0].parameters();
    let direct =
        tensor::ops::conv2d::forward(&x, &params[0].value, Some(&params[1].value), layers[0].3)
            .expect("same conv");
    assert_eq!(maps[0].value, direct);
}
