//! `gan-wgpu train`: the whole experiment. Data and noise are made on the GPU, each step is one
//! submission, losses are copied into a per-epoch log on the GPU and read back once an epoch, and at
//! the sample epochs an 8×8 grid and both checkpoints are written.
//!
//! A run survives: the training state is saved after every epoch and every `checkpoint_every`
//! between, each step's health flags (NaN/Inf in a loss or parameter) are checked as it finishes so
//! nothing diverged is ever saved, the caller can stop the run between steps (Ctrl-C), and any
//! failure says which saved state is kept.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::checkpoint;
use crate::data::{Dataset, EPOCH_ORDER_VERSION};
use crate::epoch::EpochSteps;
use crate::error::{Error, Result};
use crate::files::{ensure_dir, remove_stale_temporaries, write_atomic};
use crate::grid::save_grid;
use crate::health::{self, Health};
use crate::history::{EpochRecord, History};
use crate::kernels::Gpu;
use crate::plot::{loss_plot_png, quality_plot_png};
use crate::sample::{Noise, Sampler};
use crate::score::{ClassifierFiles, Scorer};
use crate::state::{self, RunState, state_path};
use crate::step::{Hyper, Trainer};
use crate::tensor::Tensor;

pub use crate::epoch::{GRID_ROW, GRID_SAMPLES};
/// Submissions allowed in flight before the host waits: enough to keep the GPU busy, few enough
/// that the host never runs far ahead.
pub(crate) const IN_FLIGHT: usize = 2;
const _: () = assert!(IN_FLIGHT < Health::SNAPSHOTS);

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
    /// How often the training state is also saved between epoch ends.
    pub checkpoint_every: CheckpointEvery,
    /// Fault injection for tests of divergence handling: a NaN is written into D's first weight just
    /// before this step (numbered from 1 over the run).
    pub inject_nan_at_step: Option<u64>,
    /// Stop once the run has taken this many steps in all (a resumed run's earlier steps count),
    /// with the training state and G and D checkpoints of that position written.
    pub stop_after: Option<u64>,
    /// How the epochs' samples are scored (the quality curve), if at all.
    pub scoring: Option<Scoring>,
}

/// The quality curve: after every `every`-th epoch (and the last), the scores of the first `images`
/// images of the run's sample stream (those `gan-wgpu score --seed <run seed> --count <images>`
/// scores; the epoch's grid is their first 64), by the classifier in `classifier`.
#[derive(Clone)]
pub struct Scoring {
    pub classifier: ClassifierFiles,
    pub every: usize,
    pub images: usize,
}

impl std::fmt::Debug for Scoring {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Scoring")
            .field("classifier", &self.classifier.source)
            .field("every", &self.every)
            .field("images", &self.images)
            .finish()
    }
}

impl Scoring {
    /// Images scored per scored epoch: next to an epoch's training, cheap (BENCHMARKS.md).
    pub const DEFAULT_IMAGES: usize = 2000;
}

/// A bound on the training a crash can cost: the state is saved after this many steps or this
/// much time since the last save.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CheckpointEvery {
    Steps(u64),
    Time(Duration),
}

impl CheckpointEvery {
    /// Five minutes: a crash costs at most that much training, on any device.
    pub const DEFAULT: CheckpointEvery = CheckpointEvery::Time(Duration::from_secs(300));

    fn due(&self, steps_since: u64, since: Instant) -> bool {
        match *self {
            CheckpointEvery::Steps(n) => steps_since >= n,
            CheckpointEvery::Time(t) => since.elapsed() >= t,
        }
    }
}

impl FromStr for CheckpointEvery {
    type Err = String;

