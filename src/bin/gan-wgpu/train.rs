//! `gan-wgpu train`: the flags, the run's configuration (fresh or resumed), the data set, progress on
//! the terminal, and stopping on a signal.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gan_wgpu::data;
use gan_wgpu::score::ClassifierFiles;
use gan_wgpu::state;
use gan_wgpu::step::Hyper;
use gan_wgpu::train::{
    CheckpointEvery, Outcome, Progress, SampleEpochs, Scoring, TrainConfig, train,
};
use gan_wgpu::tune::TuneMode;

use crate::dataset::DataArgs;
use crate::device::{DeviceArgs, TuneArgs};
use crate::{EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_RUN_FAILED, Failure, bad_input, with_batch_hint};

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    tune: TuneArgs,
    /// Passes over the training set [default: 25, or the resumed run's].
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Images per step (the last incomplete batch of an epoch is dropped).
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    batch_size: usize,
    /// Adam's learning rate, for both nets.
    #[arg(long, default_value_t = 2e-4, allow_negative_numbers = true)]
    lr: f64,
    /// Adam's beta1.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    beta1: f64,
    /// Adam's beta2.
    #[arg(long, default_value_t = 0.999, allow_negative_numbers = true)]
    beta2: f64,
    /// Seeds the initial weights, the noise and the shuffling: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder for grids, checkpoints and history.json (created if needed).
    #[arg(long, default_value = "logs")]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Score G's samples after every N epochs (and after the last): the classifier score and Fréchet
    /// distance of 2,000 images, on the epoch line, in history.json and in quality.png.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    score_every: u64,
    /// Do not score the epochs' samples.
    #[arg(long)]
    no_score: bool,
    /// The classifier that scores the samples, as `gan-wgpu classifier` writes it [default: the one
    /// bundled for --dataset; none for a --data-dir set].
    #[arg(long, value_name = "FILE", conflicts_with = "no_score")]
    classifier: Option<PathBuf>,
    /// Epochs after which an 8×8 grid of samples and both checkpoints are written (the last epoch
    /// always is) [default: 1,10,25, those within --epochs].
    #[arg(long, value_name = "E,E,…")]
    sample_epochs: Option<SampleEpochs>,
    /// Continue the run in DIR from its last training state (DIR/state.safetensors, written after
    /// every epoch): weights, BatchNorm statistics, both Adams, noise and shuffling position. The
    /// run's own settings apply; --epochs may extend it. Ends bit-identical to a run never stopped.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Also save the training state between epoch ends, every N steps or every so long (90s, 10m,
    /// 1h): the most training a crash can cost.
    #[arg(long, value_name = "N|TIME", default_value = "5m")]
    checkpoint_every: CheckpointEvery,
    /// Start afresh even though --out holds another run's training state (it is replaced).
    #[arg(long)]
    overwrite: bool,
    /// For tests of divergence handling: plant a NaN in D's weights before step N.
    #[arg(long, value_name = "N", hide = true)]
    inject_nan_at_step: Option<u64>,
    /// Stop once the run has taken this many steps in all (a resumed run's earlier steps count),
    /// writing the training state and G and D checkpoints of that position
    /// (G_EEE_stepSSSS.safetensors inside an epoch); --resume continues the run
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..))]
    stop_after: Option<u64>,
}

const DEFAULT_EPOCHS: usize = 25;
const DEFAULT_SAMPLE_EPOCHS: [usize; 3] = [1, 10, 25];

