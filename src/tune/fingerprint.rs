//! What a tuning record is stored under: the adapter, its driver, this program and its shaders, and on
//! a CPU adapter the CPU itself (model, vector extensions, the driver's code-generation variables),
//! since llvmpipe's code and so its fastest kernels change with each.

use serde::{Deserialize, Serialize};

use crate::kernels::Shader;

/// What a tuning record was measured for: the adapter, its driver and backend, this program's
/// version and shaders, and on CPU adapters the CPU and its vector extensions (and the driver's
/// environment that changes the code it generates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterKey {
    pub adapter: String,
    pub vendor: u32,
    pub device: u32,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    pub gan_wgpu: String,
    /// A hash of every shader's source: a changed kernel is measured again.
    pub shaders: String,
    pub cpu: Option<CpuKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuKey {
    pub model: String,
    pub extensions: Vec<String>,
    /// Mesa's variables that change llvmpipe's code (GALLIUM_OVERRIDE_CPU_CAPS, LP_NATIVE_VECTOR_WIDTH).
    pub driver_env: Vec<String>,
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

#[allow(unused_mut)]
fn cpu_extensions() -> Vec<String> {
    let mut found: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! check {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    found.push($f);
                }
            )*};
        }
        check!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vnni"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            found.push("neon");
        }
        if std::arch::is_aarch64_feature_detected!("sve") {
            found.push("sve");
        }
    }
    found.into_iter().map(String::from).collect()
}

impl AdapterKey {
    pub fn of(info: &wgpu::AdapterInfo) -> AdapterKey {
        let shaders = Shader::ALL
            .iter()
            .fold(String::new(), |all, s| all + &s.source());
        let cpu = (info.device_type == wgpu::DeviceType::Cpu).then(|| CpuKey {
            model: cpu_model(),
            extensions: cpu_extensions(),
            driver_env: ["GALLIUM_OVERRIDE_CPU_CAPS", "LP_NATIVE_VECTOR_WIDTH"]
                .iter()
                .filter_map(|v| std::env::var(v).ok().map(|value| format!("{v}={value}")))
                .collect(),
        });
        AdapterKey {
            adapter: info.name.clone(),
            vendor: info.vendor,
            device: info.device,
            backend: format!("{:?}", info.backend),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            gan_wgpu: env!("CARGO_PKG_VERSION").to_string(),
            shaders: format!("{:016x}", fnv1a(shaders.as_bytes())),
            cpu,
        }
    }
}
