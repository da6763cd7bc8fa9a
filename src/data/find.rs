//! Where the training images come from. `--data-dir` names a folder; otherwise a named set is looked
//! for where it may be: Debian's package folder (Fashion-MNIST), the working folder's `data/`, a
//! download into it (MD5-checked, [`super::download`]), and, for MNIST only, the 10,000 digits built
//! into the binary when none of those has them.

use std::path::{Path, PathBuf};

pub use super::SetName;
use super::{Dataset, IMAGES_FILE};
use crate::error::{Error, Result};

/// Debian's dataset-fashion-mnist installs the four IDX files here.
pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Downloads are kept in `<DOWNLOADS_DIR>/mnist` and `<DOWNLOADS_DIR>/fashion-mnist`, relative to the
/// working folder.
pub const DOWNLOADS_DIR: &str = "data";

/// Where named sets are looked for and fetched from.
#[derive(Clone, Debug)]
pub struct Places {
    /// Holds a folder per set (`mnist`, `fashion-mnist`) that downloads go into.
    pub downloads: PathBuf,
    /// Debian's Fashion-MNIST folder, looked at before `downloads`.
    pub debian_fashion_mnist: PathBuf,
    /// Mirrors tried in order; empty where this build has no downloads.
    pub mnist_mirrors: Vec<String>,
    pub fashion_mnist_mirrors: Vec<String>,
}

impl Places {
    /// The command line's places: `./data`, Debian's folder, and the public mirrors or those the
    /// environment names (`GAN_WGPU_MNIST_MIRRORS`, `GAN_WGPU_FASHION_MNIST_MIRRORS`).
    pub fn standard() -> Places {
        #[cfg(feature = "download")]
        let (mnist_mirrors, fashion_mnist_mirrors) = {
            use super::download::*;
            (
                mirrors(MNIST_MIRRORS_ENV, &MNIST_MIRRORS),
                mirrors(FASHION_MNIST_MIRRORS_ENV, &FASHION_MNIST_MIRRORS),
            )
        };
        #[cfg(not(feature = "download"))]
        let (mnist_mirrors, fashion_mnist_mirrors) = (Vec::new(), Vec::new());
        Places {
            downloads: PathBuf::from(DOWNLOADS_DIR),
            debian_fashion_mnist: PathBuf::from(DEBIAN_FASHION_MNIST_DIR),
            mnist_mirrors,
            fashion_mnist_mirrors,
        }
    }

    /// The folder `set` is downloaded into.
    pub fn download_dir(&self, set: SetName) -> PathBuf {
        self.downloads.join(set.folder_name())
    }

    fn mirrors(&self, set: SetName) -> &[String] {
        match set {
            SetName::Mnist => &self.mnist_mirrors,
            SetName::FashionMnist => &self.fashion_mnist_mirrors,
        }
    }
}

/// What [`find`] tells its caller while it looks: a download can take minutes, a fallback changes what
/// the run trains on.
#[derive(Debug)]
pub enum Finding<'a> {
    /// A download into `dir` from `mirrors` is starting.
    Downloading {
        dir: &'a Path,
        mirrors: &'a [String],
    },
    /// MNIST could not be had (`reason`); the bundled 10,000 digits are used.
    Bundled { reason: String },
}

/// True when `dir` holds a training image file (raw or gzip).
pub fn has_training_files(dir: &Path) -> bool {
    [IMAGES_FILE.to_string(), format!("{IMAGES_FILE}.gz")]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// The training set: the IDX files in `data_dir` when given, else `set` from `places`. Files that are
/// there but bad are an error, never papered over by a download or the bundled digits.
pub fn find(
    set: SetName,
    data_dir: Option<&Path>,
    places: &Places,
    mut tell: impl FnMut(Finding),
) -> Result<Dataset> {
    if let Some(dir) = data_dir {
        return Dataset::load_dir(dir);
    }
    let debian = &places.debian_fashion_mnist;
    if set == SetName::FashionMnist && has_training_files(debian) {
        return Dataset::load_dir(debian);
    }
    let dir = places.download_dir(set);
    if has_training_files(&dir) {
        return Dataset::load_dir(&dir);
    }
    let fetched = fetch(set, &dir, places.mirrors(set), &mut tell);
    match (fetched, set) {
        (Ok(()), _) => Dataset::load_dir(&dir),
        // A download that failed half way: what it left is the user's to look at.
        (Err(reason), _) if has_training_files(&dir) => Err(Error::Data {
            path: dir,
            message: format!("the download stopped half way: {reason}"),
        }),
        (Err(reason), SetName::Mnist) => {
            tell(Finding::Bundled { reason });
            Ok(Dataset::bundled())
        }
        (Err(reason), SetName::FashionMnist) => Err(Error::Data {
            path: dir,
            message: format!(
                "no {} here ({reason}); install Debian's dataset-fashion-mnist ({}) or pass --data-dir",
                set.title(),
                debian.display()
            ),
        }),
    }
}

/// Downloads `set` into `dir`; why not, where it cannot be had.
#[cfg(feature = "download")]
fn fetch(
    set: SetName,
    dir: &Path,
    mirrors: &[String],
    tell: &mut impl FnMut(Finding),
) -> std::result::Result<(), String> {
    use super::download::{FASHION_MNIST_FILES, MNIST_FILES, download};
    if mirrors.is_empty() {
        return Err(format!("no mirror to download {} from", set.title()));
    }
    tell(Finding::Downloading { dir, mirrors });
    let files = match set {
        SetName::Mnist => &MNIST_FILES,
        SetName::FashionMnist => &FASHION_MNIST_FILES,
    };
    download(dir, files, mirrors).map_err(|e| e.to_string())
}

#[cfg(not(feature = "download"))]
fn fetch(
    _: SetName,
    _: &Path,
    _: &[String],
    _: &mut impl FnMut(Finding),
) -> std::result::Result<(), String> {
    Err("this gan-wgpu was built without downloads (cargo feature `download`)".into())
}
