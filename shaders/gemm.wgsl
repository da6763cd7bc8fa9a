// The tiled matrix-product core C[M×N] = A[M×K]·B[K×N], prepended to linear.wgsl and conv.wgsl, which
// define how an element is fetched, load_a(row, k) and load_b(k, col) (called only inside the matrices),
// and where one goes, store_element(row, col, value).
//
// A workgroup of 16×16 invocations computes a 64×64 tile of C, each invocation a 4×4 block held in four
// vec4 accumulators (or an 8×8 one: GEMM_BLOCK below). Per 16-deep slice of K the workgroup stages A (64×16) and B (16×64) in workgroup
// memory as vec4s, so an invocation does 16 multiply-adds per two vec4 loads: arithmetic per load is
// what a CPU-emulated GPU (lavapipe) and a real one both reward. Each element of C is summed over K in one fixed order, so results are bit-reproducible.
//
// Split K: a product with few tiles and a long K (a weight gradient summed over 25,088 positions into
// one 64×16 tile, D's Linear layer 6272 deep) would leave most of a GPU idle, so the host may cut K into
// `splits` ranges of `split_depth`. Workgroup w then computes tile w mod tiles over range w / tiles and
// writes its block to `partials` (split-major, each split an m×n matrix) — the entry point's `_split`
// twin does this — and a second dispatch, its `_reduce` twin, adds the splits in split order and stores
// each sum through store_element. The order is fixed, so results stay bit-reproducible.

// TILE (the tile's edge) and DEPTH (the depth of one slice) come from the host (HOST_CONSTANTS).
// How many outputs of the tile each invocation sums: a 4×4 block over the whole depth of each slice
// (gemm_block4), or an 8×8 block over a quarter of it (gemm_block8: four groups of 64 invocations, their
// blocks added up through workgroup memory at the end), twice the multiply-adds per workgroup-memory
// load. Set by the tuning record (kernels/mod.rs).
override GEMM_BLOCK: u32 = 4u;
// vec4s from one depth of a staged operand to the next: 16, or 17 so that the invocations staging
// consecutive depths of one row or column (where K runs fastest in memory) write to different banks
// of a GPU's workgroup memory instead of all to one (16 floats apart: a 16-way conflict). Set per
// adapter by the tuning record (kernels/mod.rs).
override GEMM_PITCH: u32 = 17u;
// The staged slice (gemm_put): A from 0, B from B_STAGE. gemm_block8 reuses it to add up its groups'
// blocks (512 vec4s).
var<workgroup> gemm_stage: array<vec4<f32>, 544>;
const B_STAGE: u32 = 272u;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;

fn gemm_tiles(m: u32, n: u32) -> u32 {
    return ((m + TILE - 1u) / TILE) * ((n + TILE - 1u) / TILE);
}

// True for workgroups past the last tile of the last split (the grid is rounded up).
fn gemm_done(m: u32, n: u32, splits: u32, wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    return workgroup_index(wid, nwg) >= gemm_tiles(m, n) * splits;
}

// This workgroup's share of the product: where its tile starts (row, column) and which split of K.
struct GemmWork {
    origin: vec2<u32>,
    split: u32,
}

fn gemm_work(m: u32, n: u32, wid: vec3<u32>, nwg: vec3<u32>) -> GemmWork {
    let tiles = gemm_tiles(m, n);
    let tiles_n = (n + TILE - 1u) / TILE;
    let index = workgroup_index(wid, nwg);
    let tile = index % tiles;
    return GemmWork(vec2<u32>((tile / tiles_n) * TILE, (tile % tiles_n) * TILE), index / tiles);
}

// This invocation's four elements of A and of B in the slice of depth k0 (zeros outside the matrices
// and past k_end). Which ones: element e = t + 256·q of each staged 64×16 block, numbered so that
// consecutive invocations read consecutive addresses (`a_k_fast` / `b_n_fast`: which index of each
// operand is contiguous in memory).
struct GemmSlice {
    a: vec4<f32>,
    b: vec4<f32>,
}

fn gemm_fetch(m: u32, n: u32, k0: u32, k_end: u32, a_k_fast: bool, b_n_fast: bool, origin: vec2<u32>, t: u32) -> GemmSlice {
    var slice = GemmSlice(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var q = 0u; q < 4u; q++) {
        let e = t + 256u * q;
        let a_at = gemm_a_slot(e, a_k_fast);
        if origin.x + a_at.y < m && k0 + a_at.x < k_end {
            slice.a[q] = load_a(origin.x + a_at.y, k0 + a_at.x);
        }
        let b_at = gemm_b_slot(e, b_n_fast);
        if k0 + b_at.x < k_end && origin.y + b_at.y < n {
            slice.b[q] = load_b(k0 + b_at.x, origin.y + b_at.y);
        }
    }
    return slice;
}

