// Uniform noise in [0, 1) from Philox4x32-10, keyed by the run's seed, counted by (element block, step,
// stream): element e of step s of stream r is word e % 4 of philox(key, [e / 4, s_lo, s_hi, r]).
// Each invocation computes one block of four elements. src/noise.rs holds the same generator on the host.

struct NoiseParams {
    count: u32,
    key0: u32,
    key1: u32,
    stream: u32,
    step_lo: u32,
    step_hi: u32,
    // The step's element written to noise[0]: a tensor holds elements first..first + count.
    first: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: NoiseParams;
@group(0) @binding(1) var<storage, read_write> noise: array<f32>;

// (high, low) words of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit integers).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    let hi = a_hi * b_hi + (hi_lo >> 16u) + (cross >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32(key_in: vec2<u32>, counter: vec4<u32>) -> vec4<u32> {
    var k = key_in;
    var c = counter;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mul_hi_lo(0xD2511F53u, c.x);
        let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

@compute @workgroup_size(256)
fn noise_uniform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let block = p.first / 4u + invocation_index(wid, nwg, lane);
    if block * 4u >= p.first + p.count {
        return;
    }
    let words = philox4x32(vec2<u32>(p.key0, p.key1), vec4<u32>(block, p.step_lo, p.step_hi, p.stream));
    for (var j = 0u; j < 4u; j++) {
        let e = block * 4u + j;
        if e >= p.first && e < p.first + p.count {
            // The top 24 bits: every value exactly representable, 1.0 never reached.
            noise[e - p.first] = f32(words[j] >> 8u) * (1.0 / 16777216.0);
        }
    }
}
