//! The classifier that scores images (`gan-wgpu score`, the quality curve): D's layers with narrower
//! widths and a 10-way output.
//! Conv2d(1→32,k4,s2,p1) LeakyReLU(0.2) · Conv2d(32→64,k4,s2,p1) BN2d LeakyReLU(0.2) · view(N,3136) ·
//! Linear(3136,128) BN1d LeakyReLU(0.2) · Linear(128,10), trained with CrossEntropyLoss.
//!
//! Narrower than D (26 MB of weights) so that one per data set ships with the program (1.7 MB each);
//! the 128 activations of fc.2, its last hidden layer, are the features the Fréchet distance compares.

use super::NetSpec;
use super::discriminator::Architecture;

pub const CLASSES: usize = 10;
const CONV0_CHANNELS: usize = 32;
const CONV2_CHANNELS: usize = 64;
const FLAT: usize = CONV2_CHANNELS * 7 * 7;
/// Width of fc.0: the number of features.
pub const FEATURES: usize = 128;

const PARAMS: &[(&str, &[usize])] = &[
    ("conv.0.weight", &[CONV0_CHANNELS, 1, 4, 4]),
    ("conv.0.bias", &[CONV0_CHANNELS]),
    ("conv.2.weight", &[CONV2_CHANNELS, CONV0_CHANNELS, 4, 4]),
    ("conv.2.bias", &[CONV2_CHANNELS]),
    ("conv.3.weight", &[CONV2_CHANNELS]),
    ("conv.3.bias", &[CONV2_CHANNELS]),
    ("fc.0.weight", &[FEATURES, FLAT]),
    ("fc.0.bias", &[FEATURES]),
    ("fc.1.weight", &[FEATURES]),
    ("fc.1.bias", &[FEATURES]),
    ("fc.3.weight", &[CLASSES, FEATURES]),
    ("fc.3.bias", &[CLASSES]),
];

const STATS: &[(&str, &[usize])] = &[
    ("conv.3.running_mean", &[CONV2_CHANNELS]),
    ("conv.3.running_var", &[CONV2_CHANNELS]),
    ("fc.1.running_mean", &[FEATURES]),
    ("fc.1.running_var", &[FEATURES]),
];

pub const SPEC: NetSpec = NetSpec {
    label: "classifier",
    params: PARAMS,
    stats: STATS,
};

pub const ARCHITECTURE: Architecture = Architecture {
    spec: &SPEC,
    conv0_channels: CONV0_CHANNELS,
    conv2_channels: CONV2_CHANNELS,
    fc: FEATURES,
    outputs: CLASSES,
    sigmoid: false,
};
