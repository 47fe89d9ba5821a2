//! The BLIS loop nest around the micro-kernel: cache blocking, packing, and the rayon split.
//!
//! ```text
//! loop 5  jc: NC columns of C and op(B)      B~ = op(B)[pc.., jc..]  (KC×NC) lives in L3
//!  loop 4  pc: KC steps of the sum            pack B~ once per (jc, pc)
//!   loop 3  ic: MC rows of C and op(A)        pack A~ = op(A)[ic.., pc..] (MC×KC), in L2
//!    loop 2  ir: MR rows: one A~ micro-panel (MR×KC) that stays in L1 for all of loop 1
//!     loop 1  jr: NR columns: one B~ micro-panel (KC×NR), streamed from L2/L3 in order
//!      kernel: MR×NR tile in registers, then stored into C (= on the first pc, += after)
//! ```
//! When op(B) comes as rows at offsets (conv2d's implicit im2col), loop 4 packs nothing: each
//! B~ micro-panel step is already a contiguous run of the padded image, and the kernel reads it
//! in place (`BPanels::InPlace`). Only A~ is packed.
//!
//! Loops 1 and 2 are swapped relative to BLIS, which keeps one B~ micro-panel in L1 and runs
//! over the A~ micro-panels innermost. Here the innermost loop walks along MR rows of C, so C is
//! touched as MR sequential streams the prefetcher can follow (measured faster on this machine;
//! see `docs/gemm.md`).
//!
//! Threads split C (row bands in loop 3, or column ranges above loop 5), so each C element is
//! summed in the same order whatever the thread count: results are bit-identical for 1 or many
//! threads. One shape splits the sum instead: a small C over a long sum (the linear layer's
//! forward, x [64, 8192]·Wᵀ) is cut into slices of the sum whose number and lengths depend on
//! the sizes alone, and their partial products are added in slice order ([`split_sum`]), so
//! its bits do not depend on the thread count either.
//!
//! Packing buffers (and the partial products of a split sum) are thread-local and only grow,
//! so a steady stream of GEMMs allocates nothing but, when C is split into column ranges, one
//! small table of row slices per call.

use super::kernel::{self, Crossing, LANES, MR, NR, VECS};
use super::pack::{self, MatRef};
use super::{Accumulate, GemmDims, Operand, RowStarts, Runs, Threads};
use rayon::prelude::*;
use std::cell::Cell;
use std::ops::Range;
use std::thread::LocalKey;

/// Rows of op(A) per packed A~ block (loop 3), a multiple of MR: A~ = MC×KC floats = 288 KiB,
/// under a third of a Zen 4 core's 1 MiB L2. (48 and 288 measured the same within noise.)
pub(super) const MC: usize = 144;
/// Steps of the sum per packed block (loop 4). An A~ micro-panel is MR×KC floats = 16 KiB, half
/// of the 32 KiB L1d, and each kernel call amortises its C load/store (2·MR·NR floats) over
/// KC rank-1 updates. Going from 256 to 512 gained ~10 % at 1024³ (docs/gemm.md).
pub(super) const KC: usize = 512;
/// Steps of the sum per block when B is read in place (no B~ to keep small): an A~ micro-panel
/// is MR×768 floats = 24 KiB, still inside the 32 KiB L1d, and conv's k = 576 (3×3, 64
/// channels) becomes one block instead of 2 × 288, so each C tile is written once. Per-image
/// conv GEMMs, one thread, alternating runs: conv5 forward 106.7 → 109–114 GFLOP/s, conv4
/// forward and dx 106–110 → 108–113 (docs/benchmarks.md).
pub(super) const KC_IN_PLACE: usize = 768;
/// Columns of op(B) per packed B~ block (loop 5), a multiple of NR for both vector widths:
/// B~ = KC×NC floats = 4 MiB, an eighth of the 32 MiB L3.
pub(super) const NC: usize = 2048;
/// B~ is packed in parallel in groups of this many NR-column micro-panels (256 floats of each
/// row of op(B) per group with AVX-512).
const PACK_GROUP: usize = 8;

