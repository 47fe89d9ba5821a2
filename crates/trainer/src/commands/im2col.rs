//! `trainer im2col`: a convolution done by hand, step by step, on a tiny input, printing every
//! matrix of the im2col + GEMM path and of its backward (`docs/convolution.md` shows the
//! output). Each step calls the same library function the training code uses, then checks the
//! result against `conv2d::forward` / `conv2d::backward`.

use clap::Args;
use tensor::ops::conv2d::{self, Conv2dParams, InputGrad};
use tensor::ops::gemm::{Accumulate, GemmDims, Transpose, gemm, matmul};
use tensor::{Shape4, Tensor};

use crate::exit::Failure;

/// Options of `trainer im2col`.
#[derive(Debug, Args)]
pub struct Im2colArgs {
    /// Height and width of the input.
    #[arg(long, default_value_t = 4)]
    pub size: usize,
    /// Input channels C_in.
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Kernel height and width (KH = KW).
    #[arg(long, default_value_t = 3)]
    pub kernel: usize,
    /// Stride.
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// Zero padding on each side.
    #[arg(long, default_value_t = 1)]
    pub padding: usize,
}

/// The two example filters, cycled over the input channels: a vertical-edge detector (Sobel-x
/// for 3×3, else −1 left of the centre column and +1 right of it) and a box of ones.
fn example_weights(c_in: usize, k: usize) -> Tensor {
    let centre = (k / 2) as isize;
    Tensor::from_fn(&[2, c_in, k, k], |idx| {
        let (co, i, j) = (idx / (c_in * k * k), (idx / k) % k, idx % k);
        if co == 1 {
            return 1.0;
        }
        let side = (j as isize - centre).signum() as f32;
        let middle = if k == 3 && i == 1 { 2.0 } else { 1.0 };
        side * middle
    })
}

