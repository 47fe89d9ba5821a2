//! The networks of [`Architecture`], built from `autograd::nn` layers, with PyTorch names.
//!
//! Every architecture is `features → head → classifier`. With S×S inputs and K classes, the
//! paper's convolution stack (`paper`, `paper-bn`, `gap-bn`):
//! ```text
//! features   conv 3→16, [bn], relu, maxpool 2     [N, 16, S/2, S/2]
//!            conv 16→32, [bn], relu, maxpool 2    [N, 32, S/4, S/4]
//!            conv 32→64, [bn], relu               [N, 64, S/4, S/4]
//!            conv 64→64, [bn], relu               [N, 64, S/4, S/4]
//!            conv 64→128, [bn], relu, maxpool 2   [N, 128, S/8, S/8]
//! head       paper, paper-bn: flatten             [N, 128·(S/8)²]
//!            gap-bn: global average pool, flatten [N, 128]
//! dropout    (training only, p from the config)
//! classifier paper, paper-bn: linear →256, relu, linear →64, relu, linear →K
//!            gap-bn: linear 128→64, relu, linear →K
//! ```
//! and `wide-bn`, which pools after each of the first four convolutions and doubles the widths:
//! ```text
//! features   conv 3→32, bn, relu, maxpool 2       [N, 32, S/2, S/2]
//!            conv 32→64, bn, relu, maxpool 2      [N, 64, S/4, S/4]
//!            conv 64→128, bn, relu, maxpool 2     [N, 128, S/8, S/8]
//!            conv 128→128, bn, relu, maxpool 2    [N, 128, S/16, S/16]
//!            conv 128→256, bn, relu               [N, 256, S/16, S/16]
//! head       global average pool, flatten         [N, 256]
//! classifier linear 256→64, relu, linear →K
//! ```
//! and `stem-bn`, `wide-bn` behind a full-resolution stem for images twice the side:
//! ```text
//! stem       conv 3→16, bn, relu, maxpool 2       [N, 16, S/2, S/2]
//! features   wide-bn's, its first conv 16→32      [N, 256, S/32, S/32]
//! head, classifier as wide-bn
//! ```
//! Receptive field (the input window one output pixel depends on): a 3×3 convolution widens it
//! by 2·jump and a 2×2 pool by jump, where the jump (input pixels per output pixel) doubles at
//! every pool. The paper's stack ends at 38×38 pixels (3, 4, 8, 10, 18, 26, 34, 38); `wide-bn`'s
//! at 78×78 (3, 4, 8, 10, 18, 22, 38, 46, 78), so at 64×64 every averaged feature has seen the
//! whole image; `stem-bn`'s at 158×158 (3, 4, 8, 10, 18, 22, 38, 46, 78, 94, 158), the whole
//! of a 128×128 image. Multiply-adds per 64×64 image: 39.5 M (paper stack), 55.4 M (`wide-bn`);
//! per 128×128 image, `stem-bn`: 77.9 M (1.4× `wide-bn` at 64×64).
//!
//! Parameter names match the equivalent PyTorch `features` / `classifier` `nn.Sequential`s, e.g.
//! `features.0.weight`, `features.1.running_mean` (batch norm), `classifier.0.weight`.
//! Convolutions followed by batch norm have no bias (the norm's β replaces it).
//!
//! Dropout draws its mask from `Rng::keyed(seed, [DROPOUT_STREAM, step])`, where `step` is the
//! optimizer step the trainer sets before each forward, so a resumed run draws the same masks as
//! an uninterrupted one without storing any RNG state.

use autograd::init::Init;
use autograd::nn::{
    BatchNorm2d, Conv2d, Conv2dParams, Flatten, GlobalAvgPool, Linear, MaxPool2d, Mode, Module,
    ReLU, Sequential,
};
use autograd::{Buffer, Parameter, Tape, Var};
use tensor::Rng;

use crate::config::{Architecture, InitScheme};

