//! The GPU context: adapter choice, the device with explicitly requested limits, buffers, submission
//! and readback. Every wgpu failure (validation, out of memory, device loss) becomes an [`Error`].

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Kernels};

/// Largest per-workgroup scratch any kernel in `shaders/` declares, in bytes.
const WORKGROUP_STORAGE_BYTES: u32 = 16384;
/// Most storage buffers any one kernel binds: batchnorm_backward's nine (x and dy also as vec4s). One
/// more than WebGPU's default of 8; desktop Vulkan, Metal and DX12 adapters allow 16 or far more.
const STORAGE_BUFFERS_PER_KERNEL: u32 = 9;
/// Floats of the buffer that split matrix products keep their partial sums in (shaders/gemm.wgsl):
/// 6.1 MiB, two splits of the DCGAN's 128×6272 products or twelve of its 128×1024 ones. On an H200 a
/// step took 8.4 ms with it against 9.6 with 4 MiB (the 128×6272 products then ran unsplit) and
/// 8.7 with 12.2 MiB, and it keeps device memory under 300 MB.
const SPLIT_PARTIALS_FLOATS: usize = 2 * 128 * 6272;
/// Workgroups a tiled matrix product should reach on a GPU before its depth is split: four per
/// multiprocessor of the largest cards (132 on an H100 or H200; measured there: 8.4 ms a step against
/// 8.8 with two per multiprocessor and 10.5 with one); smaller GPUs run a few more waves.
const SPLIT_TARGET_GPU: usize = 528;
/// The tiled matrix products' block per invocation where no option names one.
const GEMM_BLOCK_DEFAULT: u32 = 4;
/// Widest workgroup any kernel uses.
const INVOCATIONS_PER_WORKGROUP: u32 = 256;

/// How to pick and open the GPU.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Backends to look at: `WGPU_BACKEND` (e.g. `vulkan`, `gl`) when set, else Vulkan, Metal and DX12,
    /// with OpenGL tried only when none of those has an adapter.
    pub backends: wgpu::Backends,
    /// An adapter index (as `adapters(backends)` lists them) or a case-insensitive part of its name;
    /// `None` takes wgpu's high-performance choice.
    pub adapter: Option<String>,
    /// The largest single buffer the caller will bind, in bytes. The DCGAN's 6272×1024 weight alone is
    /// 25.7 MB, and a flat parameter buffer is larger still.
    pub max_buffer_bytes: u64,
    /// Which kernels run the matrix products of Linear, Conv2d and ConvTranspose2d:
    /// `GAN_WGPU_PRODUCTS` (`tiled` or `subgroup`) when set, else chosen from the adapter.
    pub products: Products,
    /// A folder for the driver's compiled pipelines, where the backend has pipeline caches (Vulkan):
    /// read when the device opens, written back when it closes if pipelines were added. `None`
    /// (the library's default) keeps none; the command line uses `pipeline_cache_dir()`.
    pub pipeline_cache: Option<std::path::PathBuf>,
    /// Split the depth of a tiled matrix product over workgroups (shaders/gemm.wgsl) until it has this
    /// many, where it has fewer tiles: `GAN_WGPU_SPLIT_K` (a number, or `off`) when set, else
    /// `None`, chosen from the adapter (GPUs split, CPU adapters, which have a few cores to fill, don't).
    pub split_target: Option<usize>,
    /// Outputs per invocation side in the tiled matrix products (shaders/gemm.wgsl's GEMM_BLOCK, 4 or
    /// 8): `GAN_WGPU_GEMM_BLOCK` when set, else `None`, chosen from the adapter.
    pub gemm_block: Option<u32>,
    /// vec4s from one depth of a staged operand to the next in the tiled products (GEMM_PITCH: 17, or
    /// 16 for the unpadded layout that measurements compare with): `GAN_WGPU_GEMM_PITCH` when set.
    pub gemm_pitch: Option<u32>,
    /// Whether the tiled products load each slice while the one before is multiplied (GEMM_PREFETCH):
    /// `GAN_WGPU_GEMM_PREFETCH=1|0` when set, else off.
    pub gemm_prefetch: Option<bool>,
}

