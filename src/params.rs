//! Named tensors packed into a few flat GPU buffers with an offset table (as llm.c does): one buffer of
//! values and, for trainable parameters, one each of gradients and Adam's two moments, so that a single
//! Adam dispatch updates a whole network. Names are the ones PyTorch's `state_dict()` gives.

use crate::error::{Error, Result};
use crate::gpu::Device;
use crate::tensor::Tensor;

#[derive(Clone, Debug)]
pub struct Entry {
    pub name: &'static str,
    pub shape: Vec<usize>,
    /// Byte offset in each of the store's buffers.
    pub offset: u64,
}

impl Entry {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Where each named tensor lies in a store's flat buffers: computed from the tensors' shapes and the
/// device's binding alignment alone, so files can be checked against it without a GPU.
#[derive(Clone, Debug)]
pub struct Layout {
    pub entries: Vec<Entry>,
    /// Floats in each buffer, padding between entries included (padding stays 0 and Adam leaves a
    /// zero with a zero gradient at zero).
    pub floats: usize,
}

impl Layout {
    /// `specs` laid out in order, each entry at a multiple of `align` bytes.
    pub fn new(specs: &[(&'static str, &[usize])], align: u64) -> Layout {
        let mut offset = 0u64;
        let mut entries = Vec::with_capacity(specs.len());
        for &(name, shape) in specs {
            entries.push(Entry {
                name,
                shape: shape.to_vec(),
                offset,
            });
            offset = (offset + 4 * shape.iter().product::<usize>() as u64).next_multiple_of(align);
        }
        Layout {
            entries,
            floats: (offset.max(4) / 4) as usize,
        }
    }
}

/// The store's buffers: values always; gradients and Adam moments when trainable.
pub struct ParamStore {
    entries: Vec<Entry>,
    floats: usize,
    values: wgpu::Buffer,
    trainable: Option<[wgpu::Buffer; 3]>,
}

impl ParamStore {
    /// Lays out `specs` with every entry at an offset the device can bind.
    pub fn new(
        gpu: &Device,
        label: &str,
        specs: &[(&'static str, &[usize])],
        trainable: bool,
    ) -> Result<ParamStore> {
        let Layout { entries, floats } = Layout::new(specs, binding_alignment(gpu));
        let bytes = 4 * floats as u64;
        let buffer = |what: &str| gpu.storage_buffer(&format!("{label} {what}"), bytes);
        let trainable = if trainable {
            Some([buffer("grads")?, buffer("exp_avg")?, buffer("exp_avg_sq")?])
        } else {
            None
        };
        Ok(ParamStore {
            entries,
            floats,
            values: buffer("values")?,
            trainable,
        })
    }

    /// The roles a training state keeps of this store (see `persistent`), with the flat length of each.
    pub fn persistent_roles(&self) -> Vec<(&'static str, usize)> {
        persistent_roles(self.trainable.is_some(), self.floats)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, name: &str) -> Result<&Entry> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::InvalidArgument {
                op: "ParamStore",
                message: format!("no tensor named `{name}`"),
            })
    }

    fn view(&self, gpu: &Device, buffer: &wgpu::Buffer, name: &str) -> Result<Tensor> {
        let e = self.entry(name)?;
        Tensor::view(gpu, buffer, e.offset, &e.shape)
    }

    fn trainable(&self) -> Result<&[wgpu::Buffer; 3]> {
        self.trainable.as_ref().ok_or(Error::InvalidArgument {
            op: "ParamStore",
            message: "this store holds buffers, not trainable parameters".into(),
        })
    }

    pub fn value(&self, gpu: &Device, name: &str) -> Result<Tensor> {
        self.view(gpu, &self.values, name)
    }

    pub fn grad(&self, gpu: &Device, name: &str) -> Result<Tensor> {
        self.view(gpu, &self.trainable()?[0], name)
    }

    /// The whole buffers as flat tensors: (values, grads, exp_avg, exp_avg_sq), for Adam.
    pub fn flat(&self, gpu: &Device) -> Result<[Tensor; 4]> {
        let [g, m, v] = self.trainable()?;
        let flat = |b| Tensor::view(gpu, b, 0, &[self.floats]);
        Ok([flat(&self.values)?, flat(g)?, flat(m)?, flat(v)?])
    }

    /// What a training state must keep: the values and, when trainable, Adam's moments (gradients are
    /// rewritten before every use), each as one flat tensor with its role's name.
    pub fn persistent(&self, gpu: &Device) -> Result<Vec<(&'static str, Tensor)>> {
        let buffers: Vec<&wgpu::Buffer> = match &self.trainable {
            Some([_, m, v]) => vec![&self.values, m, v],
            None => vec![&self.values],
        };
        self.persistent_roles()
            .into_iter()
            .zip(buffers)
            .map(|((role, floats), buffer)| Ok((role, Tensor::view(gpu, buffer, 0, &[floats])?)))
            .collect()
    }

    pub fn write(&self, gpu: &Device, name: &str, data: &[f32]) -> Result<()> {
        self.value(gpu, name)?.write(gpu, data)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(&self, gpu: &Device, name: &str) -> Result<Vec<f32>> {
        crate::gpu::wait(self.read_async(gpu, name))
    }

    pub async fn read_async(&self, gpu: &Device, name: &str) -> Result<Vec<f32>> {
        self.value(gpu, name)?.read_async(gpu).await
    }
}

/// The byte alignment of every entry in a store on this device.
pub fn binding_alignment(gpu: &Device) -> u64 {
    gpu.device.limits().min_storage_buffer_offset_alignment as u64
}

/// What a training state keeps of a store of `floats` floats: its values and, when trainable, Adam's
/// moments (gradients are rewritten before every use), each one flat tensor named by its role.
pub fn persistent_roles(trainable: bool, floats: usize) -> Vec<(&'static str, usize)> {
    if trainable {
        vec![
            ("values", floats),
            ("exp_avg", floats),
            ("exp_avg_sq", floats),
        ]
    } else {
        vec![("values", floats)]
    }
}