/// Key word of the initialisation stream `Rng::keyed(seed, [INIT_STREAM])`.
const INIT_STREAM: u64 = 0x1A17;
/// Key word of the dropout streams `Rng::keyed(seed, [DROPOUT_STREAM, step])`.
const DROPOUT_STREAM: u64 = 0xD209;

/// One 3×3 convolution of a stack: its output channels, and whether a 2×2 max-pool follows it.
#[derive(Clone, Copy, Debug)]
struct Stage {
    width: usize,
    pooled: bool,
}

const fn stage(width: usize, pooled: bool) -> Stage {
    Stage { width, pooled }
}

/// The paper's stack: widths 16, 32, 64, 64, 128; pools after convolutions 1, 2 and 5.
const PAPER_STACK: [Stage; 5] =
    [stage(16, true), stage(32, true), stage(64, false), stage(64, false), stage(128, true)];
/// `wide-bn`'s stack: widths 32, 64, 128, 128, 256; pools after convolutions 1 to 4.
const WIDE_STACK: [Stage; 5] =
    [stage(32, true), stage(64, true), stage(128, true), stage(128, true), stage(256, false)];

/// `stem-bn`'s stack: a 16-wide pooled stem at full resolution, then `wide-bn`'s.
const STEM_STACK: [Stage; 6] = [
    stage(16, true),
    stage(32, true),
    stage(64, true),
    stage(128, true),
    stage(128, true),
    stage(256, false),
];

/// The convolution stack of an architecture.
fn stack(architecture: Architecture) -> &'static [Stage] {
    match architecture {
        Architecture::Paper | Architecture::PaperBn | Architecture::GapBn => &PAPER_STACK,
        Architecture::WideBn => &WIDE_STACK,
        Architecture::StemBn => &STEM_STACK,
    }
}

impl From<InitScheme> for Init {
    fn from(s: InitScheme) -> Self {
        match s {
            InitScheme::PytorchDefault => Init::PytorchDefault,
            InitScheme::KaimingNormal => Init::KaimingNormal,
            InitScheme::KaimingUniform => Init::KaimingUniform,
            InitScheme::XavierUniform => Init::XavierUniform,
        }
    }
}

/// A list of layers, in order.
type Layers = Vec<Box<dyn Module>>;

/// What the network is: enough to rebuild it for evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkSpec {
    /// The architecture.
    pub architecture: Architecture,
    /// Weight initialisation.
    pub init: InitScheme,
    /// Side S of the input images.
    pub image_size: usize,
    /// Number of classes K.
    pub classes: usize,
    /// Dropout probability before the classifier.
    pub dropout: f32,
    /// Seed of the initialisation and dropout streams.
    pub seed: u64,
}

/// One of the networks of the module docs.
#[derive(Debug)]
pub struct Network {
    features: Sequential,
    head: Sequential,
    classifier: Sequential,
    dropout: f32,
    seed: u64,
    step: u64,
    mode: Mode,
}

impl Network {
    /// Builds and initialises the network (weights drawn from `Rng::keyed(seed, [INIT_STREAM])`
    /// layer by layer, in order).
    pub fn new(spec: &NetworkSpec) -> Self {
        let mut rng = Rng::keyed(spec.seed, &[INIT_STREAM]);
        let init = Init::from(spec.init);
        let same = Conv2dParams { stride: 1, padding: 1 };
        let bn = spec.architecture.has_batch_norm();
        let mut features: Layers = Vec::new();
        let mut channels = 3;
        for &Stage { width, pooled } in stack(spec.architecture) {
            let conv = Conv2d::new(channels, width, 3, same, init, &mut rng);
            if bn {
                features.push(Box::new(conv.without_bias()));
                features.push(Box::new(BatchNorm2d::new(width)));
            } else {
                features.push(Box::new(conv));
            }
            features.push(Box::new(ReLU));
            if pooled {
                features.push(Box::new(MaxPool2d::new(2, 2)));
            }
            channels = width;
        }
        let k = spec.classes;
        let (head, classifier): (Layers, Layers) = match spec.architecture {
            Architecture::Paper | Architecture::PaperBn => {
                let side = spec.image_size >> spec.architecture.pools();
                (
                    vec![Box::new(Flatten)],
                    vec![
                        Box::new(Linear::new(channels * side * side, 256, init, &mut rng)),
                        Box::new(ReLU),
                        Box::new(Linear::new(256, 64, init, &mut rng)),
                        Box::new(ReLU),
                        Box::new(Linear::new(64, k, init, &mut rng)),
                    ],
                )
            }
            Architecture::GapBn | Architecture::WideBn | Architecture::StemBn => (
                vec![Box::new(GlobalAvgPool), Box::new(Flatten)],
                vec![
                    Box::new(Linear::new(channels, 64, init, &mut rng)),
                    Box::new(ReLU),
                    Box::new(Linear::new(64, k, init, &mut rng)),
                ],
            ),
        };
        let named = |name: &str, layers| {
            Sequential::named(vec![(name.to_string(), Box::new(Sequential::new(layers)) as _)])
        };
        Self {
            features: named("features", features),
            head: Sequential::new(head),
            classifier: named("classifier", classifier),
            dropout: spec.dropout,
            seed: spec.seed,
            step: 0,
            mode: Mode::Train,
        }
    }