/// Where the command line keeps pipeline caches: `GAN_WGPU_PIPELINE_CACHE` (a folder, or `off`), else
/// `$XDG_CACHE_HOME/gan-wgpu`, else `~/.cache/gan-wgpu`.
pub fn pipeline_cache_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("GAN_WGPU_PIPELINE_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(v.into()),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .map(|d| d.join("gan-wgpu")),
    }
}

/// A driver pipeline cache and the file it came from and goes back to.
struct PipelineCacheFile {
    cache: wgpu::PipelineCache,
    path: std::path::PathBuf,
    /// What the file held when the device opened (its contents are written back only if they grew).
    loaded: Option<Vec<u8>>,
}

/// The two families of matrix-product kernels of Linear, Conv2d and ConvTranspose2d.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Products {
    /// Subgroup kernels on CPU adapters whose subgroups hold at least 8 lanes (lavapipe), where a
    /// whole step runs 6.7× faster with them; workgroup-memory tiles everywhere else.
    Auto,
    /// shaders/gemm.wgsl's workgroup-memory tiles (the choice for real GPUs).
    Tiled,
    /// shaders/linear_subgroup.wgsl and conv_subgroup.wgsl for the products they fit, where the
    /// adapter has subgroups of at least 8 lanes.
    Subgroup,
}

impl std::str::FromStr for Products {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Products, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Products::Auto),
            "tiled" => Ok(Products::Tiled),
            "subgroup" => Ok(Products::Subgroup),
            other => Err(format!(
                "unknown matrix-product kernels '{other}' (auto, tiled or subgroup)"
            )),
        }
    }
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY),
            adapter: None,
            max_buffer_bytes: 128 << 20,
            products: std::env::var("GAN_WGPU_PRODUCTS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(Products::Auto),
            pipeline_cache: None,
            split_target: std::env::var("GAN_WGPU_SPLIT_K")
                .ok()
                .and_then(|v| if v == "off" { Some(0) } else { v.parse().ok() }),
            gemm_block: std::env::var("GAN_WGPU_GEMM_BLOCK")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|b| [4, 8].contains(b)),
            gemm_pitch: std::env::var("GAN_WGPU_GEMM_PITCH")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|p| [16, 17].contains(p)),
            gemm_prefetch: std::env::var("GAN_WGPU_GEMM_PREFETCH").ok().and_then(|v| {
                match v.as_str() {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }),
        }
    }
}

/// One adapter as `adapters()` reports it.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub index: usize,
    pub info: wgpu::AdapterInfo,
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends &= backends;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds for `backends`, in wgpu's enumeration order (the order `--adapter INDEX`
/// refers to); for the default backends (`Backends::PRIMARY`), the OpenGL ones where those have none,
/// as `Gpu::new` falls back. OpenGL is otherwise left alone: probing EGL logs errors on machines
/// whose OpenGL drivers are partly there.
pub fn adapters(backends: wgpu::Backends) -> Vec<AdapterSummary> {
    let enumerate = |backends| {
        let instance = new_instance(backends);
        pollster::block_on(instance.enumerate_adapters(backends))
            .iter()
            .enumerate()
            .map(|(index, a)| AdapterSummary {
                index,
                info: a.get_info(),
            })
            .collect::<Vec<_>>()
    };
    let found = enumerate(backends);
    if found.is_empty() && backends == wgpu::Backends::PRIMARY {
        return enumerate(wgpu::Backends::GL);
    }
    found
}

