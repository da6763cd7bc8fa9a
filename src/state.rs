//! The full training state (`state.safetensors` in the run's folder): both nets' weights, BatchNorm
//! statistics and Adam moments as flat buffers, plus the run's settings, position and loss history in
//! the file's metadata. It is written after every epoch and, with `--checkpoint-every`, between
//! steps; `gan-wgpu train --resume DIR` continues from it, bit for bit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::AtomicFile;
use crate::gpu::Gpu;
use crate::params::ParamStore;
use crate::step::{Hyper, Trainer};
use crate::tensor::Tensor;
use crate::train::History;

pub const STATE_FILE: &str = "state.safetensors";

/// Where a run stands and how it was configured; everything else follows from these and the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub seed: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epochs: usize,
    pub sample_epochs: Vec<usize>,
    /// Images in the data set: the epoch permutations depend on it.
    pub dataset_len: usize,
    /// The `data::EPOCH_ORDER_VERSION` the run started with (1 for states written before it was
    /// recorded).
    #[serde(default = "first_epoch_order")]
    pub epoch_order: u32,
    /// Epochs completed; the run continues with the next.
    pub epochs_done: usize,
    /// Steps of the next epoch already done (a state saved mid-epoch); 0 at an epoch boundary.
    #[serde(default)]
    pub steps_into_epoch: usize,
    /// D's and G's losses of those steps, one per step.
    #[serde(default)]
    pub epoch_d_losses: Vec<f32>,
    #[serde(default)]
    pub epoch_g_losses: Vec<f32>,
    /// Training steps completed (the noise counter and both Adams' step counts).
    pub steps_done: u64,
    pub history: History,
}

fn first_epoch_order() -> u32 {
    1
}

impl RunState {
    pub fn hyper(&self) -> Hyper {
        Hyper {
            batch: self.batch_size,
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
        }
    }
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

fn stores(trainer: &Trainer) -> [(&'static str, &ParamStore); 4] {
    [
        ("G.params", &trainer.g.net.params),
        ("G.stats", &trainer.g.net.stats),
        ("D.params", &trainer.d.net.params),
        ("D.stats", &trainer.d.net.stats),
    ]
}

fn state_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The trainer's state and the run's, copied to the host between steps so that the file can be
/// written while training goes on: serialising and syncing its 158 MB took 0.25–1 s on the
/// development machine, 25 times a run whose steps take about a minute on a GPU.
pub struct Snapshot {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    run: String,
}

impl Snapshot {
    pub fn take(gpu: &Gpu, trainer: &Trainer, run: &RunState) -> Result<Snapshot> {
        let started = std::time::Instant::now();
        let mut tensors = Vec::new();
        for (prefix, store) in stores(trainer) {
            for (role, t) in store.persistent(gpu)? {
                let values = t.read(gpu)?;
                tensors.push((
                    format!("{prefix}.{role}"),
                    t.shape().to_vec(),
                    bytemuck::cast_slice(&values).to_vec(),
                ));
            }
        }
        log::debug!(
            "training state read back in {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(Snapshot {
            tensors,
            run: serde_json::to_string(run).expect("the run state serialises"),
        })
    }

    /// Writes the snapshot to `path`, atomically.
    /// Writes the state to `path` atomically, streaming the tensors to the file (no second copy of
    /// the state in memory) in the safetensors layout the crate's `serialize` gives: tensors by name,
    /// then the header padded with spaces to 8 bytes.
    pub fn write(mut self, path: &Path) -> Result<()> {
        let started = std::time::Instant::now();
        let mut file = AtomicFile::create(path)?;
        log::debug!("writing the training state to {}", path.display());
        file.write_bytes(&self.header(path)?)?;
        for (_, _, bytes) in &self.tensors {
            file.write_bytes(bytes)?;
        }
        file.commit()?;
        log::debug!(
            "wrote {} ({} MB) in {:.0} ms",
            path.display(),
            self.tensors.iter().map(|t| t.2.len()).sum::<usize>() / 1_000_000,
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    }

    /// The file's first bytes: the header's length (u64, little-endian) and the header. Sorts the
    /// tensors into the file's order.
    fn header(&mut self, path: &Path) -> Result<Vec<u8>> {
        self.tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut offset = 0;
        let infos = self
            .tensors
            .iter()
            .map(|(name, shape, bytes)| {
                let info = safetensors::tensor::TensorInfo {
                    dtype: Dtype::F32,
                    shape: shape.clone(),
                    data_offsets: (offset, offset + bytes.len()),
                };
                offset += bytes.len();
                (name.clone(), info)
            })
            .collect();
        let metadata = HashMap::from([("run".to_string(), self.run.clone())]);
        let metadata = safetensors::tensor::Metadata::new(Some(metadata), infos)
            .map_err(|e| state_error(path, e.to_string()))?;
        let mut header = serde_json::to_string(&metadata)
            .map_err(|e| state_error(path, e.to_string()))?
            .into_bytes();
        header.resize(header.len().next_multiple_of(8), b' ');
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header);
        Ok(bytes)
    }
}

/// Reads only the run's settings and position from a state file.
pub fn read_run(path: &Path) -> Result<RunState> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            state_error(path, "no training state to resume here (not a gan-wgpu run folder, or a run that never finished a checkpoint)")
        } else {
            state_error(path, e.to_string())
        }
    })?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| state_error(path, format!("not a gan-wgpu training state ({e})")))?;
    let run = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("run"))
        .ok_or_else(|| state_error(path, "not a gan-wgpu training state (no run metadata)"))?;
    let run: RunState = serde_json::from_str(run)
        .map_err(|e| state_error(path, format!("unreadable run metadata: {e}")))?;
    if run.epoch_d_losses.len() != run.steps_into_epoch
        || run.epoch_g_losses.len() != run.steps_into_epoch
        || run.epochs_done > run.epochs
    {
        return Err(state_error(
            path,
            "inconsistent run metadata (epoch position and losses disagree)",
        ));
    }
    Ok(run)
}