/// Below this many multiply-adds (`m·n·k`) one thread does it all: about 30 µs of work, beyond
/// which waking the rayon pool (a few µs) is well amortised.
const PARALLEL_WORK: usize = 1 << 21;
/// When C is split into column ranges, aim for this many ranges per thread so a thread slowed
/// by other work on the machine does not hold up the rest.
const RANGES_PER_THREAD: usize = 4;

/// A sum of at least twice this many steps over a small C is cut into slices of about this many
/// steps ([`split_sum`]): x [64, 8192]·Wᵀ, the first linear layer's forward at 64×64, becomes
/// four slices of 2048, two per thread.
pub(super) const SUM_SLICE: usize = 2048;
/// [`split_sum`] keeps a partial C for every slice but the first, so it applies only to a C of
/// at most this many elements (256 KiB per partial).
const SPLIT_OUTPUTS: usize = 1 << 16;

thread_local! {
    /// This thread's A~ buffer (grows to MC×KC floats and stays).
    static A_PACK: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// This thread's B~ buffer (grows to KC×NC floats and stays).
    static B_PACK: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The partial sums of [`split_sum`] (grows to (slices − 1)·m·n floats and stays).
    static PARTIALS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's buffer `key`, moved out of its cell for the duration. Moving
/// (rather than borrowing a `RefCell`) keeps this correct when rayon runs another GEMM on this
/// thread while `f` waits for its workers: that GEMM just finds an empty buffer and grows its own.
fn with_buffer<R>(key: &'static LocalKey<Cell<Vec<f32>>>, f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    let mut buf = key.take();
    let result = f(&mut buf);
    key.set(buf);
    result
}

/// `len` floats of `buf` starting on a 64-byte boundary, so every vector load of a packed panel
/// sits inside one cache line. Grows `buf` if needed; the contents are left as they were.
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const LINE_FLOATS: usize = 64 / size_of::<f32>();
    if buf.len() < len + LINE_FLOATS {
        buf.resize(len + LINE_FLOATS, 0.0);
    }
    let skip = buf.as_ptr().align_offset(64).min(LINE_FLOATS);
    &mut buf[skip..skip + len]
}

/// The rows of C that one task writes, each restricted to the task's columns.
enum Out<'c, 't> {
    /// Whole rows of C stored one after another, `ld` floats apart (a band of rows).
    Dense { data: &'c mut [f32], ld: usize },
    /// One slice per row, cut from rows of C that are not adjacent (a column range of C).
    Pieces(&'t mut [&'c mut [f32]]),
}

impl Out<'_, '_> {
    /// Number of rows.
    fn rows(&self) -> usize {
        match self {
            Out::Dense { data, ld } => data.len() / ld,
            Out::Pieces(rows) => rows.len(),
        }
    }

    /// Row `i` (the task's columns only).
    fn row(&mut self, i: usize) -> &mut [f32] {
        match self {
            Out::Dense { data, ld } => &mut data[i * *ld..(i + 1) * *ld],
            Out::Pieces(rows) => rows[i],
        }
    }

    /// Calls `f(q, band)` on consecutive bands of `h` rows (the last may be shorter), on the
    /// rayon pool when `parallel` and the rows are a dense band. A column range (`Pieces`) is
    /// already one thread's share, so its bands always run in order.
    fn for_each_band(&mut self, h: usize, parallel: bool, f: impl Fn(usize, Out) + Sync + Send) {
        match self {
            Out::Dense { data, ld } => {
                let ld = *ld;
                if parallel {
                    data.par_chunks_mut(h * ld)
                        .enumerate()
                        .for_each(|(q, data)| f(q, Out::Dense { data, ld }));
                } else {
                    for (q, data) in data.chunks_mut(h * ld).enumerate() {
                        f(q, Out::Dense { data, ld });
                    }
                }
            }
            Out::Pieces(rows) => {
                for (q, rows) in rows.chunks_mut(h).enumerate() {
                    f(q, Out::Pieces(rows));
                }
            }
        }
    }
}

