//! The `gan-wgpu` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gan_wgpu::gpu;

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
    /// List every GPU adapter wgpu finds (set WGPU_BACKEND=vulkan|metal|dx12|gl to narrow the search).
    Devices,
}

fn devices() -> ExitCode {
    let found = gpu::adapters(wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()));
    if found.is_empty() {
        eprintln!(
            "gan-wgpu: no GPU adapter found; install a GPU driver (Vulkan, Metal or DX12), or `mesa-vulkan-drivers` for software Vulkan (lavapipe)"
        );
        return ExitCode::from(2);
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
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    env_logger::init();
    match Cli::parse().command {
        Command::Devices => devices(),
    }
}