fn pick_adapter(instance: &wgpu::Instance, options: &GpuOptions) -> Result<wgpu::Adapter> {
    let all = pollster::block_on(instance.enumerate_adapters(options.backends));
    let Some(wanted) = &options.adapter else {
        let preferred = pollster::block_on(
            instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::from_env()
                    .unwrap_or(wgpu::PowerPreference::HighPerformance),
                ..Default::default()
            }),
        );
        return match preferred {
            Ok(adapter) => Ok(adapter),
            Err(_) => all.into_iter().next().ok_or_else(|| Error::NoAdapter {
                detail: format!(" for backends {:?}", options.backends),
            }),
        };
    };
    let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
    let chosen = match wanted.parse::<usize>() {
        Ok(index) => all.into_iter().nth(index),
        Err(_) => {
            let needle = wanted.to_lowercase();
            all.into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&needle))
        }
    };
    chosen.ok_or_else(|| Error::AdapterNotFound {
        wanted: wanted.clone(),
        found: if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        },
    })
}

/// The limits the kernels need, each set explicitly rather than assumed from a backend's defaults.
fn required_limits(max_buffer_bytes: u64) -> wgpu::Limits {
    let base = wgpu::Limits::downlevel_defaults();
    wgpu::Limits {
        max_storage_buffers_per_shader_stage: STORAGE_BUFFERS_PER_KERNEL,
        max_compute_workgroup_storage_size: WORKGROUP_STORAGE_BYTES,
        max_compute_invocations_per_workgroup: INVOCATIONS_PER_WORKGROUP,
        max_compute_workgroup_size_x: INVOCATIONS_PER_WORKGROUP,
        max_storage_buffer_binding_size: max_buffer_bytes.max(base.max_storage_buffer_binding_size),
        max_buffer_size: max_buffer_bytes.max(base.max_buffer_size),
        ..base
    }
}

/// Errors that wgpu reports outside any error scope land here instead of panicking.
type ErrorSlot = Arc<Mutex<Option<String>>>;

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub kernels: Kernels,
    /// The pipeline cache, where the backend has them and the options asked for one.
    pipeline_cache: Option<PipelineCacheFile>,
    /// Whether the matrix products run shaders/linear_subgroup.wgsl and conv_subgroup.wgsl where they fit
    /// (the device then has subgroups).
    pub subgroup_products: bool,
    /// Whether Adam and the activations move eight floats per access (shaders/adam_u64.wgsl,
    /// activation_u64.wgsl): on CPU adapters with 64-bit integers, where every access costs per lane
    /// and component (the device then has `Features::SHADER_INT64`).
    pub wide_loads: bool,
    /// Workgroups a tiled matrix product is split to reach (0: never split; see `GpuOptions`).
    pub split_target: usize,
    /// The tiled matrix products' block per invocation, 4 (4×4) or 8 (8×8; see `GpuOptions`).
    pub gemm_block: u32,
    /// The tiled products' staging pitch, 17 or 16 (see `GpuOptions`).
    pub gemm_pitch: u32,
    /// Whether the tiled products load slices ahead (see `GpuOptions`).
    pub gemm_prefetch: bool,
    /// Where split products keep their partial sums; made at first use.
    split_partials: std::sync::OnceLock<crate::tensor::Tensor>,
    uncaptured: ErrorSlot,
    lost: ErrorSlot,
    /// Bytes of storage buffers created on this device so far (they are what a run keeps).
    storage_bytes: std::sync::atomic::AtomicU64,
}

