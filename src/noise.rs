//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a counter-based
//! generator, so any element of a random stream can be computed on its own from (key, counter) alone.
//! The host uses it for the weight initialisation; shaders/noise.wgsl draws the latent noise z on the GPU
//! with the same function, so a run needs no host-to-GPU noise traffic and every z is reproducible.

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, groups_for, write};
use crate::tensor::Tensor;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mul_hi_lo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Four random words for `counter` under `key`.
pub fn philox4x32(key: [u32; 2], counter: [u32; 4]) -> [u32; 4] {
    let (mut k, mut c) = (key, counter);
    for _ in 0..10 {
        let (hi0, lo0) = mul_hi_lo(M0, c[0]);
        let (hi1, lo1) = mul_hi_lo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// Philox4x32-10 as a `rand` generator: the words of counter blocks [b, sub_lo, sub_hi, stream] under
/// the key `seed`, for b = 0, 1, 2, … in order (word 0 of a block first). One (seed, stream, sub)
/// names an independent sequence, e.g. the shuffle of one epoch of one run.
#[derive(Clone, Debug)]
pub struct PhiloxRng {
    key: [u32; 2],
    /// The next block's counter.
    counter: [u32; 4],
    words: [u32; 4],
    /// Words of `words` already used (4: none left).
    used: usize,
}

impl PhiloxRng {
    pub fn new(seed: u64, stream: u32, sub: u64) -> PhiloxRng {
        PhiloxRng {
            key: [seed as u32, (seed >> 32) as u32],
            counter: [0, sub as u32, (sub >> 32) as u32, stream],
            words: [0; 4],
            used: 4,
        }
    }
}

impl rand_core::TryRng for PhiloxRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        if self.used == 4 {
            self.words = philox4x32(self.key, self.counter);
            self.counter[0] = self.counter[0].wrapping_add(1);
            self.used = 0;
        }
        self.used += 1;
        Ok(self.words[self.used - 1])
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        rand_core::utils::next_u64_via_u32(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        for chunk in dst.chunks_mut(4) {
            let word = self.try_next_u32()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::SeedableRng for PhiloxRng {
    /// The key (seed, 8 bytes), then sub (8 bytes) and stream (4 bytes), each little-endian.
    type Seed = [u8; 20];

    fn from_seed(seed: [u8; 20]) -> PhiloxRng {
        let word = |i: usize| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().unwrap());
        let join = |lo: u32, hi: u32| lo as u64 | (hi as u64) << 32;
        PhiloxRng::new(join(word(0), word(1)), word(4), join(word(2), word(3)))
    }
}

/// A uniform float in [0, 1) from the top 24 bits of a word (every value exactly representable).
pub fn uniform(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Independent noise streams of one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stream {
    /// z of the D step.
    DStep = 0,
    /// The fresh z of the G step.
    GStep = 1,
    /// z of sample grids and `gan-wgpu sample`.
    Sample = 2,
}

/// Element `e` of the uniform noise for (seed, stream, step): what the GPU kernel writes.
pub fn uniform_at(seed: u64, stream: Stream, step: u64, e: usize) -> f32 {
    let words = philox4x32(
        [seed as u32, (seed >> 32) as u32],
        [
            (e / 4) as u32,
            step as u32,
            (step >> 32) as u32,
            stream as u32,
        ],
    );
    uniform(words[e % 4])
}

const UNIFORM: Kernel = Kernel {
    shader: Shader::Noise,
    entry: "noise_uniform",
    storage: &[write(1)],
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NoiseParams {
    count: u32,
    key: [u32; 2],
    stream: u32,
    step: [u32; 2],
    first: u32,
    _pad: u32,
}

/// Fills a tensor with the uniform noise of one stream: the tensor's `count` elements are elements
/// `first..first + count` of one step's noise. Step and first element are set before each use.
pub struct UniformNoise {
    seed: u64,
    stream: Stream,
    count: usize,
    dispatch: Dispatch,
}

impl UniformNoise {
    pub fn new(gpu: &Gpu, out: &Tensor, seed: u64, stream: Stream) -> Result<UniformNoise> {
        let count = out.numel();
        let params = Self::params(count, seed, stream, 0, 0)?;
        // One invocation per block of four, and one more block where `first` is not a multiple of 4.
        let dispatch = dispatch(
            gpu,
            &UNIFORM,
            &params,
            &[out],
            groups_for(UNIFORM.entry, count.div_ceil(4) + 1)?,
        )?;
        Ok(UniformNoise {
            seed,
            stream,
            count,
            dispatch,
        })
    }

    fn params(
        count: usize,
        seed: u64,
        stream: Stream,
        step: u64,
        first: usize,
    ) -> Result<NoiseParams> {
        // Element indices are 32-bit in the kernel: the last one must fit.
        as_u32(UNIFORM.entry, first + count)?;
        Ok(NoiseParams {
            count: as_u32(UNIFORM.entry, count)?,
            key: [seed as u32, (seed >> 32) as u32],
            stream: stream as u32,
            step: [step as u32, (step >> 32) as u32],
            first: as_u32(UNIFORM.entry, first)?,
            _pad: 0,
        })
    }

    /// Aims the dispatch at `step`'s noise, from its first element.
    pub fn set_step(&self, gpu: &Gpu, step: u64) -> Result<()> {
        self.set_position(gpu, step, 0)
    }

    /// Aims the dispatch at elements `first..first + count` of `step`'s noise.
    pub fn set_position(&self, gpu: &Gpu, step: u64, first: usize) -> Result<()> {
        self.dispatch.write_params(
            gpu,
            &Self::params(self.count, self.seed, self.stream, step, first)?,
        )
    }

    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}

/// Standard normal samples: Box–Muller on consecutive Philox blocks of one stream.
pub struct NormalStream {
    key: [u32; 2],
    stream: u32,
    block: u64,
    pending: Option<f32>,
}

impl NormalStream {
    /// Stream `stream` of the generator keyed by `seed`.
    pub fn new(seed: u64, stream: u32) -> NormalStream {
        NormalStream {
            key: [seed as u32, (seed >> 32) as u32],
            stream,
            block: 0,
            pending: None,
        }
    }

    pub fn sample(&mut self) -> f32 {
        if let Some(v) = self.pending.take() {
            return v;
        }
        let [first, second] = box_muller(self.key, self.stream, self.block);
        self.block += 1;
        self.pending = Some(second);
        first
    }

    /// Fills `out` with the stream's next `out.len()` samples, each times `scale`: the values
    /// `sample() * scale` would give one by one. Each pair of samples comes from its own counter
    /// block, so long runs are split between the cores (initialising the nets' 13 million weights
    /// one by one took half a second of a run's start).
    pub fn fill(&mut self, out: &mut [f32], scale: f32) {
        let mut rest = out;
        if let Some(v) = self.pending {
            let Some((head, tail)) = rest.split_first_mut() else {
                return;
            };
            *head = v * scale;
            self.pending = None;
            rest = tail;
        }
        let pairs = rest.len() / 2;
        let (paired, last) = rest.split_at_mut(2 * pairs);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = pairs.div_ceil(cores).max(1 << 16);
        let (key, stream, first_block) = (self.key, self.stream, self.block);
        let fill_chunk = move |t: usize, chunk: &mut [f32]| {
            let block = first_block + (t * per_thread) as u64;
            for (i, pair) in chunk.chunks_exact_mut(2).enumerate() {
                let [a, b] = box_muller(key, stream, block + i as u64);
                pair[0] = a * scale;
                pair[1] = b * scale;
            }
        };
        let chunks = paired.chunks_mut(2 * per_thread).enumerate();
        #[cfg(not(target_arch = "wasm32"))]
        std::thread::scope(|scope| {
            for (t, chunk) in chunks {
                scope.spawn(move || fill_chunk(t, chunk));
            }
        });
        // A page has one thread.
        #[cfg(target_arch = "wasm32")]
        chunks.for_each(|(t, chunk)| fill_chunk(t, chunk));
        self.block += pairs as u64;
        if let Some(v) = last.first_mut() {
            *v = self.sample() * scale;
        }
    }
}

/// The two N(0, 1) samples of counter block `block` (Box–Muller in double precision).
fn box_muller(key: [u32; 2], stream: u32, block: u64) -> [f32; 2] {
    let w = philox4x32(key, [block as u32, (block >> 32) as u32, stream, 0]);
    // u1 in (0, 1] so the logarithm is finite.
    let u1 = ((w[0] >> 8) as f64 + 1.0) / 16_777_216.0;
    let u2 = (w[1] >> 8) as f64 / 16_777_216.0;
    let r = (-2.0 * u1.ln()).sqrt();
    let theta = std::f64::consts::TAU * u2;
    [(r * theta.cos()) as f32, (r * theta.sin()) as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 with 10 rounds).
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32([0, 0], [0, 0, 0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32([0xffff_ffff, 0xffff_ffff], [0xffff_ffff; 4]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32(
                [0xa409_3822, 0x299f_31d0],
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn the_rand_generator_is_philox_blocks_in_order() {
        use rand_core::{Rng, SeedableRng};
        let (seed, stream, sub) = (0x1234_5678_9abc_def0, 16, (1 << 33) + 7);
        let mut rng = PhiloxRng::new(seed, stream, sub);
        let words: Vec<u32> = (0..10).map(|_| rng.next_u32()).collect();
        let key = [seed as u32, (seed >> 32) as u32];
        let want: Vec<u32> = (0..3)
            .flat_map(|b| philox4x32(key, [b, sub as u32, (sub >> 32) as u32, stream]))
            .take(10)
            .collect();
        assert_eq!(words, want);
        // u64s take two words, low first; bytes are the words little-endian.
        let mut rng = PhiloxRng::new(seed, stream, sub);
        assert_eq!(rng.next_u64(), want[0] as u64 | (want[1] as u64) << 32);
        let mut bytes = [0u8; 7];
        rng.fill_bytes(&mut bytes);
        assert_eq!(bytes[..4], want[2].to_le_bytes());
        assert_eq!(bytes[4..], want[3].to_le_bytes()[..3]);
        // The seed bytes name the same sequence.
        let mut bytes = [0u8; 20];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(&sub.to_le_bytes());
        bytes[16..].copy_from_slice(&stream.to_le_bytes());
        let mut seeded = PhiloxRng::from_seed(bytes);
        assert_eq!(seeded.next_u32(), want[0]);
    }

    #[test]
    fn fill_gives_the_samples_one_by_one() {
        // Odd lengths and a pending sample at the start, over more than one thread's share.
        let mut one_by_one = NormalStream::new(3, 2);
        let mut filled = NormalStream::new(3, 2);
        for len in [1, 0, 5, 200_001, 2, 3] {
            let want: Vec<f32> = (0..len).map(|_| one_by_one.sample() * 0.02).collect();
            let mut got = vec![0.0; len];
            filled.fill(&mut got, 0.02);
            assert_eq!(got, want, "length {len}");
        }
        assert_eq!(filled.sample(), one_by_one.sample());
    }

    #[test]
    fn normal_samples_have_unit_moments() {
        let mut s = NormalStream::new(1, 0);
        let xs: Vec<f64> = (0..200_000).map(|_| s.sample() as f64).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }
}