/// The packed path of [`super::gemm_on`]; the caller has validated the lengths and `m, n, k > 0`.
pub(super) fn packed(
    dims: GemmDims,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    acc: Accumulate,
    threads: Threads,
) {
    let GemmDims { m, n, k } = dims;
    let contiguous = matches!((a.rows, b.rows), (RowStarts::Contiguous, RowStarts::Contiguous));
    // op(A): m×k. op(B)ᵀ: n×k, so that B~ panels are packed by the same code as A~ panels.
    let a = MatRef::new(a, m, k);
    let bt = MatRef::new(b, k, n).transposed();
    let threads = match threads {
        Threads::Pool => rayon::current_num_threads(),
        Threads::Caller => 1,
    };
    let parallel = threads > 1 && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_WORK;
    if let Some(slice) = sum_slice(dims, contiguous) {
        split_sum(a, bt, slice, c, acc, parallel);
        return;
    }
    let whole = Out::Dense { data: c, ld: n };
    if !parallel {
        nest(a, bt, 0..n, 0..k, whole, MC, acc, false);
    } else if m >= n {
        // Tall or square: share each B~ between the threads and give each a band of rows
        // (loop 3 in parallel). Bands are whole MR panels, at most MC rows, and as many as a
        // multiple of the thread count, so every thread gets the same rows: 1024 rows cut into
        // MC = 144-row bands are 7 bands and a 16-row sliver, 4 bands for one thread and 3 for
        // the other (1.78× at best on two); cut into 8 bands of 128 they split 4 and 4.
        // Bands only group rows, so the result does not depend on them.
        let bands = m.div_ceil(MC).next_multiple_of(threads);
        let band = m.div_ceil(bands).next_multiple_of(MR).min(MC);
        nest(a, bt, 0..n, 0..k, whole, band, acc, true);
    } else {
        // Wide (conv's im2col GEMMs: few output channels, many pixels): too few rows to split,
        // so split C into column ranges, each a whole independent GEMM with its own packing.
        let width = n.div_ceil(threads * RANGES_PER_THREAD).next_multiple_of(NR);
        let ranges = n.div_ceil(width);
        // pieces[r·m + i] = columns r·width.. of row i: each range's rows are adjacent.
        let mut pieces: Vec<&mut [f32]> =
            std::iter::repeat_with(Default::default).take(ranges * m).collect();
        for (i, row) in c.chunks_mut(n).enumerate() {
            for (r, piece) in row.chunks_mut(width).enumerate() {
                pieces[r * m + i] = piece;
            }
        }
        pieces.par_chunks_mut(m).enumerate().for_each(|(r, rows)| {
            let cols = r * width..((r + 1) * width).min(n);
            nest(a, bt, cols, 0..k, Out::Pieces(rows), MC, acc, false);
        });
    }
}

/// The length of the slices [`split_sum`] cuts the sum into, when it should: both operands
/// contiguous (conv2d's implicit operands keep their own paths), a sum of at least
/// `2·SUM_SLICE` steps that is C's longest side, and C small (`m·n ≤ SPLIT_OUTPUTS`). Such a
/// C has too few columns to split among threads without packing all of A once per column
/// range (eight 2 MiB copies of x at the first linear layer), and too few rows to share B~ in
/// row bands. The length depends on the sizes alone, never on the thread count: `k / SUM_SLICE`
/// slices of equal length, rounded up to a multiple of 8 (whole 8×8 transposes when packing).
pub(super) fn sum_slice(dims: GemmDims, contiguous: bool) -> Option<usize> {
    let GemmDims { m, n, k } = dims;
    let long = k >= 2 * SUM_SLICE && k >= m.max(n) && m.saturating_mul(n) <= SPLIT_OUTPUTS;
    (contiguous && long).then(|| k.div_ceil(k / SUM_SLICE).next_multiple_of(8))
}

