//! The WGSL kernels: shader sources and their pipeline constants, explicit bind-group layouts, cached
//! pipelines, the tuning record that says which variants run, and [`Dispatch`], one kernel bound to its
//! tensors, ready to be recorded into any number of compute passes. [`Gpu`] is the device with all of
//! that: what layers, the model and the step scheduler run on.

pub mod tuning;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::{Device, GpuOptions};
use crate::tensor::Tensor;
pub use tuning::{Family, Overrides, ProductKey, Tuning, Variant};

/// Largest per-workgroup scratch any kernel in `shaders/` declares, in bytes.
const WORKGROUP_STORAGE_BYTES: u32 = 16384;
/// Most storage buffers a kernel every adapter runs binds: batchnorm_backward's nine. More than
/// WebGPU's default of 8; browsers grant 10, desktop Vulkan, Metal and DX12 adapters 16 or far more.
const STORAGE_BUFFERS_PER_KERNEL: u32 = 9;
/// What the plane-by-plane BatchNorm backward (CPU adapters) binds: twelve, x, dy and the activation's
/// output also as vec4s. Chosen only where the device has them (`Tuning::for_device`).
pub const STORAGE_BUFFERS_BY_PLANE: u32 = 12;
/// Widest workgroup any kernel uses.
const INVOCATIONS_PER_WORKGROUP: u32 = 256;
/// Floats of the buffer that split matrix products keep their partial sums in (shaders/gemm.wgsl):
/// 6.1 MiB, two splits of the DCGAN's 128×6272 products or twelve of its 128×1024 ones, keeping device
/// memory under 300 MB.
const SPLIT_PARTIALS_FLOATS: usize = 2 * 128 * 6272;

/// Invocations per workgroup of the one-dimensional kernels (`WG` in the shaders).
pub const WORKGROUP: usize = 256;
/// Edge of the tiled matrix products' tiles (`TILE` in shaders/gemm.wgsl).
pub const TILE: usize = 64;
/// Depth of one slice of the tiled matrix-product kernels (`DEPTH` in shaders/gemm.wgsl).
const TILE_DEPTH: usize = 16;
/// Convolution products with fewer columns are not tiled (`NARROW` in shaders/conv.wgsl): one
/// element per invocation, K whole.
pub const NARROW: usize = 16;

/// The sizes the host dispatches by and the kernels compute with, defined once here and given to
/// every shader as WGSL constants of these names.
const HOST_CONSTANTS: [(&str, usize); 4] = [
    ("WG", WORKGROUP),
    ("TILE", TILE),
    ("DEPTH", TILE_DEPTH),
    ("NARROW", NARROW),
];
/// The shallowest range of K a split gives a workgroup: four slices.
const MIN_SPLIT_DEPTH: usize = 4 * TILE_DEPTH;
/// The most splits: each invocation of the reduction adds its element's splits one after another.
const MAX_SPLITS: usize = 256;

/// The limits the kernels need, each set explicitly rather than assumed from a backend's defaults.
fn required_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffers_per_shader_stage: STORAGE_BUFFERS_PER_KERNEL,
        max_compute_workgroup_storage_size: WORKGROUP_STORAGE_BYTES,
        max_compute_invocations_per_workgroup: INVOCATIONS_PER_WORKGROUP,
        max_compute_workgroup_size_x: INVOCATIONS_PER_WORKGROUP,
        ..wgpu::Limits::downlevel_defaults()
    }
}

/// Values of shaders/gemm.wgsl's GEMM_BLOCK, GEMM_PITCH and GEMM_PREFETCH, for the files that hold the
/// tiled products: set `block8 + 2·pitch16 + 4·prefetch` of every combination.
const fn gemm_set(index: usize) -> [(&'static str, f64); 3] {
    [
        ("GEMM_BLOCK", if index & 1 == 0 { 4.0 } else { 8.0 }),
        ("GEMM_PITCH", if index & 2 == 0 { 17.0 } else { 16.0 }),
        ("GEMM_PREFETCH", if index & 4 == 0 { 0.0 } else { 1.0 }),
    ]
}
static GEMM_CONSTANTS: [[(&str, f64); 3]; 8] = [
    gemm_set(0),
    gemm_set(1),
    gemm_set(2),
    gemm_set(3),
    gemm_set(4),
    gemm_set(5),
    gemm_set(6),
    gemm_set(7),
];

/// The tiled products' constants for `variant`.
fn gemm_constants(variant: &Variant) -> &'static [(&'static str, f64)] {
    &GEMM_CONSTANTS[usize::from(variant.block == 8)
        + 2 * usize::from(variant.pitch == 16)
        + 4 * usize::from(variant.prefetch)]
}

