//! `gan-wgpu train`: the whole experiment. Data and noise are made on the GPU, each step is one
//! submission, losses are copied into a per-epoch log on the GPU and read back once an epoch, and at
//! the sample epochs an 8×8 grid and both checkpoints are written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::{Dataset, GpuDataset, epoch_order};
use crate::error::{Error, Result};
use crate::files::{ensure_dir, write_atomic};
use crate::gpu::Gpu;
use crate::grid::save_grid;
use crate::model::{GeneratorPass, Mode, Z_DIM};
use crate::noise::{NormalStream, Stream, UniformNoise};
use crate::plot::loss_plot_png;
use crate::state::{self, RunState, state_path};
use crate::step::{Hyper, Trainer};
use crate::tensor::Tensor;

/// Samples in each grid, and tiles per grid row.
pub const GRID_SAMPLES: usize = 64;
pub const GRID_ROW: usize = 8;
/// Submissions allowed in flight before the host waits: enough to keep the GPU busy, few enough
/// that the host never runs far ahead.
const IN_FLIGHT: usize = 2;
/// Philox streams of the initial weights (the noise streams are 0–2, the shuffle 16).
const G_INIT_STREAM: u32 = 100;
const D_INIT_STREAM: u32 = 101;

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub hyper: Hyper,
    pub epochs: usize,
    pub seed: u64,
    pub out: PathBuf,
    /// Epochs after which a grid and checkpoints are written (the last epoch always is).
    pub sample_epochs: Vec<usize>,
    /// Continue the run whose state.safetensors is in `out` instead of starting afresh.
    pub resume: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean D and G loss over the epoch's steps.
    pub d_loss: f64,
    pub g_loss: f64,
    pub d_losses: Vec<f32>,
    pub g_losses: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub seed: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub betas: [f64; 2],
    pub dataset: String,
    pub epochs: Vec<EpochRecord>,
}

