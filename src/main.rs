//! The `gan-wgpu` command line.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use gan_wgpu::data::{self, Dataset};
use gan_wgpu::download;
use gan_wgpu::gpu::{self, GpuOptions};
use gan_wgpu::kernels::{Gpu, Overrides};
use gan_wgpu::sample::{Noise, SeedPair};
use gan_wgpu::state;
use gan_wgpu::step::Hyper;
use gan_wgpu::train::{CheckpointEvery, Outcome, Progress, SampleEpochs, TrainConfig, train};
use gan_wgpu::tune::{self, TuneMode, TuneProgress};

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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DatasetName {
    /// MNIST from ./data/mnist, downloaded there (MD5-checked) when missing; without a network, the
    /// 10,000 real digits built into gan-wgpu.
    Mnist,
    /// Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), else
    /// ./data/fashion-mnist, downloaded there when missing.
    FashionMnist,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendName {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendName {
    fn backends(self) -> wgpu::Backends {
        match self {
            BackendName::Vulkan => wgpu::Backends::VULKAN,
            BackendName::Metal => wgpu::Backends::METAL,
            BackendName::Dx12 => wgpu::Backends::DX12,
            BackendName::Gl => wgpu::Backends::GL,
        }
    }
}

/// Which GPU to run on (wgpu's WGPU_BACKEND and WGPU_ADAPTER_NAME work too).
#[derive(clap::Args)]
struct DeviceArgs {
    /// The graphics API [default: Vulkan, Metal or DX12, whichever the system has; OpenGL if none].
    #[arg(long, value_enum)]
    backend: Option<BackendName>,
    /// An adapter index as `gan-wgpu devices` lists them (for the same --backend), or part of its name.
    #[arg(long, value_name = "INDEX|NAME")]
    adapter: Option<String>,
    /// Kernel variants set by hand, for experiments (they win over the adapter's defaults): comma-
    /// separated KEY=VALUE of products=tiled|subgroup, block=4|8, pitch=16|17, prefetch=on|off,
    /// split-k=off|WORKGROUPS, by-plane=on|off, wide-loads=on|off.
    #[arg(long, value_name = "KEY=VALUE,...", value_parser = parse_overrides)]
    kernels: Option<Overrides>,
}

fn parse_overrides(s: &str) -> Result<Overrides, String> {
    s.parse()
}

/// Whether to use the tuned kernels.
#[derive(clap::Args)]
struct TuneArgs {
    /// Run the adapter's default kernels: neither measure the variants (as the first run on an
    /// adapter does) nor use the choice stored for it.
    #[arg(long)]
    no_tune: bool,
}

impl TuneArgs {
    /// `mode` unless --no-tune.
    fn mode(&self, mode: TuneMode) -> TuneMode {
        if self.no_tune { TuneMode::Off } else { mode }
    }
}

/// Prints what the tuner is doing, a line per candidate.
fn print_tune_progress(p: TuneProgress) {
    use std::io::Write;
    match p {
        TuneProgress::Candidate {
            index,
            count,
            variant,
        } => {
            print!("  {}/{count} {variant}: ", index + 1);
            let _ = std::io::stdout().flush();
        }
        TuneProgress::Measured(m) => {
            print!("{:.1} ms of matrix products a step", m.total_ms());
            if !m.disagreed.is_empty() {
                print!(
                    " (refused for {}: output differs from the reference's)",
                    m.disagreed.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            println!();
        }
        TuneProgress::Layout {
            index,
            count,
            layout,
        } => {
            print!("  layout {}/{count} {}: ", index + 1, layout.layout());
            let _ = std::io::stdout().flush();
        }
        TuneProgress::LayoutMeasured(m) => {
            print!("{:.1} ms of the other kernels a step", m.ms);
            if !m.agrees() {
                print!(
                    " (refused: differs from the default layout's results by {})",
                    m.differences()
                );
            }
            println!();
        }
    }
}

impl DeviceArgs {
    fn options(&self) -> GpuOptions {
        let mut options = GpuOptions {
            pipeline_cache: gan_wgpu::gpu::pipeline_cache_dir(),
            ..GpuOptions::default()
        };
        if let Some(backend) = self.backend {
            options.backends = backend.backends();
        }
        options.adapter = self
            .adapter
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
        options
    }

    /// Opens the GPU with its tuned kernels for steps of `batch` images (measured first where `mode`
    /// says so), telling the user what is going on.
    fn open(&self, mode: TuneMode, batch: usize) -> Result<Gpu, Failure> {
        let options = self.options();
        let cache = options.pipeline_cache.clone();
        let measuring = |p: TuneProgress| {
            if let TuneProgress::Candidate {
                index: 0, count, ..
            } = p
            {
                println!(
                    "measuring {count} variants of the matrix products, then the layouts of the other kernels, at batch {batch} on this adapter (once; --no-tune skips it):"
                );
            }
            print_tune_progress(p)
        };
        let (gpu, report) = tune::open(
            &options,
            &self.kernels.clone().unwrap_or_default(),
            mode,
            batch,
            cache.as_deref(),
            measuring,
        )?;
        if let Some(r) = report {
            println!(
                "kernels measured in {:.0} s{}",
                r.seconds,
                cache.map_or(String::new(), |d| format!(
                    ", stored in {}",
                    tune::cache_path(&d).display()
                ))
            );
        }
        println!(
            "adapter: {} ({:?}, {:?})",
            gpu.info.name, gpu.info.backend, gpu.info.device_type
        );
        if self.kernels.is_some() || mode == TuneMode::Force {
            println!("kernels: {}", gpu.tuning());
        }
        if gpu.is_software() {
            println!(
                "note: {} is a software adapter, far slower than a GPU",
                gpu.info.name
            );
        }
        Ok(gpu)
    }
}

#[derive(clap::Args)]
struct TrainArgs {
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
    /// Which data set to train on.
    #[arg(long, value_enum, default_value_t = DatasetName::Mnist)]
    dataset: DatasetName,
    /// A folder holding train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (any 28×28 IDX
    /// set); overrides --dataset.
    #[arg(long)]
    data_dir: Option<PathBuf>,
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
struct SampleArgs {
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

#[derive(Subcommand)]
enum Command {
    /// Draw images from a trained G: a grid PNG by default.
    Sample(SampleArgs),
    /// Train the DCGAN: writes epoch_NNN.png grids, G_NNN/D_NNN.safetensors checkpoints and history.json.
    Train(TrainArgs),
    /// Time full training steps (D step + G step, as train runs them) on random images.
    Bench {
        #[command(flatten)]
        device: DeviceArgs,
        #[command(flatten)]
        tune: TuneArgs,
        /// Images per step.
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Steps timed after one warm-up step.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Also time each kernel of one step, largest first (timestamp queries where the adapter has
        /// them, else each dispatch submitted and waited for).
        #[arg(long)]
        per_kernel: bool,
        /// Before the warm-up step, time each kernel's dispatches of one step, each submitted and
        /// waited for alone: what a kernel's first use costs, its compile included where the driver
        /// compiles at first dispatch (lavapipe); the first step's time then includes it. A small
        /// --batch-size leaves mostly the compile.
        #[arg(long)]
        first_use: bool,
    },
    /// Measure the kernel variants on an adapter at a batch size and store the fastest for each
    /// matrix product (train and bench do this on their first run on an adapter).
    Tune {
        #[command(flatten)]
        device: DeviceArgs,
        /// Images per step.
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
    },
    /// List the GPU adapters wgpu finds, with the kernels chosen for each.
    Devices {
        /// Only this graphics API's adapters [default: Vulkan, Metal and DX12; OpenGL where none of
        /// those has one].
        #[arg(long, value_enum)]
        backend: Option<BackendName>,
    },
}

fn sample(args: SampleArgs) -> Result<(), Failure> {
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

fn bench(
    device: &DeviceArgs,
    tune: &TuneArgs,
    batch_size: usize,
    steps: usize,
    profiles: gan_wgpu::bench::Profiles,
) -> Result<(), Failure> {
    check_step_batch(batch_size)?;
    let gpu = device.open(tune.mode(TuneMode::Cached), batch_size)?;
    let r = gan_wgpu::bench::run(&gpu, batch_size, steps, profiles)
        .map_err(|e| bad_input(with_batch_hint(&e)))?;
    println!(
        "batch {}, {} steps after one warm-up step",
        r.batch, r.steps
    );
    println!(
        "first step done {:.0} ms after start (buffers, pipelines and initialisation: {:.0} ms)",
        r.first_step_ms, r.setup_ms
    );
    println!(
        "ms/step: median {:.1}, min {:.1}, max {:.1}; {:.3} steps/s",
        r.median_ms, r.min_ms, r.max_ms, r.steps_per_s
    );
    println!(
        "{} dispatches and {:.2} GFLOP per step as the kernels execute it: {:.2} GFLOP/s",
        r.dispatches_per_step, r.gflop_per_step, r.gflop_per_s
    );
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    println!(
        "device memory (storage buffers): {:.1} MiB",
        mib(r.device_bytes)
    );
    if let Some(rss) = r.peak_rss_bytes {
        println!("peak host memory (RSS): {:.1} MiB", mib(rss));
    }
    if !r.first_use.is_empty() {
        println!("first use per kernel, one step, each dispatch alone, before the warm-up step:");
        for (entry, count, ms) in &r.first_use {
            println!("  {entry:40} {count:3}x {ms:9.3} ms");
        }
    }
    if !r.per_kernel.is_empty() {
        println!("per kernel, one step ({}):", r.per_kernel_timing);
        for (entry, count, ms) in &r.per_kernel {
            println!("  {entry:40} {count:3}x {ms:9.3} ms");
        }
    }
    println!(
        "{}",
        serde_json::to_string(&r).expect("the report serialises")
    );
    Ok(())
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

fn tune_command(device: &DeviceArgs, batch_size: usize) -> Result<(), Failure> {
    check_step_batch(batch_size)?;
    if device
        .kernels
        .as_ref()
        .is_some_and(Overrides::touch_products)
    {
        return Err(bad_input(
            "tune measures the products' variants; --kernels may set only by-plane and wide-loads here"
                .into(),
        ));
    }
    let gpu = device.open(TuneMode::Force, batch_size)?;
    for (key, variant) in &gpu.tuning().by_product {
        println!("  {key:50} {variant}");
    }
    Ok(())
}

/// What `devices` says of the kernels chosen for an adapter.
fn kernels_line(info: &wgpu::AdapterInfo) -> String {
    let Some(dir) = gan_wgpu::gpu::pipeline_cache_dir() else {
        return "kernels: the adapter's defaults (no cache folder to store a tuned choice in)"
            .into();
    };
    match tune::cached(&dir, &tune::AdapterKey::of(info)) {
        None => "kernels: not measured yet (train and bench measure them on their first run; or gan-wgpu tune)".into(),
        Some(e) => {
            let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
            for v in e.tuning.by_product.values() {
                *counts.entry(v.to_string()).or_default() += 1;
            }
            let counts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} ×{n}")).collect();
            format!(
                "kernels measured at batch {}: {} products on {}; others {}",
                e.batches.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "),
                e.tuning.by_product.len(),
                counts.join(", "),
                e.tuning.products,
            )
        }
    }
}

fn devices(backend: Option<BackendName>) -> Result<(), Failure> {
    let backends = backend.map_or(GpuOptions::default().backends, BackendName::backends);
    let found = gpu::adapters(backends);
    if found.is_empty() {
        return Err(bad_input(
            gan_wgpu::Error::NoAdapter {
                detail: String::new(),
            }
            .to_string(),
        ));
    }
    println!(
        "{:<5} {:<40} {:<8} {:<14} driver",
        "index", "name", "backend", "type"
    );
    for a in found {
        let software = if a.info.device_type == wgpu::DeviceType::Cpu {
            "  (software: far slower than a GPU)"
        } else {
            ""
        };
        println!(
            "{:<5} {:<40} {:<8} {:<14} {} {}{software}",
            a.index,
            a.info.name,
            format!("{:?}", a.info.backend),
            format!("{:?}", a.info.device_type),
            a.info.driver,
            a.info.driver_info,
        );
        println!("      {}", kernels_line(&a.info));
    }
    Ok(())
}

/// Where downloads are kept, relative to the working folder.
const MNIST_DIR: &str = "data/mnist";
const FASHION_MNIST_DIR: &str = "data/fashion-mnist";
/// Debian's dataset-fashion-mnist.
const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// True when `dir` holds a training image file (raw or gzip).
fn has_training_files(dir: &Path) -> bool {
    [
        data::IMAGES_FILE.to_string(),
        format!("{}.gz", data::IMAGES_FILE),
    ]
    .iter()
    .any(|f| dir.join(f).is_file())
}

/// The set kept in `dir`, downloaded there first when it is not.
fn local_or_download(
    dir: &Path,
    files: &[download::Published],
    mirrors: &[String],
) -> Result<Dataset, gan_wgpu::Error> {
    if !has_training_files(dir) {
        println!(
            "downloading into {} from {}",
            dir.display(),
            mirrors.join(", ")
        );
        download::download(dir, files, mirrors)?;
    }
    Dataset::load_dir(dir)
}

fn dataset(args: &TrainArgs) -> Result<Dataset, Failure> {
    if let Some(dir) = &args.data_dir {
        return Ok(Dataset::load_dir(dir)?);
    }
    match args.dataset {
        DatasetName::Mnist => {
            let dir = Path::new(MNIST_DIR);
            let mirrors = download::mirrors(download::MNIST_MIRRORS_ENV, &download::MNIST_MIRRORS);
            match local_or_download(dir, &download::MNIST_FILES, &mirrors) {
                Ok(set) => Ok(set),
                // Files that are there but bad are the user's to look at, not to paper over.
                Err(e) if has_training_files(dir) => Err(e.into()),
                Err(e) => {
                    let reason: String = e.to_string().chars().take(200).collect();
                    eprintln!(
                        "gan-wgpu: no MNIST download ({reason}); training on the 10,000 MNIST digits bundled with gan-wgpu"
                    );
                    Ok(Dataset::bundled())
                }
            }
        }
        DatasetName::FashionMnist => {
            let debian = Path::new(DEBIAN_FASHION_MNIST_DIR);
            if has_training_files(debian) {
                return Ok(Dataset::load_dir(debian)?);
            }
            let mirrors = download::mirrors(
                download::FASHION_MNIST_MIRRORS_ENV,
                &download::FASHION_MNIST_MIRRORS,
            );
            let dir = Path::new(FASHION_MNIST_DIR);
            local_or_download(dir, &download::FASHION_MNIST_FILES, &mirrors).map_err(|e| {
                bad_input(format!(
                    "{e}; install Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST_DIR}) or pass --data-dir"
                ))
            })
        }
    }
}

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
    })
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

fn run_train(args: TrainArgs) -> Result<(), Failure> {
    let config = train_config(&args)?;
    gan_wgpu::files::ensure_writable_dir(&config.out)?;
    let set = dataset(&args)?;
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
                "epoch {}, D_loss: {:.4} G_loss: {:.4}",
                record.epoch, record.d_loss, record.g_loss
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
        Command::Train(args) => run_train(args),
        Command::Sample(args) => sample(args),
        Command::Bench {
            device,
            tune,
            batch_size,
            steps,
            per_kernel,
            first_use,
        } => bench(
            &device,
            &tune,
            batch_size,
            steps,
            gan_wgpu::bench::Profiles {
                per_kernel,
                first_use,
            },
        ),
        Command::Tune { device, batch_size } => tune_command(&device, batch_size),
        Command::Devices { backend } => devices(backend),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("gan-wgpu: {message}");
            ExitCode::from(code)
        }
    }
}
