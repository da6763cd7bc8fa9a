//! Training images: IDX files (raw or gzip), validated, and the 10,000 MNIST digits bundled in the
//! binary. Pixels stay bytes until the GPU gathers a batch (shaders/data.wgsl).

#[cfg(all(feature = "download", not(target_arch = "wasm32")))]
pub mod download;
#[cfg(not(target_arch = "wasm32"))]
pub mod find;

use std::io::Read;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, groups_for, read, write};
use crate::tensor::{Tensor, expect_shape};

pub const IMAGE_SIDE: usize = 28;
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

pub const IMAGES_FILE: &str = "train-images-idx3-ubyte";
pub const LABELS_FILE: &str = "train-labels-idx1-ubyte";

/// MNIST digits 0–9, 10,000 of them (data/mnist-10k/README.md says where they come from).
const BUNDLED_IMAGES: &[u8] = include_bytes!("../../data/mnist-10k/train-images-idx3-ubyte.gz");
const BUNDLED_LABELS: &[u8] = include_bytes!("../../data/mnist-10k/train-labels-idx1-ubyte.gz");

/// A set of 28×28 grey images (row-major bytes, 0 black … 255 white) with their labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Where the images came from, for messages.
    pub source: String,
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// What an IDX file of one kind holds: its magic, header words, and the bytes of each item after
/// the header's count.
#[derive(Clone, Copy)]
enum IdxKind {
    Images,
    Labels,
}

impl IdxKind {
    fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGES_MAGIC,
            IdxKind::Labels => LABELS_MAGIC,
        }
    }

    fn header_words(self) -> usize {
        match self {
            IdxKind::Images => 4,
            IdxKind::Labels => 2,
        }
    }

    fn item_bytes(self) -> usize {
        match self {
            IdxKind::Images => IMAGE_PIXELS,
            IdxKind::Labels => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            IdxKind::Images => "image",
            IdxKind::Labels => "label",
        }
    }
}

/// The items of an IDX file (`file`, raw or gzip, read from `path`) after its header is checked. The
/// body is read (and gunzipped) only as far as the header's count promises and one byte more, into a
/// buffer that grows with what arrives: a header claiming billions of images costs nothing until the
/// bytes are there. A gzip stream is read to its end, so its checksum is verified.
fn parse_idx(path: &Path, file: &[u8], kind: IdxKind) -> Result<Vec<u8>> {
    let gzip = file.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read + '_> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let read_error = |e: std::io::Error| {
        if gzip {
            data_error(path, format!("corrupt gzip stream: {e}"))
        } else {
            data_error(path, e.to_string())
        }
    };
    let what = kind.name();
    let header_bytes = 4 * kind.header_words();
    let mut head = Vec::with_capacity(header_bytes);
    (&mut reader)
        .take(header_bytes as u64)
        .read_to_end(&mut head)
        .map_err(read_error)?;
    if head.len() < header_bytes {
        return Err(data_error(
            path,
            format!(
                "truncated: {} bytes, shorter than an IDX {what} header ({header_bytes} bytes)",
                head.len()
            ),
        ));
    }
    let fields: Vec<u32> = head
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if fields[0] != kind.magic() {
        return Err(data_error(
            path,
            format!(
                "not an IDX {what} file: magic number 0x{:08x}, expected 0x{:08x}",
                fields[0],
                kind.magic()
            ),
        ));
    }
    if let IdxKind::Images = kind {
        let (rows, cols) = (fields[2] as usize, fields[3] as usize);
        if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE) {
            return Err(data_error(
                path,
                format!("images are {rows}×{cols}; gan-wgpu needs 28×28"),
            ));
        }
    }
    let count = fields[1] as u64;
    let promised = count * kind.item_bytes() as u64;
    let mut body = Vec::with_capacity((promised as usize).min(file.len()));
    reader
        .take(promised + 1)
        .read_to_end(&mut body)
        .map_err(read_error)?;
    if body.len() as u64 != promised {
        let (problem, has) = if (body.len() as u64) < promised {
            ("truncated", body.len().to_string())
        } else if gzip {
            ("longer than its header says", "more".to_string())
        } else {
            (
                "longer than its header says",
                (file.len() - head.len()).to_string(),
            )
        };
        let items = match kind {
            IdxKind::Images => format!("{count} images ({promised} bytes of pixels)"),
            IdxKind::Labels => format!("{count} labels"),
        };
        let unit = match kind {
            IdxKind::Images => " bytes",
            IdxKind::Labels => " labels",
        };
        return Err(data_error(
            path,
            format!("{problem}: the header promises {items}, the file has {has}{unit}"),
        ));
    }
    Ok(body)
}

/// Pixels of an IDX image file (raw or gzip): magic 0x803, count, 28, 28, then count·784 bytes.
pub fn parse_images(path: &Path, file: &[u8]) -> Result<Vec<u8>> {
    parse_idx(path, file, IdxKind::Images)
}

