//! `gan-wgpu bench`: full training steps (D step + G step, exactly as `train` runs them) on random
//! images, timed after a warm-up step. On a GPU, as in `train`, a step is recorded and submitted while
//! the ones before it run (up to `train::IN_FLIGHT` queued), so a step's time is the interval between
//! the completions of consecutive steps: what a run of many steps takes per step. A CPU adapter runs
//! each step on its own (submitted, then waited for): its host is its device, so recording ahead
//! overlaps nothing, and lavapipe reports some completions together with the next step's, which
//! would turn intervals into pairs of 0 and twice a step.

use std::collections::VecDeque;
use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::kernels::{Dispatch, Gpu};
use crate::noise::{NormalStream, Stream, UniformNoise};
use crate::step::{Hyper, Trainer};
use crate::train::IN_FLIGHT;

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub adapter: String,
    pub backend: String,
    pub batch: usize,
    pub steps: usize,
    /// From the start of `run` to the trainer built: buffers, pipelines, initialisation.
    pub setup_ms: f64,
    /// From the start of `run` (pipelines and buffers created) to the end of the first step.
    pub first_step_ms: f64,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub steps_per_s: f64,
    /// Kernel dispatches in one step (a split product's two, a product and the pass after it), the
    /// noise's included.
    pub dispatches_per_step: usize,
    /// Floating-point operations of one step as the kernels execute them (matrix products).
    pub gflop_per_step: f64,
    pub gflop_per_s: f64,
    /// Sum of the storage buffers' sizes.
    pub device_bytes: u64,
    /// Peak resident memory of the process (Linux), if known.
    pub peak_rss_bytes: Option<u64>,
    /// With per-kernel timing: (entry point, dispatches per step, ms per step), largest first.
    pub per_kernel: Vec<(String, usize, f64)>,
    /// How the per-kernel times were taken: "timestamp queries" (GPU time of each dispatch, where the
    /// adapter has them) or "each dispatch submitted and waited for"; empty without per-kernel timing.
    pub per_kernel_timing: String,
    /// With `first_use`: (kernel, dispatches, ms) of one step, each dispatch submitted and waited for
    /// alone before any other work, so each kernel's first use is in it: on lavapipe, which compiles
    /// a pipeline at its first dispatch, mostly the compile.
    pub first_use: Vec<(String, usize, f64)>,
}

/// A trainer on random images in [0, 1) with fresh noise every step, as in training: what `bench`
/// times and the tuner measures.
pub struct SyntheticRun {
    pub trainer: Trainer,
    noise_d: UniformNoise,
    noise_g: UniformNoise,
}

impl SyntheticRun {
    /// Nets initialised from seed 1, so that two runs on any devices start from the same numbers.
    pub fn new(gpu: &Gpu, batch: usize) -> Result<SyntheticRun> {
        let trainer = Trainer::new(
            gpu,
            Hyper {
                batch,
                ..Hyper::default()
            },
        )?;
        let mut normal = NormalStream::new(1, 0);
        trainer.g.net.initialise(gpu, &mut normal)?;
        trainer.d.net.initialise(gpu, &mut normal)?;
        let images = UniformNoise::new(gpu, &trainer.x, 1, Stream::Sample)?;
        gpu.run(&[images.dispatch()])?;
        let noise_d = UniformNoise::new(gpu, &trainer.z_d, 1, Stream::DStep)?;
        let noise_g = UniformNoise::new(gpu, &trainer.z_g, 1, Stream::GStep)?;
        Ok(SyntheticRun {
            trainer,
            noise_d,
            noise_g,
        })
    }

    /// The next step's dispatches, its noise first; submit them, then call `finish_step`.
    pub fn step_dispatches(&self, gpu: &Gpu) -> Result<Vec<&Dispatch>> {
        let mut dispatches = self.noise_dispatches(gpu)?;
        dispatches.extend(self.trainer.step_dispatches(gpu)?);
        Ok(dispatches)
    }

    /// The next step's noise for the D step and the G step.
    pub fn noise_dispatches(&self, gpu: &Gpu) -> Result<Vec<&Dispatch>> {
        let step = self.trainer.steps_done;
        self.noise_d.set_step(gpu, step)?;
        self.noise_g.set_step(gpu, step)?;
        Ok(vec![self.noise_d.dispatch(), self.noise_g.dispatch()])
    }

    pub fn finish_step(&mut self) {
        self.trainer.finish_step();
    }
}

/// VmHWM of /proc/self/status, where there is one.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What `run` measures besides whole steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profiles {
    /// After the timed steps, each dispatch of one more step, summed per kernel.
    pub per_kernel: bool,
    /// Before the warm-up step, each dispatch of one step submitted and waited for alone, summed per
    /// kernel: its first use, compile included.
    pub first_use: bool,
}