fn check_args(args: &TrainArgs, epochs: usize) -> Result<(), Failure> {
    if epochs == 0 {
        return Err(bad_input("--epochs must be at least 1".into()));
    }
    if args.batch_size == 0 {
        return Err(bad_input("--batch-size must be at least 1".into()));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(bad_input(format!(
            "--lr {} is out of range: the learning rate must be a number greater than 0",
            args.lr
        )));
    }
    for (flag, v) in [("--beta1", args.beta1), ("--beta2", args.beta2)] {
        if !(0.0..1.0).contains(&v) {
            return Err(bad_input(format!(
                "{flag} {v} is out of range: Adam's betas lie in [0, 1)"
            )));
        }
    }
    if let Some(e) = args
        .sample_epochs
        .iter()
        .flat_map(|s| &s.0)
        .find(|&&e| e > epochs)
    {
        return Err(bad_input(format!(
            "--sample-epochs {e} lies outside epochs 1..={epochs}"
        )));
    }
    Ok(())
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A fresh run would overwrite the checkpoints and training state of the run already in --out.
fn refuse_to_replace(args: &TrainArgs) -> Result<(), Failure> {
    let existing = state::state_path(&args.out);
    if args.overwrite || !existing.exists() {
        return Ok(());
    }
    let position = match state::read_run(&existing) {
        Ok(run) => format!(" (after epoch {} of {})", run.epochs_done, run.epochs),
        Err(_) => String::new(),
    };
    let dir = args.out.display();
    Err(bad_input(format!(
        "{dir} holds another training run{position}; continue it with `--resume {dir}`, choose another --out, or pass --overwrite to replace it"
    )))
}

/// The run's configuration: from the flags, or from the state of the run being resumed.
fn train_config(args: &TrainArgs) -> Result<TrainConfig, Failure> {
    let Some(dir) = &args.resume else {
        let epochs = args.epochs.unwrap_or(DEFAULT_EPOCHS);
        check_args(args, epochs)?;
        refuse_to_replace(args)?;
        return Ok(TrainConfig {
            hyper: Hyper {
                batch: args.batch_size,
                lr: args.lr,
                beta1: args.beta1,
                beta2: args.beta2,
            },
            epochs,
            seed: args.seed,
            out: args.out.clone(),
            sample_epochs: args.sample_epochs.clone().map(|s| s.0).unwrap_or_else(|| {
                DEFAULT_SAMPLE_EPOCHS
                    .into_iter()
                    .filter(|&e| e <= epochs)
                    .collect()
            }),
            resume: false,
            checkpoint_every: args.checkpoint_every,
            inject_nan_at_step: args.inject_nan_at_step,
            stop_after: args.stop_after,
            scoring: scoring(args)?,
        });
    };
    let run = state::read_run(&state::state_path(dir))?;
    let epochs = args.epochs.unwrap_or(run.epochs);
    if epochs < run.epochs_done {
        return Err(bad_input(format!(
            "--epochs {epochs}: the run in {} has done {} already",
            dir.display(),
            run.epochs_done
        )));
    }
    if epochs == run.epochs_done {
        return Err(bad_input(format!(
            "the run in {} has finished its {epochs} epochs; pass a larger --epochs to extend it",
            dir.display()
        )));
    }
    if run.epoch_order != data::EPOCH_ORDER_VERSION {
        println!(
            "note: the run in {} began under an earlier gan-wgpu, which shuffled the epochs in another order; its remaining epochs follow this version's order, so it will not end bit-identical to a run of that version",
            dir.display()
        );
    }
    Ok(TrainConfig {
        hyper: run.hyper(),
        epochs,
        seed: run.seed,
        out: dir.clone(),
        sample_epochs: run.sample_epochs.clone(),
        resume: true,
        checkpoint_every: args.checkpoint_every,
        inject_nan_at_step: args.inject_nan_at_step,
        stop_after: args.stop_after,
        scoring: scoring(args)?,
    })
}

/// How the flags ask the epochs to be scored.
fn scoring(args: &TrainArgs) -> Result<Option<Scoring>, Failure> {
    if args.no_score {
        return Ok(None);
    }
    let classifier = match (&args.classifier, &args.data.data_dir) {
        (Some(path), _) => ClassifierFiles::read(path)?,
        (None, None) => ClassifierFiles::bundled(args.data.dataset.set()),
        (None, Some(_)) => {
            println!(
                "note: the epochs are not scored: no classifier knows a --data-dir set (pass --classifier FILE for one)"
            );
            return Ok(None);
        }
    };
    Ok(Some(Scoring {
        classifier,
        every: args.score_every as usize,
        images: Scoring::DEFAULT_IMAGES,
    }))
}

/// The signal that asked training to stop (0 while none has): SIGINT or SIGTERM finish the step in
/// progress, save the training state and exit; a second one exits at once.
fn stop_signal() -> Result<Arc<AtomicUsize>, Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let signal = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // The order matters: the shutdown sees `armed` as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, armed.clone())?;
        signal_hook::flag::register(sig, armed.clone())?;
        signal_hook::flag::register_usize(sig, signal.clone(), sig as usize)?;
    }
    Ok(signal)
}

