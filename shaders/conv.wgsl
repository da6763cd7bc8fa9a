// Conv2d and ConvTranspose2d (square kernel, stride and padding as parameters), forward and backward.
//
// Both layers connect a high-resolution map "hi" and a low-resolution map "lo" through the same index
// relation: lo position u sees hi position u·stride − pad + k. Conv2d maps hi → lo, ConvTranspose2d
// maps lo → hi, and each one's input gradient runs the other direction. So there are two gathers:
//   gather_lo (output on the lo grid)  conv2d_forward, conv_transpose2d_backward_input
//   gather_hi (output on the hi grid)  conv_transpose2d_forward, conv2d_backward_input
// and one weight gradient Σ lo·hi shared by both layers. Weight element (lo channel l, hi channel h,
// ky, kx) sits at l·w_stride_lo + h·w_stride_hi + ky·ksize + kx, which covers PyTorch's (C_out, C_in, k, k)
// Conv2d layout and its (C_in, C_out, k, k) ConvTranspose2d layout. Maps are NCHW.

struct ConvParams {
    batch: u32,
    lo_channels: u32,
    lo_h: u32,
    lo_w: u32,
    hi_channels: u32,
    hi_h: u32,
    hi_w: u32,
    ksize: u32,
    stride: u32,
    pad: u32,
    w_stride_lo: u32,
    w_stride_hi: u32,
    accumulate: u32, // weight gradients add to dst instead of overwriting it
    count: u32,      // elements of dst
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;    // the map being gathered from (hi map for weight gradients)
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> lo_map: array<f32>; // weight gradients: the lo map

// dst[n, l, u, v] = Σ_{h, ky, kx} src_hi[n, h, u·s − p + ky, v·s − p + kx] · W(l, h, ky, kx)
fn gather_lo(i: u32) -> f32 {
    let v = i % p.lo_w;
    let u = (i / p.lo_w) % p.lo_h;
    let l = (i / (p.lo_w * p.lo_h)) % p.lo_channels;
    let n = i / (p.lo_w * p.lo_h * p.lo_channels);
    var sum = 0.0;
    for (var h = 0u; h < p.hi_channels; h++) {
        let src_base = (n * p.hi_channels + h) * p.hi_h * p.hi_w;
        let w_base = l * p.w_stride_lo + h * p.w_stride_hi;
        for (var ky = 0u; ky < p.ksize; ky++) {
            let y = i32(u * p.stride + ky) - i32(p.pad);
            if y < 0 || y >= i32(p.hi_h) {
                continue;
            }
            for (var kx = 0u; kx < p.ksize; kx++) {
                let x = i32(v * p.stride + kx) - i32(p.pad);
                if x < 0 || x >= i32(p.hi_w) {
                    continue;
                }
                sum += src[src_base + u32(y) * p.hi_w + u32(x)] * weight[w_base + ky * p.ksize + kx];
            }
        }
    }
    return sum;
}

// dst[n, h, y, x] = Σ_{l, ky, kx : y = u·s − p + ky, x = v·s − p + kx} src_lo[n, l, u, v] · W(l, h, ky, kx)
fn gather_hi(i: u32) -> f32 {
    let x = i % p.hi_w;
    let y = (i / p.hi_w) % p.hi_h;
    let h = (i / (p.hi_w * p.hi_h)) % p.hi_channels;
    let n = i / (p.hi_w * p.hi_h * p.hi_channels);
    var sum = 0.0;
    for (var l = 0u; l < p.lo_channels; l++) {
        let src_base = (n * p.lo_channels + l) * p.lo_h * p.lo_w;
        let w_base = l * p.w_stride_lo + h * p.w_stride_hi;
        for (var ky = 0u; ky < p.ksize; ky++) {
            let ty = i32(y + p.pad) - i32(ky);
            if ty < 0 || ty % i32(p.stride) != 0 || ty / i32(p.stride) >= i32(p.lo_h) {
                continue;
            }
            let u = u32(ty) / p.stride;
            for (var kx = 0u; kx < p.ksize; kx++) {
                let tx = i32(x + p.pad) - i32(kx);
                if tx < 0 || tx % i32(p.stride) != 0 || tx / i32(p.stride) >= i32(p.lo_w) {
                    continue;
                }
                let v = u32(tx) / p.stride;
                sum += src[src_base + u * p.lo_w + v] * weight[w_base + ky * p.ksize + kx];
            }
        }
    }
    return sum;
}

// dW(l, h, ky, kx) = Σ_{n, u, v} lo[n, l, u, v] · hi[n, h, u·s − p + ky, v·s − p + kx], for the weight
// element at flat index i.
fn weight_gradient(i: u32) {
    let kk = p.ksize * p.ksize;
    let kx = i % p.ksize;
    let ky = (i / p.ksize) % p.ksize;
    let pair = i / kk;
    var l: u32;
    var h: u32;
    if p.w_stride_lo > p.w_stride_hi {
        l = pair / p.hi_channels;
        h = pair % p.hi_channels;
    } else {
        h = pair / p.lo_channels;
        l = pair % p.lo_channels;
    }
    var sum = 0.0;
    for (var n = 0u; n < p.batch; n++) {
        let lo_base = (n * p.lo_channels + l) * p.lo_h * p.lo_w;
        let hi_base = (n * p.hi_channels + h) * p.hi_h * p.hi_w;
        for (var u = 0u; u < p.lo_h; u++) {
            let y = i32(u * p.stride + ky) - i32(p.pad);
            if y < 0 || y >= i32(p.hi_h) {
                continue;
            }
            for (var v = 0u; v < p.lo_w; v++) {
                let x = i32(v * p.stride + kx) - i32(p.pad);
                if x < 0 || x >= i32(p.hi_w) {
                    continue;
                }
                sum += lo_map[lo_base + u * p.lo_w + v] * src[hi_base + u32(y) * p.hi_w + u32(x)];
            }
        }
    }
    if p.accumulate != 0u {
        dst[i] += sum;
    } else {
        dst[i] = sum;
    }
}

@compute @workgroup_size(256)
fn conv2d_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = gather_lo(i) + bias[(i / (p.lo_w * p.lo_h)) % p.lo_channels];
    }
}

@compute @workgroup_size(256)
fn conv2d_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = gather_hi(i);
    }
}

@compute @workgroup_size(256)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        weight_gradient(i);
    }
}

@compute @workgroup_size(256)
fn conv_transpose2d_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = gather_hi(i) + bias[(i / (p.hi_w * p.hi_h)) % p.hi_channels];
    }
}

@compute @workgroup_size(256)
fn conv_transpose2d_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = gather_lo(i);
    }
}

@compute @workgroup_size(256)
fn conv_transpose2d_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        weight_gradient(i);
    }
}
