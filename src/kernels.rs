//! The WGSL kernels: shader sources, explicit bind-group layouts, cached pipelines, and [`Dispatch`],
//! one kernel bound to its tensors, ready to be recorded into any number of compute passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// Prepended to every shader file (shared helpers; WGSL has no include).
const COMMON: &str = include_str!("../shaders/common.wgsl");
/// The tiled matrix-product core, prepended to the files whose kernels are matrix products.
const GEMM: &str = include_str!("../shaders/gemm.wgsl");
/// The subgroup kernels' register block, prepended to their files.
const SUBGROUP_BLOCK: &str = include_str!("../shaders/subgroup_block.wgsl");
/// Eight floats as a vec4<u64>, prepended to the files that access buffers that way.
const WIDE: &str = include_str!("../shaders/wide.wgsl");

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
    Data,
    Linear,
    LinearSubgroup,
    Noise,
}

impl Shader {
    /// Every file of `shaders/` that is a module of its own (common.wgsl, gemm.wgsl, subgroup_block.wgsl
    /// and wide.wgsl are prepended).
    pub const ALL: [Shader; 13] = [
        Shader::Activation,
        Shader::ActivationU64,
        Shader::Adam,
        Shader::AdamU64,
        Shader::BatchNorm,
        Shader::Bce,
        Shader::Bias,
        Shader::Conv,
        Shader::ConvSubgroup,
        Shader::Data,
        Shader::Linear,
        Shader::LinearSubgroup,
        Shader::Noise,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Activation => "activation.wgsl",
            Shader::ActivationU64 => "activation_u64.wgsl",
            Shader::Adam => "adam.wgsl",
            Shader::AdamU64 => "adam_u64.wgsl",
            Shader::BatchNorm => "batchnorm.wgsl",
            Shader::Bce => "bce.wgsl",
            Shader::Bias => "bias.wgsl",
            Shader::Conv => "conv.wgsl",
            Shader::ConvSubgroup => "conv_subgroup.wgsl",
            Shader::Data => "data.wgsl",
            Shader::Linear => "linear.wgsl",
            Shader::LinearSubgroup => "linear_subgroup.wgsl",
            Shader::Noise => "noise.wgsl",
        }
    }

    /// Values for the file's pipeline-overridable constants on `gpu` (BatchNorm's lanes per channel, the
    /// tiled products' block).
    fn overrides(self, gpu: &Gpu) -> &'static [(&'static str, f64)] {
        match self {
            Shader::BatchNorm => crate::layers::batchnorm::overrides(gpu),
            Shader::Bias => crate::layers::bias::overrides(gpu),
            Shader::Linear | Shader::Conv => crate::layers::gemm_overrides(gpu),
            _ => &[],
        }
    }

    /// Every set of values the file's pipeline-overridable constants are given (one per kind of
    /// adapter), for the shader tests; one empty set for files without any.
    pub fn override_sets(self) -> Vec<&'static [(&'static str, f64)]> {
        match self {
            Shader::BatchNorm => crate::layers::batchnorm::OVERRIDE_SETS.to_vec(),
            Shader::Bias => crate::layers::bias::OVERRIDE_SETS.to_vec(),
            Shader::Linear | Shader::Conv => crate::layers::GEMM_OVERRIDE_SETS.to_vec(),
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

    /// The module's full source: the shared helpers (and the matrix-product core, the subgroup
    /// register block or the eight-float helpers where the file uses one) followed by the file.
    pub fn source(self) -> String {
        let body = match self {
            Shader::Activation => include_str!("../shaders/activation.wgsl"),
            Shader::ActivationU64 => include_str!("../shaders/activation_u64.wgsl"),
            Shader::Adam => include_str!("../shaders/adam.wgsl"),
            Shader::AdamU64 => include_str!("../shaders/adam_u64.wgsl"),
            Shader::BatchNorm => include_str!("../shaders/batchnorm.wgsl"),
            Shader::Bce => include_str!("../shaders/bce.wgsl"),
            Shader::Bias => include_str!("../shaders/bias.wgsl"),
            Shader::Conv => include_str!("../shaders/conv.wgsl"),
            Shader::ConvSubgroup => include_str!("../shaders/conv_subgroup.wgsl"),
            Shader::Data => include_str!("../shaders/data.wgsl"),
            Shader::Linear => include_str!("../shaders/linear.wgsl"),
            Shader::LinearSubgroup => include_str!("../shaders/linear_subgroup.wgsl"),
            Shader::Noise => include_str!("../shaders/noise.wgsl"),
        };
        let core = match self {
            Shader::Linear | Shader::Conv => GEMM,
            Shader::LinearSubgroup | Shader::ConvSubgroup => SUBGROUP_BLOCK,
            Shader::ActivationU64 | Shader::AdamU64 => WIDE,
            _ => "",
        };
        format!("{COMMON}\n{core}\n{body}")
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

/// Shader modules and pipelines, created on first use and kept for the device's lifetime. Each entry
/// point's pipeline has its own cell, locked while it is created, so threads creating pipelines ahead
/// of use (`prepare`) and the thread that needs one never create the same one twice.
pub struct Kernels {
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<&'static str, Arc<Mutex<Option<Pipeline>>>>>,
}

impl Kernels {
    pub(crate) fn new() -> Kernels {
        Kernels {
            modules: Mutex::default(),
            pipelines: Mutex::default(),
        }
    }

    fn module(&self, gpu: &Gpu, shader: Shader) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().unwrap();
        if let Some(m) = modules.get(&shader) {
            return Ok(m.clone());
        }
        let source = shader.source();
        let module = gpu.scoped(shader.file_name(), || {
            gpu.device
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
        gpu: &Gpu,
        kernel: &Kernel,
    ) -> Result<(wgpu::BindGroupLayout, wgpu::ComputePipeline)> {
        let cell = self
            .pipelines
            .lock()
            .unwrap()
            .entry(kernel.entry)
            .or_default()
            .clone();
        let mut cell = cell.lock().unwrap();
        if let Some(p) = cell.as_ref() {
            return Ok((p.layout.clone(), p.pipeline.clone()));
        }
        let module = self.module(gpu, kernel.shader)?;
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
        let (layout, pipeline) = gpu.scoped(kernel.entry, || {
            let layout = gpu
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(kernel.entry),
                    entries: &entries,
                });
            let pipeline_layout =
                gpu.device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(kernel.entry),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
            let pipeline = gpu
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(kernel.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: kernel.shader.overrides(gpu),
                        // Every kernel writes its workgroup memory before reading it.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: gpu.pipeline_cache(),
                });
            (layout, pipeline)
        })?;
        *cell = Some(Pipeline {
            layout: layout.clone(),
            pipeline: pipeline.clone(),
        });
        Ok((layout, pipeline))
    }

    /// Creates the pipelines of `kernels` now, on the calling thread, so that a thread recording
    /// dispatches meanwhile finds them made: lavapipe spends 20–100 ms turning each of the large
    /// subgroup kernels into a pipeline even when Mesa's shader cache holds its machine code. An error
    /// is left for the use that meets it again.
    pub fn prepare(&self, gpu: &Gpu, kernels: &[&'static Kernel]) {
        for kernel in kernels {
            if let Err(e) = self.pipeline(gpu, kernel) {
                log::debug!("preparing {}: {e}", kernel.entry);
            }
        }
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
fn grid(gpu: &Gpu, entry: &'static str, workgroups: u32) -> Result<[u32; 3]> {
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
    assert_eq!(
        tensors.len(),
        kernel.storage.len(),
        "{}: tensors do not match the kernel's bindings",
        kernel.entry
    );
    let (layout, pipeline) = gpu.kernels.pipeline(gpu, kernel)?;
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
        then: None,
    })
}