/// Loads a state written by `save` into `trainer` (built with the state's settings) and returns the
/// run; the trainer's step count is set to the state's.
pub fn load(gpu: &Gpu, trainer: &mut Trainer, path: &Path) -> Result<RunState> {
    let run = read_run(path)?;
    let bytes = std::fs::read(path).map_err(|e| state_error(path, e.to_string()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| state_error(path, e.to_string()))?;
    let mut loads: Vec<(Tensor, Vec<f32>)> = Vec::new();
    for (prefix, store) in stores(trainer) {
        for (role, t) in store.persistent(gpu)? {
            let name = format!("{prefix}.{role}");
            let view = file
                .tensor(&name)
                .map_err(|_| state_error(path, format!("missing tensor `{name}`")))?;
            if view.dtype() != Dtype::F32 || view.shape() != t.shape() {
                return Err(state_error(
                    path,
                    format!(
                        "`{name}` is {:?} {:?}, expected F32 {:?}",
                        view.dtype(),
                        view.shape(),
                        t.shape()
                    ),
                ));
            }
            let values: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                return Err(state_error(path, format!("`{name}` holds {bad}")));
            }
            loads.push((t, values));
        }
    }
    for (t, values) in loads {
        t.write(gpu, &values)?;
    }
    trainer.steps_done = run.steps_done;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    /// The streamed file is the bytes the safetensors crate's `serialize` gives for the same tensors.
    #[test]
    fn the_streamed_state_is_the_crates_serialization() {
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
            [("b.m", vec![2, 3]), ("a.value", vec![5])]
                .into_iter()
                .enumerate()
                .map(|(i, (name, shape))| {
                    let n: usize = shape.iter().product();
                    let values: Vec<f32> = (0..n).map(|k| (k + 10 * i) as f32 * 0.5).collect();
                    (
                        name.to_string(),
                        shape,
                        bytemuck::cast_slice(&values).to_vec(),
                    )
                })
                .collect();
        let run = r#"{"seed":3}"#.to_string();
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                (
                    name.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        let metadata = HashMap::from([("run".to_string(), run.clone())]);
        let want = safetensors::serialize(views, Some(metadata)).unwrap();
        let path = std::env::temp_dir().join(format!("gan-wgpu-state-test-{}", std::process::id()));
        Snapshot { tensors, run }.write(&path).unwrap();
        let got = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(got == want, "{} bytes against {}", got.len(), want.len());
    }

    /// The loss history goes through the state's JSON metadata on every resume: its floats must come
    /// back to the bit (without serde_json's `float_roundtrip` this one came back 1 ulp off, and a
    /// resumed run's history.json differed from a straight run's).
    #[test]
    fn history_floats_survive_json() {
        for x in [1.4437956809997559f64, 0.1, 1.0 / 3.0, 6.02214076e23, 5e-324] {
            let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x}");
        }
    }

    /// A state written before the epoch order was recorded reads as order 1 (`train --resume` then
    /// says the run's remaining epochs follow another order).
    #[test]
    fn states_without_an_epoch_order_are_version_1() {
        let run = RunState {
            seed: 1,
            batch_size: 8,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            epochs: 2,
            sample_epochs: vec![1],
            dataset_len: 16,
            epoch_order: crate::data::EPOCH_ORDER_VERSION,
            epochs_done: 1,
            steps_into_epoch: 0,
            epoch_d_losses: Vec::new(),
            epoch_g_losses: Vec::new(),
            steps_done: 2,
            history: crate::train::History {
                seed: 1,
                batch_size: 8,
                lr: 2e-4,
                betas: [0.5, 0.999],
                dataset: "test".into(),
                epochs: Vec::new(),
            },
        };
        let mut json: serde_json::Value = serde_json::to_value(&run).unwrap();
        assert_eq!(json["epoch_order"], 2);
        json.as_object_mut().unwrap().remove("epoch_order");
        let old: RunState = serde_json::from_value(json).unwrap();
        assert_eq!(old.epoch_order, 1);
    }
}
