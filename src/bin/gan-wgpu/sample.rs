//! `gan-wgpu sample`: images from a trained G, as a grid, single PNGs, safetensors or a GIF.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use gan_wgpu::data;
use gan_wgpu::sample::{Noise, SeedPair};
use gan_wgpu::tune::TuneMode;

use crate::device::DeviceArgs;
use crate::{Failure, bad_input};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SampleFormat {
    /// One PNG: the images in a grid, as torchvision's save_image lays them out.
    Grid,
    /// A folder of single 28×28 grey PNGs, 000.png, 001.png, …
    PngDir,
    /// The images as float32 [N, 1, 28, 28] (tensor `images`), for exact comparisons.
    Safetensors,
    /// An animated GIF, one 112×112 frame per image, looping: the picture of an --interpolate walk.
    Gif,
}

#[derive(clap::Args)]
pub struct SampleArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Seeds the noise (drawn on the GPU as training draws it): the same seed and checkpoint give the
    /// same picture, byte for byte.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// A G checkpoint (G_NNN.safetensors, or one saved from the PyTorch original's state_dict).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Without --checkpoint: the run folder whose latest G checkpoint is used.
    #[arg(long, value_name = "DIR", default_value = "logs")]
    run: PathBuf,
    /// Where to write [default: sample_seed<SEED>, walk_<A>_<B> with --interpolate or sample_z with
    /// --z; .png, .safetensors, .gif, or a folder for png-dir].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Images to draw.
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Images per grid row.
    #[arg(long, default_value_t = 8)]
    nrow: usize,
    #[arg(long, value_enum, default_value_t = SampleFormat::Grid)]
    format: SampleFormat,
    /// Walk the latent space in --count steps from seed A's noise to seed B's.
    #[arg(long, value_name = "A,B")]
    interpolate: Option<SeedPair>,
    /// Noise from a safetensors file holding one float32 tensor of shape [N, 62].
    #[arg(long, value_name = "FILE", conflicts_with = "interpolate")]
    z: Option<PathBuf>,
}

pub fn run(args: SampleArgs) -> Result<(), Failure> {
    use gan_wgpu::grid::{MAX_GRID_BYTES, grid_bytes, grid_size};
    use gan_wgpu::sample::{Format, ImageWriter, MAX_SEED_IMAGES};

    if args.count == 0 || args.nrow == 0 {
        return Err(bad_input("--count and --nrow must be at least 1".into()));
    }
    let noise = match (&args.z, &args.interpolate) {
        (Some(path), _) => Noise::from_file(path)?,
        (None, &Some(SeedPair { a, b })) => Noise::Interpolate {
            a,
            b,
            count: args.count,
        },
        (None, None) if args.count > MAX_SEED_IMAGES => {
            return Err(bad_input(format!(
                "--count {} is more than a seed's noise stream holds ({MAX_SEED_IMAGES} images); draw more with other --seed values",
                args.count
            )));
        }
        (None, None) => Noise::Seed {
            seed: args.seed,
            count: args.count,
        },
    };
    let count = noise.count();
    let format = match args.format {
        SampleFormat::Grid => Format::Grid { nrow: args.nrow },
        SampleFormat::PngDir => Format::PngDir,
        SampleFormat::Safetensors => Format::Safetensors,
        SampleFormat::Gif => Format::Gif,
    };
    if matches!(format, Format::Grid { .. }) && grid_bytes(count, args.nrow) > MAX_GRID_BYTES {
        let (width, height) = grid_size(count, args.nrow);
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        return Err(bad_input(format!(
            "a grid of {count} images, {} to a row (--nrow), is {width}×{height} pixels: {:.1} GiB in memory, more than the {:.0} GiB a grid may take; write them with --format png-dir or --format safetensors",
            args.nrow,
            gib(grid_bytes(count, args.nrow)),
            gib(MAX_GRID_BYTES),
        )));
    }
    let checkpoint = match &args.checkpoint {
        // Said before the GPU opens, which takes a while on a software adapter.
        Some(path) if !path.is_file() => {
            return Err(bad_input(format!(
                "{}: no such file; pass a G checkpoint (G_NNN.safetensors, ours or the PyTorch original's), or --run DIR for a run's latest",
                path.display()
            )));
        }
        Some(path) => path.clone(),
        None => gan_wgpu::sample::latest_checkpoint(&args.run)?,
    };
    // The adapter's default kernels, never a tuned choice: the same seed and checkpoint give the same
    // picture on an adapter whatever was measured on it since.
    let gpu = args.device.open(TuneMode::Off, args.count.max(1))?;
    let g = gan_wgpu::sample::load_generator(&gpu, &checkpoint)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_sample_out(&args));
    let mut writer = ImageWriter::create(format, &out, count)?;
    let chunk = gan_wgpu::sample::chunk_size(&gpu);
    let progress = SampleProgress::new(count, chunk);
    gan_wgpu::sample::generate(&gpu, &g, &noise, chunk, |first, images| {
        writer.put(first, images)?;
        progress.advance(first + images.len() / data::IMAGE_PIXELS);
        Ok(())
    })?;
    writer.finish()?;
    let seconds = progress.finish();
    println!(
        "wrote {} ({count} image{} from {} in {seconds:.1} s, {:.0} images/s)",
        out.display(),
        if count == 1 { "" } else { "s" },
        checkpoint.display(),
        count as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Where `sample` writes without --out: named after the noise, with the format's extension.
fn default_sample_out(args: &SampleArgs) -> PathBuf {
    let stem = match (&args.z, &args.interpolate) {
        (Some(_), _) => "sample_z".to_string(),
        (None, Some(SeedPair { a, b })) => format!("walk_{a}_{b}"),
        (None, None) => format!("sample_seed{}", args.seed),
    };
    let extension = match args.format {
        SampleFormat::Grid => ".png",
        SampleFormat::PngDir => "",
        SampleFormat::Safetensors => ".safetensors",
        SampleFormat::Gif => ".gif",
    };
    PathBuf::from(stem + extension)
}

/// Progress of a `sample` run longer than one chunk: a bar on a terminal, else a line every
/// `QUIET_REPORT_SECONDS`.
struct SampleProgress {
    bar: Option<indicatif::ProgressBar>,
    count: usize,
    started: Instant,
    last_report: std::cell::Cell<Instant>,
}

const QUIET_REPORT_SECONDS: u64 = 10;

impl SampleProgress {
    fn new(count: usize, chunk: usize) -> SampleProgress {
        let bar = (count > chunk && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(count as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "  {bar:30} {pos}/{len} images  {per_sec}  ETA {eta}",
                )
                .expect("the template parses"),
            );
            bar
        });
        let now = Instant::now();
        SampleProgress {
            bar,
            count,
            started: now,
            last_report: std::cell::Cell::new(now),
        }
    }

    fn advance(&self, done: usize) {
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None if self.last_report.get().elapsed().as_secs() >= QUIET_REPORT_SECONDS
                && done < self.count =>
            {
                self.last_report.set(Instant::now());
                let rate = done as f64 / self.started.elapsed().as_secs_f64();
                eprintln!("  {done}/{} images, {rate:.0} images/s", self.count);
            }
            None => {}
        }
    }

    /// Clears the bar; the seconds since the start.
    fn finish(&self) -> f64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed().as_secs_f64()
    }
}