/// C (`m×n`, row-major) from a sum cut into slices of `len` steps (the last may be shorter),
/// each a whole loop nest with its own packing: slice 0 is summed into C itself (with `acc`),
/// slice s ≥ 1 into a partial C of its own, and then `c = c + p_1 + p_2 + …`, the partials
/// added in slice order. On the pool the slices run in parallel; every element still receives
/// the same additions in the same order, so the bits do not depend on the thread count. (They
/// differ from one unsliced sum over k: the partials are rounded on their own before adding.)
fn split_sum(a: MatRef, bt: MatRef, len: usize, c: &mut [f32], acc: Accumulate, parallel: bool) {
    let (k, n, outputs) = (a.cols(), bt.rows(), c.len());
    let slices = k.div_ceil(len);
    let run = |s: usize, data: &mut [f32], mode: Accumulate| {
        let sum = s * len..k.min((s + 1) * len);
        nest(a, bt, 0..n, sum, Out::Dense { data, ld: n }, MC, mode, false);
    };
    with_buffer(&PARTIALS, |buf| {
        // partials: [slices − 1][m][n]; slice s ≥ 1 sums into partials[s − 1].
        let partials = aligned(buf, (slices - 1) * outputs);
        let into_partial = |(s, p): (usize, &mut [f32])| run(s + 1, p, Accumulate::Overwrite);
        if parallel {
            rayon::join(
                || run(0, c, acc),
                || partials.par_chunks_mut(outputs).enumerate().for_each(into_partial),
            );
        } else {
            run(0, c, acc);
            partials.chunks_mut(outputs).enumerate().for_each(into_partial);
        }
        for p in partials.chunks_exact(outputs) {
            c.iter_mut().zip(p).for_each(|(c, &p)| *c += p);
        }
    });
}

/// Loops 5 to 1 for the columns `cols` of C (all rows) and the steps `sum` of the sum (all of
/// `0..k` but in [`split_sum`]); `out` holds those columns of every row. Loop 3 walks bands of
/// `band` rows, on the rayon pool when `parallel`.
#[allow(clippy::too_many_arguments)]
fn nest(
    a: MatRef,
    bt: MatRef,
    cols: Range<usize>,
    sum: Range<usize>,
    mut out: Out,
    band: usize,
    acc: Accumulate,
    parallel: bool,
) {
    let k = sum.len();
    // Split the sum into ⌈k/KC⌉ equal blocks rather than KC + a short remainder (k = 576 is
    // 2×288, not 512 + 64): a short block pays a full C load/store for few rank-1 updates.
    // (KC_IN_PLACE instead of KC when B is read in place.) This depends on k and the operand
    // kinds alone, so the summation order stays independent of the thread count.
    // op(B) with its rows at offsets (conv2d's implicit im2col) is read in place, panel by panel,
    // and so are its columns in runs when the kernel can load them (`Runs::in_place`); other
    // runs are packed like any B.
    let shifted = bt.shifted_rows().filter(|&(_, _, runs)| runs.is_none_or(Runs::in_place));
    let kc_max = if shifted.is_some() { KC_IN_PLACE } else { KC };
    let kc_step = k.div_ceil(k.div_ceil(kc_max));
    with_buffer(&B_PACK, |b_buf| {
        // loop 5: NC columns at a time; B~ (KC×NC) stays in L3.
        for jc in cols.clone().step_by(NC) {
            let nc = NC.min(cols.end - jc);
            // loop 4: KC steps of the sum at a time; both packed blocks hold only these steps.
            for pc in sum.clone().step_by(kc_step) {
                let depth = pc..sum.end.min(pc + kc_step);
                let kc = depth.len();
                let b_panels = match shifted {
                    Some((data, starts, runs)) => {
                        // Only a partial last panel is packed, so the kernel never reads past
                        // the end of C's columns (nor of `data`).
                        let whole = nc / NR;
                        let tail = aligned(b_buf, if nc.is_multiple_of(NR) { 0 } else { NR * kc });
                        let last = jc + whole * NR..jc + nc;
                        if !last.is_empty() {
                            pack::panels::<NR>(bt, last, depth.clone(), tail);
                        }
                        let starts = &starts[depth.clone()];
                        BPanels::InPlace { data, starts, runs, col0: jc, whole, tail: &*tail }
                    }
                    None => {
                        // b_packed: [⌈nc/NR⌉ panels][kc][NR], zero columns past the edge of C.
                        let b_packed = aligned(b_buf, nc.div_ceil(NR) * NR * kc);
                        // In parallel, groups of PACK_GROUP panels; alone, the whole block at once.
                        let group =
                            if parallel { PACK_GROUP * NR } else { nc.next_multiple_of(NR) };
                        let pack_b = |(g, dst): (usize, &mut [f32])| {
                            let first = jc + g * group;
                            let columns = first..(first + group).min(jc + nc);
                            pack::panels::<NR>(bt, columns, depth.clone(), dst);
                        };
                        if parallel {
                            b_packed.par_chunks_mut(group * kc).enumerate().for_each(pack_b);
                        } else {
                            b_packed.chunks_mut(group * kc).enumerate().for_each(pack_b);
                        }
                        BPanels::Packed(&*b_packed)
                    }
                };
                // The first block of the sum decides between = and +=; later ones add.
                let mode = if pc == sum.start { acc } else { Accumulate::Add };
                // loop 3: bands of rows; A~ (band×KC) stays in L2.
                out.for_each_band(band, parallel, |q, rows| {
                    let block =
                        Block { row0: q * band, depth: depth.clone(), col0: jc - cols.start };
                    macro_kernel(a, &block, b_panels, rows, mode);
                });
            }
        }
    });
}

