// The tiled matrix-product core C[M×N] = A[M×K]·B[K×N], prepended to linear.wgsl and conv.wgsl, which
// define how an element is fetched, load_a(row, k) and load_b(k, col) (called only inside the matrices),
// and where one goes, store_element(row, col, value).
//
// A workgroup of 16×16 invocations computes a 64×64 tile of C, each invocation a 4×4 block held in four
// vec4 accumulators. Per 16-deep slice of K the workgroup stages A (64×16) and B (16×64) in workgroup
// memory as vec4s, so an invocation does 16 multiply-adds per two vec4 loads: arithmetic per load is
// what a CPU-emulated GPU (lavapipe) and a real one both reward. Each element of C is summed over K in
// one fixed order, so results are bit-reproducible.

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
// a_tile[k·16 + r] holds A rows 4r..4r+3 at depth k; b_tile[k·16 + q] holds B columns 4q..4q+3.
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// Row and column where this workgroup's tile of a matrix with `n` columns starts.
fn gemm_origin(n: u32, wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    let tiles_n = (n + TILE - 1u) / TILE;
    let tile = workgroup_index(wid, nwg);
    return vec2<u32>((tile / tiles_n) * TILE, (tile % tiles_n) * TILE);
}

// True for workgroups past the last tile (the grid is rounded up).
fn gemm_done(m: u32, n: u32, wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    let tiles = ((m + TILE - 1u) / TILE) * ((n + TILE - 1u) / TILE);
    return workgroup_index(wid, nwg) >= tiles;
}

// This invocation's 4×4 block (rows origin.x + 4·lid.y + i, columns origin.y + 4·lid.x + j) of
// A·B. `a_k_fast` / `b_n_fast` say which index of each operand is contiguous in memory, so that
// consecutive invocations stage consecutive addresses. Uniform control flow: every invocation of the
// workgroup must call it.
fn gemm_block(m: u32, n: u32, k: u32, a_k_fast: bool, b_n_fast: bool, origin: vec2<u32>, lid: vec3<u32>) -> array<vec4<f32>, 4> {
    let t = lid.y * 16u + lid.x;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < k; k0 += DEPTH) {
        for (var q = 0u; q < 4u; q++) {
            let e = t + 256u * q;
            var ka = e / TILE;
            var ra = e % TILE;
            if a_k_fast {
                ka = e % DEPTH;
                ra = e / DEPTH;
            }
            var value = 0.0;
            if origin.x + ra < m && k0 + ka < k {
                value = load_a(origin.x + ra, k0 + ka);
            }
            a_tile[ka * 16u + ra / 4u][ra % 4u] = value;
            var kb = e % DEPTH;
            var cb = e / DEPTH;
            if b_n_fast {
                cb = e % TILE;
                kb = e / TILE;
            }
            value = 0.0;
            if k0 + kb < k && origin.y + cb < n {
                value = load_b(k0 + kb, origin.y + cb);
            }
            b_tile[kb * 16u + cb / 4u][cb % 4u] = value;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            let av = a_tile[kk * 16u + lid.y];
            let bv = b_tile[kk * 16u + lid.x];
            acc0 += av.x * bv;
            acc1 += av.y * bv;
            acc2 += av.z * bv;
            acc3 += av.w * bv;
        }
        workgroupBarrier();
    }
    return array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
}

// Hands each element of this invocation's block that lies inside C (m×n) to store_element.
fn gemm_store(m: u32, n: u32, origin: vec2<u32>, lid: vec3<u32>, acc: array<vec4<f32>, 4>) {
    for (var i = 0u; i < 4u; i++) {
        let row = origin.x + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = origin.y + lid.x * 4u + j;
            if row < m && col < n {
                store_element(row, col, acc[i][j]);
            }
        }
    }
}