/// What the training loop tells its caller.
pub enum Progress<'a> {
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        /// Steps done before this invocation started (when resuming), for rates and ETAs.
        steps_before: usize,
        started: Instant,
    },
    Epoch(&'a EpochRecord),
    Wrote(&'a Path),
}

/// The artefacts of epoch `epoch` in `out`.
pub fn grid_path(out: &Path, epoch: usize) -> PathBuf {
    out.join(format!("epoch_{epoch:03}.png"))
}

pub fn checkpoint_path(out: &Path, net: &str, epoch: usize) -> PathBuf {
    out.join(format!("{net}_{epoch:03}.safetensors"))
}

/// Runs the experiment on `dataset` and returns its loss history.
pub fn train(
    gpu: &Gpu,
    config: &TrainConfig,
    dataset: &Dataset,
    mut progress: impl FnMut(Progress),
) -> Result<History> {
    let hyper = config.hyper;
    if hyper.batch == 0 || hyper.batch > dataset.len() {
        return Err(Error::InvalidArgument {
            op: "train",
            message: format!(
                "batch size {} for a data set of {} images",
                hyper.batch,
                dataset.len()
            ),
        });
    }
    ensure_dir(&config.out)?;
    let mut trainer = Trainer::new(gpu, hyper)?;
    let mut run = RunState {
        seed: config.seed,
        batch_size: hyper.batch,
        lr: hyper.lr,
        beta1: hyper.beta1,
        beta2: hyper.beta2,
        epochs: config.epochs,
        sample_epochs: config.sample_epochs.clone(),
        dataset_len: dataset.len(),
        epochs_done: 0,
        steps_done: 0,
        history: History {
            seed: config.seed,
            batch_size: hyper.batch,
            lr: hyper.lr,
            betas: [hyper.beta1, hyper.beta2],
            dataset: dataset.source.clone(),
            epochs: Vec::new(),
        },
    };
    if config.resume {
        let path = state_path(&config.out);
        let saved = state::load(gpu, &mut trainer, &path)?;
        if saved.dataset_len != dataset.len() {
            return Err(Error::Data {
                path,
                message: format!(
                    "the run trained on {} images; this data set ({}) has {}",
                    saved.dataset_len,
                    dataset.source,
                    dataset.len()
                ),
            });
        }
        run = RunState {
            epochs: config.epochs,
            ..saved
        };
    } else {
        trainer.g.net.initialise(
            gpu,
            &mut NormalStream::new(config.seed, G_INIT_STREAM).sampler(),
        )?;
        trainer.d.net.initialise(
            gpu,
            &mut NormalStream::new(config.seed, D_INIT_STREAM).sampler(),
        )?;
    }

    let images = GpuDataset::upload(gpu, dataset)?;
    let gather = images.gather(gpu, &trainer.x)?;
    let noise_d = UniformNoise::new(gpu, &trainer.z_d, config.seed, Stream::DStep)?;
    let noise_g = UniformNoise::new(gpu, &trainer.z_g, config.seed, Stream::GStep)?;
    let steps = gather.batches_per_epoch;
    // Per step: D's loss, then G's.
    let loss_log = Tensor::zeros(gpu, "loss log", &[steps, 2])?;

    let sampler = Sampler::new(gpu, &trainer, config.seed)?;
    let started = Instant::now();
    let first_epoch = run.epochs_done + 1;
    for epoch in first_epoch..=config.epochs {
        images.set_order(
            gpu,
            &epoch_order(config.seed, epoch as u64 - 1, images.len()),
        )?;
        let mut in_flight = Vec::new();
        for step in 0..steps {
            gather.set_batch(gpu, step)?;
            noise_d.set_step(gpu, trainer.steps_done)?;
            noise_g.set_step(gpu, trainer.steps_done)?;
            let mut dispatches = vec![gather.dispatch(), noise_d.dispatch(), noise_g.dispatch()];
            dispatches.extend(trainer.step_dispatches(gpu)?);
            let mut encoder = gpu.encode("training step", &dispatches);
            let at = loss_log.offset() + (step * 8) as u64;
            encoder.copy_buffer_to_buffer(
                trainer.d_loss.buffer(),
                trainer.d_loss.offset(),
                loss_log.buffer(),
                at,
                4,
            );
            encoder.copy_buffer_to_buffer(
                trainer.g_loss.buffer(),
                trainer.g_loss.offset(),
                loss_log.buffer(),
                at + 4,
                4,
            );
            in_flight.push(gpu.submit(encoder, "training step")?);
            trainer.finish_step();
            if in_flight.len() > IN_FLIGHT {
                gpu.wait_for(in_flight.remove(0))?;
            }
            progress(Progress::Step {
                epoch,
                step: step + 1,
                steps,
                steps_before: (first_epoch - 1) * steps,
                started,
            });
        }
        let losses = loss_log.read(gpu)?;
        let d_losses: Vec<f32> = losses.iter().step_by(2).copied().collect();
        let g_losses: Vec<f32> = losses.iter().skip(1).step_by(2).copied().collect();
        let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let record = EpochRecord {
            epoch,
            d_loss: mean(&d_losses),
            g_loss: mean(&g_losses),
            d_losses,
            g_losses,
        };
        progress(Progress::Epoch(&record));
        run.history.epochs.push(record);

        if config.sample_epochs.contains(&epoch) || epoch == config.epochs {
            let grid = grid_path(&config.out, epoch);
            save_grid(&grid, &sampler.images(gpu)?, GRID_ROW)?;
            progress(Progress::Wrote(&grid));
            let g_path = checkpoint_path(&config.out, "G", epoch);
            checkpoint::save(gpu, &trainer.g.net, trainer.g_batches_tracked(), &g_path)?;
            progress(Progress::Wrote(&g_path));
            let d_path = checkpoint_path(&config.out, "D", epoch);
            checkpoint::save(gpu, &trainer.d.net, trainer.d_batches_tracked(), &d_path)?;
            progress(Progress::Wrote(&d_path));
        }
        let json = serde_json::to_vec_pretty(&run.history).expect("history serialises");
        write_atomic(&config.out.join("history.json"), &json)?;
        write_atomic(&config.out.join("loss.png"), &loss_plot_png(&run.history)?)?;
        // Written last: a state on disk never points past the files of its epoch.
        run.epochs_done = epoch;
        run.steps_done = trainer.steps_done;
        state::save(gpu, &trainer, &run, &state_path(&config.out))?;
    }
    Ok(run.history)
}

/// G in eval mode on a fixed z (noise stream `Sample` of the run's seed), for the grids.
struct Sampler {
    pass: GeneratorPass,
    forward: Vec<crate::kernels::Dispatch>,
}

impl Sampler {
    fn new(gpu: &Gpu, trainer: &Trainer, seed: u64) -> Result<Sampler> {
        let pass = GeneratorPass::new(gpu, GRID_SAMPLES)?;
        let z = Tensor::zeros(gpu, "grid z", &[GRID_SAMPLES, Z_DIM])?;
        let noise = UniformNoise::new(gpu, &z, seed, Stream::Sample)?;
        gpu.run(&[noise.dispatch()])?;
        let forward = trainer.g.forward(gpu, &pass, &z, Mode::Eval)?;
        Ok(Sampler { pass, forward })
    }

    fn images(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.run(&self.forward.iter().collect::<Vec<_>>())?;
        self.pass.image.read(gpu)
    }
}
