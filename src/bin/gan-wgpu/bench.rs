//! `gan-wgpu bench`: full training steps timed on random images, a JSON line last.

use gan_wgpu::bench::Profiles;
use gan_wgpu::tune::TuneMode;

use crate::device::{DeviceArgs, TuneArgs};
use crate::{Failure, bad_input, check_step_batch, with_batch_hint};

#[derive(clap::Args)]
pub struct BenchArgs {
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
}

pub fn run(args: BenchArgs) -> Result<(), Failure> {
    check_step_batch(args.batch_size)?;
    let gpu = args
        .device
        .open(args.tune.mode(TuneMode::Cached), args.batch_size)?;
    let profiles = Profiles {
        per_kernel: args.per_kernel,
        first_use: args.first_use,
    };
    let r = gan_wgpu::bench::run(&gpu, args.batch_size, args.steps, profiles)
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