/// Lanes per channel of BatchNorm2d's per-channel workgroups and row groups per channel of BatchNorm1d's
/// workgroups (`CHANNEL_WG` and `BN1D_ROWS` in batchnorm.wgsl, which says why they differ), walking
/// channels plane by plane (CPU adapters) or across planes.
const BATCHNORM_LANES_BY_PLANE: (usize, usize) = (64, 1);
const BATCHNORM_LANES_ACROSS: (usize, usize) = (256, 8);

/// batchnorm.wgsl's constants: the lanes, and whether channels are walked plane by plane.
const fn batchnorm_set(lanes: (usize, usize), by_plane: bool) -> [(&'static str, f64); 3] {
    [
        ("CHANNEL_WG", lanes.0 as f64),
        ("BN1D_ROWS", lanes.1 as f64),
        ("BY_PLANE", if by_plane { 1.0 } else { 0.0 }),
    ]
}
static BATCHNORM_CONSTANTS: [[(&str, f64); 3]; 2] = [
    batchnorm_set(BATCHNORM_LANES_ACROSS, false),
    batchnorm_set(BATCHNORM_LANES_BY_PLANE, true),
];
/// bias.wgsl's BY_PLANE (ChannelWalk in common.wgsl).
static BIAS_CONSTANTS: [[(&str, f64); 1]; 2] = [[("BY_PLANE", 0.0)], [("BY_PLANE", 1.0)]];

/// Prepended to every shader file (shared helpers; WGSL has no include).
const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// The tiled matrix-product core, prepended to the files whose kernels are matrix products.
const GEMM: &str = include_str!("../../shaders/gemm.wgsl");
/// The subgroup kernels' register block, prepended to their files.
const SUBGROUP_BLOCK: &str = include_str!("../../shaders/cpu/subgroup_block.wgsl");
/// The parameter blocks shared by several files, prepended to those.
const PARAMS: &str = include_str!("../../shaders/params.wgsl");
/// Eight floats as a vec4<u64>, prepended to the files that access buffers that way.
const WIDE: &str = include_str!("../../shaders/cpu/wide.wgsl");

/// One WGSL file of `shaders/`: an op family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Activation,
    ActivationU64,
    Adam,
    AdamU64,
    BatchNorm,
    Bce,
    Bias,
    Conv,
    ConvSubgroup,
    CrossEntropy,
    Data,
    Linear,
    LinearSubgroup,
    Noise,
}

/// The files of `shaders/` that are prepended to others rather than modules of their own.
pub const PREPENDED_FILES: [&str; 5] = [
    "common.wgsl",
    "params.wgsl",
    "gemm.wgsl",
    "cpu/subgroup_block.wgsl",
    "cpu/wide.wgsl",
];