/// Times `steps` training steps at batch `batch` after one warm-up step; with `profiles.per_kernel`,
/// then times each dispatch of one more step (with timestamp queries where the device has them, else
/// each submitted and waited for on its own), summed per kernel; with `profiles.first_use`, times each
/// dispatch alone before the warm-up step.
pub fn run(gpu: &Gpu, batch: usize, steps: usize, profiles: Profiles) -> Result<BenchReport> {
    let started = Instant::now();
    let mut run = SyntheticRun::new(gpu, batch)?;
    let setup_ms = started.elapsed().as_secs_f64() * 1e3;
    let first_use = if profiles.first_use {
        let parts = step_parts(gpu, &run)?;
        let times = each_alone(gpu, &parts.iter().collect::<Vec<_>>())?;
        by_kernel(&parts, times)
    } else {
        Vec::new()
    };
    let submit_step = |run: &mut SyntheticRun| -> Result<wgpu::SubmissionIndex> {
        let dispatches = run.step_dispatches(gpu)?;
        let submitted = gpu.submit(gpu.encode("training step", &dispatches), "training step")?;
        run.finish_step();
        Ok(submitted)
    };
    gpu.wait_for(submit_step(&mut run)?)?;
    let first_step_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut times = Vec::with_capacity(steps);
    let mut in_flight = VecDeque::new();
    let mut last_done = Instant::now();
    let mut settle = |index| -> Result<()> {
        gpu.wait_for(index)?;
        let now = Instant::now();
        times.push((now - last_done).as_secs_f64() * 1e3);
        last_done = now;
        Ok(())
    };
    let queued = if gpu.is_software() { 0 } else { IN_FLIGHT };
    for _ in 0..steps {
        in_flight.push_back(submit_step(&mut run)?);
        if in_flight.len() > queued {
            settle(in_flight.pop_front().expect("steps are in flight"))?;
        }
    }
    while let Some(index) = in_flight.pop_front() {
        settle(index)?;
    }
    times.sort_by(f64::total_cmp);
    let median_ms = if times.is_empty() {
        0.0
    } else {
        times[times.len() / 2]
    };
    let step = run.step_dispatches(gpu)?;
    let dispatches_per_step = step.iter().map(|d| d.parts().len()).sum();
    let flops: u64 = step.iter().map(|d| d.flops()).sum();
    let mut kernels = Vec::new();
    let mut per_kernel_timing = String::new();
    if profiles.per_kernel {
        let parts = step_parts(gpu, &run)?;
        let dispatches: Vec<&Dispatch> = parts.iter().collect();
        let times = if gpu.has_timestamps() {
            per_kernel_timing = "timestamp queries".into();
            gpu.time_dispatches(&dispatches)?
        } else {
            per_kernel_timing = "each dispatch submitted and waited for".into();
            each_alone(gpu, &dispatches)?
        };
        kernels = by_kernel(&parts, times);
    }
    let per_second = |per_step: f64| {
        if median_ms > 0.0 {
            per_step * 1e3 / median_ms
        } else {
            0.0
        }
    };
    Ok(BenchReport {
        adapter: gpu.info.name.clone(),
        backend: format!("{:?}", gpu.info.backend),
        batch,
        steps,
        setup_ms,
        first_step_ms,
        median_ms,
        min_ms: times.first().copied().unwrap_or(0.0),
        max_ms: times.last().copied().unwrap_or(0.0),
        steps_per_s: per_second(1.0),
        dispatches_per_step,
        gflop_per_step: flops as f64 / 1e9,
        gflop_per_s: per_second(flops as f64 / 1e9),
        device_bytes: gpu.storage_bytes(),
        peak_rss_bytes: peak_rss_bytes(),
        per_kernel: kernels,
        per_kernel_timing,
        first_use,
    })
}

/// One step's dispatches, each kernel on its own: a split matrix product's reduction apart from it.
fn step_parts(gpu: &Gpu, run: &SyntheticRun) -> Result<Vec<Dispatch>> {
    Ok(run
        .trainer
        .step_dispatches(gpu)?
        .iter()
        .flat_map(|d| d.parts())
        .collect())
}

/// Each of `dispatches` submitted and waited for alone: wall time in ms, in order.
fn each_alone(gpu: &Gpu, dispatches: &[&Dispatch]) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(dispatches.len());
    for d in dispatches {
        let t = Instant::now();
        gpu.run(&[d])?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(times)
}

/// Times of `dispatches` (in ms, in order) summed per kernel, with each kernel's dispatch count,
/// largest first.
fn by_kernel(dispatches: &[Dispatch], times: Vec<f64>) -> Vec<(String, usize, f64)> {
    let mut kernels: Vec<(String, usize, f64)> = Vec::new();
    for (d, ms) in dispatches.iter().zip(times) {
        log::debug!(
            "{}: {ms:.3} ms, {:.3} GFLOP as executed",
            d.entry(),
            d.flops() as f64 / 1e9
        );
        match kernels.iter_mut().find(|k| k.0 == d.entry()) {
            Some(k) => {
                k.1 += 1;
                k.2 += ms;
            }
            None => kernels.push((d.entry().to_string(), 1, ms)),
        }
    }
    kernels.sort_by(|a, b| b.2.total_cmp(&a.2));
    kernels
}
