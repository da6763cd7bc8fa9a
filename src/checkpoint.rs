//! G and D checkpoints as safetensors files with PyTorch's `state_dict()` names and shapes, so
//! `load_state_dict(safetensors.torch.load_file(...))` takes them, and PyTorch's files load here.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};
use crate::kernels::Gpu;
use crate::model::{Net, NetSpec};

fn checkpoint_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Names for a message: all of them, or the first twenty and how many more (a file may hold
/// millions).
fn name_list(names: &[&str]) -> String {
    const SHOWN: usize = 20;
    let mut list = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        list.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    list
}

/// Writes every parameter and running statistic of `net`, plus each BatchNorm's
/// `num_batches_tracked` (the training-mode forwards it has seen), atomically to `path`.
#[cfg(not(target_arch = "wasm32"))]
pub fn save(gpu: &Gpu, net: &Net, num_batches_tracked: u64, path: &Path) -> Result<()> {
    let bytes = crate::gpu::wait(to_bytes(gpu, net, num_batches_tracked, path))?;
    crate::files::write_atomic(path, &bytes)
}

/// The checkpoint file `save` writes, as bytes (`path` names it in errors).
pub async fn to_bytes(
    gpu: &Gpu,
    net: &Net,
    num_batches_tracked: u64,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut values = Vec::new();
    for store in [&net.params, &net.stats] {
        for e in store.entries() {
            values.push((e.name, store.read_async(gpu, e.name).await?));
        }
    }
    serialize(path, net.spec, &values, num_batches_tracked)
}

/// The checkpoint file of a net `spec` describes, holding `values` (each tensor of the spec by name,
/// in any order) and `num_batches_tracked` for each BatchNorm: what `parse` reads back.
pub fn serialize(
    path: &Path,
    spec: &NetSpec,
    values: &[(&'static str, Vec<f32>)],
    num_batches_tracked: u64,
) -> Result<Vec<u8>> {
    let shapes: HashMap<&str, &[usize]> = spec.params.iter().chain(spec.stats).copied().collect();
    let count = (num_batches_tracked as i64).to_le_bytes();
    let mut views: Vec<(String, TensorView)> = Vec::new();
    for (name, data) in values {
        let shape = shapes.get(name).ok_or_else(|| {
            checkpoint_error(path, format!("`{name}` is not a tensor of {}", spec.label))
        })?;
        let view = TensorView::new(Dtype::F32, shape.to_vec(), bytemuck::cast_slice(data))
            .map_err(|e| checkpoint_error(path, format!("`{name}`: {e}")))?;
        views.push((name.to_string(), view));
    }
    for layer in spec.batchnorm_layers() {
        let view = TensorView::new(Dtype::I64, vec![], &count).expect("one i64 is a scalar");
        views.push((format!("{layer}.num_batches_tracked"), view));
    }
    safetensors::serialize(views, None).map_err(|e| checkpoint_error(path, e.to_string()))
}

/// Loads a checkpoint into `net`, refusing it whole (before writing anything) when `parse` does.
pub fn load(gpu: &Gpu, net: &Net, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| checkpoint_error(path, e.to_string()))?;
    load_bytes(gpu, net, path, &bytes)
}

/// `load` of a file's `bytes` already read (`path` names it in errors).
pub fn load_bytes(gpu: &Gpu, net: &Net, path: &Path, bytes: &[u8]) -> Result<()> {
    for (name, data) in parse(path, bytes, net.spec)? {
        let store = if net.params.entry(name).is_ok() {
            &net.params
        } else {
            &net.stats
        };
        store.write(gpu, name, &data)?;
    }
    Ok(())
}

/// The tensors of a checkpoint of the net `spec` describes (`bytes` read from `path`), each by name:
/// refused when a tensor is missing, unexpected, misshapen, not float32, or holds NaN or infinity.
/// `num_batches_tracked` may be absent, as PyTorch allows.
pub fn parse(path: &Path, bytes: &[u8], spec: &NetSpec) -> Result<Vec<(&'static str, Vec<f32>)>> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| checkpoint_error(path, format!("not a safetensors file ({e})")))?;
    let wanted: HashMap<&'static str, &[usize]> =
        spec.params.iter().chain(spec.stats).copied().collect();
    let tracked: Vec<String> = spec
        .batchnorm_layers()
        .iter()
        .map(|l| format!("{l}.num_batches_tracked"))
        .collect();
    let names = file.names();
    let mut unexpected: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !wanted.contains_key(n) && !tracked.iter().any(|t| t == n))
        .collect();
    let mut missing: Vec<&str> = wanted
        .keys()
        .copied()
        .filter(|n| !names.contains(n))
        .collect();
    // A name only one of the nets has tells a G from a D.
    let kind = |has: &dyn Fn(&str) -> bool| {
        if has("deconv.0.weight") {
            Some("G (generator)")
        } else if has("conv.0.weight") {
            Some("D (discriminator)")
        } else {
            None
        }
    };
    if names.contains(&"G.params.values") {
        return Err(checkpoint_error(
            path,
            "is a training state (for `train --resume`), not a G or D checkpoint (G_NNN.safetensors, D_NNN.safetensors)",
        ));
    }
    let expected_kind = kind(&|n| wanted.contains_key(n));
    let found_kind = kind(&|n| names.contains(&n));
    if let (Some(expected), Some(found)) = (expected_kind, found_kind)
        && expected != found
    {
        return Err(checkpoint_error(
            path,
            format!("holds a {found} checkpoint where a {expected} checkpoint is needed"),
        ));
    }
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort();
        unexpected.sort();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing tensors: {}", name_list(&missing)));
        }
        if !unexpected.is_empty() {
            parts.push(format!("unexpected tensors: {}", name_list(&unexpected)));
        }
        return Err(checkpoint_error(path, parts.join("; ")));
    }
    let mut values = Vec::new();
    for (name, shape) in spec.params.iter().chain(spec.stats) {
        let view = file
            .tensor(name)
            .map_err(|e| checkpoint_error(path, e.to_string()))?;
        if view.dtype() != Dtype::F32 {
            return Err(checkpoint_error(
                path,
                format!("`{name}` is {:?}, expected F32", view.dtype()),
            ));
        }
        if view.shape() != *shape {
            return Err(checkpoint_error(
                path,
                format!("`{name}` has shape {:?}, expected {shape:?}", view.shape()),
            ));
        }
        let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(checkpoint_error(path, format!("`{name}` holds {bad}")));
        }
        values.push((*name, data));
    }
    Ok(values)
}
