//! `gan-wgpu devices`: the adapters wgpu finds, with the kernels chosen for each.

use gan_wgpu::gpu::{self, GpuOptions};
use gan_wgpu::tune;

use crate::device::BackendName;
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct DevicesArgs {
    /// Only this graphics API's adapters [default: Vulkan, Metal and DX12; OpenGL where none of
    /// those has one].
    #[arg(long, value_enum)]
    backend: Option<BackendName>,
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

pub fn run(args: DevicesArgs) -> Result<(), Failure> {
    let DevicesArgs { backend } = args;
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
