//! The tape (a Wengert list): every op appends one node holding its output value, what its
//! backward needs, and a gradient buffer. [`Tape::backward`] walks the nodes in reverse and asks
//! each op for the gradients of its inputs, which [`Tape::accumulate`] adds up: the only place in
//! the crate where gradients are summed.
//!
//! Buffers live as long as the tape. [`Tape::reset`] forgets the graph but keeps every node's
//! value, gradient and saved tensors, and the next step's ops write into them through the
//! kernels' `_into` variants: a training loop that records the same graph each step stops
//! allocating after its first step.
//!
//! What a tape deliberately is not: a graph optimiser, or a place that does math. The math of
//! each op lives in `tensor::ops`; `crate::ops` only records nodes and calls it.

use crate::ops::Op;
use crate::{AutogradError, ParamId, Parameter, Result};
use rayon::prelude::*;
use std::mem;
use std::time::{Duration, Instant};
use tensor::ops::batch_norm2d::BatchStats;
use tensor::ops::elementwise;
use tensor::{Tensor, TensorError};

/// A handle to a value on a [`Tape`]: copyable, cheap, and only valid until the next
/// [`Tape::reset`] (using it afterwards is an error, not a wrong answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var {
    index: usize,
    generation: u64,
}

/// Where a node's gradient is during `backward`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GradState {
    /// Nothing flowed here yet.
    Empty,
    /// The buffer is lent to an op's backward, which is writing the first contribution.
    Lent,
    /// Holds `∂loss/∂value` summed over the consumers processed so far.
    Ready,
}

/// What an op keeps from its forward pass for its backward, beyond its inputs' values.
/// One struct with a field per kind of thing, so every buffer can be reused across steps.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// One extra tensor: the dropout mask or the softmax probabilities.
    pub tensor: Tensor,
    /// Batch-norm statistics μ, σ² that normalised the input.
    pub stats: BatchStats,
    /// Max-pool winners (flat input index per output).
    pub indices: Vec<u32>,
    /// Class targets of a cross-entropy loss.
    pub targets: Vec<usize>,
    /// Class weights of a cross-entropy loss (empty: unweighted).
    pub weights: Vec<f32>,
}

#[derive(Debug)]
struct Node {
    op: Op,
    value: Tensor,
    grad: Tensor,
    grad_state: GradState,
    requires_grad: bool,
    saved: Saved,
}

/// The gradient buffer an op's backward writes one input's contribution into: the input's own
/// buffer for the first contribution (no copy), a spare buffer for later ones (added on return).
#[derive(Debug)]
pub(crate) struct GradTarget {
    node: usize,
    /// Write the contribution here (any previous contents are garbage; overwrite it all).
    pub buffer: Tensor,
    first: bool,
}

/// Whether layers may record one fused node where the textbook graph has two or three (see
/// [`Module::forward_fused`](crate::nn::Module::forward_fused)). Under [`Fusion::On`], fused or
/// not, values and gradients are bit-identical; only the nodes on the tape differ.
/// [`Fusion::Inference`] goes further and gives up the parameters' gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fusion {
    /// `Conv2d, ReLU` in a `Sequential` records one `conv2d_relu` node, and `Conv2d, ReLU,
    /// MaxPool2d` one `conv2d_relu_pool` node (the default).
    #[default]
    On,
    /// Every layer records its own nodes, e.g. to read a convolution's output before its ReLU
    /// (what `crate::inspect` does).
    Off,
    /// For evaluation and prediction: everything [`Fusion::On`] fuses, and also a `Conv2d`
    /// followed by a `BatchNorm2d` in evaluation mode (then `ReLU` and `MaxPool2d` as above)
    /// becomes one convolution with the norm folded into its weights, `w'_c = a_c·w_c` and
    /// `b'_c = a_c·b_c + shift_c` (`a_c = γ_c/√(σ²_c + ε)`, `shift_c = β_c − μ_c·a_c`): one pass
    /// over the activations instead of four. The values equal the layers' up to rounding (the
    /// products are formed in another order); the folded weights enter the tape as constants,
    /// so the parameters get no gradient (gradients with respect to the input are still right).
    Inference,
}