    /// `N` steps, or a time: `90s`, `10m`, `1h`, with decimals (`1.5h`) read exactly, to the
    /// nanosecond.
    fn from_str(text: &str) -> std::result::Result<CheckpointEvery, String> {
        let bad = || format!("'{text}' is neither a step count (500) nor a time (90s, 10m, 1h)");
        let text = text.trim();
        if let Ok(steps) = text.parse::<u64>() {
            return match steps {
                0 => Err("a checkpoint every 0 steps; give at least 1".into()),
                n => Ok(CheckpointEvery::Steps(n)),
            };
        }
        let split = text
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let seconds_per: u128 = match unit {
            "s" | "sec" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        let nanos = decimal_nanos(number.trim())
            .and_then(|n| n.checked_mul(seconds_per))
            .ok_or_else(bad)?;
        if nanos == 0 || nanos > MAX_CHECKPOINT_SECONDS as u128 * NANOS {
            return Err(bad());
        }
        let duration = Duration::new((nanos / NANOS) as u64, (nanos % NANOS) as u32);
        Ok(CheckpointEvery::Time(duration))
    }
}

const NANOS: u128 = 1_000_000_000;
/// About 32 years: anything longer is a typing error.
const MAX_CHECKPOINT_SECONDS: u64 = 1_000_000_000;

/// `123` or `1.25` as billionths (digits past the ninth decimal dropped), without rounding through
/// a float; None for anything else.
fn decimal_nanos(number: &str) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    // Leading zeros aside, more than 12 digits exceed the bound on any unit.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 12 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut fraction = fraction.as_bytes()[..fraction.len().min(9)].to_vec();
    fraction.resize(9, b'0');
    let fraction: u128 = std::str::from_utf8(&fraction).ok()?.parse().ok()?;
    Some(whole * NANOS + fraction)
}

impl std::fmt::Display for CheckpointEvery {
    /// What `from_str` reads back as the same value.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            CheckpointEvery::Steps(n) => write!(f, "{n}"),
            CheckpointEvery::Time(t) if t.subsec_nanos() == 0 => write!(f, "{}s", t.as_secs()),
            CheckpointEvery::Time(t) => write!(f, "{}.{:09}s", t.as_secs(), t.subsec_nanos()),
        }
    }
}

/// `--sample-epochs`: the epochs after which a grid and checkpoints are written, e.g. `1,10,25`;
/// kept sorted, each once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleEpochs(pub Vec<usize>);

impl FromStr for SampleEpochs {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<SampleEpochs, String> {
        let mut epochs = text
            .split(',')
            .map(|item| match item.trim().parse::<usize>() {
                Ok(0) => Err("epochs count from 1; 0 is not one".to_string()),
                Ok(e) => Ok(e),
                Err(_) => Err(format!(
                    "'{}' is not an epoch number; give a list such as 1,10,25",
                    item.trim()
                )),
            })
            .collect::<std::result::Result<Vec<usize>, String>>()?;
        epochs.sort_unstable();
        epochs.dedup();
        Ok(SampleEpochs(epochs))
    }
}

impl std::fmt::Display for SampleEpochs {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let items: Vec<String> = self.0.iter().map(usize::to_string).collect();
        write!(f, "{}", items.join(","))
    }
}

/// How a `train` call ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every epoch is done.
    Finished(History),
    /// The caller asked to stop; the training state of this position is saved.
    Stopped {
        epoch: usize,
        step: usize,
        steps: usize,
        state: PathBuf,
    },
    /// The run reached `stop_after` steps; the training state and the nets' checkpoints of this
    /// position are saved.
    Paused {
        steps_done: u64,
        state: PathBuf,
        checkpoints: [PathBuf; 2],
    },
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
    /// The training state was saved mid-epoch (a checkpoint between epoch ends).
    Saved {
        epoch: usize,
        step: usize,
    },
}

/// The artefacts of epoch `epoch` in `out`.
pub fn grid_path(out: &Path, epoch: usize) -> PathBuf {
    out.join(format!("epoch_{epoch:03}.png"))
}

/// G's or D's checkpoint of a run stopped `step` steps into epoch `epoch` (the page names its
/// downloads the same way).
pub fn mid_epoch_checkpoint_path(out: &Path, net: &str, epoch: usize, step: usize) -> PathBuf {
    out.join(format!("{net}_{epoch:03}_step{step:04}.safetensors"))
}

pub fn checkpoint_path(out: &Path, net: &str, epoch: usize) -> PathBuf {
    out.join(format!("{net}_{epoch:03}.safetensors"))
}

