//! The flags that pick a data set (train, classifier, score) and finding it, saying what happens on
//! the way (a download, the bundled digits instead).

use std::path::PathBuf;

use clap::ValueEnum;
use gan_wgpu::data::Dataset;
use gan_wgpu::data::find::{self, Finding, Places, SetName};

use crate::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DatasetName {
    /// MNIST from ./data/mnist, downloaded there (MD5-checked) when missing; without a network, the
    /// 10,000 real digits built into gan-wgpu.
    Mnist,
    /// Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), else
    /// ./data/fashion-mnist, downloaded there when missing.
    FashionMnist,
}

impl DatasetName {
    pub fn set(self) -> SetName {
        match self {
            DatasetName::Mnist => SetName::Mnist,
            DatasetName::FashionMnist => SetName::FashionMnist,
        }
    }
}

#[derive(clap::Args)]
pub struct DataArgs {
    /// Which data set.
    #[arg(long, value_enum, default_value_t = DatasetName::Mnist)]
    pub dataset: DatasetName,
    /// A folder holding train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (any 28×28 IDX
    /// set); overrides --dataset.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The training set the flags ask for.
    pub fn load(&self) -> Result<Dataset, Failure> {
        let found = find::find(
            self.dataset.set(),
            self.data_dir.as_deref(),
            &Places::standard(),
            |f| match f {
                Finding::Downloading { dir, mirrors } => println!(
                    "downloading into {} from {}",
                    dir.display(),
                    mirrors.join(", ")
                ),
                Finding::Bundled { reason } => {
                    let reason: String = reason.chars().take(200).collect();
                    eprintln!(
                        "gan-wgpu: no MNIST download ({reason}); using the 10,000 MNIST digits bundled with gan-wgpu"
                    );
                }
            },
        )?;
        Ok(found)
    }
}