/// A Wengert list of tensor ops. See the module docs and the crate docs for a training loop.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
    len: usize,
    generation: u64,
    /// (parameter, node) for every `param` call since the last reset.
    params: Vec<(ParamId, usize)>,
    /// Buffers for second and later gradient contributions, reused across steps.
    spares: Vec<Tensor>,
    /// Time per op, when profiling is on.
    profile: Option<Profile>,
    /// Whether layers may record fused nodes.
    fusion: Fusion,
}

/// Time one kind of node took, summed over calls since profiling started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpTime {
    /// The op's name (`"conv2d"`, … ; `"input"` and `"parameter"` are copies onto the tape).
    pub op: &'static str,
    /// Nodes of this kind recorded.
    pub calls: u64,
    /// Time inside forward calls (kernel plus recording).
    pub forward: Duration,
    /// Time inside backward calls (kernel plus routing the gradients).
    pub backward: Duration,
}

/// Where the tape's time went, per op kind in order of first appearance, and per node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// One entry per op kind.
    pub ops: Vec<OpTime>,
    /// One entry per node position on the tape, summed over steps: when every step records the
    /// same graph (a training loop), entry `i` is the same layer every step. `op` is the kind
    /// last recorded there. `autograd::inspect::layer_profile` adds shapes and FLOPs.
    pub nodes: Vec<OpTime>,
}

impl Profile {
    fn entry(&mut self, op: &'static str) -> &mut OpTime {
        let i = match self.ops.iter().position(|e| e.op == op) {
            Some(i) => i,
            None => {
                let zero = Duration::ZERO;
                self.ops.push(OpTime { op, calls: 0, forward: zero, backward: zero });
                self.ops.len() - 1
            }
        };
        &mut self.ops[i]
    }

    fn node(&mut self, i: usize, op: &'static str) -> &mut OpTime {
        let zero = Duration::ZERO;
        if self.nodes.len() <= i {
            self.nodes.resize(i + 1, OpTime { op, calls: 0, forward: zero, backward: zero });
        }
        let entry = &mut self.nodes[i];
        entry.op = op;
        entry
    }

