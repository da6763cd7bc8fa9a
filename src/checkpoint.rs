//! G and D checkpoints as safetensors files with PyTorch's `state_dict()` names and shapes, so
//! `load_state_dict(safetensors.torch.load_file(...))` takes them, and PyTorch's files load here.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::gpu::Gpu;
use crate::model::Net;

fn checkpoint_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The BatchNorm layers of `net` (those with running statistics), e.g. `fc.1`.
fn batchnorm_layers(net: &Net) -> Vec<String> {
    net.stats
        .entries()
        .iter()
        .filter_map(|e| e.name.strip_suffix(".running_mean").map(str::to_string))
        .collect()
}

/// Writes every parameter and running statistic of `net`, plus each BatchNorm's
/// `num_batches_tracked` (the training-mode forwards it has seen), atomically to `path`.
pub fn save(gpu: &Gpu, net: &Net, num_batches_tracked: u64, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = Vec::new();
    for store in [&net.params, &net.stats] {
        for e in store.entries() {
            let values = store.read(gpu, e.name)?;
            tensors.push((
                e.name.to_string(),
                e.shape.clone(),
                Dtype::F32,
                bytemuck::cast_slice(&values).to_vec(),
            ));
        }
    }
    for layer in batchnorm_layers(net) {
        let count = (num_batches_tracked as i64).to_le_bytes().to_vec();
        tensors.push((
            format!("{layer}.num_batches_tracked"),
            vec![],
            Dtype::I64,
            count,
        ));
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            let view =
                TensorView::new(*dtype, shape.clone(), bytes).expect("sizes match by construction");
            (name.clone(), view)
        })
        .collect();
    let bytes =
        safetensors::serialize(views, None).map_err(|e| checkpoint_error(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Loads a checkpoint into `net`, refusing it whole (before writing anything) when a tensor is
/// missing, unexpected, misshapen, not float32, or holds NaN or infinity. `num_batches_tracked` may be
/// absent, as PyTorch allows.
pub fn load(gpu: &Gpu, net: &Net, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| checkpoint_error(path, e.to_string()))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| checkpoint_error(path, format!("not a safetensors file ({e})")))?;
    let mut wanted: HashMap<&str, &[usize]> = HashMap::new();
    for store in [&net.params, &net.stats] {
        for e in store.entries() {
            wanted.insert(e.name, &e.shape);
        }
    }
    let tracked: Vec<String> = batchnorm_layers(net)
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
            parts.push(format!("missing tensors: {}", missing.join(", ")));
        }
        if !unexpected.is_empty() {
            parts.push(format!("unexpected tensors: {}", unexpected.join(", ")));
        }
        return Err(checkpoint_error(path, parts.join("; ")));
    }
    let mut values = Vec::new();
    for (name, shape) in &wanted {
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
    for (name, data) in values {
        let store = if net.params.entry(name).is_ok() {
            &net.params
        } else {
            &net.stats
        };
        store.write(gpu, name, &data)?;
    }
    Ok(())
}
