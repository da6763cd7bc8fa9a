//! One module per layer. Each layer is a small description of its shape with `forward` / `backward_*`
//! methods that check every tensor's shape and return a [`Dispatch`](crate::kernels::Dispatch) bound to
//! those tensors; nothing runs until the dispatch is recorded and submitted.

pub mod activation;
pub mod batchnorm;
pub mod bce;
pub(crate) mod bias;
pub mod conv;
pub mod cross_entropy;
pub mod linear;

pub use activation::Activation;
pub use batchnorm::{BatchNorm, BatchNormGrads};
pub use bce::{BceLoss, GradientAt};
pub use conv::Conv;
pub use cross_entropy::CrossEntropyLoss;
pub use linear::Linear;
