//! A float32 tensor on the GPU: a shape over a range of a storage buffer (or, for the few kernels that
//! take integers, 32-bit words written with `write_words`). Several tensors may share one
//! buffer at different offsets (flat parameter and gradient buffers with an offset table).

use crate::error::{Error, Result};
use crate::gpu::Device;

#[derive(Clone, Debug)]
pub struct Tensor {
    buffer: wgpu::Buffer,
    offset: u64,
    shape: Vec<usize>,
}

impl Tensor {
    /// A new zero-filled tensor in a buffer of its own.
    pub fn zeros(gpu: &Device, label: &str, shape: &[usize]) -> Result<Tensor> {
        let bytes = (shape.iter().product::<usize>() * 4) as u64;
        let buffer = gpu.storage_buffer(label, bytes)?;
        Ok(Tensor {
            buffer,
            offset: 0,
            shape: shape.to_vec(),
        })
    }

    /// A new tensor holding `data`, which must have exactly as many elements as `shape`.
    pub fn from_slice(gpu: &Device, label: &str, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        let tensor = Tensor::zeros(gpu, label, shape)?;
        tensor.write(gpu, data)?;
        Ok(tensor)
    }

    /// A tensor of `shape` starting `offset` bytes into `buffer`. The offset must be a multiple of the
    /// device's `min_storage_buffer_offset_alignment` so the view can be bound.
    pub fn view(
        gpu: &Device,
        buffer: &wgpu::Buffer,
        offset: u64,
        shape: &[usize],
    ) -> Result<Tensor> {
        let align = gpu.device.limits().min_storage_buffer_offset_alignment as u64;
        let bytes = (shape.iter().product::<usize>() * 4) as u64;
        if !offset.is_multiple_of(align) {
            return Err(Error::InvalidArgument {
                op: "Tensor::view",
                message: format!(
                    "offset {offset} is not a multiple of the storage alignment {align}"
                ),
            });
        }
        if offset + bytes > buffer.size() {
            return Err(Error::InvalidArgument {
                op: "Tensor::view",
                message: format!(
                    "shape {shape:?} at offset {offset} needs {} bytes, the buffer has {}",
                    offset + bytes,
                    buffer.size()
                ),
            });
        }
        Ok(Tensor {
            buffer: buffer.clone(),
            offset,
            shape: shape.to_vec(),
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> u64 {
        (self.numel() * 4) as u64
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The same elements seen with another shape of the same size (PyTorch's `view`).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::InvalidArgument {
                op: "Tensor::reshape",
                message: format!("cannot view {:?} as {shape:?}", self.shape),
            });
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            ..self.clone()
        })
    }

    /// Rows [start, start + count) of the first dimension, over the same buffer. Their offset must meet
    /// the device's storage alignment (`view`), so that they can be bound.
    pub fn rows(&self, gpu: &Device, start: usize, count: usize) -> Result<Tensor> {
        let n = self.shape.first().copied().unwrap_or(0);
        if start + count > n {
            return Err(Error::InvalidArgument {
                op: "Tensor::rows",
                message: format!("rows {start}..{} of {:?}", start + count, self.shape),
            });
        }
        let row_bytes = (self.shape[1..].iter().product::<usize>() * 4) as u64;
        let mut shape = self.shape.clone();
        shape[0] = count;
        Tensor::view(
            gpu,
            &self.buffer,
            self.offset + start as u64 * row_bytes,
            &shape,
        )
    }

    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            // An empty tensor still binds 4 bytes: zero-sized bindings are invalid.
            size: wgpu::BufferSize::new(self.bytes().max(4)),
        })
    }

    pub fn write(&self, gpu: &Device, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() {
            return Err(Error::InvalidArgument {
                op: "Tensor::write",
                message: format!("{} values given for shape {:?}", data.len(), self.shape),
            });
        }
        gpu.scoped("Tensor::write", || {
            gpu.queue
                .write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(data))
        })
    }

    /// Writes 32-bit integers (indices, packed bytes) for kernels that read the buffer as `array<u32>`.
    pub fn write_words(&self, gpu: &Device, words: &[u32]) -> Result<()> {
        if words.len() != self.numel() {
            return Err(Error::InvalidArgument {
                op: "Tensor::write_words",
                message: format!("{} words given for shape {:?}", words.len(), self.shape),
            });
        }
        gpu.scoped("Tensor::write_words", || {
            gpu.queue
                .write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(words))
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(&self, gpu: &Device) -> Result<Vec<f32>> {
        crate::gpu::wait(self.read_async(gpu))
    }

    /// `read` for callers that await (the web build).
    pub async fn read_async(&self, gpu: &Device) -> Result<Vec<f32>> {
        if self.numel() == 0 {
            return Ok(Vec::new());
        }
        let bytes = gpu
            .read_bytes_async(&self.buffer, self.offset, self.bytes())
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

/// Checks that `t` (the argument `tensor` of `op`) has the shape `expected`.
pub fn expect_shape(
    op: &'static str,
    tensor: &'static str,
    t: &Tensor,
    expected: &[usize],
) -> Result<()> {
    if t.shape() != expected {
        return Err(Error::Shape {
            op,
            tensor,
            expected: expected.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    Ok(())
}

/// The batch size of `x`, whose shape must be [N, rest...] with N ≥ 1 and the given trailing dims.
pub fn batch_of(
    op: &'static str,
    tensor: &'static str,
    x: &Tensor,
    rest: &[usize],
) -> Result<usize> {
    let n = x.shape().first().copied().unwrap_or(0);
    let mut expected = vec![n.max(1)];
    expected.extend_from_slice(rest);
    if n == 0 {
        return Err(Error::Shape {
            op,
            tensor,
            expected,
            got: x.shape().to_vec(),
        });
    }
    expect_shape(op, tensor, x, &expected)?;
    Ok(n)
}