impl Shader {
    /// Every file of `shaders/` that is a module of its own (common.wgsl, gemm.wgsl, subgroup_block.wgsl
    /// and wide.wgsl are prepended).
    pub const ALL: [Shader; 14] = [
        Shader::Activation,
        Shader::ActivationU64,
        Shader::Adam,
        Shader::AdamU64,
        Shader::BatchNorm,
        Shader::Bce,
        Shader::Bias,
        Shader::Conv,
        Shader::ConvSubgroup,
        Shader::CrossEntropy,
        Shader::Data,
        Shader::Linear,
        Shader::LinearSubgroup,
        Shader::Noise,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Activation => "activation.wgsl",
            Shader::ActivationU64 => "cpu/activation_u64.wgsl",
            Shader::Adam => "adam.wgsl",
            Shader::AdamU64 => "cpu/adam_u64.wgsl",
            Shader::BatchNorm => "batchnorm.wgsl",
            Shader::Bce => "bce.wgsl",
            Shader::Bias => "bias.wgsl",
            Shader::Conv => "conv.wgsl",
            Shader::ConvSubgroup => "cpu/conv_subgroup.wgsl",
            Shader::CrossEntropy => "cross_entropy.wgsl",
            Shader::Data => "data.wgsl",
            Shader::Linear => "linear.wgsl",
            Shader::LinearSubgroup => "cpu/linear_subgroup.wgsl",
            Shader::Noise => "noise.wgsl",
        }
    }

    /// Every set of values the file's pipeline-overridable constants are given (one per variant),
    /// for the shader tests; one empty set for files without any.
    pub fn constant_sets(self) -> Vec<&'static [(&'static str, f64)]> {
        match self {
            Shader::BatchNorm => BATCHNORM_CONSTANTS.iter().map(|c| &c[..]).collect(),
            Shader::Bias => BIAS_CONSTANTS.iter().map(|c| &c[..]).collect(),
            Shader::Linear | Shader::Conv => GEMM_CONSTANTS.iter().map(|c| &c[..]).collect(),
            _ => vec![&[]],
        }
    }

    /// Whether the file uses subgroup operations (so needs a device with `Features::SUBGROUP`).
    pub fn needs_subgroups(self) -> bool {
        matches!(self, Shader::LinearSubgroup | Shader::ConvSubgroup)
    }

    /// Whether the file uses 64-bit integers (so needs a device with `Features::SHADER_INT64`).
    pub fn needs_int64(self) -> bool {
        matches!(self, Shader::ActivationU64 | Shader::AdamU64)
    }

    /// The module's full source: the host's constants, the shared helpers (and the matrix-product
    /// core, the subgroup register block or the eight-float helpers where the file uses one) followed
    /// by the file.
    pub fn source(self) -> String {
        let body = match self {
            Shader::Activation => include_str!("../../shaders/activation.wgsl"),
            Shader::ActivationU64 => include_str!("../../shaders/cpu/activation_u64.wgsl"),
            Shader::Adam => include_str!("../../shaders/adam.wgsl"),
            Shader::AdamU64 => include_str!("../../shaders/cpu/adam_u64.wgsl"),
            Shader::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Shader::Bce => include_str!("../../shaders/bce.wgsl"),
            Shader::Bias => include_str!("../../shaders/bias.wgsl"),
            Shader::Conv => include_str!("../../shaders/conv.wgsl"),
            Shader::ConvSubgroup => include_str!("../../shaders/cpu/conv_subgroup.wgsl"),
            Shader::CrossEntropy => include_str!("../../shaders/cross_entropy.wgsl"),
            Shader::Data => include_str!("../../shaders/data.wgsl"),
            Shader::Linear => include_str!("../../shaders/linear.wgsl"),
            Shader::LinearSubgroup => include_str!("../../shaders/cpu/linear_subgroup.wgsl"),
            Shader::Noise => include_str!("../../shaders/noise.wgsl"),
        };
        let core = match self {
            Shader::Linear | Shader::Conv => GEMM,
            Shader::LinearSubgroup | Shader::ConvSubgroup => SUBGROUP_BLOCK,
            Shader::ActivationU64 | Shader::AdamU64 => WIDE,
            _ => "",
        };
        let params = match self {
            Shader::Linear
            | Shader::LinearSubgroup
            | Shader::Conv
            | Shader::ConvSubgroup
            | Shader::Adam
            | Shader::AdamU64
            | Shader::Activation
            | Shader::ActivationU64 => PARAMS,
            _ => "",
        };
        let host: String = HOST_CONSTANTS
            .iter()
            .map(|(name, value)| format!("const {name}: u32 = {value}u;\n"))
            .collect();
        format!("{host}{COMMON}\n{params}\n{core}\n{body}")
    }
}

/// A storage buffer an entry point uses: its binding number and whether it writes it.
/// Binding 0 is always the entry point's uniform parameter block.
#[derive(Clone, Copy, Debug)]
pub struct Storage {
    pub binding: u32,
    pub writable: bool,
}

