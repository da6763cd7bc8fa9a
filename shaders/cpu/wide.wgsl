// Eight floats as a vec4<u64> (prepended to adam_u64.wgsl and activation_u64.wgsl, the versions of
// Adam and the activations that CPU adapters with 64-bit integers run; adam_u64.wgsl's header says why):
// element 2i of a buffer is the low half of its u64 i (little-endian), element 2i + 1 the high half.

fn low_float(x: u64) -> f32 {
    return bitcast<f32>(u32(x & 0xFFFFFFFFlu));
}

fn high_float(x: u64) -> f32 {
    return bitcast<f32>(u32(x >> 32u));
}

// Elements 0, 2, 4, 6 of the eight a vec4<u64> holds, and 1, 3, 5, 7.
fn even_floats(x: vec4<u64>) -> vec4<f32> {
    return vec4<f32>(low_float(x.x), low_float(x.y), low_float(x.z), low_float(x.w));
}

fn odd_floats(x: vec4<u64>) -> vec4<f32> {
    return vec4<f32>(high_float(x.x), high_float(x.y), high_float(x.z), high_float(x.w));
}

fn pack(even: f32, odd: f32) -> u64 {
    return u64(bitcast<u32>(even)) | (u64(bitcast<u32>(odd)) << 32u);
}

fn pack4(even: vec4<f32>, odd: vec4<f32>) -> vec4<u64> {
    return vec4<u64>(pack(even.x, odd.x), pack(even.y, odd.y), pack(even.z, odd.z), pack(even.w, odd.w));
}
