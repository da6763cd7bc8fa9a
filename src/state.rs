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
use crate::history::History;
use crate::kernels::Gpu;
use crate::model::{discriminator, generator};
use crate::params::{Layout, ParamStore, binding_alignment, persistent_roles};
use crate::step::{Hyper, Trainer};

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
/// written while training goes on: serialising and syncing its 158 MB takes far longer than a GPU's
/// step (BENCHMARKS.md).
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
                tensors.push((format!("{prefix}.{role}"), t.read(gpu)?));
            }
        }
        log::debug!(
            "training state read back in {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(Snapshot::new(run, tensors))
    }

    /// A state of `run` holding flat float32 `tensors` by name.
    pub fn new(run: &RunState, tensors: Vec<(String, Vec<f32>)>) -> Snapshot {
        Snapshot {
            tensors: tensors
                .into_iter()
                .map(|(name, values)| {
                    (
                        name,
                        vec![values.len()],
                        bytemuck::cast_slice(&values).to_vec(),
                    )
                })
                .collect(),
            run: serde_json::to_string(run).expect("the run state serialises"),
        }
    }

    /// The file `write` writes, in memory.
    pub fn to_bytes(mut self) -> Result<Vec<u8>> {
        let mut bytes = self.header(Path::new(STATE_FILE))?;
        for (_, _, data) in &self.tensors {
            bytes.extend_from_slice(data);
        }
        Ok(bytes)
    }

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

/// A state file's bytes; a missing one is explained.
fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            state_error(path, "no training state to resume here (not a gan-wgpu run folder, or a run that never finished a checkpoint)")
        } else {
            state_error(path, e.to_string())
        }
    })
}

/// Reads only the run's settings and position from a state file.
pub fn read_run(path: &Path) -> Result<RunState> {
    parse_run(path, &read(path)?)
}

/// The run's settings and position in a state file's bytes (read from `path`), refused unless they
/// describe a run this version can continue.
pub fn parse_run(path: &Path, bytes: &[u8]) -> Result<RunState> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| state_error(path, format!("not a gan-wgpu training state ({e})")))?;
    let run = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("run"))
        .ok_or_else(|| state_error(path, "not a gan-wgpu training state (no run metadata)"))?;
    let run: RunState = serde_json::from_str(run)
        .map_err(|e| state_error(path, format!("unreadable run metadata: {e}")))?;
    run.check()
        .map_err(|problem| state_error(path, format!("inconsistent run metadata: {problem}")))?;
    Ok(run)
}

impl RunState {
    /// Whether these settings and this position are ones a run can reach: anything else (a damaged
    /// or hand-edited file) would fail, or panic, somewhere later in the resumed run.
    fn check(&self) -> std::result::Result<(), String> {
        if self.batch_size == 0 || self.batch_size > self.dataset_len {
            return Err(format!(
                "batch size {} with {} images",
                self.batch_size, self.dataset_len
            ));
        }
        let settings_valid = self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2);
        if !settings_valid {
            return Err(format!(
                "learning rate {} and betas {}, {}",
                self.lr, self.beta1, self.beta2
            ));
        }
        if self.epochs == 0 || self.epochs_done > self.epochs {
            return Err(format!(
                "{} of {} epochs done",
                self.epochs_done, self.epochs
            ));
        }
        if let Some(e) = self.sample_epochs.iter().find(|&&e| e == 0) {
            return Err(format!("sample epoch {e}"));
        }
        let steps_per_epoch = self.dataset_len / self.batch_size;
        if self.steps_into_epoch >= steps_per_epoch
            || self.epoch_d_losses.len() != self.steps_into_epoch
            || self.epoch_g_losses.len() != self.steps_into_epoch
        {
            return Err(format!(
                "{} steps into an epoch of {steps_per_epoch}, with {} and {} losses",
                self.steps_into_epoch,
                self.epoch_d_losses.len(),
                self.epoch_g_losses.len()
            ));
        }
        let steps = (self.epochs_done as u64)
            .checked_mul(steps_per_epoch as u64)
            .and_then(|s| s.checked_add(self.steps_into_epoch as u64));
        if steps != Some(self.steps_done) {
            return Err(format!(
                "{} steps done, but {} epochs of {steps_per_epoch} and {} steps",
                self.steps_done, self.epochs_done, self.steps_into_epoch
            ));
        }
        if self.history.epochs.len() != self.epochs_done
            || self
                .history
                .epochs
                .iter()
                .enumerate()
                .any(|(i, r)| r.epoch != i + 1 || r.d_losses.len() != r.g_losses.len())
        {
            return Err(format!(
                "a loss history of {} epochs for {} done",
                self.history.epochs.len(),
                self.epochs_done
            ));
        }
        let losses = self.epoch_d_losses.iter().chain(&self.epoch_g_losses);
        let recorded = self
            .history
            .epochs
            .iter()
            .flat_map(|r| r.d_losses.iter().chain(&r.g_losses));
        if losses.chain(recorded).any(|l| !l.is_finite()) {
            return Err("a loss that is not a finite number".into());
        }
        Ok(())
    }
}

/// The tensors of a training state, by name and length, for a trainer whose stores are laid out at
/// `align` bytes (the device's binding alignment): what `load` expects, known without a GPU.
pub fn state_tensors(align: u64) -> Vec<(String, usize)> {
    let mut tensors = Vec::new();
    for spec in [&generator::SPEC, &discriminator::SPEC] {
        for (store, specs, trainable) in
            [("params", spec.params, true), ("stats", spec.stats, false)]
        {
            let floats = Layout::new(specs, align).floats;
            for (role, length) in persistent_roles(trainable, floats) {
                tensors.push((format!("{}.{store}.{role}", spec.label), length));
            }
        }
    }
    tensors
}

/// The float32 tensors `expected` names, in its order, from a state file's bytes (read from `path`):
/// refused when one is missing, of another type or length, or not finite.
pub fn parse_tensors(
    path: &Path,
    bytes: &[u8],
    expected: &[(String, usize)],
) -> Result<Vec<Vec<f32>>> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| state_error(path, e.to_string()))?;
    expected
        .iter()
        .map(|(name, length)| {
            let view = file
                .tensor(name)
                .map_err(|_| state_error(path, format!("missing tensor `{name}`")))?;
            if view.dtype() != Dtype::F32 || view.shape() != [*length] {
                return Err(state_error(
                    path,
                    format!(
                        "`{name}` is {:?} {:?}, expected F32 [{length}]",
                        view.dtype(),
                        view.shape(),
                    ),
                ));
            }
            let values: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                return Err(state_error(path, format!("`{name}` holds {bad}")));
            }
            Ok(values)
        })
        .collect()
}

/// Loads a state written by `save` into `trainer` (built with the state's settings) and returns the
/// run; the trainer's step count is set to the state's.
pub fn load(gpu: &Gpu, trainer: &mut Trainer, path: &Path) -> Result<RunState> {
    let bytes = read(path)?;
    let run = parse_run(path, &bytes)?;
    let mut targets = Vec::new();
    let mut expected = Vec::new();
    for (prefix, store) in stores(trainer) {
        for (role, t) in store.persistent(gpu)? {
            expected.push((format!("{prefix}.{role}"), t.numel()));
            targets.push(t);
        }
    }
    debug_assert_eq!(expected, state_tensors(binding_alignment(gpu)));
    let values = parse_tensors(path, &bytes, &expected)?;
    for (t, values) in targets.iter().zip(values) {
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
            history: crate::history::History {
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