pub const fn read(binding: u32) -> Storage {
    Storage {
        binding,
        writable: false,
    }
}

pub const fn write(binding: u32) -> Storage {
    Storage {
        binding,
        writable: true,
    }
}

/// One entry point of one shader file, with the storage bindings it uses in the order tensors are
/// passed to [`dispatch`].
#[derive(Debug)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub storage: &'static [Storage],
}

struct Pipeline {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

/// The device with our kernels on it: shader modules and pipelines, created on first use and kept for
/// the device's lifetime, the tuning record that chose them, and the split products' scratch. It
/// dereferences to the [`Device`] for buffers, submission and readback.
pub struct Gpu {
    base: Device,
    tuning: Tuning,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    /// Each pipeline has its own cell, locked while it is created, so threads creating pipelines ahead
    /// of use (`prepare`) and the thread that needs one never create the same one twice.
    pipelines: Mutex<HashMap<String, Arc<Mutex<Option<Pipeline>>>>>,
    /// Where split products keep their partial sums; made at first use.
    split_partials: OnceLock<Tensor>,
}

impl std::ops::Deref for Gpu {
    type Target = Device;
    fn deref(&self) -> &Device {
        &self.base
    }
}

impl Gpu {
    /// Opens the adapter `options` pick, with the variants that suit its kind.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        crate::gpu::wait(Gpu::open(options))
    }

    /// `new` for callers that await (the web build).
    pub async fn open(options: &GpuOptions) -> Result<Gpu> {
        let base = Device::open(options, required_limits()).await?;
        let tuning = Tuning::for_device(&base);
        Ok(Gpu::with_tuning(base, tuning))
    }

