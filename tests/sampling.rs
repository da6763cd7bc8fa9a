//! Sampling in chunks (`gan_wgpu::sample::generate`): on every family of matrix-product kernels the
//! images are the same bytes whatever the chunk size, `count` images are the first `count` of a larger
//! count, and training's grid sampler draws `sample`'s first images.

mod common;

use common::{KERNEL_FAMILIES, KernelFamily, gpu_with};
use gan_wgpu::Gpu;
use gan_wgpu::data::IMAGE_PIXELS;
use gan_wgpu::model::{Generator, Z_DIM};
use gan_wgpu::noise::NormalStream;
use gan_wgpu::sample::{Noise, Sampler, generate};

/// G with the DCGAN's initial weights for `seed` (BatchNorm at its default statistics).
fn generator(gpu: &Gpu) -> Generator {
    let g = Generator::new(gpu).unwrap();
    g.net
        .initialise(gpu, &mut NormalStream::new(11, 0))
        .unwrap();
    g
}

/// Every image of `noise` drawn in chunks of `chunk`, as bits; checks that the chunks come in order.
fn images(gpu: &Gpu, g: &Generator, noise: &Noise, chunk: usize) -> Vec<u32> {
    let mut all = Vec::new();
    generate(gpu, g, noise, chunk, |first, images| {
        assert_eq!(first * IMAGE_PIXELS, all.len(), "chunks in order");
        assert!(images.len() <= chunk * IMAGE_PIXELS);
        all.extend(images.iter().map(|v| v.to_bits()));
        Ok(())
    })
    .unwrap();
    assert_eq!(all.len(), noise.count() * IMAGE_PIXELS);
    all
}

fn the_chunking_does_not_change_the_images(family: KernelFamily) {
    let gpu = gpu_with(family);
    let g = generator(gpu);
    let count = 24;
    let noise = Noise::Seed { seed: 5, count };
    let whole = images(gpu, &g, &noise, count);
    let distinct = whole
        .chunks_exact(IMAGE_PIXELS)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(distinct, count, "{family:?}: every image its own");
    // Single images, odd sizes, a last chunk of one.
    for chunk in [1, 5, 23] {
        let chunked = images(gpu, &g, &noise, chunk);
        let first_wrong = whole.iter().zip(&chunked).position(|(a, b)| a != b);
        assert_eq!(
            first_wrong.map(|p| p / IMAGE_PIXELS),
            None,
            "{family:?}: chunks of {chunk}: first image that differs"
        );
    }
    // A smaller count is a prefix of a larger one.
    let prefix = images(gpu, &g, &Noise::Seed { seed: 5, count: 10 }, 10);
    assert!(prefix == whole[..10 * IMAGE_PIXELS], "{family:?}: prefix");
    // Training's grids (of 64): the first images of the run's seed.
    let grid = Sampler::new(gpu, &g, 16, Some(5))
        .unwrap()
        .seed_images(gpu, 0)
        .unwrap();
    let grid: Vec<u32> = grid.iter().map(|v| v.to_bits()).collect();
    assert!(grid == whole[..16 * IMAGE_PIXELS], "{family:?}: grid");
}

macro_rules! chunking_tests {
    ($($test:ident: $family:expr;)*) => {$(
        #[test]
        fn $test() {
            the_chunking_does_not_change_the_images($family);
        }
    )*};
}

chunking_tests! {
    chunking_does_not_change_images_tiled: KernelFamily::Tiled;
    chunking_does_not_change_images_split: KernelFamily::TiledSplitK;
    chunking_does_not_change_images_block8_split: KernelFamily::TiledBlock8SplitK;
    chunking_does_not_change_images_prefetch_split: KernelFamily::TiledPrefetchSplitK;
    chunking_does_not_change_images_block8_prefetch_split: KernelFamily::TiledBlock8PrefetchSplitK;
    chunking_does_not_change_images_subgroup: KernelFamily::Subgroup;
}

/// Fails to compile when a kernel family is added without its test above.
#[allow(dead_code)]
fn every_family_has_a_chunking_test(family: KernelFamily) {
    match family {
        KernelFamily::Tiled
        | KernelFamily::TiledSplitK
        | KernelFamily::TiledBlock8SplitK
        | KernelFamily::TiledPrefetchSplitK
        | KernelFamily::TiledBlock8PrefetchSplitK
        | KernelFamily::Subgroup => {}
    }
}

/// Noise given on the host (a walk between two seeds, rows of a file) is cut into chunks the same way.
#[test]
fn host_noise_is_chunked_the_same() {
    let gpu = gpu_with(KERNEL_FAMILIES[5]);
    let g = generator(gpu);
    let walk = Noise::Interpolate {
        a: 1,
        b: 2,
        count: 30,
    };
    let whole = images(gpu, &g, &walk, 30);
    assert!(images(gpu, &g, &walk, 9) == whole, "walk in chunks of 9");
    let rows: Vec<f32> = (0..20 * Z_DIM).map(|i| (i % 97) as f32 / 97.0).collect();
    let given = Noise::Rows(rows);
    assert!(
        images(gpu, &g, &given, 20) == images(gpu, &g, &given, 7),
        "rows in chunks of 7"
    );
}
