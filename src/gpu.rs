//! The GPU context: adapter choice, the device with explicitly requested limits, buffers, submission
//! and readback. Every wgpu failure (validation, out of memory, device loss) becomes an [`Error`].

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Waits for `future` on this thread: the native build's edge between the library's async core (which
/// the web build awaits) and its blocking callers.
#[cfg(not(target_arch = "wasm32"))]
pub fn wait<T>(future: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(future)
}

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
    /// A folder for the driver's compiled pipelines, where the backend has pipeline caches (Vulkan):
    /// read when the device opens, written back when it closes if pipelines were added. `None`
    /// (the library's default) keeps none; the command line uses `pipeline_cache_dir()`.
    pub pipeline_cache: Option<std::path::PathBuf>,
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

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY),
            adapter: None,
            max_buffer_bytes: 128 << 20,
            pipeline_cache: None,
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
    // The backend's validation layer only when asked for (WGPU_VALIDATION=1, as
    // tests/vulkan_layers.rs does): wgpu turns it on in every debug build wherever one is installed,
    // and it slows each dispatch many times over.
    desc.flags = desc
        .flags
        .difference(wgpu::InstanceFlags::VALIDATION)
        .with_env();
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds for `backends`, in wgpu's enumeration order (the order `--adapter INDEX`
/// refers to); for the default backends (`Backends::PRIMARY`), the OpenGL ones where those have none,
/// as `Device::new` falls back. OpenGL is otherwise left alone: probing EGL logs errors on machines
/// whose OpenGL drivers are partly there.
#[cfg(not(target_arch = "wasm32"))]
pub fn adapters(backends: wgpu::Backends) -> Vec<AdapterSummary> {
    let enumerate = |backends| {
        let instance = new_instance(backends);
        wait(instance.enumerate_adapters(backends))
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

async fn pick_adapter(instance: &wgpu::Instance, options: &GpuOptions) -> Result<wgpu::Adapter> {
    let all = instance.enumerate_adapters(options.backends).await;
    let Some(wanted) = &options.adapter else {
        let preferred = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::from_env()
                    .unwrap_or(wgpu::PowerPreference::HighPerformance),
                ..Default::default()
            })
            .await;
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

/// Errors that wgpu reports outside any error scope land here instead of panicking.
type ErrorSlot = Arc<Mutex<Option<String>>>;

/// The opened device: adapter, queue, error capture, the pipeline cache file, and what the adapter
/// offers beyond the limits asked for (subgroups, 64-bit integers) so that the kernels layer can
/// choose what to run.
pub struct Device {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// The pipeline cache, where the backend has them and the options asked for one.
    pipeline_cache: Option<PipelineCacheFile>,
    /// Whether the device has subgroups of at least 8 lanes (`Features::SUBGROUP` is then enabled).
    pub subgroups: bool,
    /// Whether the device has 64-bit integers in shaders (`Features::SHADER_INT64` is then enabled).
    pub int64: bool,
    uncaptured: ErrorSlot,
    lost: ErrorSlot,
    /// Bytes of storage buffers created on this device so far (they are what a run keeps).
    storage_bytes: std::sync::atomic::AtomicU64,
}

impl Device {
    /// `open`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(options: &GpuOptions, limits: wgpu::Limits) -> Result<Device> {
        wait(Device::open(options, limits))
    }

    /// Opens the adapter `options` pick with `limits` (what the kernels need; buffer sizes are then
    /// raised to all the adapter allows), refusing an adapter below them with the limit it lacks.
    pub async fn open(options: &GpuOptions, limits: wgpu::Limits) -> Result<Device> {
        let adapter = match pick_adapter(&new_instance(options.backends), options).await {
            Err(Error::NoAdapter { .. }) if options.backends == wgpu::Backends::PRIMARY => {
                let gl = GpuOptions {
                    backends: wgpu::Backends::GL,
                    ..options.clone()
                };
                pick_adapter(&new_instance(gl.backends), &gl).await
            }
            picked => picked,
        }?;
        let info = adapter.get_info();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: options
                .max_buffer_bytes
                .max(limits.max_storage_buffer_binding_size),
            max_buffer_size: options.max_buffer_bytes.max(limits.max_buffer_size),
            ..limits
        };
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
        // Buffers as large as the adapter allows: larger batches then fit where the hardware can. As
        // many storage buffers per kernel as it allows: kernels that bind more than `limits` asks
        // for are chosen where they fit (`storage_buffers_per_kernel`).
        let allowed = adapter.limits();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: allowed.max_storage_buffer_binding_size,
            max_buffer_size: allowed.max_buffer_size,
            max_storage_buffers_per_shader_stage: allowed.max_storage_buffers_per_shader_stage,
            ..limits
        };
        // The subgroup kernels run a workgroup of 8 invocations as one subgroup and broadcast between
        // its lanes, so subgroups count only with at least 8 lanes.
        let subgroups =
            adapter.features().contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= 8;
        let int64 = adapter.features().contains(wgpu::Features::SHADER_INT64);
        let cache_path = options
            .pipeline_cache
            .as_ref()
            .filter(|_| adapter.features().contains(wgpu::Features::PIPELINE_CACHE))
            .and_then(|dir| Some(dir.join(wgpu::util::pipeline_cache_key(&info)?)));
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gan-wgpu"),
                // Timestamp queries where the adapter has them: `bench --per-kernel` times dispatches
                // with them instead of waiting for each one. Pipeline caches where asked for and had.
                required_features: (adapter.features() & wgpu::Features::TIMESTAMP_QUERY)
                    | if cache_path.is_some() {
                        wgpu::Features::PIPELINE_CACHE
                    } else {
                        wgpu::Features::empty()
                    }
                    | if subgroups {
                        wgpu::Features::SUBGROUP
                    } else {
                        wgpu::Features::empty()
                    }
                    | if int64 {
                        wgpu::Features::SHADER_INT64
                    } else {
                        wgpu::Features::empty()
                    },
                required_limits: limits,
                ..Default::default()
            })
            .await
            .map_err(|source| Error::RequestDevice {
                adapter: info.name.clone(),
                source,
            })?;
        log::info!(
            "adapter: {} ({:?}, {:?}, driver {} {})",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info,
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
        Ok(Device {
            device,
            queue,
            pipeline_cache,
            subgroups,
            int64,
            uncaptured,
            lost,
            storage_bytes: Default::default(),
            info,
        })
    }

    /// The pipeline cache kernels are compiled through, if any.
    pub fn pipeline_cache(&self) -> Option<&wgpu::PipelineCache> {
        self.pipeline_cache.as_ref().map(|c| &c.cache)
    }

    /// The most storage buffers one kernel may bind here.
    pub fn storage_buffers_per_kernel(&self) -> u32 {
        self.device.limits().max_storage_buffers_per_shader_stage
    }

    /// True for CPU and software adapters (lavapipe, WARP, SwiftShader), which are far slower than a GPU.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch into errors.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn scoped<T>(&self, context: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = wait(validation.pop());
        let oom = wait(oom.pop());
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

    /// Runs `f`. A browser's WebGPU reports errors only when its event loop runs, which nothing may
    /// block for: an error `f` causes reaches the uncaptured-error slot and a later `check` (every
    /// readback checks).
    #[cfg(target_arch = "wasm32")]
    pub fn scoped<T>(&self, _context: &str, f: impl FnOnce() -> T) -> Result<T> {
        let value = f();
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

    /// Whether the device has timestamp queries (see `time_dispatches`).
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
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
    #[cfg(not(target_arch = "wasm32"))]
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

    #[cfg(not(target_arch = "wasm32"))]
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder, context: &str) -> Result<()> {
        let index = self.submit(encoder, context)?;
        self.wait_for(index)
    }

    /// Copies `bytes` bytes at `offset` of `buffer` back to the host.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        wait(self.read_bytes_async(buffer, offset, bytes))
    }

    /// `read_bytes` for callers that await (the web build, where nothing may block).
    pub async fn read_bytes_async(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Vec<u8>> {
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
        let index = self.submit(encoder, "readback copy")?;
        self.read_mapped_async(&staging, Some(index)).await
    }

    /// The contents of a MAP_READ buffer whose writers have all been submitted, the last of them in
    /// `written_by` (waits only for that submission; without it, for all).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_mapped(
        &self,
        staging: &wgpu::Buffer,
        written_by: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<u8>> {
        wait(self.read_mapped_async(staging, written_by))
    }

    /// `read_mapped` for callers that await. Natively the device is polled here until the mapping is
    /// done; in a browser the mapping completes when the page's event loop runs, which awaiting lets
    /// (polling is then nothing).
    pub async fn read_mapped_async(
        &self,
        staging: &wgpu::Buffer,
        written_by: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<u8>> {
        let (sender, mut receiver) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sender.send(r);
        });
        let poll = |submission_index| -> Result<()> {
            #[cfg(not(target_arch = "wasm32"))]
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index,
                    timeout: None,
                })
                .map_err(|e| Error::DeviceLost {
                    reason: e.to_string(),
                })?;
            #[cfg(target_arch = "wasm32")]
            let _ = submission_index;
            Ok(())
        };
        // Natively, waiting for `written_by` usually completes the mapping too; where it has not,
        // one more poll (of everything submitted) does.
        poll(written_by)?;
        let mapped = match receiver.try_recv() {
            Ok(Some(mapped)) => mapped,
            _ => {
                poll(None)?;
                receiver.await.map_err(|e| Error::Readback(e.to_string()))?
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

impl Drop for Device {
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
