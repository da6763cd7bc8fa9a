//! `gan-wgpu score`: how good a G's images (or any images) are, in the view of the classifier for
//! the data set.

use std::path::PathBuf;

use gan_wgpu::data::IMAGE_PIXELS;
use gan_wgpu::sample::{MAX_SEED_IMAGES, Noise};
use gan_wgpu::score::{ClassifierFiles, Scorer, Scores};
use gan_wgpu::tune::TuneMode;

use crate::dataset::DatasetName;
use crate::device::DeviceArgs;
use crate::{Failure, bad_input};

/// Images scored when --count is not given (with a G).
pub const DEFAULT_COUNT: usize = 10_000;

#[derive(clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// A G checkpoint (G_NNN.safetensors, or one saved from the PyTorch original's state_dict).
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    checkpoint: Option<PathBuf>,
    /// Without --checkpoint or --images: the run folder whose latest G checkpoint is scored.
    #[arg(long, value_name = "DIR", default_value = "logs")]
    run: PathBuf,
    /// Score these images instead of a G's: a safetensors file with one float32 tensor [N, 1, 28, 28]
    /// or [N, 784] in [0, 1] (`sample --format safetensors` writes one).
    #[arg(long, value_name = "FILE")]
    images: Option<PathBuf>,
    /// Images to score [default: 10,000 from a G; all of --images].
    #[arg(long)]
    count: Option<usize>,
    /// Seeds G's noise, as `sample --seed` does: the same seed and checkpoint give the same scores.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Whose classifier scores the images: the one bundled for this data set.
    #[arg(long, value_enum, default_value_t = DatasetName::Mnist)]
    dataset: DatasetName,
    /// Another classifier, as `gan-wgpu classifier` writes it (its features file beside it);
    /// overrides --dataset.
    #[arg(long, value_name = "FILE")]
    classifier: Option<PathBuf>,
}

/// Where the images come from.
enum Images {
    Generator { checkpoint: PathBuf, count: usize },
    File { path: PathBuf, values: Vec<f32> },
}

pub fn run(args: ScoreArgs) -> Result<(), Failure> {
    let images = images(&args)?;
    let files = match &args.classifier {
        Some(path) => ClassifierFiles::read(path)?,
        None => ClassifierFiles::bundled(args.dataset.set()),
    };
    let gpu = args.device.open(TuneMode::Off, 128)?;
    let scorer = Scorer::new(&gpu, files)?;
    let started = std::time::Instant::now();
    let (values, from) = match images {
        Images::Generator { checkpoint, count } => {
            let g = gan_wgpu::sample::load_generator(&gpu, &checkpoint)?;
            let noise = Noise::Seed {
                seed: args.seed,
                count,
            };
            let values = gan_wgpu::sample::generate_all(&gpu, &g, &noise)?;
            let from = format!("{} (seed {})", checkpoint.display(), args.seed);
            (values, from)
        }
        Images::File { path, values } => (values, path.display().to_string()),
    };
    let scores = scorer.score(&gpu, &values)?;
    print_scores(&scores, &from, &scorer, started.elapsed().as_secs_f64());
    Ok(())
}

/// The images the flags name, checked before the GPU opens.
fn images(args: &ScoreArgs) -> Result<Images, Failure> {
    if args.count.is_some_and(|c| c < 2) {
        return Err(bad_input(
            "--count must be at least 2 (a covariance needs two images)".into(),
        ));
    }
    if let Some(path) = &args.images {
        let bytes =
            std::fs::read(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        let mut values = gan_wgpu::score::parse_images(path, &bytes)?;
        let held = values.len() / IMAGE_PIXELS;
        if let Some(count) = args.count {
            if count > held {
                return Err(bad_input(format!(
                    "--count {count}: {} holds {held} images",
                    path.display()
                )));
            }
            values.truncate(count * IMAGE_PIXELS);
        }
        return Ok(Images::File {
            path: path.clone(),
            values,
        });
    }
    let count = args.count.unwrap_or(DEFAULT_COUNT);
    if count > MAX_SEED_IMAGES {
        return Err(bad_input(format!(
            "--count {count} is more than a seed's noise stream holds ({MAX_SEED_IMAGES})"
        )));
    }
    let checkpoint = match &args.checkpoint {
        Some(path) if !path.is_file() => {
            return Err(bad_input(format!(
                "{}: no such file; pass a G checkpoint (G_NNN.safetensors, ours or the PyTorch original's), or --run DIR for a run's latest",
                path.display()
            )));
        }
        Some(path) => path.clone(),
        None => gan_wgpu::sample::latest_checkpoint(&args.run)?,
    };
    Ok(Images::Generator { checkpoint, count })
}

fn print_scores(scores: &Scores, from: &str, scorer: &Scorer, seconds: f64) {
    let real = &scorer.real;
    println!(
        "{} images from {from}, scored by {} (held-out accuracy {:.2}%) in {seconds:.1} s",
        scores.images,
        scorer.source,
        100.0 * real.provenance.held_out_accuracy
    );
    println!(
        "  classifier score (IS)   {:>8.3}   1 (one class) … 10 (every class, each image certain)",
        scores.classifier_score
    );
    println!(
        "  Fréchet distance (FD)   {:>8.3}   to the features of {} real images; 0 is the same statistics",
        scores.frechet_distance, real.images
    );
    println!(
        "  classes covered         {:>5}/{}   a class counts with at least half an even share ({} images)",
        scores.covered_classes,
        scores.histogram.len(),
        scores.images.div_ceil(2 * scores.histogram.len())
    );
    let histogram: Vec<String> = scores
        .histogram
        .iter()
        .enumerate()
        .map(|(class, n)| format!("{class}: {n}"))
        .collect();
    println!("  images per class        {}", histogram.join("  "));
    let json = serde_json::json!({
        "images": scores.images,
        "classifier_score": scores.classifier_score,
        "frechet_distance": scores.frechet_distance,
        "covered_classes": scores.covered_classes,
        "histogram": scores.histogram,
        "source": from,
        "classifier": scorer.source.to_string(),
        "real_images": real.images,
    });
    println!("{json}");
}