    /// Opens the adapter `options` pick with the limits the kernels need, for `Gpu::with_tuning`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_device(options: &GpuOptions) -> Result<Device> {
        Device::new(options, required_limits())
    }

    /// `device` with the kernel variants `tuning` names.
    pub fn with_tuning(base: Device, tuning: Tuning) -> Gpu {
        log::info!("kernels on {}: {tuning}", base.info.name);
        Gpu {
            base,
            tuning,
            modules: Mutex::default(),
            pipelines: Mutex::default(),
            split_partials: OnceLock::new(),
        }
    }

    /// The device, for a new tuning record (`Gpu::with_tuning`); pipelines made so far are dropped.
    pub fn into_device(self) -> Device {
        self.base
    }

    /// The tuning record these kernels follow.
    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// The variant `product` runs.
    pub fn variant(&self, product: &ProductKey) -> Variant {
        self.tuning.variant(product)
    }

    /// Whether the subgroup kernels can run here at all (for the ones a product chooses).
    pub fn has_subgroup_kernels(&self) -> bool {
        self.base.subgroups
    }

    /// Whether any product runs on the subgroup kernels here.
    pub fn runs_subgroup_kernels(&self) -> bool {
        self.base.subgroups && self.tuning.uses_subgroup_kernels()
    }

    /// Whether Adam and the activations move eight floats per access.
    pub fn wide_loads(&self) -> bool {
        self.tuning.wide_loads
    }

    /// BatchNorm's lanes per channel and BatchNorm1d's row groups per channel (batchnorm.wgsl's
    /// CHANNEL_WG and BN1D_ROWS) on this device.
    pub fn batchnorm_lanes(&self) -> (usize, usize) {
        if self.tuning.by_plane {
            BATCHNORM_LANES_BY_PLANE
        } else {
            BATCHNORM_LANES_ACROSS
        }
    }

    /// Whether BatchNorm and the bias gradient walk channels plane by plane.
    pub fn by_plane(&self) -> bool {
        self.tuning.by_plane
    }

    /// The constants `shader`'s pipelines take here, the tiled products' for `variant`.
    fn constants(&self, shader: Shader, variant: &Variant) -> &'static [(&'static str, f64)] {
        let by_plane = usize::from(self.tuning.by_plane);
        match shader {
            Shader::BatchNorm => &BATCHNORM_CONSTANTS[by_plane],
            Shader::Bias => &BIAS_CONSTANTS[by_plane],
            Shader::Linear | Shader::Conv => gemm_constants(variant),
            _ => &[],
        }
    }

    /// The buffer of the partial sums of split matrix products, `SPLIT_PARTIALS_FLOATS` long where
    /// any product is split (a placeholder where none is).
    pub fn split_partials(&self) -> Result<&Tensor> {
        if let Some(t) = self.split_partials.get() {
            return Ok(t);
        }
        let splits = self.tuning.products.split_target > 0
            || self.tuning.by_product.values().any(|v| v.split_target > 0);
        let floats = if splits { SPLIT_PARTIALS_FLOATS } else { 4 };
        let t = Tensor::zeros(self, "split partial sums", &[floats])?;
        Ok(self.split_partials.get_or_init(|| t))
    }

    fn module(&self, shader: Shader) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().unwrap();
        if let Some(m) = modules.get(&shader) {
            return Ok(m.clone());
        }
        let source = shader.source();
        let module = self.scoped(shader.file_name(), || {
            self.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(shader.file_name()),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                })
        })?;
        modules.insert(shader, module.clone());
        Ok(module)
    }

    fn pipeline(
        &self,
        kernel: &Kernel,
        constants: &'static [(&'static str, f64)],
    ) -> Result<(wgpu::BindGroupLayout, wgpu::ComputePipeline)> {
        // A pipeline is its entry point with its file's constants.
        let key = format!("{}{constants:?}", kernel.entry);
        let cell = self
            .pipelines
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .clone();
        let mut cell = cell.lock().unwrap();
        if let Some(p) = cell.as_ref() {
            return Ok((p.layout.clone(), p.pipeline.clone()));
        }
        let module = self.module(kernel.shader)?;
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        entries.extend(kernel.storage.iter().map(|s| wgpu::BindGroupLayoutEntry {
            binding: s.binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: !s.writable,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }));
        let (layout, pipeline) = self.scoped(kernel.entry, || {
            let layout = self
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(kernel.entry),
                    entries: &entries,
                });
            let pipeline_layout =
                self.device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(kernel.entry),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
            let pipeline = self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(kernel.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        // Every kernel writes its workgroup memory before reading it.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: self.pipeline_cache(),
                });
            (layout, pipeline)
        })?;
        *cell = Some(Pipeline {
            layout: layout.clone(),
            pipeline: pipeline.clone(),
        });
        Ok((layout, pipeline))
    }

    /// Creates the pipelines of `kernels` (with the default variant's constants) now, on the calling
    /// thread, so that a thread recording dispatches meanwhile finds them made: lavapipe spends
    /// 20–100 ms turning each of the large subgroup kernels into a pipeline even when Mesa's shader
    /// cache holds its machine code. An error is left for the use that meets it again.
    pub fn prepare(&self, kernels: &[&'static Kernel]) {
        for kernel in kernels {
            let constants = self.constants(kernel.shader, &self.tuning.products);
            if let Err(e) = self.pipeline(kernel, constants) {
                log::debug!("preparing {}: {e}", kernel.entry);
            }
        }
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

    /// Runs `dispatches` in order, each in its own compute pass with timestamps written at its start
    /// and end, and returns each one's GPU time in milliseconds. Needs `has_timestamps`.
    #[cfg(not(target_arch = "wasm32"))]
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

    /// Records `dispatches` into one compute pass and submits it; `run` where the caller may block.
    pub fn submit_dispatches(
        &self,
        label: &str,
        dispatches: &[&Dispatch],
    ) -> Result<wgpu::SubmissionIndex> {
        self.submit(self.encode(label, dispatches), label)
    }

    /// Records `dispatches` into one compute pass, submits it and waits until the GPU is done.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        self.submit_and_wait(self.encode("run", dispatches), "run")
    }
}