    /// Total forward plus backward time of every op kind.
    pub fn total(&self) -> Duration {
        self.ops.iter().map(|e| e.forward + e.backward).sum()
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the recorded graph, keeping every buffer for the next step. All [`Var`]s issued
    /// so far become invalid.
    pub fn reset(&mut self) {
        self.len = 0;
        self.generation += 1;
        self.params.clear();
    }

    /// Lets layers record fused nodes ([`Fusion::On`], the default) or not, from the next op on.
    pub fn set_fusion(&mut self, fusion: Fusion) {
        self.fusion = fusion;
    }

    /// Whether layers may record fused nodes.
    pub fn fusion(&self) -> Fusion {
        self.fusion
    }

    /// Starts (or restarts from zero) timing every op this tape records and differentiates.
    pub fn start_profiling(&mut self) {
        self.profile = Some(Profile::default());
    }

    /// The times gathered since [`Tape::start_profiling`], or `None` if profiling is off.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// Number of nodes recorded since the last reset.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been recorded since the last reset.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records data that needs no gradient (a batch of images), taking ownership of it.
    pub fn input(&mut self, value: Tensor) -> Var {
        self.leaf_node(Op::Input, false, |buffer| *buffer = value)
    }

    /// Records data that needs no gradient by copying it into this node's reused buffer: the
    /// allocation-free way to feed a new batch each step.
    pub fn input_from(&mut self, value: &Tensor) -> Var {
        self.leaf_node(Op::Input, false, |buffer| copy_into(value, buffer))
    }

    /// Records a leaf whose gradient [`Tape::backward`] computes (read it with [`Tape::grad`]):
    /// what gradient checks and saliency maps use.
    pub fn leaf(&mut self, value: Tensor) -> Var {
        self.leaf_node(Op::Leaf, true, |buffer| *buffer = value)
    }

    /// Records a parameter's current value (copied into a reused buffer). After `backward`,
    /// [`Tape::accumulate_param_grads`] adds its gradient into `param.grad`.
    pub fn param(&mut self, param: &Parameter) -> Var {
        let var = self.leaf_node(Op::Param(param.id()), true, |buffer| {
            copy_into(&param.value, buffer);
        });
        self.params.push((param.id(), var.index));
        var
    }

    /// The value of `v`.
    ///
    /// # Errors
    /// [`AutogradError::StaleVar`] when `v` is not on this tape.
    pub fn value(&self, v: Var) -> Result<&Tensor> {
        Ok(&self.nodes[self.index(v, "Tape::value")?].value)
    }

    /// The single element of a one-element value such as a loss.
    ///
    /// # Errors
    /// [`AutogradError::StaleVar`]; [`AutogradError::NonScalarLoss`] when `v` has several elements.
    pub fn scalar(&self, v: Var) -> Result<f32> {
        let value = self.value(v)?;
        match value.data() {
            [x] => Ok(*x),
            _ => Err(AutogradError::NonScalarLoss { dims: value.dims().to_vec() }),
        }
    }

    /// `∂loss/∂v` from the last [`Tape::backward`], or `None` when no gradient reached `v`
    /// (it does not influence the loss, or it is an [`Tape::input`]). A [`reshape`] or
    /// [`flatten`] output also says `None`: its gradient buffer became its input's gradient
    /// (the same numbers under the input's shape; read that one).
    ///
    /// [`reshape`]: crate::ops::reshape
    /// [`flatten`]: crate::ops::flatten
    ///
    /// # Errors
    /// [`AutogradError::StaleVar`] when `v` is not on this tape.
    pub fn grad(&self, v: Var) -> Result<Option<&Tensor>> {
        let node = &self.nodes[self.index(v, "Tape::grad")?];
        Ok((node.grad_state == GradState::Ready).then_some(&node.grad))
    }

    /// Reverse-mode differentiation: computes `∂loss/∂v` for every node `v` the loss depends
    /// on and that requires a gradient, seeding `∂loss/∂loss = 1` and visiting nodes newest
    /// first, so every consumer of a value has added its share before the value's own op runs.
    ///
    /// # Errors
    /// [`AutogradError::StaleVar`]; [`AutogradError::NonScalarLoss`] unless the loss has one
    /// element; a kernel's error if a backward rejects its inputs.
    pub fn backward(&mut self, loss: Var) -> Result<()> {
        let loss = self.index(loss, "Tape::backward")?;
        let dims = self.nodes[loss].value.dims();
        if self.nodes[loss].value.len() != 1 {
            return Err(AutogradError::NonScalarLoss { dims: dims.to_vec() });
        }
        for node in &mut self.nodes[..self.len] {
            node.grad_state = GradState::Empty;
        }
        let seed = &mut self.nodes[loss];
        seed.grad.resize_for_overwrite(seed.value.dims());
        seed.grad.fill(1.0);
        seed.grad_state = GradState::Ready;
        for i in (0..=loss).rev() {
            let node = &mut self.nodes[i];
            if node.grad_state != GradState::Ready || !node.requires_grad {
                continue;
            }
            let op = node.op;
            // Lend this node's gradient and saved tensors to its op; they come back below.
            let mut dy = mem::take(&mut node.grad);
            let saved = mem::take(&mut node.saved);
            let start = self.profile.is_some().then(Instant::now);
            let result = op.backward(self, i, &mut dy, &saved);
            if let (Some(profile), Some(start)) = (&mut self.profile, start) {
                let elapsed = start.elapsed();
                profile.entry(op.name()).backward += elapsed;
                profile.node(i, op.name()).backward += elapsed;
            }
            let node = &mut self.nodes[i];
            node.grad = dy;
            node.saved = saved;
            result?;
        }
        Ok(())
    }

    /// Adds each parameter's gradient from the last [`Tape::backward`] into `param.grad`
    /// (`grad += ∂loss/∂value`), for every parameter in `params` recorded with
    /// [`Tape::param`] (a parameter recorded twice receives both contributions). Parameters not
    /// on the tape, or that the loss does not reach, keep their gradient.
    ///
    /// # Errors
    /// [`AutogradError::Tensor`] if a parameter's shape changed since it was recorded.
    pub fn accumulate_param_grads(&self, params: &mut [&mut Parameter]) -> Result<()> {
        for &(id, node) in &self.params {
            let node = &self.nodes[node];
            if node.grad_state != GradState::Ready {
                continue;
            }
            if let Some(param) = params.iter_mut().find(|p| p.id() == id) {
                elementwise::add_assign(&mut param.grad, &node.grad)?;
            }
        }
        Ok(())
    }

    /// Makes each parameter's `grad` exactly its gradient from the last [`Tape::backward`]
    /// (zero if the loss does not reach it), by swapping buffers with the tape instead of
    /// copying: the fast path for one backward per step, with no `zero_grad` needed. Use
    /// [`Tape::accumulate_param_grads`] to sum the gradients of several backward passes.
    ///
    /// # Errors
    /// [`AutogradError::Tensor`] if a parameter's shape changed since it was recorded.
    pub fn take_param_grads(&mut self, params: &mut [&mut Parameter]) -> Result<()> {
        for param in params.iter_mut() {
            let mut taken = false;
            for &(id, node) in &self.params {
                let node = &mut self.nodes[node];
                if id != param.id() || node.grad_state != GradState::Ready {
                    continue;
                }
                if taken {
                    // The parameter appears twice on the tape (shared weights): add the rest.
                    elementwise::add_assign(&mut param.grad, &node.grad)?;
                } else {
                    if node.grad.dims() != param.grad.dims() {
                        return Err(TensorError::ShapeMismatch {
                            op: "take_param_grads",
                            lhs: param.grad.dims().to_vec(),
                            rhs: node.grad.dims().to_vec(),
                            why: "a parameter must keep its shape between forward and backward",
                        }
                        .into());
                    }
                    mem::swap(&mut param.grad, &mut node.grad);
                    // The tape's gradient now lives in the parameter: the node's is spent.
                    node.grad_state = GradState::Empty;
                    taken = true;
                }
            }
            if !taken {
                param.grad.fill(0.0);
            }
        }
        Ok(())
    }

    /// Checks every recorded value and gradient for NaN or ±∞ and names the first offender by
    /// node index and op (e.g. `"node 7 (conv2d) value"`).
    ///
    /// # Errors
    /// [`AutogradError::NonFinite`] for the first non-finite element found.
    pub fn check_finite(&self) -> Result<()> {
        for (i, node) in self.nodes[..self.len].iter().enumerate() {
            crate::doctor::check_tensor(&node.value, || {
                format!("node {i} ({}) value", node.op.name())
            })?;
            if node.grad_state == GradState::Ready {
                crate::doctor::check_tensor(&node.grad, || {
                    format!("node {i} ({}) gradient", node.op.name())
                })?;
            }
        }
        Ok(())
    }

    // ---- for `crate::ops`: recording nodes and routing gradients ----

    /// The node index of `v`, checking it belongs to this tape's current graph.
    pub(crate) fn index(&self, v: Var, op: &'static str) -> Result<usize> {
        if v.generation != self.generation || v.index >= self.len {
            return Err(AutogradError::StaleVar { op, index: v.index });
        }
        Ok(v.index)
    }

    /// The value of node `i` (an index from [`Tape::index`]).
    pub(crate) fn value_at(&self, i: usize) -> &Tensor {
        &self.nodes[i].value
    }

    /// The op that recorded node `i` (what `crate::inspect` walks to find conv layers).
    pub(crate) fn op_at(&self, i: usize) -> Op {
        self.nodes[i].op
    }

    /// `∂loss/∂(node i)` from the last [`Tape::backward`], or `None` when none reached it.
    pub(crate) fn grad_at(&self, i: usize) -> Option<&Tensor> {
        let node = &self.nodes[i];
        (node.grad_state == GradState::Ready).then_some(&node.grad)
    }

    /// True when node `i` needs a gradient (a parameter, a leaf, or computed from one).
    pub(crate) fn requires_grad_at(&self, i: usize) -> bool {
        self.nodes[i].requires_grad
    }

    fn leaf_node(&mut self, op: Op, requires_grad: bool, fill: impl FnOnce(&mut Tensor)) -> Var {
        let start = self.profile.is_some().then(Instant::now);
        let var = self.next_slot(op, requires_grad);
        fill(&mut self.nodes[var.index].value);
        self.len += 1;
        self.note_forward(op, start);
        var
    }

    /// Adds the time since `start` to `op`'s forward total and to the newest node's (when
    /// profiling; called right after the node is appended).
    fn note_forward(&mut self, op: Op, start: Option<Instant>) {
        if let (Some(profile), Some(start)) = (&mut self.profile, start) {
            let elapsed = start.elapsed();
            let kind = profile.entry(op.name());
            kind.calls += 1;
            kind.forward += elapsed;
            let node = profile.node(self.len - 1, op.name());
            node.calls += 1;
            node.forward += elapsed;
        }
    }

    /// Makes slot `len` ready for `op`, keeping any buffers it had from an earlier step.
    fn next_slot(&mut self, op: Op, requires_grad: bool) -> Var {
        if self.len == self.nodes.len() {
            self.nodes.push(Node {
                op,
                value: Tensor::default(),
                grad: Tensor::default(),
                grad_state: GradState::Empty,
                requires_grad,
                saved: Saved::default(),
            });
        }
        let node = &mut self.nodes[self.len];
        node.op = op;
        node.requires_grad = requires_grad;
        node.grad_state = GradState::Empty;
        Var { index: self.len, generation: self.generation }
    }

    /// Appends a node for `op`: `forward` reads the inputs from the tape and writes the output
    /// into the node's (reused) value buffer and whatever its backward needs into `Saved`.
    /// The node requires a gradient when any input does. On error nothing is recorded.
    pub(crate) fn record(
        &mut self,
        op: Op,
        forward: impl FnOnce(&Tape, &mut Tensor, &mut Saved) -> Result<()>,
    ) -> Result<Var> {
        let start = self.profile.is_some().then(Instant::now);
        let requires_grad = op.inputs().into_iter().flatten().any(|i| self.nodes[i].requires_grad);
        let var = self.next_slot(op, requires_grad);
        let node = &mut self.nodes[var.index];
        let mut value = mem::take(&mut node.value);
        let mut saved = mem::take(&mut node.saved);
        let result = forward(self, &mut value, &mut saved);
        let node = &mut self.nodes[var.index];
        node.value = value;
        node.saved = saved;
        result?;
        self.len += 1;
        self.note_forward(op, start);
        Ok(var)
    }

    /// A buffer for one gradient contribution to node `i` (see [`GradTarget`]). Return it with
    /// [`Tape::accumulate`] before asking for another target of the same node.
    pub(crate) fn grad_target(&mut self, i: usize) -> GradTarget {
        let node = &mut self.nodes[i];
        if node.grad_state == GradState::Empty {
            node.grad_state = GradState::Lent;
            GradTarget { node: i, buffer: mem::take(&mut node.grad), first: true }
        } else {
            GradTarget { node: i, buffer: self.spares.pop().unwrap_or_default(), first: false }
        }
    }

    /// Gives back a target whose backward failed, leaving the node's gradient as it was.
    pub(crate) fn release(&mut self, target: GradTarget) {
        if target.first {
            let node = &mut self.nodes[target.node];
            node.grad = target.buffer;
            node.grad_state = GradState::Empty;
        } else {
            self.spares.push(target.buffer);
        }
    }

    /// One contribution to node `i`'s gradient: `write` fills the buffer (reading anything it
    /// needs from the tape), then it is [accumulated](Tape::accumulate). Does nothing when node
    /// `i` needs no gradient.
    ///
    /// # Errors
    /// Whatever `write` returns (the gradient is then left unchanged).
    pub(crate) fn contribute(
        &mut self,
        i: usize,
        write: impl FnOnce(&Tape, &mut Tensor) -> Result<()>,
    ) -> Result<()> {
        if !self.requires_grad_at(i) {
            return Ok(());
        }
        let mut target = self.grad_target(i);
        match write(self, &mut target.buffer) {
            Ok(()) => self.accumulate(target),
            Err(e) => {
                self.release(target);
                Err(e)
            }
        }
    }

    /// Contributions to several inputs computed by one kernel call (conv2d gives dx, dw and db
    /// together). `write` gets one buffer per input and a flag saying whether that input wants
    /// a gradient; buffers of inputs that do not (or of absent inputs, `None`) are scratch.
    ///
    /// # Errors
    /// Whatever `write` returns (no gradient is then changed).
    pub(crate) fn contribute_many<const K: usize>(
        &mut self,
        inputs: [Option<usize>; K],
        write: impl FnOnce(&Tape, &mut [Tensor; K], [bool; K]) -> Result<()>,
    ) -> Result<()> {
        let mut targets: [Option<GradTarget>; K] = std::array::from_fn(|_| None);
        for (target, input) in targets.iter_mut().zip(inputs) {
            if let Some(i) = input
                && self.requires_grad_at(i)
            {
                *target = Some(self.grad_target(i));
            }
        }
        let wanted = std::array::from_fn(|k| targets[k].is_some());
        let mut buffers: [Tensor; K] = std::array::from_fn(|k| match &mut targets[k] {
            Some(target) => mem::take(&mut target.buffer),
            None => self.spares.pop().unwrap_or_default(),
        });
        let result = write(self, &mut buffers, wanted);
        let mut settled = Ok(());
        for (target, buffer) in targets.into_iter().zip(buffers) {
            match target {
                Some(mut target) => {
                    target.buffer = buffer;
                    if result.is_ok() && settled.is_ok() {
                        settled = self.accumulate(target);
                    } else {
                        self.release(target);
                    }
                }
                None => self.spares.push(buffer),
            }
        }
        result.and(settled)
    }

    /// Hands `dy`, the gradient of node `node` (lent by [`Tape::backward`]), to node `i` as its
    /// contribution under `i`'s shape, by swapping buffers: what a reshape's backward is, with
    /// no copy (`dx` has `dy`'s elements in the same order). As the first contribution it
    /// simply becomes `i`'s gradient; a later one is added. `dy` is left holding the buffer it
    /// swapped with (garbage, overwritten next step), so `node`'s gradient is spent:
    /// [`Tape::grad`] says `None` for it afterwards.
    ///
    /// # Errors
    /// `TensorError::LengthMismatch` when the element counts differ (nothing is changed then).
    pub(crate) fn hand_on_gradient(
        &mut self,
        node: usize,
        i: usize,
        dy: &mut Tensor,
    ) -> Result<()> {
        if !self.requires_grad_at(i) {
            return Ok(());
        }
        let mut target = self.grad_target(i);
        mem::swap(&mut target.buffer, dy);
        if let Err(e) = target.buffer.reshape_in_place(self.nodes[i].value.dims()) {
            mem::swap(&mut target.buffer, dy);
            self.release(target);
            return Err(e.into());
        }
        self.nodes[node].grad_state = GradState::Empty;
        self.accumulate(target)
    }

    /// Adds a contribution to its node's gradient: `grad = contribution` for the first one
    /// (the buffer simply returns home), `grad += contribution` after that. The one place where
    /// gradients are summed.
    ///
    /// # Errors
    /// [`AutogradError::Tensor`] if a contribution's shape differs from the gradient so far.
    pub(crate) fn accumulate(&mut self, target: GradTarget) -> Result<()> {
        let node = &mut self.nodes[target.node];
        if target.first {
            node.grad = target.buffer;
            node.grad_state = GradState::Ready;
            return Ok(());
        }
        debug_assert_eq!(node.grad_state, GradState::Ready, "contributions return in order");
        let result = elementwise::add_assign(&mut node.grad, &target.buffer);
        self.spares.push(target.buffer);
        Ok(result?)
    }
}

/// `dst = src`, reusing `dst`'s allocation, in chunks across rayon threads like the other
/// memory-bound ops (parameters such as the paper's FC1 weights are 100 MB).
pub(crate) fn copy_into(src: &Tensor, dst: &mut Tensor) {
    const CHUNK: usize = 1 << 16;
    dst.resize_for_overwrite(src.dims());
    dst.data_mut()
        .par_chunks_mut(CHUNK)
        .zip(src.data().par_chunks(CHUNK))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{CrossEntropyOptions, softmax_cross_entropy};
    use crate::nn::{
        BatchNorm2d, Conv2d, Conv2dParams, Dropout, Flatten, GlobalAvgPool, Linear, MaxPool2d,
        Module, ReLU, Sequential,
    };
    use tensor::Rng;

    /// (address, capacity) of every buffer the tape owns, in a fixed order.
    fn buffers(tape: &Tape) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut note = |t: &Tensor| out.push((t.data().as_ptr() as usize, t.len()));
        for node in &tape.nodes {
            note(&node.value);
            note(&node.grad);
            note(&node.saved.tensor);
            note(&node.saved.stats.mean);
            note(&node.saved.stats.var);
        }
        for spare in &tape.spares {
            note(spare);
        }
        out.extend(tape.nodes.iter().map(|n| (n.saved.indices.as_ptr() as usize, 0)));
        out
    }

