//! `gan-wgpu classifier`: train the classifier that scores images, as the shipped ones were trained,
//! and write its weights and the real images' feature statistics.

use std::path::PathBuf;

use gan_wgpu::checkpoint;
use gan_wgpu::classifier::training::{self, TrainingConfig};
use gan_wgpu::classifier::{self, Provenance};
use gan_wgpu::files::write_atomic;
use gan_wgpu::tune::TuneMode;

use crate::dataset::DataArgs;
use crate::device::DeviceArgs;
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct ClassifierArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Passes over the training images.
    #[arg(long, default_value_t = TrainingConfig::default().epochs)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = TrainingConfig::default().batch)]
    batch_size: usize,
    /// Adam's learning rate (betas 0.9, 0.999).
    #[arg(long, default_value_t = TrainingConfig::default().lr)]
    lr: f64,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, default_value_t = TrainingConfig::default().seed)]
    seed: u64,
    /// The last N images of the set are not trained on; the accuracy is measured on them.
    #[arg(long, value_name = "N", default_value_t = TrainingConfig::default().held_out)]
    held_out: usize,
    /// The weights file to write; the real images' feature statistics go beside it, in
    /// <stem>.features.safetensors.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace --out's files if they exist.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(args: ClassifierArgs) -> Result<(), Failure> {
    let features_out = classifier::features_path(&args.out);
    if !args.overwrite {
        for path in [&args.out, &features_out] {
            if path.exists() {
                return Err(bad_input(format!(
                    "{} exists; pass --overwrite to replace it",
                    path.display()
                )));
            }
        }
    }
    if args.epochs == 0 || args.batch_size < 2 {
        return Err(bad_input(
            "--epochs must be at least 1 and --batch-size at least 2".into(),
        ));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(bad_input(format!(
            "--lr must be a positive number, not {}",
            args.lr
        )));
    }
    let set = args.data.load()?;
    let config = TrainingConfig {
        epochs: args.epochs,
        batch: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        held_out: args.held_out,
        ..TrainingConfig::default()
    };
    if config.held_out == 0 || config.held_out + config.batch > set.len() {
        return Err(bad_input(format!(
            "--held-out {} must be at least 1 and leave a batch of {} of the {} images to train on",
            config.held_out,
            config.batch,
            set.len()
        )));
    }
    let gpu = args.device.open(TuneMode::Off, config.batch)?;
    println!(
        "training the classifier on {} of {} ({} held out), {} epochs, on {}",
        set.len() - config.held_out,
        set.source,
        config.held_out,
        config.epochs,
        gpu.info.name
    );
    let started = std::time::Instant::now();
    let mut accuracy = 0.0;
    let trained = training::train(&gpu, &set, &config, |r| {
        accuracy = r.held_out_accuracy;
        println!(
            "epoch {:>3}/{}  loss {:.4}  held-out accuracy {:.2}%  ({:.0} s)",
            r.epoch,
            config.epochs,
            r.mean_loss,
            100.0 * r.held_out_accuracy,
            started.elapsed().as_secs_f64()
        );
    })?;
    let command: Vec<String> = std::env::args().skip(1).collect();
    let provenance = Provenance {
        dataset: set.source.clone(),
        command: format!("gan-wgpu {}", command.join(" ")),
        trained_images: set.len() - config.held_out,
        held_out_images: config.held_out,
        held_out_accuracy: accuracy,
        epochs: config.epochs,
    };
    let features = training::real_features(&gpu, &trained, &set, provenance)?;
    let weights = gan_wgpu::gpu::wait(checkpoint::to_bytes(&gpu, &trained.net.net, 0, &args.out))?;
    write_atomic(&args.out, &weights)?;
    write_atomic(&features_out, &features.to_bytes(&features_out)?)?;
    println!(
        "wrote {} and {} (features of all {} images)",
        args.out.display(),
        features_out.display(),
        set.len()
    );
    Ok(())
}