/// `trainer im2col`.
///
/// # Errors
/// Sizes for which the window does not fit, or more than 64 columns (too wide to read).
pub fn im2col(args: &Im2colArgs) -> anyhow::Result<()> {
    let (s, c_in, k) = (args.size, args.channels, args.kernel);
    if s == 0 || c_in == 0 || k == 0 || c_in > 3 {
        return Err(Failure::Usage("--size, --kernel ≥ 1 and 1 ≤ --channels ≤ 3".into()).into());
    }
    let p = Conv2dParams { stride: args.stride, padding: args.padding };
    let (oh, ow) = p.output_hw(s, s, k, k).map_err(|e| Failure::Usage(e.to_string()))?;
    if oh * ow > 64 {
        let why =
            format!("{oh}×{ow} = {} output pixels make cols too wide to print (≤ 64)", oh * ow);
        return Err(Failure::Usage(why).into());
    }
    // x: channel c holds 100·c + 1, 2, …, H·W row by row, so every entry says where it came from.
    let x = Tensor::from_fn(&[1, c_in, s, s], |i| (100 * (i / (s * s)) + i % (s * s) + 1) as f32);
    let w = example_weights(c_in, k);
    let rows = c_in * k * k;
    println!(
        "conv2d by im2col + GEMM: x [1, {c_in}, {s}, {s}], w [2, {c_in}, {k}, {k}], stride {}, \
         padding {} → y [1, 2, {oh}, {ow}]\n",
        p.stride, p.padding
    );
    for c in 0..c_in {
        print_matrix(
            &format!("x[0, {c}] (input channel {c})"),
            &x.data()[c * s * s..][..s * s],
            s,
            s,
            None,
        );
    }
    for co in 0..2 {
        for c in 0..c_in {
            let at = (co * c_in + c) * k * k;
            print_matrix(
                &format!("w[{co}, {c}] (filter {co}, channel {c})"),
                &w.data()[at..at + k * k],
                k,
                k,
                None,
            );
        }
    }

    let cols = conv2d::im2col(&x, (k, k), p)?;
    let labels = Labels {
        rows: (0..rows).map(|r| format!("{},{},{}", r / (k * k), (r / k) % k, r % k)).collect(),
        cols: (0..oh * ow).map(|q| format!("{},{}", q / ow, q % ow)).collect(),
        corner: "ci,i,j \\ oh,ow".into(),
    };
    print_matrix(
        &format!(
            "cols = conv2d::im2col(x)  [C_in·KH·KW, OH·OW] = [{rows}, {}]\n\
             cols[(ci·KH + i)·KW + j, oh·OW + ow] = x[0, ci, oh·s + i − pad, ow·s + j − pad], 0 in the padding",
            oh * ow
        ),
        cols.data(),
        rows,
        oh * ow,
        Some(&labels),
    );
    let w_matrix = w.clone().reshape(&[2, rows])?;
    print_matrix(
        &format!("W = w viewed as [C_out, C_in·KH·KW] = [2, {rows}] (no copy)"),
        w_matrix.data(),
        2,
        rows,
        None,
    );
    let y = matmul(&w_matrix, &cols)?;
    print_matrix(
        &format!(
            "y = W·cols  [2, {}]; row co is output channel co, an OH×OW = {oh}×{ow} image",
            oh * ow
        ),
        y.data(),
        2,
        oh * ow,
        None,
    );
    let direct = conv2d::forward(&x, &w, None, p)?;
    println!(
        "conv2d::forward(x, w) gives the same y: max |difference| = {}\n",
        max_diff(&y, &direct)
    );

    // Backward of loss = Σ y·r, so dY = r: all ones except a 2 at channel 0's first pixel and
    // channel 1's last, so that the two rows of dW differ.
    let dy =
        Tensor::from_fn(&[2, oh * ow], |i| if i == 0 || i == 2 * oh * ow - 1 { 2.0 } else { 1.0 });
    print_matrix(
        "dY = ∂loss/∂y  [2, OH·OW] (the loss Σ y·r with this r)",
        dy.data(),
        2,
        oh * ow,
        None,
    );
    let mut dw = Tensor::zeros(&[2, rows]);
    gemm(
        GemmDims::new(2, rows, oh * ow),
        dy.data(),
        Transpose::No,
        cols.data(),
        Transpose::Yes,
        dw.data_mut(),
        Accumulate::Overwrite,
    )?;
    print_matrix(
        &format!(
            "dW = dY·colsᵀ  [2, {rows}] (each weight's gradient: its input column dotted with dY)"
        ),
        dw.data(),
        2,
        rows,
        None,
    );
    let mut dcols = Tensor::zeros(&[rows, oh * ow]);
    gemm(
        GemmDims::new(rows, oh * ow, 2),
        w_matrix.data(),
        Transpose::Yes,
        dy.data(),
        Transpose::No,
        dcols.data_mut(),
        Accumulate::Overwrite,
    )?;
    print_matrix(
        &format!("dcols = Wᵀ·dY  [{rows}, {}]", oh * ow),
        dcols.data(),
        rows,
        oh * ow,
        Some(&labels),
    );
    let shape = Shape4 { n: 1, c: c_in, h: s, w: s };
    let dx = conv2d::col2im(&dcols, shape, (k, k), p)?;
    for c in 0..c_in {
        print_matrix(
            &format!(
                "dx[0, {c}] = conv2d::col2im(dcols): each cols entry added back onto the pixel it was copied from"
            ),
            &dx.data()[c * s * s..][..s * s],
            s,
            s,
            None,
        );
    }
    let dy4 = dy.reshape(&[1, 2, oh, ow])?;
    let grads = conv2d::backward(&x, &w, &dy4, p, InputGrad::Compute)?;
    let dx_direct = grads.dx.ok_or_else(|| anyhow::anyhow!("conv2d::backward skipped dx"))?;
    println!(
        "conv2d::backward gives the same: max |difference| dW {}, dx {}",
        max_diff(&dw, &grads.dw),
        max_diff(&dx, &dx_direct)
    );
    Ok(())
}

/// Row and column labels of a printed matrix.
struct Labels {
    rows: Vec<String>,
    cols: Vec<String>,
    corner: String,
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    a.data().iter().zip(b.data()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A number as short as it can be: integers without a decimal point.
fn short(v: f32) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.3}") }
}

fn print_matrix(title: &str, data: &[f32], rows: usize, cols: usize, labels: Option<&Labels>) {
    println!("{title}");
    let cells: Vec<String> = data.iter().map(|&v| short(v)).collect();
    let mut width = cells.iter().map(|c| c.chars().count()).max().unwrap_or(1);
    if let Some(l) = labels {
        width = width.max(l.cols.iter().map(String::len).max().unwrap_or(1));
    }
    let label_width = labels
        .map_or(0, |l| l.rows.iter().map(String::len).chain([l.corner.len()]).max().unwrap_or(0));
    if let Some(l) = labels {
        let head: Vec<String> = l.cols.iter().map(|c| format!("{c:>width$}")).collect();
        println!("  {:>label_width$} │ {}", l.corner, head.join(" "));
    }
    for r in 0..rows {
        let row: Vec<String> =
            cells[r * cols..(r + 1) * cols].iter().map(|c| format!("{c:>width$}")).collect();
        match labels {
            Some(l) => println!("  {:>label_width$} │ {}", l.rows[r], row.join(" ")),
            None => println!("  {}", row.join(" ")),
        }
    }
    println!();
}