    /// After the first step, a step that records the same graph reuses every tape buffer: same
    /// addresses, same sizes, no node added. (As a set: a reshape hands its gradient buffer to
    /// its input and takes the input's old one, so those two trade places every step.)
    #[test]
    fn steady_state_steps_reuse_every_buffer() {
        let mut rng = Rng::new(1);
        let same = Conv2dParams { stride: 1, padding: 1 };
        let mut model = Sequential::new(vec![
            Box::new(Conv2d::new(3, 4, 3, same, crate::init::Init::KaimingNormal, &mut rng)),
            Box::new(BatchNorm2d::new(4)),
            Box::new(ReLU),
            Box::new(MaxPool2d::new(2, 2)),
            Box::new(Dropout::new(0.5, Rng::new(2)).expect("valid p")),
            Box::new(Conv2d::new(4, 4, 3, same, crate::init::Init::KaimingNormal, &mut rng)),
            Box::new(GlobalAvgPool),
            Box::new(Flatten),
            Box::new(Linear::new(4, 3, crate::init::Init::PytorchDefault, &mut rng)),
        ]);
        let images = Tensor::from_fn(&[2, 3, 8, 8], |i| (i % 13) as f32 / 13.0);
        let mut tape = Tape::new();
        let mut snapshots = Vec::new();
        for _ in 0..3 {
            tape.reset();
            let x = tape.input_from(&images);
            // The logits feed the add twice: a second gradient contribution (uses a spare).
            let logits = model.forward(&mut tape, x).expect("shapes fit");
            let twice = crate::ops::add(&mut tape, logits, logits).expect("same shape");
            let loss =
                softmax_cross_entropy(&mut tape, twice, &[0, 2], &CrossEntropyOptions::default())
                    .expect("valid targets");
            tape.backward(loss).expect("scalar loss");
            tape.accumulate_param_grads(&mut model.parameters_mut()).expect("same shapes");
            let mut owned = buffers(&tape);
            owned.sort_unstable();
            snapshots.push((tape.nodes.len(), owned));
        }
        assert_eq!(snapshots[1], snapshots[2]);
    }
}
