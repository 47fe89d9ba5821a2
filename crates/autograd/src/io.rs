//! Checkpoints in safetensors format with PyTorch's names and layouts.
//!
//! A model's parameters and buffers are stored under their dotted names (`features.0.weight`,
//! `features.1.running_mean`, …) as little-endian f32 with PyTorch's shapes (conv weight
//! [C_out, C_in, KH, KW], linear weight [out, in]), so `safetensors.torch.load_file` gives a
//! `state_dict` the equivalent `nn.Sequential` accepts. With an optimiser, its state is added
//! under `optimizer.{parameter}.{slot}` plus metadata (`optimizer.kind`, `optimizer.step`,
//! `optimizer.lr`); load such a file into PyTorch with the `optimizer.` keys filtered out.
//!
//! [`load`] checks every name, dtype and shape before touching the model and reports all
//! mismatches at once; a truncated or corrupt file is an error, never a panic.

use crate::nn::Module;
use crate::optim::{Optimizer, OptimizerState};
use crate::{AutogradError, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;
use tensor::Tensor;

const OPTIMIZER_PREFIX: &str = "optimizer.";

fn f32_bytes(t: &Tensor) -> Vec<u8> {
    t.data().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The checkpoint as bytes (what [`save`] writes).
///
/// # Errors
/// [`AutogradError::CorruptCheckpoint`] if serialisation fails (e.g. two tensors share a name).
pub fn to_bytes(model: &dyn Module, optimizer: Option<&dyn Optimizer>) -> Result<Vec<u8>> {
    let mut named: Vec<(String, &Tensor)> = Vec::new();
    for p in model.parameters() {
        named.push((p.name.clone(), &p.value));
    }
    for b in model.buffers() {
        named.push((b.name.clone(), &b.value));
    }
    let mut metadata = HashMap::from([("format".to_string(), "astroconv".to_string())]);
    let state = optimizer.map(|o| o.state());
    if let Some(state) = &state {
        metadata.insert("optimizer.kind".into(), state.kind.clone());
        metadata.insert("optimizer.step".into(), state.step.to_string());
        metadata.insert("optimizer.lr".into(), state.lr.to_string());
        for (name, t) in &state.tensors {
            named.push((format!("{OPTIMIZER_PREFIX}{name}"), t));
        }
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        named.into_iter().map(|(n, t)| (n, t.dims().to_vec(), f32_bytes(t))).collect();
    let corrupt = |why: String| AutogradError::CorruptCheckpoint { path: "<memory>".into(), why };
    let mut views = Vec::with_capacity(bytes.len());
    for (name, dims, data) in &bytes {
        let view = TensorView::new(Dtype::F32, dims.clone(), data)
            .map_err(|e| corrupt(format!("{name}: {e}")))?;
        views.push((name.as_str(), view));
    }
    safetensors::tensor::serialize(views, &Some(metadata)).map_err(|e| corrupt(e.to_string()))
}

/// Writes the model (and optionally the optimiser state) to `path`.
///
/// # Errors
/// [`AutogradError::Io`] when the file cannot be written.
pub fn save(path: &Path, model: &dyn Module, optimizer: Option<&dyn Optimizer>) -> Result<()> {
    let bytes = to_bytes(model, optimizer)?;
    std::fs::write(path, bytes).map_err(|source| io_error(path, source))
}

/// Like [`save`], but writes `path` + `.tmp` first and renames it over `path`, so a crash
/// mid-write never leaves a half-written checkpoint under the real name.
///
/// # Errors
/// [`AutogradError::Io`] when writing or renaming fails.
pub fn save_atomic(
    path: &Path,
    model: &dyn Module,
    optimizer: Option<&dyn Optimizer>,
) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    save(tmp, model, optimizer)?;
    std::fs::rename(tmp, path).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: std::io::Error) -> AutogradError {
    AutogradError::Io { path: path.display().to_string(), source }
}

/// Reads `path` into `model` (and `optimizer`, if given). Nothing is changed unless the whole
/// file fits.
///
/// # Errors
/// [`AutogradError::Io`] if the file cannot be read; [`AutogradError::CorruptCheckpoint`] if it
/// is not valid safetensors; [`AutogradError::CheckpointMismatch`] listing every missing,
/// unexpected, wrongly typed or wrongly shaped tensor (and a missing optimiser state).
pub fn load(
    path: &Path,
    model: &mut dyn Module,
    optimizer: Option<&mut dyn Optimizer>,
) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    from_bytes(&bytes, &path.display().to_string(), model, optimizer)
}

/// [`load`] from bytes in memory; `label` names the source in errors.
///
/// # Errors
/// As [`load`].
pub fn from_bytes(
    bytes: &[u8],
    label: &str,
    model: &mut dyn Module,
    optimizer: Option<&mut dyn Optimizer>,
) -> Result<()> {
    let corrupt = |why: String| AutogradError::CorruptCheckpoint { path: label.into(), why };
    let file = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata = header.metadata().clone().unwrap_or_default();

    let mut problems = Vec::new();
    let mut decoded: HashMap<String, Tensor> = HashMap::new();
    let wanted: Vec<(String, Vec<usize>)> = model
        .parameters()
        .into_iter()
        .map(|p| (p.name.clone(), p.value.dims().to_vec()))
        .chain(model.buffers().into_iter().map(|b| (b.name.clone(), b.value.dims().to_vec())))
        .collect();
    for (name, dims) in &wanted {
        match decode(&file, name) {
            Err(why) => problems.push(format!("{name}: {why} (model has shape {dims:?})")),
            Ok(t) if t.dims() != dims.as_slice() => problems
                .push(format!("{name}: shape {:?} in the file, {dims:?} in the model", t.dims())),
            Ok(t) => {
                decoded.insert(name.clone(), t);
            }
        }
    }
    let mut file_names: Vec<&String> = file.names();
    file_names.sort();
    for name in file_names {
        if !name.starts_with(OPTIMIZER_PREFIX) && !wanted.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name}: in the file but not in the model"));
        }
    }

    let state = match &optimizer {
        Some(_) => match optimizer_state(&file, &metadata) {
            Ok(state) => Some(state),
            Err(why) => {
                problems.push(why);
                None
            }
        },
        None => None,
    };
    if !problems.is_empty() {
        return Err(AutogradError::CheckpointMismatch { path: label.into(), problems });
    }
    if let (Some(optimizer), Some(state)) = (optimizer, state) {
        let names: Vec<String> = model.parameters().iter().map(|p| p.name.clone()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        optimizer.load_state(&state, &names)?;
    }
    for p in model.parameters_mut() {
        if let Some(t) = decoded.remove(&p.name) {
            p.value = t;
        }
    }
    for b in model.buffers_mut() {
        if let Some(t) = decoded.remove(&b.name) {
            b.value = t;
        }
    }
    Ok(())
}

