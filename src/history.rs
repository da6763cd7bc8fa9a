//! The loss history of a run: every step's D and G loss, epoch by epoch, and the scores of the
//! epochs' samples, with the settings that made them. Kept in the training state, plotted by `plot`, printed per epoch by the command line.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// One epoch's losses.
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean D and G loss over the epoch's steps.
    pub d_loss: f64,
    pub g_loss: f64,
    pub d_losses: Vec<f32>,
    pub g_losses: Vec<f32>,
    /// The scores of the epoch's samples (the quality curve), where the epoch was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::score::Scores>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// The run's settings and its epochs so far.
pub struct History {
    pub seed: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub betas: [f64; 2],
    pub dataset: String,
    pub epochs: Vec<EpochRecord>,
}