// (depth, row) within the slice of A's staged element e, and (depth, column) of B's.
fn gemm_a_slot(e: u32, a_k_fast: bool) -> vec2<u32> {
    if a_k_fast {
        return vec2<u32>(e % DEPTH, e / DEPTH);
    }
    return vec2<u32>(e / TILE, e % TILE);
}

fn gemm_b_slot(e: u32, b_n_fast: bool) -> vec2<u32> {
    if b_n_fast {
        return vec2<u32>(e / TILE, e % TILE);
    }
    return vec2<u32>(e % DEPTH, e / DEPTH);
}

// Writes a fetched slice into the workgroup tiles: gemm_stage[k·GEMM_PITCH + r] holds A rows 4r..4r+3
// at depth k, gemm_stage[B_STAGE + k·GEMM_PITCH + q] B columns 4q..4q+3.
fn gemm_put(slice: GemmSlice, a_k_fast: bool, b_n_fast: bool, t: u32) {
    for (var q = 0u; q < 4u; q++) {
        let e = t + 256u * q;
        let a_at = gemm_a_slot(e, a_k_fast);
        gemm_stage[a_at.x * GEMM_PITCH + a_at.y / 4u][a_at.y % 4u] = slice.a[q];
        let b_at = gemm_b_slot(e, b_n_fast);
        gemm_stage[B_STAGE + b_at.x * GEMM_PITCH + b_at.y / 4u][b_at.y % 4u] = slice.b[q];
    }
}

// With GEMM_PREFETCH, each invocation loads its share of the next slice right after staging this one,
// so that the loads are in flight while the slice is multiplied (a GPU otherwise waits on them with
// every workgroup of a multiprocessor that is at the same point). Set by the host (GpuOptions).
override GEMM_PREFETCH: bool = false;

// The first slice, loaded ahead with GEMM_PREFETCH (else nothing).
fn gemm_prefetch(m: u32, n: u32, k_begin: u32, k_end: u32, a_k_fast: bool, b_n_fast: bool, origin: vec2<u32>, t: u32) -> GemmSlice {
    if GEMM_PREFETCH {
        return gemm_fetch(m, n, k_begin, k_end, a_k_fast, b_n_fast, origin, t);
    }
    return GemmSlice(vec4<f32>(0.0), vec4<f32>(0.0));
}

// Stages the slice at depth k0 (`loaded`, with GEMM_PREFETCH; else loaded now) and waits for the
// workgroup; returns the next slice where GEMM_PREFETCH loads it ahead.
fn gemm_stage_slice(loaded: GemmSlice, m: u32, n: u32, k0: u32, k_end: u32, a_k_fast: bool, b_n_fast: bool, origin: vec2<u32>, t: u32) -> GemmSlice {
    if GEMM_PREFETCH {
        gemm_put(loaded, a_k_fast, b_n_fast, t);
        workgroupBarrier();
        return gemm_fetch(m, n, k0 + DEPTH, k_end, a_k_fast, b_n_fast, origin, t);
    }
    gemm_put(gemm_fetch(m, n, k0, k_end, a_k_fast, b_n_fast, origin, t), a_k_fast, b_n_fast, t);
    workgroupBarrier();
    return loaded;
}

// Slices per run of gemm_block8's compensated sums (common.wgsl): one of its four groups sums 4 depths
// of a slice, so a run of four slices is 16 depths of its own, as gemm_block4's one slice is.
const BLOCK8_RUN: u32 = 4u * DEPTH;

// This invocation's 4×4 block (rows origin.x + 4·lid.y + i, columns origin.y + 4·lid.x + j) of
// A·B summed over depths [k_begin, k_end), each slice added into compensated totals when
// `compensated`. Uniform control flow: every invocation of the workgroup must call it.
// (Double-buffered tiles measured no faster on an H200, when the staging stores still conflicted;
// GEMM_PREFETCH is the register-only form, to be measured.)
fn gemm_block4(m: u32, n: u32, k_begin: u32, k_end: u32, a_k_fast: bool, b_n_fast: bool, origin: vec2<u32>, lid: vec3<u32>, compensated: bool) -> array<vec4<f32>, 4> {
    let t = lid.y * 16u + lid.x;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var total0 = Sum4(vec4<f32>(0.0), vec4<f32>(0.0));
    var total1 = total0;
    var total2 = total0;
    var total3 = total0;
    let one = opaque_one(k_end - k_begin);
    var next = gemm_prefetch(m, n, k_begin, k_end, a_k_fast, b_n_fast, origin, t);
    for (var k0 = k_begin; k0 < k_end; k0 += DEPTH) {
        next = gemm_stage_slice(next, m, n, k0, k_end, a_k_fast, b_n_fast, origin, t);
        for (var kk = 0u; kk < DEPTH; kk++) {
            let av = gemm_stage[kk * GEMM_PITCH + lid.y];
            let bv = gemm_stage[B_STAGE + kk * GEMM_PITCH + lid.x];
            acc0 += av.x * bv;
            acc1 += av.y * bv;
            acc2 += av.z * bv;
            acc3 += av.w * bv;
        }
        workgroupBarrier();
        if compensated {
            total0 = add_compensated4(total0, acc0, one);
            total1 = add_compensated4(total1, acc1, one);
            total2 = add_compensated4(total2, acc2, one);
            total3 = add_compensated4(total3, acc3, one);
            acc0 = vec4<f32>(0.0);
            acc1 = vec4<f32>(0.0);
            acc2 = vec4<f32>(0.0);
            acc3 = vec4<f32>(0.0);
        }
    }
    if !compensated {
        return array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    }
    return array<vec4<f32>, 4>(total0.hi + total0.lo, total1.hi + total1.lo, total2.hi + total2.lo, total3.hi + total3.lo);
}