/// The data sets gan-wgpu knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetName {
    Mnist,
    FashionMnist,
}

impl SetName {
    pub fn folder_name(self) -> &'static str {
        match self {
            SetName::Mnist => "mnist",
            SetName::FashionMnist => "fashion-mnist",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            SetName::Mnist => "MNIST",
            SetName::FashionMnist => "Fashion-MNIST",
        }
    }
}

/// Labels of an IDX label file (raw or gzip): magic 0x801, count, then count bytes.
pub fn parse_labels(path: &Path, file: &[u8]) -> Result<Vec<u8>> {
    parse_idx(path, file, IdxKind::Labels)
}

impl Dataset {
    /// Both files already read (raw or gzip); checks each and that their counts agree.
    pub fn from_idx(
        images_path: &Path,
        images: &[u8],
        labels_path: &Path,
        labels: &[u8],
    ) -> Result<Dataset> {
        let pixels = parse_images(images_path, images)?;
        let labels = parse_labels(labels_path, labels)?;
        let count = pixels.len() / IMAGE_PIXELS;
        if count != labels.len() {
            return Err(data_error(
                images_path,
                format!(
                    "{count} images, but {} has {} labels",
                    labels_path.display(),
                    labels.len()
                ),
            ));
        }
        if count == 0 {
            return Err(data_error(images_path, "the set has no images"));
        }
        Ok(Dataset {
            source: images_path.display().to_string(),
            pixels,
            labels,
        })
    }

    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` in `dir`, each raw or with `.gz`.
    pub fn load_dir(dir: &Path) -> Result<Dataset> {
        if !dir.is_dir() {
            return Err(data_error(dir, "no such folder"));
        }
        let find = |stem: &str| -> Result<PathBuf> {
            [dir.join(stem), dir.join(format!("{stem}.gz"))]
                .into_iter()
                .find(|p| p.is_file())
                .ok_or_else(|| data_error(dir, format!("neither {stem} nor {stem}.gz is here")))
        };
        let (images_path, labels_path) = (find(IMAGES_FILE)?, find(LABELS_FILE)?);
        let read = |p: &Path| std::fs::read(p).map_err(|e| data_error(p, e.to_string()));
        Dataset::from_idx(
            &images_path,
            &read(&images_path)?,
            &labels_path,
            &read(&labels_path)?,
        )
    }

    /// The 10,000 real MNIST digits compiled into the binary.
    pub fn bundled() -> Dataset {
        let mut set = Dataset::from_idx(
            Path::new("bundled train-images-idx3-ubyte.gz"),
            BUNDLED_IMAGES,
            Path::new("bundled train-labels-idx1-ubyte.gz"),
            BUNDLED_LABELS,
        )
        .expect("the bundled digits are valid IDX files");
        set.source = "the bundled 10,000 MNIST digits".into();
        set
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All images, row-major bytes, 784 per image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The images `range` covers, as a set of its own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        Dataset {
            source: format!(
                "images {}–{} of {}",
                range.start + 1,
                range.end,
                self.source
            ),
            pixels: self.pixels[range.start * IMAGE_PIXELS..range.end * IMAGE_PIXELS].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }
}

/// The order in which epoch `epoch` of a run seeded `seed` visits `count` images: rand's
/// `SliceRandom::shuffle` driven by Philox (stream `SHUFFLE_STREAM`, sub-sequence `epoch`), so it
/// depends on nothing but its arguments.
pub fn epoch_order(seed: u64, epoch: u64, count: usize) -> Vec<u32> {
    use rand::seq::SliceRandom;
    let mut order: Vec<u32> = (0..count as u32).collect();
    order.shuffle(&mut crate::noise::PhiloxRng::new(
        seed,
        SHUFFLE_STREAM,
        epoch,
    ));
    order
}

/// Which epoch order `epoch_order` draws (training states record it): 1 was gan-wgpu's own
/// Fisher–Yates before rand's shuffle replaced it.
pub const EPOCH_ORDER_VERSION: u32 = 2;

/// Philox stream of the epoch permutations (the noise streams are 0–2).
const SHUFFLE_STREAM: u32 = 16;

const GATHER: Kernel = Kernel {
    shader: Shader::Data,
    entry: "batch_gather",
    storage: &[read(1), read(2), read(3), write(4)],
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherParams {
    batch: u32,
    start: u32,
    pixels: u32,
    _pad: u32,
}

/// A data set uploaded to the GPU once, with the current epoch's permutation.
pub struct GpuDataset {
    count: usize,
    pixels: Tensor,
    /// The labels, packed like the pixels, and the table turning a label byte into its class index as
    /// a float (what the cross-entropy kernel reads): the classifier's batches.
    labels: Tensor,
    byte_to_index: Tensor,
    permutation: Tensor,
    byte_to_float: Tensor,
}

/// Bytes packed four to a little-endian word, as shaders/data.wgsl reads them.
fn packed_words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

impl GpuDataset {
    pub fn upload(gpu: &Gpu, set: &Dataset) -> Result<GpuDataset> {
        let upload_bytes = |label: &str, bytes: &[u8]| -> Result<Tensor> {
            let words = packed_words(bytes);
            let tensor = Tensor::zeros(gpu, label, &[words.len()])?;
            tensor.write_words(gpu, &words)?;
            Ok(tensor)
        };
        let pixels = upload_bytes("dataset pixels", set.pixels())?;
        let labels = upload_bytes("dataset labels", set.labels())?;
        let indices: Vec<f32> = (0..256).map(|v| v as f32).collect();
        let byte_to_index = Tensor::from_slice(gpu, "byte to index", &[256], &indices)?;
        let permutation = Tensor::zeros(gpu, "epoch permutation", &[set.len()])?;
        // PyTorch's ToTensor: the byte as float32, divided by 255 in float32.
        let table: Vec<f32> = (0..256).map(|v| v as f32 / 255.0).collect();
        let byte_to_float = Tensor::from_slice(gpu, "byte to float", &[256], &table)?;
        Ok(GpuDataset {
            count: set.len(),
            pixels,
            labels,
            byte_to_index,
            permutation,
            byte_to_float,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sets the order of the coming epoch (a permutation of 0..len).
    pub fn set_order(&self, gpu: &Gpu, order: &[u32]) -> Result<()> {
        self.permutation.write_words(gpu, order)
    }

    /// A dispatch filling `x` ([N, 1, 28, 28]) with batch 0 of the epoch; `set_batch` moves it.
    pub fn gather(&self, gpu: &Gpu, x: &Tensor) -> Result<BatchGather> {
        let batch = x.shape().first().copied().unwrap_or(0);
        expect_shape("batch_gather", "x", x, &[batch, 1, IMAGE_SIDE, IMAGE_SIDE])?;
        self.gather_into(gpu, (&self.pixels, IMAGE_PIXELS, &self.byte_to_float), x)
    }

    /// A dispatch filling `labels` ([N]) with the class indices of the images `gather` puts in the
    /// same batch, as floats.
    pub fn gather_labels(&self, gpu: &Gpu, labels: &Tensor) -> Result<BatchGather> {
        let batch = labels.shape().first().copied().unwrap_or(0);
        expect_shape("batch_gather", "labels", labels, &[batch])?;
        self.gather_into(gpu, (&self.labels, 1, &self.byte_to_index), labels)
    }

    /// `out`'s rows from `source`, `bytes` per row, each byte through `table`.
    fn gather_into(
        &self,
        gpu: &Gpu,
        (source, bytes, table): (&Tensor, usize, &Tensor),
        out: &Tensor,
    ) -> Result<BatchGather> {
        const OP: &str = "batch_gather";
        let batch = out.shape()[0];
        if batch == 0 || batch > self.count {
            return Err(Error::InvalidArgument {
                op: OP,
                message: format!("batch size {batch} for a data set of {} images", self.count),
            });
        }
        let params = BatchGather::params(batch, 0, bytes)?;
        let dispatch = dispatch(
            gpu,
            &GATHER,
            &params,
            &[source, &self.permutation, table, out],
            groups_for(OP, batch * bytes)?,
        )?;
        Ok(BatchGather {
            dispatch,
            batch,
            bytes,
            batches_per_epoch: self.count / batch,
        })
    }
}

/// Gathers the step's batch into a fixed tensor.
pub struct BatchGather {
    dispatch: Dispatch,
    batch: usize,
    /// Bytes per row: an image's pixels, or a label's one.
    bytes: usize,
    /// Full batches in an epoch; the last incomplete one is dropped, as in the original.
    pub batches_per_epoch: usize,
}

impl BatchGather {
    fn params(batch: usize, start: usize, bytes: usize) -> Result<GatherParams> {
        Ok(GatherParams {
            batch: as_u32("batch_gather", batch)?,
            start: as_u32("batch_gather", start)?,
            pixels: as_u32("batch_gather", bytes)?,
            _pad: 0,
        })
    }

    /// Aims the gather at batch `index` of the epoch.
    pub fn set_batch(&self, gpu: &Gpu, index: usize) -> Result<()> {
        if index >= self.batches_per_epoch {
            return Err(Error::InvalidArgument {
                op: "batch_gather",
                message: format!(
                    "batch {index} of an epoch of {} batches",
                    self.batches_per_epoch
                ),
            });
        }
        self.dispatch.write_params(
            gpu,
            &Self::params(self.batch, index * self.batch, self.bytes)?,
        )
    }

    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}