    /// Sets the optimizer step the next training forward belongs to (keys the dropout masks).
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
    }
}

impl Module for Network {
    fn forward(&mut self, tape: &mut Tape, x: Var) -> autograd::Result<Var> {
        let x = self.features.forward(tape, x)?;
        let mut x = self.head.forward(tape, x)?;
        if self.mode == Mode::Train && self.dropout > 0.0 {
            let mut rng = Rng::keyed(self.seed, &[DROPOUT_STREAM, self.step]);
            x = autograd::ops::dropout(tape, x, self.dropout, &mut rng)?;
        }
        self.classifier.forward(tape, x)
    }

    fn parameters(&self) -> Vec<&Parameter> {
        let mut p = self.features.parameters();
        p.extend(self.classifier.parameters());
        p
    }

    fn parameters_mut(&mut self) -> Vec<&mut Parameter> {
        let mut p = self.features.parameters_mut();
        p.extend(self.classifier.parameters_mut());
        p
    }

    fn buffers(&self) -> Vec<&Buffer> {
        self.features.buffers()
    }

    fn buffers_mut(&mut self) -> Vec<&mut Buffer> {
        self.features.buffers_mut()
    }

    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.features.set_mode(mode);
        self.classifier.set_mode(mode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(architecture: Architecture) -> NetworkSpec {
        NetworkSpec {
            architecture,
            init: InitScheme::PytorchDefault,
            image_size: 16,
            classes: 3,
            dropout: 0.5,
            seed: 1,
        }
    }

    #[test]
    fn names_and_shapes_follow_pytorch() {
        let net = Network::new(&spec(Architecture::Paper));
        let p: Vec<(&str, &[usize])> =
            net.parameters().iter().map(|p| (p.name.as_str(), p.value.dims())).collect();
        assert_eq!(p[0], ("features.0.weight", &[16, 3, 3, 3][..]));
        assert_eq!(p[1], ("features.0.bias", &[16][..]));
        // 5 convs (w, b) + 3 linears (w, b); the first linear sees 128·2·2 at 16×16.
        assert_eq!(p.len(), 16);
        assert_eq!(p[10], ("classifier.0.weight", &[256, 512][..]));
        assert_eq!(p[15], ("classifier.4.bias", &[3][..]));
        let bn = Network::new(&spec(Architecture::GapBn));
        let names: Vec<&str> = bn.parameters().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names[..3], ["features.0.weight", "features.1.weight", "features.1.bias"]);
        assert_eq!(bn.buffers()[0].name, "features.1.running_mean");
        assert_eq!(bn.parameters().last().unwrap().value.dims(), &[3]);
        let wide = Network::new(&spec(Architecture::WideBn));
        let p: Vec<&[usize]> = wide.parameters().iter().map(|p| p.value.dims()).collect();
        // 5 × (conv weight, bn γ, bn β) + 2 × (linear weight, bias).
        assert_eq!(p.len(), 19);
        assert_eq!(p[0], &[32, 3, 3, 3][..]);
        assert_eq!(p[12], &[256, 128, 3, 3][..]);
        assert_eq!(p[15], &[64, 256][..]);
        let stem = Network::new(&spec(Architecture::StemBn));
        let p: Vec<&[usize]> = stem.parameters().iter().map(|p| p.value.dims()).collect();
        // One more (conv weight, bn γ, bn β) than wide-bn, and the stack's first conv sees 16.
        assert_eq!(p.len(), 22);
        assert_eq!(p[0], &[16, 3, 3, 3][..]);
        assert_eq!(p[3], &[32, 16, 3, 3][..]);
        assert_eq!(p[18], &[64, 256][..]);
    }