/// Where loop 1 reads its B~ micro-panels.
#[derive(Clone, Copy)]
enum BPanels<'b> {
    /// Packed by loop 4: `[⌈nc/NR⌉ panels][kc][NR]`.
    Packed(&'b [f32]),
    /// op(B) is a matrix whose row `p` is `data[starts[p]..]` (conv2d's implicit im2col: the
    /// padded image shifted once per row). Step `p` of the micro-panel at column `c` is then
    /// already contiguous, `data[starts[p] + c..][..NR]`, so the kernel reads it in place and
    /// packing B (a copy of KH·KW times the image per GEMM) is skipped. With `runs`, column
    /// `c` is at `runs.offset(c)` instead, and each vector of a step (LANES columns, inside
    /// one run since runs are whole vectors) is read where it lies. `whole` panels from column
    /// `col0` are read this way; a partial last panel is in `tail`, packed.
    InPlace {
        data: &'b [f32],
        starts: &'b [usize],
        runs: Option<Runs<'b>>,
        col0: usize,
        whole: usize,
        tail: &'b [f32],
    },
}

impl BPanels<'_> {
    /// Number of micro-panels.
    fn len(&self, kc: usize) -> usize {
        match self {
            BPanels::Packed(b) => b.len() / (NR * kc),
            BPanels::InPlace { whole, tail, .. } => whole + usize::from(!tail.is_empty()),
        }
    }

    /// `tile = a_panel · (micro-panel jr)`.
    fn tile(&self, jr: usize, a_panel: &[f32], kc: usize, tile: &mut [[f32; NR]; MR]) {
        match *self {
            BPanels::Packed(b) => kernel::tile(a_panel, &b[jr * NR * kc..][..NR * kc], tile),
            BPanels::InPlace { data, starts, runs, col0, whole, tail } => {
                if jr < whole {
                    let first = col0 + jr * NR;
                    let col = |v: usize| first + v * LANES;
                    match runs {
                        None => {
                            let cols: [usize; VECS] = std::array::from_fn(col);
                            kernel::tile_in_place(a_panel, data, starts, cols, tile);
                        }
                        Some(runs) => {
                            let vectors: [Crossing; VECS] =
                                std::array::from_fn(|v| crossing(runs, col(v)));
                            if vectors.iter().all(|x| x.split == LANES) {
                                let cols = vectors.map(|x| x.lo);
                                kernel::tile_in_place(a_panel, data, starts, cols, tile);
                            } else {
                                kernel::tile_in_place_crossing(
                                    a_panel, data, starts, vectors, tile,
                                );
                            }
                        }
                    }
                } else {
                    kernel::tile(a_panel, tail, tile);
                }
            }
        }
    }
}

