//! The steps of an epoch on the GPU, as the command line's training loop (`train`) and the web page
//! both run them: the epoch's shuffled order, each step's batch gathered from the data set on the
//! GPU, both noise draws, the step scheduler's dispatches, and the step's two losses copied into the
//! epoch's loss log, all recorded into one command encoder per step. Nothing here waits: the
//! callers decide when to read back.

use crate::data::{BatchGather, Dataset, GpuDataset, epoch_order};
use crate::error::Result;
use crate::kernels::Gpu;
use crate::noise::{NormalStream, Stream, UniformNoise};
use crate::step::Trainer;
use crate::tensor::Tensor;

/// Samples in each grid, and tiles per grid row.
pub const GRID_SAMPLES: usize = 64;
pub const GRID_ROW: usize = 8;
/// Philox streams of the initial weights (the noise streams are 0–2, the shuffle 16).
const G_INIT_STREAM: u32 = 100;
const D_INIT_STREAM: u32 = 101;

/// A new run's initial weights for `seed`: N(0, 0.02) weights, zero biases, BatchNorm's defaults.
pub fn initialise(gpu: &Gpu, trainer: &Trainer, seed: u64) -> Result<()> {
    let g = &trainer.g.net;
    g.initialise(gpu, &mut NormalStream::new(seed, G_INIT_STREAM))?;
    let d = &trainer.d.net;
    d.initialise(gpu, &mut NormalStream::new(seed, D_INIT_STREAM))
}

/// The data set on the GPU, the noise streams of a run's seed and the epoch's loss log.
pub struct EpochSteps {
    seed: u64,
    images: GpuDataset,
    gather: BatchGather,
    noise_d: UniformNoise,
    noise_g: UniformNoise,
    /// Per step of the epoch: D's loss, then G's, [steps, 2].
    loss_log: Tensor,
}

impl EpochSteps {
    /// `dataset` uploaded, gathering batches into `trainer.x` and noise into its z_d and z_g.
    pub fn new(gpu: &Gpu, trainer: &Trainer, dataset: &Dataset, seed: u64) -> Result<EpochSteps> {
        let images = GpuDataset::upload(gpu, dataset)?;
        let gather = images.gather(gpu, &trainer.x)?;
        let noise_d = UniformNoise::new(gpu, &trainer.z_d, seed, Stream::DStep)?;
        let noise_g = UniformNoise::new(gpu, &trainer.z_g, seed, Stream::GStep)?;
        let loss_log = Tensor::zeros(gpu, "loss log", &[gather.batches_per_epoch, 2])?;
        Ok(EpochSteps {
            seed,
            images,
            gather,
            noise_d,
            noise_g,
            loss_log,
        })
    }

    /// Full batches an epoch has (the last incomplete one is dropped).
    pub fn steps_per_epoch(&self) -> usize {
        self.gather.batches_per_epoch
    }

    /// Shuffles the data set for `epoch` (from 1), as every run of this seed does.
    pub fn start_epoch(&self, gpu: &Gpu, epoch: usize) -> Result<()> {
        let order = epoch_order(self.seed, epoch as u64 - 1, self.images.len());
        self.images.set_order(gpu, &order)
    }

    /// Step `step` (from 0) of the current epoch, the trainer's next: its batch, its noise, the D and
    /// G steps and its losses into the loss log, in one encoder to submit. Call
    /// `trainer.finish_step()` once it is submitted.
    pub fn record(
        &self,
        gpu: &Gpu,
        trainer: &Trainer,
        step: usize,
    ) -> Result<wgpu::CommandEncoder> {
        self.gather.set_batch(gpu, step)?;
        self.noise_d.set_step(gpu, trainer.steps_done)?;
        self.noise_g.set_step(gpu, trainer.steps_done)?;
        let mut dispatches = vec![
            self.gather.dispatch(),
            self.noise_d.dispatch(),
            self.noise_g.dispatch(),
        ];
        dispatches.extend(trainer.step_dispatches(gpu)?);
        let mut encoder = gpu.encode("training step", &dispatches);
        let at = self.loss_log.offset() + (step * 8) as u64;
        for (loss, offset) in [(&trainer.d_loss, 0), (&trainer.g_loss, 4)] {
            encoder.copy_buffer_to_buffer(
                loss.buffer(),
                loss.offset(),
                self.loss_log.buffer(),
                at + offset,
                4,
            );
        }
        Ok(encoder)
    }

    /// Puts the losses of the epoch's first steps back into the loss log (a run resumed mid-epoch).
    pub fn restore_losses(&self, gpu: &Gpu, d_losses: &[f32], g_losses: &[f32]) -> Result<()> {
        if d_losses.is_empty() {
            return Ok(());
        }
        let mut log = vec![0.0f32; self.loss_log.numel()];
        for (i, (d, g)) in d_losses.iter().zip(g_losses).enumerate() {
            log[2 * i] = *d;
            log[2 * i + 1] = *g;
        }
        self.loss_log.write(gpu, &log)
    }

    /// The D and G losses of steps `steps` of the epoch, from the loss log, once they are submitted.
    pub async fn losses(
        &self,
        gpu: &Gpu,
        steps: std::ops::Range<usize>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        if steps.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let bytes = gpu
            .read_bytes_async(
                self.loss_log.buffer(),
                self.loss_log.offset() + 8 * steps.start as u64,
                8 * steps.len() as u64,
            )
            .await?;
        let pairs: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok((
            pairs.iter().step_by(2).copied().collect(),
            pairs.iter().skip(1).step_by(2).copied().collect(),
        ))
    }
}