fn signal_name(signal: usize) -> &'static str {
    match signal as i32 {
        signal_hook::consts::SIGINT => "Ctrl-C (SIGINT)",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

pub fn run(args: TrainArgs) -> Result<(), Failure> {
    let config = train_config(&args)?;
    gan_wgpu::files::ensure_writable_dir(&config.out)?;
    let set = args.data.load()?;
    if config.hyper.batch > set.len() {
        return Err(bad_input(format!(
            "--batch-size {} is larger than the data set ({} images in {})",
            config.hyper.batch,
            set.len(),
            set.source
        )));
    }
    let gpu = args
        .device
        .open(args.tune.mode(TuneMode::Cached), config.hyper.batch)?;
    println!("data: {} images from {}", set.len(), set.source);
    if config.resume {
        println!("resuming the run in {}", config.out.display());
    }
    let signal = stop_signal()?;
    // On a terminal, an indicatif bar for the epoch in progress on stderr; elsewhere nothing but the
    // epoch lines on stdout.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("  {prefix} {bar:30} {pos}/{len}  {msg}")
                .expect("the template parses"),
        );
        bar
    });
    // Lines on stdout go above the bar, which is drawn again after them.
    let say = |line: String| match &bar {
        Some(bar) => bar.suspend(|| println!("{line}")),
        None => println!("{line}"),
    };
    let total_steps = (set.len() / config.hyper.batch) * config.epochs;
    let outcome = train(&gpu, &config, &set, |event| {
        match event {
            Progress::Step {
                epoch,
                step,
                steps,
                steps_before,
                started,
            } => {
                // For scripts and tests that act on training's progress (RUST_LOG=gan_wgpu=debug).
                log::debug!("epoch {epoch}, step {step}/{steps} submitted");
                if let Some(bar) = &bar {
                    let done = (epoch - 1) * steps + step;
                    // The first steps are only submitted, not finished: no rate from them.
                    let rate_and_eta = if done - steps_before > 2 {
                        let elapsed = started.elapsed().as_secs_f64();
                        let rate = (done - steps_before) as f64 / elapsed.max(1e-9);
                        let eta = format_duration((total_steps - done) as f64 / rate);
                        format!("{rate:.2} steps/s  ETA {eta}")
                    } else {
                        "- steps/s  ETA -".to_string()
                    };
                    bar.set_length(steps as u64);
                    bar.set_prefix(format!("epoch {epoch}"));
                    bar.set_position(step as u64);
                    bar.set_message(rate_and_eta);
                }
                if signal.load(Ordering::SeqCst) != 0 {
                    return ControlFlow::Break(());
                }
            }
            Progress::Epoch(record) => say(format!(
                "epoch {}, D_loss: {:.4} G_loss: {:.4}{}",
                record.epoch,
                record.d_loss,
                record.g_loss,
                record.quality.as_ref().map_or(String::new(), |q| format!(
                    "  IS: {:.3} FD: {:.3} classes: {}/{}",
                    q.classifier_score,
                    q.frechet_distance,
                    q.covered_classes,
                    q.histogram.len()
                ))
            )),
            Progress::Wrote(path) => say(format!("  wrote {}", path.display())),
            Progress::Saved { epoch, step } => {
                log::info!("training state saved at epoch {epoch}, step {step}")
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match outcome {
        Ok(Outcome::Finished(_)) => Ok(()),
        Ok(Outcome::Paused {
            steps_done,
            state,
            checkpoints,
        }) => {
            say(format!(
                "stopped after step {steps_done} as --stop-after asked; G and D are in {} and {}, the \
                 training state in {}: `gan-wgpu train --resume {}` continues the run",
                checkpoints[0].display(),
                checkpoints[1].display(),
                state.display(),
                config.out.display()
            ));
            Ok(())
        }
        Ok(Outcome::Stopped {
            epoch,
            step,
            steps,
            state,
        }) => {
            let sig = signal.load(Ordering::SeqCst);
            Err(Failure(
                format!(
                    "stopped by {} after epoch {epoch}, step {step}/{steps}; the training state is in {}: `gan-wgpu train --resume {}` continues the run",
                    signal_name(sig),
                    state.display(),
                    config.out.display()
                ),
                (128 + sig) as u8,
            ))
        }
        Err(e) => {
            let code = match &e {
                gan_wgpu::Error::RunStopped { cause, .. } => match **cause {
                    gan_wgpu::Error::Diverged { .. } => EXIT_DIVERGED,
                    _ => EXIT_RUN_FAILED,
                },
                _ => EXIT_BAD_INPUT,
            };
            Err(Failure(with_batch_hint(&e), code))
        }
    }
}