/// A kernel bound to its parameters and tensors. Created once, recorded as often as needed: nothing is
/// allocated when it is recorded. A split matrix product is two kernels (the partial sums, then their
/// reduction): the second rides along in `then` and is recorded right after the first.
#[derive(Clone, Debug)]
pub struct Dispatch {
    entry: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    grid: [u32; 3],
    flops: u64,
    /// For a matrix product: which one, and the tensor it writes (for the tuner).
    product: Option<(ProductKey, Tensor)>,
    then: Option<Box<Dispatch>>,
}

impl Dispatch {
    /// Notes the floating-point operations one run of this dispatch performs (matrix products count
    /// 2·M·N·K as their kernels execute them; other kernels are left at 0, being a rounding error).
    pub fn with_flops(mut self, flops: u64) -> Dispatch {
        self.flops = flops;
        self
    }

    pub fn flops(&self) -> u64 {
        self.flops
    }

    /// Marks this dispatch as the matrix product `key`, writing `output`.
    pub fn for_product(mut self, key: &ProductKey, output: &Tensor) -> Dispatch {
        self.product = Some((key.clone(), output.clone()));
        self
    }

    /// The matrix product this dispatch computes and the tensor it writes, if it is one.
    pub fn product(&self) -> Option<(&ProductKey, &Tensor)> {
        self.product.as_ref().map(|(k, t)| (k, t))
    }

    /// Runs `next` right after this one, as part of it.
    pub fn followed_by(mut self, next: Dispatch) -> Dispatch {
        self.then = Some(Box::new(match self.then.take() {
            Some(then) => (*then).followed_by(next),
            None => next,
        }));
        self
    }

    /// This dispatch's kernels one by one (one, or two for a split product), each alone, for timing.
    pub fn parts(&self) -> Vec<Dispatch> {
        let mut parts = Vec::new();
        let mut next = Some(self);
        while let Some(d) = next {
            parts.push(Dispatch {
                then: None,
                ..d.clone()
            });
            next = d.then.as_deref();
        }
        parts
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.grid[0], self.grid[1], self.grid[2]);
        if let Some(next) = &self.then {
            next.record(pass);
        }
    }

    pub fn entry(&self) -> &'static str {
        self.entry
    }

    /// Replaces the parameter block (same type as at creation), e.g. Adam's step-dependent factors.
    pub fn write_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) -> Result<()> {
        let bytes = bytemuck::bytes_of(params);
        if bytes.len() as u64 != self.params.size() {
            return Err(Error::InvalidArgument {
                op: self.entry,
                message: format!(
                    "parameter block of {} bytes, the kernel takes {}",
                    bytes.len(),
                    self.params.size()
                ),
            });
        }
        gpu.scoped(self.entry, || {
            gpu.queue.write_buffer(&self.params, 0, bytes)
        })
    }
}

/// Folds a count of workgroups into a grid whose dimensions each stay within the device limit; the
/// shaders recover the linear index with `workgroup_index`.
fn grid(gpu: &Device, entry: &'static str, workgroups: u32) -> Result<[u32; 3]> {
    let max = gpu.device.limits().max_compute_workgroups_per_dimension;
    let rows = workgroups.div_ceil(max).max(1);
    if rows > max {
        return Err(Error::InvalidArgument {
            op: entry,
            message: format!("{workgroups} workgroups exceed the device's grid of {max}×{max}"),
        });
    }
    Ok([workgroups.div_ceil(rows), rows, 1])
}

/// Binds `kernel` to `params` (its uniform block) and `tensors` (one per entry of `kernel.storage`, in
/// that order), to run `workgroups` workgroups.
pub fn dispatch<P: bytemuck::Pod>(
    gpu: &Gpu,
    kernel: &Kernel,
    params: &P,
    tensors: &[&Tensor],
    workgroups: u32,
) -> Result<Dispatch> {
    let constants = gpu.constants(kernel.shader, &gpu.tuning.products);
    bind(gpu, kernel, constants, params, tensors, workgroups)
}

/// Binds the matrix-product `kernel` as [`dispatch`] does, compiled for `variant`.
pub fn dispatch_variant<P: bytemuck::Pod>(
    gpu: &Gpu,
    kernel: &Kernel,
    variant: &Variant,
    params: &P,
    tensors: &[&Tensor],
    workgroups: u32,
) -> Result<Dispatch> {
    let constants = gpu.constants(kernel.shader, variant);
    bind(gpu, kernel, constants, params, tensors, workgroups)
}