/// One f32 tensor from the file, or why not.
fn decode(file: &SafeTensors<'_>, name: &str) -> std::result::Result<Tensor, String> {
    let view = file.tensor(name).map_err(|_| "missing from the file".to_string())?;
    if view.dtype() != Dtype::F32 {
        return Err(format!("dtype {:?} in the file, the model needs F32", view.dtype()));
    }
    let data: Vec<f32> =
        view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Tensor::from_vec(view.shape(), data).map_err(|e| e.to_string())
}

/// The optimiser state stored in the file, or a description of what is missing.
fn optimizer_state(
    file: &SafeTensors<'_>,
    metadata: &HashMap<String, String>,
) -> std::result::Result<OptimizerState, String> {
    let field = |key: &str| {
        metadata.get(key).ok_or_else(|| format!("no optimizer state in the file (missing {key})"))
    };
    let kind = field("optimizer.kind")?.clone();
    let step = field("optimizer.step")?.parse().map_err(|e| format!("optimizer.step: {e}"))?;
    let lr = field("optimizer.lr")?.parse().map_err(|e| format!("optimizer.lr: {e}"))?;
    let mut tensors = Vec::new();
    for name in file.names() {
        if let Some(short) = name.strip_prefix(OPTIMIZER_PREFIX) {
            tensors
                .push((short.to_string(), decode(file, name).map_err(|e| format!("{name}: {e}"))?));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(OptimizerState { kind, step, lr, tensors })
}
