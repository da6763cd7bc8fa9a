//! Where `train`'s images come from (`gan_wgpu::data::find`): `--data-dir` first, Debian's folder for
//! Fashion-MNIST, the downloads folder, a download, and the bundled digits for MNIST only; files that
//! are there but bad are an error, never replaced. No network: the one mirror named is a closed
//! loopback port, so a download attempt fails at once (tests/download.rs serves real ones).

mod common;

use std::path::{Path, PathBuf};

use common::cli::{idx_dir, scratch_dir, small_mnist};
use gan_wgpu::Error;
use gan_wgpu::data::IMAGES_FILE;
use gan_wgpu::data::find::{Finding, Places, SetName, find};

/// Nothing listens on the discard port of the loopback address.
const CLOSED_MIRROR: &str = "http://127.0.0.1:9/";

/// Places inside a scratch folder: `root/data` for downloads, `root/debian` for Debian's folder.
fn places(root: &Path) -> Places {
    Places {
        downloads: root.join("data"),
        debian_fashion_mnist: root.join("debian"),
        mnist_mirrors: vec![CLOSED_MIRROR.into()],
        fashion_mnist_mirrors: vec![CLOSED_MIRROR.into()],
    }
}

/// A copy of `count` bundled digits as the training files of `dir`.
fn put_digits(dir: &Path, count: usize) {
    let source = small_mnist(&format!("find_data_source_{count}"), count);
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
}

/// What `find` reports on the way: (downloads tried, bundled fallbacks with their reasons).
#[derive(Default, Debug)]
struct Told {
    downloads: Vec<PathBuf>,
    bundled: Vec<String>,
}

fn find_and_tell(
    set: SetName,
    data_dir: Option<&Path>,
    places: &Places,
) -> (gan_wgpu::Result<gan_wgpu::data::Dataset>, Told) {
    let mut told = Told::default();
    let found = find(set, data_dir, places, |f| match f {
        Finding::Downloading { dir, .. } => told.downloads.push(dir.to_path_buf()),
        Finding::Bundled { reason } => told.bundled.push(reason),
    });
    (found, told)
}

#[test]
fn data_dir_wins_over_every_other_place() {
    let root = scratch_dir("find_data_dir");
    let places = places(&root);
    put_digits(&places.download_dir(SetName::Mnist), 30);
    put_digits(&places.debian_fashion_mnist, 20);
    let mine = small_mnist("find_data_mine", 12);
    for set in [SetName::Mnist, SetName::FashionMnist] {
        let (found, told) = find_and_tell(set, Some(&mine), &places);
        let found = found.unwrap();
        assert_eq!(found.len(), 12, "{set:?}");
        assert!(found.source.contains("find_data_mine"), "{}", found.source);
        assert!(
            told.downloads.is_empty() && told.bundled.is_empty(),
            "{told:?}"
        );
    }
    // A --data-dir without the files is an error naming it, whatever else there is.
    let empty = scratch_dir("find_data_empty");
    let err = find_and_tell(SetName::Mnist, Some(&empty), &places)
        .0
        .unwrap_err();
    assert!(err.to_string().contains("find_data_empty"), "{err}");
}

#[test]
fn mnist_in_the_downloads_folder_is_used_without_a_download() {
    let root = scratch_dir("find_data_local_mnist");
    let places = places(&root);
    put_digits(&places.download_dir(SetName::Mnist), 30);
    let (found, told) = find_and_tell(SetName::Mnist, None, &places);
    let found = found.unwrap();
    assert_eq!(found.len(), 30);
    assert!(found.source.contains("data/mnist"), "{}", found.source);
    assert!(
        told.downloads.is_empty() && told.bundled.is_empty(),
        "{told:?}"
    );
}

#[test]
fn mnist_nowhere_falls_back_to_the_bundled_digits_saying_why() {
    let root = scratch_dir("find_data_bundled");
    let places = places(&root);
    let (found, told) = find_and_tell(SetName::Mnist, None, &places);
    assert_eq!(found.unwrap().len(), 10_000);
    assert_eq!(told.bundled.len(), 1, "{told:?}");
    if cfg!(feature = "download") {
        assert_eq!(told.downloads, [places.download_dir(SetName::Mnist)]);
        assert!(told.bundled[0].contains("127.0.0.1:9"), "{told:?}");
    } else {
        assert!(told.downloads.is_empty(), "{told:?}");
        assert!(told.bundled[0].contains("without downloads"), "{told:?}");
    }
    // Nothing was left behind in the downloads folder.
    assert!(
        !places
            .download_dir(SetName::Mnist)
            .join(format!("{IMAGES_FILE}.gz"))
            .exists()
    );
}

#[test]
fn bad_files_are_an_error_and_never_replaced_by_the_bundled_digits() {
    let root = scratch_dir("find_data_bad_mnist");
    let places = places(&root);
    let truncated = idx_dir("find_data_truncated", &[0, 0, 8, 3, 0, 0], &[0, 0, 8, 1]);
    let dir = places.download_dir(SetName::Mnist);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(truncated).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let (found, told) = find_and_tell(SetName::Mnist, None, &places);
    let err = found.unwrap_err();
    assert!(matches!(err, Error::Data { .. }), "{err:?}");
    assert!(err.to_string().contains(IMAGES_FILE), "{err}");
    assert!(
        told.downloads.is_empty() && told.bundled.is_empty(),
        "{told:?}"
    );
    // The user's files are untouched.
    assert_eq!(std::fs::read(dir.join(IMAGES_FILE)).unwrap().len(), 6);
}

#[test]
fn fashion_mnist_comes_from_debians_folder_first() {
    let root = scratch_dir("find_data_debian");
    let places = places(&root);
    put_digits(&places.debian_fashion_mnist, 20);
    put_digits(&places.download_dir(SetName::FashionMnist), 30);
    let (found, told) = find_and_tell(SetName::FashionMnist, None, &places);
    let found = found.unwrap();
    assert_eq!(found.len(), 20);
    assert!(found.source.contains("debian"), "{}", found.source);
    assert!(told.downloads.is_empty(), "{told:?}");
    // Without Debian's folder, the downloads folder.
    std::fs::remove_dir_all(&places.debian_fashion_mnist).unwrap();
    assert_eq!(
        find_and_tell(SetName::FashionMnist, None, &places)
            .0
            .unwrap()
            .len(),
        30
    );
}

#[test]
fn fashion_mnist_nowhere_says_how_to_get_it() {
    let root = scratch_dir("find_data_no_fashion");
    let places = places(&root);
    let (found, told) = find_and_tell(SetName::FashionMnist, None, &places);
    let err = found.unwrap_err().to_string();
    assert!(
        told.bundled.is_empty(),
        "MNIST digits are no stand-in: {told:?}"
    );
    for wanted in ["fashion-mnist", "dataset-fashion-mnist", "--data-dir"] {
        assert!(err.contains(wanted), "{wanted}: {err}");
    }
    let why = if cfg!(feature = "download") {
        "127.0.0.1:9"
    } else {
        "without downloads"
    };
    assert!(err.contains(why), "{err}");
}
