//! The `gan-wgpu` command line: one file per command, each a thin caller of the library.
//!
//! - `train.rs`: `gan-wgpu train` (flags, the run's configuration, progress, signals);
//! - `sample.rs`: `gan-wgpu sample`; `bench.rs`: `gan-wgpu bench`; `tune.rs`: `gan-wgpu tune`;
//!   `devices.rs`: `gan-wgpu devices`;
//! - `device.rs`: the flags every GPU command shares (backend, adapter, kernels, tuning) and opening
//!   the GPU with them.

mod bench;
mod classifier;
mod dataset;
mod device;
mod devices;
mod sample;
mod score;
mod train;
mod tune;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gan-wgpu",
    version,
    about = "The classic DCGAN on MNIST, trained with WGSL compute shaders on any Vulkan, Metal or DX12 GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Draw images from a trained G: a grid PNG by default.
    Sample(sample::SampleArgs),
    /// Train the DCGAN: writes epoch_NNN.png grids, G_NNN/D_NNN.safetensors checkpoints and history.json.
    Train(train::TrainArgs),
    /// Time full training steps (D step + G step, as train runs them) on random images.
    Bench(bench::BenchArgs),
    /// Measure the kernel variants on an adapter at a batch size and store the fastest for each
    /// matrix product (train and bench do this on their first run on an adapter).
    Tune(tune::TuneCommandArgs),
    /// List the GPU adapters wgpu finds, with the kernels chosen for each.
    Devices(devices::DevicesArgs),
    /// How good a G's images are: classifier score, Fréchet distance to the real images, classes
    /// covered, by the classifier for the data set.
    Score(score::ScoreArgs),
    /// Train the classifier that scores images (one per data set ships with gan-wgpu).
    Classifier(classifier::ClassifierArgs),
}

/// Exit codes: bad input (flags, data, checkpoints, no usable GPU) is 2; a training run that stopped
/// on a failure (GPU lost, disk full) 1, on a NaN or Inf 3; Ctrl-C 130 and SIGTERM 143.
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_RUN_FAILED: u8 = 1;
const EXIT_DIVERGED: u8 = 3;

/// A failure the user can act on: printed as one or two lines, with its exit code.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string(), EXIT_BAD_INPUT)
    }
}

fn bad_input(message: String) -> Failure {
    Failure(message, EXIT_BAD_INPUT)
}

/// A batch a training step can take (bench and tune; train checks its own against the data set).
fn check_step_batch(batch_size: usize) -> Result<(), Failure> {
    if batch_size < 2 {
        return Err(bad_input(
            "--batch-size must be at least 2 (BatchNorm needs two values per channel)".into(),
        ));
    }
    Ok(())
}

/// A library error as `train` and `bench` report it: there a buffer too large for the adapter is
/// the batch size's doing.
fn with_batch_hint(e: &gan_wgpu::Error) -> String {
    match e {
        gan_wgpu::Error::BufferTooLarge { .. } => {
            format!("{e} (a smaller --batch-size needs less)")
        }
        _ => e.to_string(),
    }
}

/// Mesa's device-selection Vulkan layer, which Mesa's drivers install as an implicit layer, connects
/// to a Wayland display while adapters are listed; where there is none (a server, a container, CI)
/// libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set in the environment." although
/// nothing failed. Its one service, putting the display's GPU first, is not one gan-wgpu uses (wgpu
/// picks by power preference, `--adapter` by index or name), so the layer is switched off, unless
/// the user steers it (`MESA_VK_DEVICE_SELECT`) or has set `NODEVICE_SELECT` either way.
fn quiet_mesa_device_select() {
    if std::env::var_os("MESA_VK_DEVICE_SELECT").is_none()
        && std::env::var_os("NODEVICE_SELECT").is_none()
    {
        // SAFETY: called first in `main`, before any thread exists that could read the environment.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

fn main() -> ExitCode {
    quiet_mesa_device_select();
    env_logger::init();
    let outcome = match Cli::parse().command {
        Command::Train(args) => train::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Devices(args) => devices::run(args),
        Command::Score(args) => score::run(args),
        Command::Classifier(args) => classifier::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("gan-wgpu: {message}");
            ExitCode::from(code)
        }
    }
}