// Hands each element of this invocation's block that lies inside C (m×n) to store_element.
fn gemm_store4(m: u32, n: u32, origin: vec2<u32>, lid: vec3<u32>, acc: array<vec4<f32>, 4>) {
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

// The block of one split of K, into its split's matrix in `partials` for the reduce dispatch. Only the
// `_split` entry points call it: a CPU adapter runs both sides of a branch on a uniform value, and
// behind one it cost lavapipe ~5 ms per small unsplit product.
fn gemm_store_partial4(m: u32, n: u32, work: GemmWork, lid: vec3<u32>, acc: array<vec4<f32>, 4>) {
    for (var i = 0u; i < 4u; i++) {
        let row = work.origin.x + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = work.origin.y + lid.x * 4u + j;
            if row < m && col < n {
                partials[(work.split * m + row) * n + col] = acc[i][j];
            }
        }
    }
}

// gemm_block8's 8×8 block: invocation t of the workgroup belongs to group t / 64, which sums depths
// 4·group .. 4·group + 3 of every slice, and its lane (t mod 64) covers rows 4·ly + i and 32 + 4·ly + i
// (ly = lane / 8) and columns 4·lx + j and 32 + 4·lx + j (lx = lane mod 8), so that the eight lanes
// reading B in one step read eight consecutive vec4s. acc[i + 4·a][b] holds row half a's row i, column
// half b's four columns.
struct Block8 {
    group: u32,
    ly: u32,
    lx: u32,
}

fn block8_of(lid: vec3<u32>) -> Block8 {
    let t = lid.y * 16u + lid.x;
    return Block8(t / 64u, (t % 64u) / 8u, t % 8u);
}

// The 8×8 block of A·B over [k_begin, k_end), summed over the four groups in group order; it is
// complete in group 0's invocations only. Uniform control flow, like gemm_block4.
fn gemm_block8(m: u32, n: u32, k_begin: u32, k_end: u32, a_k_fast: bool, b_n_fast: bool, origin: vec2<u32>, lid: vec3<u32>, compensated: bool) -> array<array<vec4<f32>, 2>, 8> {
    let t = lid.y * 16u + lid.x;
    let at = block8_of(lid);
    var acc: array<array<vec4<f32>, 2>, 8>;
    var total: array<array<Sum4, 2>, 8>;
    let one = opaque_one(k_end - k_begin);
    var next = gemm_prefetch(m, n, k_begin, k_end, a_k_fast, b_n_fast, origin, t);
    for (var run = k_begin; run < k_end; run += BLOCK8_RUN) {
        for (var k0 = run; k0 < min(run + BLOCK8_RUN, k_end); k0 += DEPTH) {
            next = gemm_stage_slice(next, m, n, k0, k_end, a_k_fast, b_n_fast, origin, t);
            for (var kk = 0u; kk < 4u; kk++) {
                let row = (at.group * 4u + kk) * GEMM_PITCH;
                let a0 = gemm_stage[row + at.ly];
                let a1 = gemm_stage[row + 8u + at.ly];
                let b0 = gemm_stage[B_STAGE + row + at.lx];
                let b1 = gemm_stage[B_STAGE + row + 8u + at.lx];
                // Written out: a private array indexed by a loop variable may be kept in memory.
                acc[0][0] += a0.x * b0;
                acc[0][1] += a0.x * b1;
                acc[4][0] += a1.x * b0;
                acc[4][1] += a1.x * b1;
                acc[1][0] += a0.y * b0;
                acc[1][1] += a0.y * b1;
                acc[5][0] += a1.y * b0;
                acc[5][1] += a1.y * b1;
                acc[2][0] += a0.z * b0;
                acc[2][1] += a0.z * b1;
                acc[6][0] += a1.z * b0;
                acc[6][1] += a1.z * b1;
                acc[3][0] += a0.w * b0;
                acc[3][1] += a0.w * b1;
                acc[7][0] += a1.w * b0;
                acc[7][1] += a1.w * b1;
            }
            workgroupBarrier();
        }
        if compensated {
            for (var i = 0u; i < 8u; i++) {
                for (var half = 0u; half < 2u; half++) {
                    total[i][half] = add_compensated4(total[i][half], acc[i][half], one);
                    acc[i][half] = vec4<f32>(0.0);
                }
            }
        }
    }
    if compensated {
        for (var i = 0u; i < 8u; i++) {
            for (var half = 0u; half < 2u; half++) {
                acc[i][half] = total[i][half].hi + total[i][half].lo;
            }
        }
    }
    // Groups 1, 2 and 3 in turn hand group 0 their blocks, half a block (512 vec4s) at a time.
    let lane = t % 64u;
    for (var half = 0u; half < 2u; half++) {
        for (var giver = 1u; giver < 4u; giver++) {
            if at.group == giver {
                for (var i = 0u; i < 8u; i++) {
                    gemm_stage[lane * 8u + i] = acc[i][half];
                }
            }
            workgroupBarrier();
            if at.group == 0u {
                for (var i = 0u; i < 8u; i++) {
                    acc[i][half] += gemm_stage[lane * 8u + i];
                }
            }
            workgroupBarrier();
        }
    }
    return acc;
}