fn bind<P: bytemuck::Pod>(
    gpu: &Gpu,
    kernel: &Kernel,
    constants: &'static [(&'static str, f64)],
    params: &P,
    tensors: &[&Tensor],
    workgroups: u32,
) -> Result<Dispatch> {
    assert_eq!(
        tensors.len(),
        kernel.storage.len(),
        "{}: tensors do not match the kernel's bindings",
        kernel.entry
    );
    refuse_aliased_writes(kernel, tensors)?;
    let (layout, pipeline) = gpu.pipeline(kernel, constants)?;
    let grid = grid(gpu, kernel.entry, workgroups)?;
    let (params, bind_group) = gpu.scoped(kernel.entry, || {
        let params = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(kernel.entry),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        }];
        entries.extend(
            kernel
                .storage
                .iter()
                .zip(tensors)
                .map(|(s, t)| wgpu::BindGroupEntry {
                    binding: s.binding,
                    resource: t.binding(),
                }),
        );
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry),
            layout: &layout,
            entries: &entries,
        });
        (params, bind_group)
    })?;
    Ok(Dispatch {
        entry: kernel.entry,
        pipeline,
        bind_group,
        params,
        grid,
        flops: 0,
        product: None,
        then: None,
    })
}

/// Refuses a tensor bound writable at two bindings whose ranges overlap. WebGPU forbids it (a browser
/// refuses the bind group); native wgpu lets it pass, so without this a kernel that works natively
/// would fail only in the page. (A range bound both read-only and writable wgpu refuses everywhere.)
fn refuse_aliased_writes(kernel: &Kernel, tensors: &[&Tensor]) -> Result<()> {
    let writable: Vec<(u32, &Tensor)> = kernel
        .storage
        .iter()
        .zip(tensors)
        .filter(|(s, _)| s.writable)
        .map(|(s, t)| (s.binding, *t))
        .collect();
    for (i, (a_binding, a)) in writable.iter().enumerate() {
        for (b_binding, b) in &writable[i + 1..] {
            let overlap = a.buffer() == b.buffer()
                && a.offset() < b.offset() + b.bytes().max(4)
                && b.offset() < a.offset() + a.bytes().max(4);
            if overlap {
                return Err(Error::InvalidArgument {
                    op: kernel.entry,
                    message: format!(
                        "bindings {a_binding} and {b_binding} are both writable and overlap in one \
                         buffer (bytes {} and {} on; WebGPU refuses writable aliases)",
                        a.offset(),
                        b.offset()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// How a tiled matrix product of `tiles` tiles and shape [m, n, k] cuts its depth K (shaders/gemm.wgsl)
/// under `variant`: (splits, depth of each), (1, k) when it is not split. Split until the product has
/// the variant's `split_target` workgroups, as far as ranges of `MIN_SPLIT_DEPTH`, `MAX_SPLITS` and the
/// partial-sum buffer allow.
pub fn split_k(
    gpu: &Gpu,
    variant: &Variant,
    tiles: usize,
    [m, n, k]: [usize; 3],
) -> Result<(usize, usize)> {
    let splits = (variant.split_target as usize)
        .div_ceil(tiles.max(1))
        .min(k / MIN_SPLIT_DEPTH)
        .min(MAX_SPLITS)
        .min(gpu.split_partials()?.numel() / (m * n).max(1));
    if splits < 2 {
        return Ok((1, k));
    }
    let depth = k.div_ceil(splits).next_multiple_of(TILE_DEPTH);
    Ok((k.div_ceil(depth), depth))
}

/// A size as the u32 the kernels index with, or an error when it does not fit.
pub fn as_u32(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidArgument {
        op,
        message: format!("size {n} exceeds the kernels' 32-bit indexing"),
    })
}

/// Workgroups for one invocation per element.
pub fn groups_for(op: &'static str, elements: usize) -> Result<u32> {
    as_u32(op, elements.div_ceil(WORKGROUP))
}
