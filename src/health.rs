//! Divergence detection on the GPU: the Adam and loss kernels set a bit in one flag word when a value
//! they write is NaN or ±Inf, so a step's health is known from four bytes, not from reading every
//! tensor back. The word is sticky: once set, the run stops and nothing after it is saved.

use crate::error::Result;
use crate::gpu::Device;
use crate::tensor::Tensor;

/// Where a kernel reports a non-finite value: the flag word and the bit it sets there.
#[derive(Clone, Copy, Debug)]
pub struct Watch<'a> {
    pub flags: &'a Tensor,
    pub bit: u32,
}

/// What each bit of the flag word stands for.
pub const D_LOSS: u32 = 1;
pub const D_PARAMS: u32 = 2;
pub const G_LOSS: u32 = 4;
pub const G_PARAMS: u32 = 8;

/// The flag word of a training run and, for the training loop, a ring of mappable copies of it: one
/// per submission in flight, so a finished step's flags are read without waiting for later steps.
pub struct Health {
    pub flags: Tensor,
    snapshots: Vec<wgpu::Buffer>,
}

impl Health {
    /// Snapshots in the ring: the most submissions that may be in flight at once.
    pub const SNAPSHOTS: usize = 4;

    pub fn new(gpu: &Device) -> Result<Health> {
        let flags = Tensor::zeros(gpu, "health flags", &[1])?;
        let snapshots = (0..Self::SNAPSHOTS)
            .map(|_| {
                gpu.scoped("health snapshot", || {
                    gpu.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("health snapshot"),
                        size: 4,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
            })
            .collect::<Result<_>>()?;
        Ok(Health { flags, snapshots })
    }

    pub fn watch(&self, bit: u32) -> Watch<'_> {
        Watch {
            flags: &self.flags,
            bit,
        }
    }

    /// Copies the flag word, as it stands after the commands recorded before, into snapshot `slot`.
    pub fn snapshot(&self, encoder: &mut wgpu::CommandEncoder, slot: usize) {
        encoder.copy_buffer_to_buffer(
            self.flags.buffer(),
            self.flags.offset(),
            &self.snapshots[slot % self.snapshots.len()],
            0,
            4,
        );
    }

    /// The flag word held by snapshot `slot`, recorded in submission `written_by`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_snapshot(
        &self,
        gpu: &Device,
        slot: usize,
        written_by: wgpu::SubmissionIndex,
    ) -> Result<u32> {
        crate::gpu::wait(self.read_snapshot_async(gpu, slot, written_by))
    }

    /// `read_snapshot` for callers that await.
    pub async fn read_snapshot_async(
        &self,
        gpu: &Device,
        slot: usize,
        written_by: wgpu::SubmissionIndex,
    ) -> Result<u32> {
        let bytes = gpu
            .read_mapped_async(
                &self.snapshots[slot % self.snapshots.len()],
                Some(written_by),
            )
            .await?;
        Ok(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")))
    }
}

/// The values a flag word says went bad, in words ("D's loss and D's parameters").
pub fn describe(flags: u32) -> String {
    let names: Vec<&str> = [
        (D_LOSS, "D's loss"),
        (D_PARAMS, "D's parameters or Adam moments"),
        (G_LOSS, "G's loss"),
        (G_PARAMS, "G's parameters or Adam moments"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| name)
    .collect();
    names.join(" and ")
}

/// The flag word and bit a kernel reports to; unwatched kernels set bit 0 of a word nobody reads.
pub(crate) fn watched(gpu: &Device, watch: Option<Watch>) -> Result<(Tensor, u32)> {
    Ok(match watch {
        Some(w) => (w.flags.clone(), w.bit),
        None => (Tensor::zeros(gpu, "unwatched health flags", &[1])?, 0),
    })
}
