//! The one error type of the library: every failure a caller can see, with a message a user can act on.

use thiserror::Error;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "no GPU adapter found{detail}; install a GPU driver (Vulkan, Metal or DX12), or `mesa-vulkan-drivers` for software Vulkan (lavapipe)"
    )]
    NoAdapter { detail: String },

    #[error("no GPU adapter matches '{wanted}'; there are: {found} (see `gan-wgpu devices`)")]
    AdapterNotFound { wanted: String, found: String },

    #[error("adapter '{adapter}' does not support {limit} = {needed} (it allows {allowed})")]
    LimitTooLow {
        adapter: String,
        limit: &'static str,
        needed: u64,
        allowed: u64,
    },

    #[error(
        "buffer '{label}' needs {bytes} bytes, more than max_storage_buffer_binding_size = {limit} bytes on '{adapter}'"
    )]
    BufferTooLarge {
        adapter: String,
        label: String,
        bytes: u64,
        limit: u64,
    },

    #[error("could not open the GPU device on '{adapter}': {source}")]
    RequestDevice {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },

    #[error("GPU validation error in {context}: {message}")]
    Validation { context: String, message: String },

    #[error("GPU out of memory in {context}: {message}")]
    OutOfMemory { context: String, message: String },

    #[error("the GPU device was lost ({reason}); the work in flight is gone")]
    DeviceLost { reason: String },

    #[error("{op}: tensor `{tensor}` has shape {got:?}, expected {expected:?}")]
    Shape {
        op: &'static str,
        tensor: &'static str,
        expected: Vec<usize>,
        got: Vec<usize>,
    },

    #[error("{op}: {message}")]
    InvalidArgument { op: &'static str, message: String },

    #[error("{}: {message}", path.display())]
    Data {
        path: std::path::PathBuf,
        message: String,
    },

    #[error("{}: {message}", path.display())]
    Io {
        path: std::path::PathBuf,
        message: String,
    },

    #[error("reading back a GPU buffer failed: {0}")]
    Readback(String),

    #[error(
        "training diverged at step {step} (epoch {epoch}, step {step_in_epoch}): {what} became NaN or Inf"
    )]
    Diverged {
        step: u64,
        epoch: usize,
        step_in_epoch: usize,
        what: String,
    },

    /// A training run that stopped on `cause`; `kept` says which saved state survives.
    #[error("{cause}\n{kept}")]
    RunStopped { cause: Box<Error>, kept: String },
}
