//! Where a training step's time goes, layer by layer: the tape's per-node times (see
//! [`Tape::start_profiling`]) joined with each node's op, output shape and floating-point work.

use std::time::Duration;

use crate::Tape;
use crate::ops::Op;

/// One node of the tape with its time and work, summed over the profiled steps.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerProfile {
    /// Position on the tape (the same layer every step when each step records the same graph).
    pub node: usize,
    /// The op's name (`"conv2d"`, `"relu"`, …; `"parameter"` and `"input"` are copies).
    pub op: &'static str,
    /// The output shape in the last recorded step.
    pub output: Vec<usize>,
    /// How many times this node was recorded while profiling (steps).
    pub calls: u64,
    /// Forward time, summed over the calls.
    pub forward: Duration,
    /// Backward time, summed over the calls (zero when no gradient flowed through the node).
    pub backward: Duration,
    /// Floating-point operations of one forward (0 for the ops counted as memory traffic).
    pub forward_flops: u64,
    /// Floating-point operations of one backward.
    pub backward_flops: u64,
}

impl LayerProfile {
    /// Forward plus backward time.
    pub fn total(&self) -> Duration {
        self.forward + self.backward
    }

    /// `forward_flops · calls / forward` in GFLOP/s, or `None` for ops without FLOPs.
    pub fn forward_gflops(&self) -> Option<f64> {
        rate(self.forward_flops, self.calls, self.forward)
    }

    /// `backward_flops · calls / backward` in GFLOP/s, or `None` for ops without FLOPs.
    pub fn backward_gflops(&self) -> Option<f64> {
        rate(self.backward_flops, self.calls, self.backward)
    }
}

fn rate(flops: u64, calls: u64, time: Duration) -> Option<f64> {
    (flops > 0 && !time.is_zero()).then(|| flops as f64 * calls as f64 / time.as_secs_f64() / 1e9)
}

/// The per-node profile of `tape`, one entry per node of its current graph, or `None` when
/// profiling is off. Call it after the last profiled step's `backward`, before the next
/// `reset`, so that the graph the shapes and FLOPs are read from is still recorded.
///
/// FLOPs count the multiply-adds of the two GEMM ops as 2 each:
/// - conv2d, conv2d_relu, conv2d_relu_pool: forward `2·N·C_out·OH·OW·C_in·KH·KW`; backward the same for `dW`, and again for
///   `dx` when the input needs a gradient (the first layer's image does not).
/// - linear: forward `2·N·in·out`; backward twice that (`dx` and `dW`).
///
/// Every other op moves memory rather than computing and counts 0.
pub fn layer_profile(tape: &Tape) -> Option<Vec<LayerProfile>> {
    let profile = tape.profile()?;
    let layers = (0..tape.len())
        .map(|i| {
            let timing = profile.nodes.get(i).copied();
            let (forward_flops, backward_flops) = flops(tape, i);
            LayerProfile {
                node: i,
                op: tape.op_at(i).name(),
                output: tape.value_at(i).dims().to_vec(),
                calls: timing.map_or(0, |t| t.calls),
                forward: timing.map_or(Duration::ZERO, |t| t.forward),
                backward: timing.map_or(Duration::ZERO, |t| t.backward),
                forward_flops,
                backward_flops,
            }
        })
        .collect();
    Some(layers)
}

/// (forward, backward) FLOPs of node `i` (see [`layer_profile`]).
fn flops(tape: &Tape, i: usize) -> (u64, u64) {
    let out = tape.value_at(i).len() as u64;
    let op = tape.op_at(i);
    match op {
        Op::Conv2d { x, w, .. } | Op::Conv2dRelu { x, w, .. } | Op::Conv2dReluPool { x, w, .. } => {
            // y [N, C_out, OH, OW]; each output sums C_in·KH·KW products of w [C_out, C_in, KH, KW].
            let dims = tape.value_at(w).dims();
            // A fused pool's node holds the pooled output: count the convolution's.
            let out = match op {
                Op::Conv2dReluPool { params, .. } => {
                    let (xd, wd) = (tape.value_at(x).dims(), dims);
                    match (xd, wd) {
                        (&[n, _, h, w], &[c_out, _, kh, kw]) => params
                            .output_hw(h, w, kh, kw)
                            .map_or(0, |(oh, ow)| (n * c_out * oh * ow) as u64),
                        _ => 0,
                    }
                }
                _ => out,
            };
            let per_output: u64 = dims.iter().skip(1).map(|&d| d as u64).product();
            let forward = 2 * out * per_output;
            let passes = if tape.requires_grad_at(x) { 2 } else { 1 };
            (forward, passes * forward)
        }
        Op::Linear { w, .. } => {
            // y [N, out]; each output sums `in` products of w [out, in].
            let inputs = tape.value_at(w).dims().get(1).copied().unwrap_or(0) as u64;
            let forward = 2 * out * inputs;
            (forward, 2 * forward)
        }
        _ => (0, 0),
    }
}
