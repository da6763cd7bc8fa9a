// Gathers one batch of training images on the GPU: the whole data set lives there as bytes (four
// pixels to a word), and the batch is the images a per-epoch permutation names at this step's offset.
// Bytes become floats through a 256-entry table holding exactly PyTorch's v / 255 in float32. The same
// kernel gathers the batch's labels (one byte per image, a table of class indices as floats) for the
// classifier.

struct GatherParams {
    batch: u32,
    start: u32,  // first permutation entry of this batch
    pixels: u32, // bytes per image
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> dataset: array<u32>;     // little-endian packed bytes
@group(0) @binding(2) var<storage, read> permutation: array<u32>; // image indices of this epoch
@group(0) @binding(3) var<storage, read> byte_to_float: array<f32>;
@group(0) @binding(4) var<storage, read_write> images: array<f32>; // [batch, pixels]

@compute @workgroup_size(256)
fn batch_gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i >= p.batch * p.pixels {
        return;
    }
    let image = permutation[p.start + i / p.pixels];
    let byte_index = image * p.pixels + i % p.pixels;
    let byte = (dataset[byte_index / 4u] >> (8u * (byte_index % 4u))) & 0xffu;
    images[i] = byte_to_float[byte];
}