// (row, column) of element (i, j) of acc[i][j / 4], as laid out by gemm_block8.
fn block8_element(origin: vec2<u32>, at: Block8, i: u32, j: u32) -> vec2<u32> {
    return origin + vec2<u32>((i / 4u) * 32u + at.ly * 4u + i % 4u, (j / 4u) * 32u + at.lx * 4u + j % 4u);
}

fn gemm_store8(m: u32, n: u32, origin: vec2<u32>, lid: vec3<u32>, acc: array<array<vec4<f32>, 2>, 8>) {
    let at = block8_of(lid);
    if at.group != 0u {
        return;
    }
    for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 8u; j++) {
            let e = block8_element(origin, at, i, j);
            if e.x < m && e.y < n {
                store_element(e.x, e.y, acc[i][j / 4u][j % 4u]);
            }
        }
    }
}

fn gemm_store_partial8(m: u32, n: u32, work: GemmWork, lid: vec3<u32>, acc: array<array<vec4<f32>, 2>, 8>) {
    let at = block8_of(lid);
    if at.group != 0u {
        return;
    }
    for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 8u; j++) {
            let e = block8_element(work.origin, at, i, j);
            if e.x < m && e.y < n {
                partials[(work.split * m + e.x) * n + e.y] = acc[i][j / 4u][j % 4u];
            }
        }
    }
}

// This workgroup's tile over [k_begin, k_end), stored through store_element, or with `split` into its
// split's matrix of partial sums: the entry points' common path, on GEMM_BLOCK's block. `compensated`
// (a constant at every call): the runs of depths are added into compensated totals, as forward
// products need (their outputs feed BatchNorms and kinks); the gradients' products skip it.
fn gemm_product(m: u32, n: u32, k_begin: u32, k_end: u32, a_k_fast: bool, b_n_fast: bool, work: GemmWork, lid: vec3<u32>, split: bool, compensated: bool) {
    if GEMM_BLOCK == 8u {
        let acc = gemm_block8(m, n, k_begin, k_end, a_k_fast, b_n_fast, work.origin, lid, compensated);
        if split {
            gemm_store_partial8(m, n, work, lid, acc);
        } else {
            gemm_store8(m, n, work.origin, lid, acc);
        }
    } else {
        let acc = gemm_block4(m, n, k_begin, k_end, a_k_fast, b_n_fast, work.origin, lid, compensated);
        if split {
            gemm_store_partial4(m, n, work, lid, acc);
        } else {
            gemm_store4(m, n, work.origin, lid, acc);
        }
    }
}

// Element i (row-major in m×n) of the product, added up over the splits in split order into a
// compensated total (common.wgsl), four splits at a time. Four splits are loaded before they are
// added, so their loads wait on memory together.
fn gemm_reduce(m: u32, n: u32, splits: u32, i: u32) -> f32 {
    let size = m * n;
    let one = opaque_one(splits);
    var sum = Sum1(0.0, 0.0);
    var s = 0u;
    for (; s + 4u <= splits; s += 4u) {
        let v0 = partials[s * size + i];
        let v1 = partials[(s + 1u) * size + i];
        let v2 = partials[(s + 2u) * size + i];
        let v3 = partials[(s + 3u) * size + i];
        sum = add_compensated(sum, ((v0 + v1) + v2) + v3, one);
    }
    for (; s < splits; s++) {
        sum = add_compensated(sum, partials[s * size + i], one);
    }
    return sum.hi + sum.lo;
}
