//! The flags every GPU command shares (backend, adapter, kernels, tuning) and opening the GPU with
//! them, telling the user what the tuner does.

use clap::ValueEnum;
use gan_wgpu::gpu::GpuOptions;
use gan_wgpu::kernels::{Gpu, Overrides};
use gan_wgpu::tune::{self, TuneMode, TuneProgress};

use crate::Failure;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendName {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendName {
    pub fn backends(self) -> wgpu::Backends {
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
pub struct DeviceArgs {
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
    pub kernels: Option<Overrides>,
}

fn parse_overrides(s: &str) -> Result<Overrides, String> {
    s.parse()
}

/// Whether to use the tuned kernels.
#[derive(clap::Args)]
pub struct TuneArgs {
    /// Run the adapter's default kernels: neither measure the variants (as the first run on an
    /// adapter does) nor use the choice stored for it.
    #[arg(long)]
    no_tune: bool,
}

impl TuneArgs {
    /// `mode` unless --no-tune.
    pub fn mode(&self, mode: TuneMode) -> TuneMode {
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
    pub fn open(&self, mode: TuneMode, batch: usize) -> Result<Gpu, Failure> {
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