/// Runs the experiment on `dataset`. `progress` hears of every step, epoch and file; returning
/// `ControlFlow::Break` from a `Step` stops the run there, with its training state saved.
pub fn train(
    gpu: &Gpu,
    config: &TrainConfig,
    dataset: &Dataset,
    mut progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<Outcome> {
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
    remove_stale_temporaries(&config.out);
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
        epoch_order: EPOCH_ORDER_VERSION,
        epochs_done: 0,
        steps_into_epoch: 0,
        epoch_d_losses: Vec::new(),
        epoch_g_losses: Vec::new(),
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
    let state_file = state_path(&config.out);
    if config.resume {
        let saved = state::load(gpu, &mut trainer, &state_file)?;
        if saved.dataset_len != dataset.len() {
            return Err(Error::Data {
                path: state_file,
                message: format!(
                    "the run trained on {} images ({}); this data set ({}) has {}: pass the run's --data-dir or --dataset",
                    saved.dataset_len,
                    saved.history.dataset,
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
        crate::epoch::initialise(gpu, &trainer, config.seed)?;
    }

    let mut session = Session::new(gpu, config, dataset, trainer, run)?;
    let outcome = session
        .run(&mut progress)
        .and_then(|outcome| session.finish_writing().map(|()| outcome));
    // A run that failed still waits for the state being written, so that `kept` names what is on disk.
    let _ = session.finish_writing();
    outcome.map_err(|cause| match cause {
        // Settings the run cannot start with are not a stopped run.
        Error::InvalidArgument { .. } => cause,
        cause => Error::RunStopped {
            kept: session.kept(),
            cause: Box::new(cause),
        },
    })
}

/// A submitted step not yet known to have finished.
struct InFlight {
    submission: wgpu::SubmissionIndex,
    /// The step's number in the run (1 for the first), and where it lies.
    number: u64,
    epoch: usize,
    step: usize,
}

/// One invocation of `train` once its trainer is loaded: the GPU resources of the loop and the
/// bookkeeping of what is saved.
struct Session<'a> {
    gpu: &'a Gpu,
    config: &'a TrainConfig,
    trainer: Trainer,
    run: RunState,
    steps: EpochSteps,
    sampler: Sampler,
    scorer: Option<Scorer>,
    in_flight: VecDeque<InFlight>,
    /// The position of the training state on disk: (epochs done, steps into the next), if any.
    saved: Option<(usize, usize)>,
    /// The training state being written on another thread while training goes on.
    writing: Option<StateWriter>,
}

/// A thread writing a training state, and the state's position (epochs done, steps into the next).
struct StateWriter {
    thread: std::thread::JoinHandle<Result<()>>,
    position: (usize, usize),
}

impl<'a> Session<'a> {
    fn new(
        gpu: &'a Gpu,
        config: &'a TrainConfig,
        dataset: &Dataset,
        trainer: Trainer,
        run: RunState,
    ) -> Result<Session<'a>> {
        let steps = EpochSteps::new(gpu, &trainer, dataset, config.seed)?;
        // The grids are `gan-wgpu sample`'s first images for the run's seed, byte for byte.
        let sampler = Sampler::new(gpu, &trainer.g, GRID_SAMPLES, Some(config.seed))?;
        let scorer = config
            .scoring
            .as_ref()
            .map(|s| Scorer::new(gpu, s.classifier.clone()))
            .transpose()?;
        let saved = config
            .resume
            .then_some((run.epochs_done, run.steps_into_epoch));
        Ok(Session {
            gpu,
            config,
            trainer,
            run,
            steps,
            sampler,
            scorer,
            in_flight: VecDeque::new(),
            saved,
            writing: None,
        })
    }

    /// What a user keeps when the run stops here, in words.
    fn kept(&self) -> String {
        let dir = self.config.out.display();
        match self.saved {
            Some((epochs_done, steps_into_epoch)) => format!(
                "the training state saved after epoch {epochs_done}{} is kept in {}: `gan-wgpu train --resume {dir}` continues from it",
                if steps_into_epoch > 0 {
                    format!(" and {steps_into_epoch} steps of epoch {}", epochs_done + 1)
                } else {
                    String::new()
                },
                state_path(&self.config.out).display(),
            ),
            None => "no training state had been saved yet".into(),
        }
    }

    fn run(&mut self, progress: &mut impl FnMut(Progress) -> ControlFlow<()>) -> Result<Outcome> {
        let gpu = self.gpu;
        let steps = self.steps.steps_per_epoch();
        let first_epoch = self.run.epochs_done + 1;
        let mut first_step = self.run.steps_into_epoch;
        let steps_before = (first_epoch - 1) * steps + first_step;
        let started = Instant::now();
        let mut last_save = (self.trainer.steps_done, Instant::now());
        if let Some(stop) = self.config.stop_after
            && stop <= self.trainer.steps_done
        {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!(
                    "--stop-after {stop}: the run has already taken {} steps",
                    self.trainer.steps_done
                ),
            });
        }
        for epoch in first_epoch..=self.config.epochs {
            self.steps.start_epoch(gpu, epoch)?;
            self.steps
                .restore_losses(gpu, &self.run.epoch_d_losses, &self.run.epoch_g_losses)?;
            for step in first_step..steps {
                self.submit_step(epoch, step)?;
                self.poll_writing()?;
                let flow = progress(Progress::Step {
                    epoch,
                    step: step + 1,
                    steps,
                    steps_before,
                    started,
                });
                let last_of_epoch = step + 1 == steps;
                let run_ends = last_of_epoch && epoch == self.config.epochs;
                if self.config.stop_after == Some(self.trainer.steps_done) && !run_ends {
                    return self.pause(epoch, step + 1, progress);
                }
                if flow.is_break() && !last_of_epoch {
                    self.save_mid_epoch(step + 1)?;
                    return Ok(Outcome::Stopped {
                        epoch,
                        step: step + 1,
                        steps,
                        state: state_path(&self.config.out),
                    });
                }
                let due = self
                    .config
                    .checkpoint_every
                    .due(self.trainer.steps_done - last_save.0, last_save.1);
                if due && !last_of_epoch {
                    self.save_mid_epoch(step + 1)?;
                    last_save = (self.trainer.steps_done, Instant::now());
                    let _ = progress(Progress::Saved {
                        epoch,
                        step: step + 1,
                    });
                }
                if flow.is_break() {
                    self.finish_epoch(epoch, progress)?;
                    if epoch == self.config.epochs {
                        break;
                    }
                    return Ok(Outcome::Stopped {
                        epoch,
                        step: steps,
                        steps,
                        state: state_path(&self.config.out),
                    });
                }
            }
            first_step = 0;
            self.finish_epoch(epoch, progress)?;
            last_save = (self.trainer.steps_done, Instant::now());
        }
        Ok(Outcome::Finished(self.run.history.clone()))
    }

    /// Stops the run `step` steps into `epoch` as `stop_after` asked: the epoch finished where this
    /// was its last step, the training state saved, and G's and D's checkpoints of this position
    /// written (`G_EEE_stepSSSS.safetensors` inside an epoch, the epoch's own at its end).
    fn pause(
        &mut self,
        epoch: usize,
        step: usize,
        progress: &mut impl FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        let steps = self.steps.steps_per_epoch();
        let (paths, written) = if step == steps {
            self.finish_epoch(epoch, progress)?;
            let paths = ["G", "D"].map(|net| checkpoint_path(&self.config.out, net, epoch));
            (paths, self.config.sample_epochs.contains(&epoch))
        } else {
            self.save_mid_epoch(step)?;
            let out = &self.config.out;
            let paths = ["G", "D"].map(|net| mid_epoch_checkpoint_path(out, net, epoch, step));
            (paths, false)
        };
        let gpu = self.gpu;
        let trainer = &self.trainer;
        if !written {
            for (path, net, tracked) in [
                (&paths[0], &trainer.g.net, trainer.g_batches_tracked()),
                (&paths[1], &trainer.d.net, trainer.d_batches_tracked()),
            ] {
                checkpoint::save(gpu, net, tracked, path)?;
                let _ = progress(Progress::Wrote(path));
            }
        }
        Ok(Outcome::Paused {
            steps_done: trainer.steps_done,
            state: state_path(&self.config.out),
            checkpoints: paths,
        })
    }

    /// Records and submits step `step` (from 0) of `epoch`; waits for older steps so that at most
    /// IN_FLIGHT are queued, checking each finished step's health.
    fn submit_step(&mut self, epoch: usize, step: usize) -> Result<()> {
        let gpu = self.gpu;
        let trainer = &self.trainer;
        let number = trainer.steps_done + 1;
        if self.config.inject_nan_at_step == Some(number) {
            let [d_weights, ..] = trainer.d.net.params.flat(gpu)?;
            Tensor::view(gpu, d_weights.buffer(), d_weights.offset(), &[1])?
                .write(gpu, &[f32::NAN])?;
        }
        let mut encoder = self.steps.record(gpu, trainer, step)?;
        trainer.health.snapshot(&mut encoder, number as usize);
        let submission = gpu.submit(encoder, "training step")?;
        self.trainer.finish_step();
        self.in_flight.push_back(InFlight {
            submission,
            number,
            epoch,
            step: step + 1,
        });
        while self.in_flight.len() > IN_FLIGHT {
            self.settle_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest step in flight and fails if it left a NaN or Inf behind.
    fn settle_oldest(&mut self) -> Result<()> {
        let Some(done) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let flags =
            self.trainer
                .health
                .read_snapshot(self.gpu, done.number as usize, done.submission)?;
        if flags != 0 {
            self.in_flight.clear();
            return Err(Error::Diverged {
                step: done.number,
                epoch: done.epoch,
                step_in_epoch: done.step,
                what: health::describe(flags),
            });
        }
        Ok(())
    }

    fn settle_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_oldest()?;
        }
        Ok(())
    }

    /// The D and G losses of the first `steps` steps of the epoch, from the loss log.
    fn epoch_losses(&self, steps: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        crate::gpu::wait(self.steps.losses(self.gpu, 0..steps))
    }

    /// Saves the training state after `steps_into_epoch` steps of the current epoch.
    fn save_mid_epoch(&mut self, steps_into_epoch: usize) -> Result<()> {
        self.settle_all()?;
        let (d_losses, g_losses) = self.epoch_losses(steps_into_epoch)?;
        self.run.steps_into_epoch = steps_into_epoch;
        self.run.epoch_d_losses = d_losses;
        self.run.epoch_g_losses = g_losses;
        self.run.steps_done = self.trainer.steps_done;
        self.save_state()
    }

    /// Copies the training state to the host and writes it on another thread (after the previous one
    /// is written): the steps that follow need not wait for the disk.
    fn save_state(&mut self) -> Result<()> {
        self.finish_writing()?;
        let snapshot = state::Snapshot::take(self.gpu, &self.trainer, &self.run)?;
        let path = state_path(&self.config.out);
        let position = (self.run.epochs_done, self.run.steps_into_epoch);
        let writer = std::thread::Builder::new()
            .name("state writer".into())
            .spawn(move || snapshot.write(&path))
            .map_err(|e| Error::Io {
                path: state_path(&self.config.out),
                message: format!("could not start a thread to write it: {e}"),
            })?;
        self.writing = Some(StateWriter {
            thread: writer,
            position,
        });
        Ok(())
    }

    /// Collects the state writer if it has finished, so that a failed write stops the run at the next
    /// step rather than at the next save.
    fn poll_writing(&mut self) -> Result<()> {
        if self
            .writing
            .as_ref()
            .is_some_and(|w| w.thread.is_finished())
        {
            self.finish_writing()?;
        }
        Ok(())
    }

    /// Waits for the training state being written, if any; once written, its position is on disk.
    fn finish_writing(&mut self) -> Result<()> {
        if let Some(writer) = self.writing.take() {
            match writer.thread.join() {
                Ok(written) => written?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
            self.saved = Some(writer.position);
        }
        Ok(())
    }

    /// The scores of G's samples after `epoch`, where the scoring settings say it is scored.
    fn score_epoch(&self, epoch: usize) -> Result<Option<crate::score::Scores>> {
        let (Some(scorer), Some(scoring)) = (&self.scorer, &self.config.scoring) else {
            return Ok(None);
        };
        if !epoch.is_multiple_of(scoring.every.max(1)) && epoch != self.config.epochs {
            return Ok(None);
        }
        let noise = Noise::Seed {
            seed: self.config.seed,
            count: scoring.images,
        };
        let images = crate::sample::generate_all(self.gpu, &self.trainer.g, &noise)?;
        scorer.score(self.gpu, &images).map(Some)
    }

    /// The epoch's record, and at sample epochs its grid and checkpoints; then history, plot and
    /// (last, so a state on disk never points past the files of its epoch) the training state.
    fn finish_epoch(
        &mut self,
        epoch: usize,
        progress: &mut impl FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<()> {
        self.settle_all()?;
        let gpu = self.gpu;
        let out = &self.config.out;
        let (d_losses, g_losses) = self.epoch_losses(self.steps.steps_per_epoch())?;
        let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let record = EpochRecord {
            epoch,
            d_loss: mean(&d_losses),
            g_loss: mean(&g_losses),
            d_losses,
            g_losses,
            quality: self.score_epoch(epoch)?,
        };
        let _ = progress(Progress::Epoch(&record));
        self.run.history.epochs.push(record);

        if self.config.sample_epochs.contains(&epoch) || epoch == self.config.epochs {
            let grid = grid_path(out, epoch);
            save_grid(&grid, &self.sampler.seed_images(gpu, 0)?, GRID_ROW)?;
            let _ = progress(Progress::Wrote(&grid));
            let trainer = &self.trainer;
            let g_path = checkpoint_path(out, "G", epoch);
            checkpoint::save(gpu, &trainer.g.net, trainer.g_batches_tracked(), &g_path)?;
            let _ = progress(Progress::Wrote(&g_path));
            let d_path = checkpoint_path(out, "D", epoch);
            checkpoint::save(gpu, &trainer.d.net, trainer.d_batches_tracked(), &d_path)?;
            let _ = progress(Progress::Wrote(&d_path));
        }
        let json = serde_json::to_vec_pretty(&self.run.history).expect("history serialises");
        write_atomic(&out.join("history.json"), &json)?;
        write_atomic(&out.join("loss.png"), &loss_plot_png(&self.run.history)?)?;
        if self.scorer.is_some() {
            write_atomic(
                &out.join("quality.png"),
                &quality_plot_png(&self.run.history)?,
            )?;
        }
        self.run.epochs_done = epoch;
        self.run.steps_into_epoch = 0;
        self.run.epoch_d_losses.clear();
        self.run.epoch_g_losses.clear();
        self.run.steps_done = self.trainer.steps_done;
        self.save_state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_every_reads_steps_and_exact_times() {
        let time = |s: u64, n: u32| Ok(CheckpointEvery::Time(Duration::new(s, n)));
        for (text, want) in [
            ("500", Ok(CheckpointEvery::Steps(500))),
            (" 7 ", Ok(CheckpointEvery::Steps(7))),
            ("90s", time(90, 0)),
            ("10m", time(600, 0)),
            ("10 min", time(600, 0)),
            ("1.5h", time(5400, 0)),
            (".5s", time(0, 500_000_000)),
            ("5.s", time(5, 0)),
            ("0.000000001s", time(0, 1)),
            ("1000000000s", time(1_000_000_000, 0)),
        ] {
            assert_eq!(text.parse::<CheckpointEvery>(), want, "{text}");
        }
        for text in [
            "0",
            "0s",
            "0.0000000001s",
            "1000000000.5s",
            "16666667m",
            "",
            "s",
            ".s",
            "1e3s",
            "-5m",
            "+5m",
            "5x",
            "5 m s",
            "inf",
            "NaN",
            "1..5h",
            "99999999999999999999999h",
        ] {
            assert!(text.parse::<CheckpointEvery>().is_err(), "{text} parsed");
        }
    }

    #[test]
    fn sample_epochs_are_a_sorted_set_from_one() {
        assert_eq!("25,1,10,1".parse(), Ok(SampleEpochs(vec![1, 10, 25])));
        assert_eq!(" 3 ".parse(), Ok(SampleEpochs(vec![3])));
        for text in ["", "0", "1,,2", "1,x", "-1", "1;2"] {
            assert!(text.parse::<SampleEpochs>().is_err(), "{text} parsed");
        }
        assert_eq!(SampleEpochs(vec![1, 10, 25]).to_string(), "1,10,25");
    }
}