/// Where the vector of LANES columns from column `c` lies in `runs` (a whole panel's vector, so
/// every one of its columns exists): inside one run, or across the end of one run and the
/// start of the next, which [`Runs::in_place`] guarantees lies after it.
fn crossing(runs: Runs, c: usize) -> Crossing {
    let (run, u) = (c / runs.len, c % runs.len);
    let lo = runs.starts[run] + u;
    let split = runs.len - u;
    if split >= LANES {
        Crossing { lo, hi: lo, split: LANES }
    } else {
        Crossing { lo, hi: runs.starts[run + 1] - split, split }
    }
}

/// Where one macro-kernel call works: op(A) rows from `row0`, sum steps `depth`, and the local
/// column (within the task's `Out` rows) of B~'s first column.
struct Block {
    row0: usize,
    depth: Range<usize>,
    col0: usize,
}

/// Loops 2 and 1: packs A~ for the rows of `out`, then runs the kernel over every (A~ panel,
/// B~ panel) pair and stores each tile's valid part into `out`.
fn macro_kernel(a: MatRef, block: &Block, b_panels: BPanels, mut out: Out, mode: Accumulate) {
    let mc = out.rows();
    let kc = block.depth.len();
    let width = out.row(0).len();
    with_buffer(&A_PACK, |a_buf| {
        // a_packed: [⌈mc/MR⌉ panels][kc][MR], zero rows past the edge of C.
        let a_packed = aligned(a_buf, mc.div_ceil(MR) * MR * kc);
        pack::panels::<MR>(a, block.row0..block.row0 + mc, block.depth.clone(), a_packed);
        let a_packed = &*a_packed;
        let mut tile = [[0.0f32; NR]; MR];
        // loop 2: one A~ micro-panel (MR×kc) at a time; it stays in L1 through loop 1.
        for (ir, a_panel) in a_packed.chunks_exact(MR * kc).enumerate() {
            let rows = ir * MR..mc.min(ir * MR + MR);
            // loop 1: the B~ micro-panels (kc×NR) in memory order, i.e. C's columns left to right.
            for jr in 0..b_panels.len(kc) {
                b_panels.tile(jr, a_panel, kc, &mut tile);
                let col = block.col0 + jr * NR;
                let cols = col..width.min(col + NR);
                for (row, tile_r) in rows.clone().zip(&tile) {
                    store(&mut out.row(row)[cols.clone()], tile_r, mode);
                }
            }
        }
    });
}

/// Writes (`Overwrite`) or adds (`Add`) the first `c.len() ≤ NR` values of a tile row into `c`.
/// Full-width rows take a fixed-length path so the copy compiles to vector moves instead of a
/// `memcpy` call per row (measurable when k is small and tiles are cheap).
fn store(c: &mut [f32], tile_r: &[f32; NR], mode: Accumulate) {
    match (<&mut [f32; NR]>::try_from(&mut *c), mode) {
        (Ok(c), Accumulate::Overwrite) => *c = *tile_r,
        (Ok(c), Accumulate::Add) => {
            for (c, t) in c.iter_mut().zip(tile_r) {
                *c += t;
            }
        }
        (Err(_), Accumulate::Overwrite) => c.copy_from_slice(&tile_r[..c.len()]),
        (Err(_), Accumulate::Add) => {
            for (c, t) in c.iter_mut().zip(tile_r) {
                *c += t;
            }
        }
    }
}