    #[test]
    fn each_stack_has_the_pools_its_architecture_declares() {
        // `Architecture::pools` (used to check the image size) must match the layers built here.
        use clap::ValueEnum;
        for &arch in Architecture::value_variants() {
            let pools = stack(arch).iter().filter(|s| s.pooled).count();
            assert_eq!(pools as u32, arch.pools(), "{}", arch.name());
        }
    }

    #[test]
    fn wide_stacks_downsample_and_see_the_whole_image() {
        // Which outputs change when one input pixel changes tells the downsampling and the
        // receptive field apart from the layer list: with S = 2^(pools + 1) the last map is 2×2,
        // and a corner pixel reaches all four of its pixels only if the window is wider than
        // S - S/2 (wide-bn: 32×32 input, window 78; stem-bn: 64×64 input, window 158).
        for architecture in [Architecture::WideBn, Architecture::StemBn] {
            let side = 2usize << architecture.pools();
            let mut net = Network::new(&NetworkSpec {
                architecture,
                image_size: side,
                dropout: 0.0,
                ..spec(architecture)
            });
            net.set_mode(Mode::Eval);
            let features = |net: &mut Network, x: &tensor::Tensor| {
                let mut tape = Tape::new();
                let v = tape.input_from(x);
                let y = net.features.forward(&mut tape, v).unwrap();
                tape.value(y).unwrap().clone()
            };
            let x =
                tensor::Tensor::from_fn(&[1, 3, side, side], |i| ((i * 37) % 101) as f32 / 101.0);
            let base = features(&mut net, &x);
            assert_eq!(base.dims(), &[1, 256, 2, 2], "{}", architecture.name());
            let mut poked = x.clone();
            poked.data_mut()[0] += 10.0; // channel 0, pixel (0, 0)
            let moved = features(&mut net, &poked);
            for pixel in 0..4 {
                let changed = (0..256).any(|c| {
                    let i = c * 4 + pixel;
                    (moved.data()[i] - base.data()[i]).abs() > 1e-6
                });
                assert!(
                    changed,
                    "{}: output pixel {pixel} does not see input pixel (0, 0)",
                    architecture.name()
                );
            }
        }
    }

    #[test]
    fn logits_have_one_column_per_class_and_dropout_is_keyed_by_step() {
        use clap::ValueEnum;
        for &arch in Architecture::value_variants() {
            let side = (1usize << arch.pools()).max(16);
            let mut net = Network::new(&NetworkSpec { image_size: side, ..spec(arch) });
            let x = tensor::Tensor::from_fn(&[2, 3, side, side], |i| (i % 7) as f32 / 7.0);
            let run = |net: &mut Network, step| {
                let mut tape = Tape::new();
                net.set_step(step);
                let v = tape.input_from(&x);
                let y = net.forward(&mut tape, v).unwrap();
                tape.value(y).unwrap().clone()
            };
            let a = run(&mut net, 3);
            assert_eq!(a.dims(), &[2, 3]);
            if !arch.has_batch_norm() {
                // Batch norm's running averages move with every training forward; without it,
                // the same step gives the same mask and another step another one.
                assert_eq!(run(&mut net, 3), a);
                assert_ne!(run(&mut net, 4), a);
            }
        }
    }
}