impl Gpu {
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let adapter = match pick_adapter(&new_instance(options.backends), options) {
            Err(Error::NoAdapter { .. }) if options.backends == wgpu::Backends::PRIMARY => {
                let gl = GpuOptions {
                    backends: wgpu::Backends::GL,
                    ..options.clone()
                };
                pick_adapter(&new_instance(gl.backends), &gl)
            }
            picked => picked,
        }?;
        let info = adapter.get_info();
        let limits = required_limits(options.max_buffer_bytes);
        let mut too_low = None;
        limits.check_limits_with_fail_fn(&adapter.limits(), true, |limit, needed, allowed| {
            too_low = Some((limit, needed, allowed));
        });
        if let Some((limit, needed, allowed)) = too_low {
            return Err(Error::LimitTooLow {
                adapter: info.name.clone(),
                limit,
                needed,
                allowed,
            });
        }
        // Buffers as large as the adapter allows: larger batches then fit where the hardware can.
        let allowed = adapter.limits();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: allowed.max_storage_buffer_binding_size,
            max_buffer_size: allowed.max_buffer_size,
            ..limits
        };
        // linear_subgroup.wgsl runs one workgroup of 8 invocations as one subgroup and broadcasts
        // between its lanes, so it needs subgroups of at least 8.
        let subgroups_fit =
            adapter.features().contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= 8;
        let subgroup_products = match options.products {
            Products::Auto => subgroups_fit && info.device_type == wgpu::DeviceType::Cpu,
            Products::Tiled => false,
            Products::Subgroup => {
                if !subgroups_fit {
                    log::warn!(
                        "{} has no subgroups of 8 or more lanes: matrix products use the tiled kernels",
                        info.name
                    );
                }
                subgroups_fit
            }
        };
        let wide_loads = info.device_type == wgpu::DeviceType::Cpu
            && adapter.features().contains(wgpu::Features::SHADER_INT64);
        let cache_path = options
            .pipeline_cache
            .as_ref()
            .filter(|_| adapter.features().contains(wgpu::Features::PIPELINE_CACHE))
            .and_then(|dir| Some(dir.join(wgpu::util::pipeline_cache_key(&info)?)));
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gan-wgpu"),
            // Timestamp queries where the adapter has them: `bench --per-kernel` times dispatches
            // with them instead of waiting for each one. Pipeline caches where asked for and had.
            required_features: (adapter.features() & wgpu::Features::TIMESTAMP_QUERY)
                | if cache_path.is_some() {
                    wgpu::Features::PIPELINE_CACHE
                } else {
                    wgpu::Features::empty()
                }
                | if subgroup_products {
                    wgpu::Features::SUBGROUP
                } else {
                    wgpu::Features::empty()
                }
                | if wide_loads {
                    wgpu::Features::SHADER_INT64
                } else {
                    wgpu::Features::empty()
                },
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|source| Error::RequestDevice {
            adapter: info.name.clone(),
            source,
        })?;
        log::info!(
            "adapter: {} ({:?}, {:?}, driver {} {}); matrix-product kernels: {}",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info,
            if subgroup_products {
                "subgroup"
            } else {
                "tiled"
            }
        );

        let uncaptured: ErrorSlot = Arc::default();
        let slot = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("uncaptured wgpu error: {e}");
            slot.lock().unwrap().get_or_insert_with(|| e.to_string());
        }));
        let lost: ErrorSlot = Arc::default();
        let slot = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let detail = if message.is_empty() {
                format!("{reason:?}")
            } else {
                format!("{reason:?}: {message}")
            };
            *slot.lock().unwrap() = Some(detail);
        });

        let pipeline_cache = cache_path.map(|path| {
            let loaded = std::fs::read(&path).ok();
            // SAFETY: the data is what `get_data` returned on an earlier run, under a file name
            // that names the adapter (`pipeline_cache_key`); wgpu checks its header (version,
            // adapter, size) and, with `fallback`, starts an empty cache when the check fails.
            let cache = unsafe {
                device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                    label: Some("gan-wgpu pipelines"),
                    data: loaded.as_deref(),
                    fallback: true,
                })
            };
            log::info!(
                "pipeline cache {} ({})",
                path.display(),
                if loaded.is_some() { "read" } else { "new" }
            );
            PipelineCacheFile {
                cache,
                path,
                loaded,
            }
        });
        let kernels = Kernels::new();
        Ok(Gpu {
            device,
            queue,
            kernels,
            pipeline_cache,
            subgroup_products,
            wide_loads,
            split_target: options.split_target.unwrap_or(
                if info.device_type == wgpu::DeviceType::Cpu {
                    0
                } else {
                    SPLIT_TARGET_GPU
                },
            ),
            gemm_block: options.gemm_block.unwrap_or(GEMM_BLOCK_DEFAULT),
            gemm_pitch: options.gemm_pitch.unwrap_or(17),
            gemm_prefetch: options.gemm_prefetch.unwrap_or(false),
            split_partials: Default::default(),
            uncaptured,
            lost,
            storage_bytes: Default::default(),
            info,
        })
    }

    /// The buffer of the partial sums of split matrix products, `SPLIT_PARTIALS_FLOATS` long where
    /// products are split (a placeholder where they never are).
    pub(crate) fn split_partials(&self) -> Result<&crate::tensor::Tensor> {
        if let Some(t) = self.split_partials.get() {
            return Ok(t);
        }
        let floats = if self.split_target > 0 {
            SPLIT_PARTIALS_FLOATS
        } else {
            4
        };
        let t = crate::tensor::Tensor::zeros(self, "split partial sums", &[floats])?;
        Ok(self.split_partials.get_or_init(|| t))
    }

    /// Floats of the partial-sum buffer of split products.
    pub(crate) fn split_partials_floats(&self) -> usize {
        self.split_partials().map(|t| t.numel()).unwrap_or(0)
    }

    /// The pipeline cache kernels are compiled through, if any.
    pub(crate) fn pipeline_cache(&self) -> Option<&wgpu::PipelineCache> {
        self.pipeline_cache.as_ref().map(|c| &c.cache)
    }

    /// True for CPU and software adapters (lavapipe, WARP, SwiftShader), which are far slower than a GPU.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch into errors.
    pub fn scoped<T>(&self, context: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = validation {
            return Err(Error::Validation {
                context: context.to_string(),
                message: e.to_string(),
            });
        }
        if let Some(e) = oom {
            return Err(Error::OutOfMemory {
                context: context.to_string(),
                message: e.to_string(),
            });
        }
        self.check()?;
        Ok(value)
    }

    /// Reports device loss or an error wgpu raised outside a scope.
    pub fn check(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().unwrap().clone() {
            return Err(Error::DeviceLost { reason });
        }
        if let Some(message) = self.uncaptured.lock().unwrap().take() {
            return Err(Error::Validation {
                context: "an earlier GPU call".into(),
                message,
            });
        }
        Ok(())
    }

    pub fn storage_buffer(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
        let limit = self.device.limits().max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(Error::BufferTooLarge {
                adapter: self.info.name.clone(),
                label: label.to_string(),
                bytes,
                limit,
            });
        }
        // Storage buffers are bound with 4-byte elements; a zero-sized binding is invalid.
        let size = bytes.max(4).next_multiple_of(4);
        log::debug!("storage buffer '{label}': {size} bytes");
        self.storage_bytes
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        self.scoped(label, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Bytes of all storage buffers created on this device so far.
    pub fn storage_bytes(&self) -> u64 {
        self.storage_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An encoder holding `dispatches` in one compute pass; more commands may follow before submission.
    pub fn encode(&self, label: &str, dispatches: &[&Dispatch]) -> wgpu::CommandEncoder {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        encoder
    }

    /// Whether the device has timestamp queries (see `time_dispatches`).
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Runs `dispatches` in order, each in its own compute pass with timestamps written at its start
    /// and end, and returns each one's GPU time in milliseconds. Needs `has_timestamps`.
    pub fn time_dispatches(&self, dispatches: &[&Dispatch]) -> Result<Vec<f64>> {
        // wgpu's largest query set holds 4096 timestamps: 2048 dispatches at a time.
        const PER_SET: usize = 2048;
        let mut times = Vec::with_capacity(dispatches.len());
        for chunk in dispatches.chunks(PER_SET) {
            let queries = 2 * chunk.len() as u32;
            let bytes = 8 * queries as u64;
            let (set, resolved, staging) = self.scoped("timestamp queries", || {
                let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("per-dispatch timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: queries,
                });
                let buffer = |usage| {
                    self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("timestamps"),
                        size: bytes,
                        usage,
                        mapped_at_creation: false,
                    })
                };
                (
                    set,
                    buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
                    buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
                )
            })?;
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("timed dispatches"),
                });
            for (i, d) in chunk.iter().enumerate() {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(d.entry()),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &set,
                        beginning_of_pass_write_index: Some(2 * i as u32),
                        end_of_pass_write_index: Some(2 * i as u32 + 1),
                    }),
                });
                d.record(&mut pass);
            }
            encoder.resolve_query_set(&set, 0..queries, &resolved, 0);
            encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, bytes);
            let index = self.submit(encoder, "timed dispatches")?;
            let ticks: Vec<u64> =
                bytemuck::pod_collect_to_vec(&self.read_mapped(&staging, Some(index))?);
            let period_ns = self.queue.get_timestamp_period() as f64;
            times.extend(
                ticks
                    .chunks_exact(2)
                    .map(|t| t[1].saturating_sub(t[0]) as f64 * period_ns / 1e6),
            );
        }
        Ok(times)
    }

    /// Records `dispatches` into one compute pass, submits it and waits until the GPU is done.
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        self.submit_and_wait(self.encode("run", dispatches), "run")
    }

    /// Submits without waiting; `wait_for` the returned index later.
    pub fn submit(
        &self,
        encoder: wgpu::CommandEncoder,
        context: &str,
    ) -> Result<wgpu::SubmissionIndex> {
        self.scoped(context, || self.queue.submit([encoder.finish()]))
    }

    /// Blocks until the submission `index` has finished on the GPU.
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| Error::DeviceLost {
                reason: e.to_string(),
            })?;
        self.check()
    }

    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder, context: &str) -> Result<()> {
        let index = self.submit(encoder, context)?;
        self.wait_for(index)
    }

    /// Copies `bytes` bytes at `offset` of `buffer` back to the host.
    pub fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let bytes = bytes.next_multiple_of(4);
        let staging = self.scoped("readback staging buffer", || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes);
        self.submit_and_wait(encoder, "readback copy")?;
        self.read_mapped(&staging, None)
    }

    /// The contents of a MAP_READ buffer whose writers have all been submitted, the last of them in
    /// `written_by` (waits only for that submission; without it, for all).
    pub fn read_mapped(
        &self,
        staging: &wgpu::Buffer,
        written_by: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<u8>> {
        let (sender, receiver) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sender.send(r);
        });
        let poll = |submission_index| {
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index,
                    timeout: None,
                })
                .map_err(|e| Error::DeviceLost {
                    reason: e.to_string(),
                })
        };
        poll(written_by)?;
        let mapped = match receiver.try_recv() {
            Ok(mapped) => mapped,
            Err(_) => {
                poll(None)?;
                receiver
                    .recv()
                    .map_err(|e| Error::Readback(e.to_string()))?
            }
        };
        self.check()?;
        mapped.map_err(|e| Error::Readback(e.to_string()))?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }
}

impl Drop for Gpu {
    /// Writes the pipeline cache back when pipelines were added to it (atomically; a failure only
    /// costs the next run its compile time, so it is logged, not raised).
    fn drop(&mut self) {
        let Some(file) = &self.pipeline_cache else {
            return;
        };
        let Some(data) = file.cache.get_data() else {
            return;
        };
        if file.loaded.as_ref() == Some(&data) {
            return;
        }
        let saved = file
            .path
            .parent()
            .map_or(Ok(()), crate::files::ensure_dir)
            .and_then(|()| crate::files::write_atomic(&file.path, &data));
        match saved {
            Ok(()) => log::info!(
                "pipeline cache {} written ({} bytes)",
                file.path.display(),
                data.len()
            ),
            Err(e) => log::warn!("pipeline cache not written: {e}"),
        }
    }
}
