// The register block of the subgroup kernels (prepended to linear_subgroup.wgsl and conv_subgroup.wgsl;
// linear_subgroup.wgsl's header says why they are built this way). One workgroup of 8 invocations, one
// subgroup, computes a 32×32 block of a matrix product: lane l owns four columns and keeps all 32 rows
// of them in acc0..acc31. Each depth is a rank-1 update: every row's value is broadcast from the lane
// that loaded it and multiplied into this lane's four columns. The updates are written out row by row
// because a broadcast's lane must be a constant.

var<private> acc0: vec4<f32>;
var<private> acc1: vec4<f32>;
var<private> acc2: vec4<f32>;
var<private> acc3: vec4<f32>;
var<private> acc4: vec4<f32>;
var<private> acc5: vec4<f32>;
var<private> acc6: vec4<f32>;
var<private> acc7: vec4<f32>;
var<private> acc8: vec4<f32>;
var<private> acc9: vec4<f32>;
var<private> acc10: vec4<f32>;
var<private> acc11: vec4<f32>;
var<private> acc12: vec4<f32>;
var<private> acc13: vec4<f32>;
var<private> acc14: vec4<f32>;
var<private> acc15: vec4<f32>;
var<private> acc16: vec4<f32>;
var<private> acc17: vec4<f32>;
var<private> acc18: vec4<f32>;
var<private> acc19: vec4<f32>;
var<private> acc20: vec4<f32>;
var<private> acc21: vec4<f32>;
var<private> acc22: vec4<f32>;
var<private> acc23: vec4<f32>;
var<private> acc24: vec4<f32>;
var<private> acc25: vec4<f32>;
var<private> acc26: vec4<f32>;
var<private> acc27: vec4<f32>;
var<private> acc28: vec4<f32>;
var<private> acc29: vec4<f32>;
var<private> acc30: vec4<f32>;
var<private> acc31: vec4<f32>;

// Adds one depth's rank-1 update. Row r0 + 8·g + lane's value comes in `a[g]` of that lane, and is
// broadcast from it; `b` holds this lane's four columns. (Written out: a broadcast's lane must be
// a constant.)
fn rank1_rows(a: vec4<f32>, b: vec4<f32>) {
    acc0 = fma(vec4<f32>(subgroupBroadcast(a.x, 0u)), b, acc0);
    acc1 = fma(vec4<f32>(subgroupBroadcast(a.x, 1u)), b, acc1);
    acc2 = fma(vec4<f32>(subgroupBroadcast(a.x, 2u)), b, acc2);
    acc3 = fma(vec4<f32>(subgroupBroadcast(a.x, 3u)), b, acc3);
    acc4 = fma(vec4<f32>(subgroupBroadcast(a.x, 4u)), b, acc4);
    acc5 = fma(vec4<f32>(subgroupBroadcast(a.x, 5u)), b, acc5);
    acc6 = fma(vec4<f32>(subgroupBroadcast(a.x, 6u)), b, acc6);
    acc7 = fma(vec4<f32>(subgroupBroadcast(a.x, 7u)), b, acc7);
    acc8 = fma(vec4<f32>(subgroupBroadcast(a.y, 0u)), b, acc8);
    acc9 = fma(vec4<f32>(subgroupBroadcast(a.y, 1u)), b, acc9);
    acc10 = fma(vec4<f32>(subgroupBroadcast(a.y, 2u)), b, acc10);
    acc11 = fma(vec4<f32>(subgroupBroadcast(a.y, 3u)), b, acc11);
    acc12 = fma(vec4<f32>(subgroupBroadcast(a.y, 4u)), b, acc12);
    acc13 = fma(vec4<f32>(subgroupBroadcast(a.y, 5u)), b, acc13);
    acc14 = fma(vec4<f32>(subgroupBroadcast(a.y, 6u)), b, acc14);
    acc15 = fma(vec4<f32>(subgroupBroadcast(a.y, 7u)), b, acc15);
    acc16 = fma(vec4<f32>(subgroupBroadcast(a.z, 0u)), b, acc16);
    acc17 = fma(vec4<f32>(subgroupBroadcast(a.z, 1u)), b, acc17);
    acc18 = fma(vec4<f32>(subgroupBroadcast(a.z, 2u)), b, acc18);
    acc19 = fma(vec4<f32>(subgroupBroadcast(a.z, 3u)), b, acc19);
    acc20 = fma(vec4<f32>(subgroupBroadcast(a.z, 4u)), b, acc20);
    acc21 = fma(vec4<f32>(subgroupBroadcast(a.z, 5u)), b, acc21);
    acc22 = fma(vec4<f32>(subgroupBroadcast(a.z, 6u)), b, acc22);
    acc23 = fma(vec4<f32>(subgroupBroadcast(a.z, 7u)), b, acc23);
    acc24 = fma(vec4<f32>(subgroupBroadcast(a.w, 0u)), b, acc24);
    acc25 = fma(vec4<f32>(subgroupBroadcast(a.w, 1u)), b, acc25);
    acc26 = fma(vec4<f32>(subgroupBroadcast(a.w, 2u)), b, acc26);
    acc27 = fma(vec4<f32>(subgroupBroadcast(a.w, 3u)), b, acc27);
    acc28 = fma(vec4<f32>(subgroupBroadcast(a.w, 4u)), b, acc28);
    acc29 = fma(vec4<f32>(subgroupBroadcast(a.w, 5u)), b, acc29);
    acc30 = fma(vec4<f32>(subgroupBroadcast(a.w, 6u)), b, acc30);
    acc31 = fma(vec4<f32>(subgroupBroadcast(a.w, 7u)), b, acc31);
}

// The same update when lane l holds rows r0 + 4·l .. r0 + 4·l + 3 in `q` (A read down its columns).
fn rank1_cols(q: vec4<f32>, b: vec4<f32>) {
    acc0 = fma(vec4<f32>(subgroupBroadcast(q.x, 0u)), b, acc0);
    acc1 = fma(vec4<f32>(subgroupBroadcast(q.y, 0u)), b, acc1);
    acc2 = fma(vec4<f32>(subgroupBroadcast(q.z, 0u)), b, acc2);
    acc3 = fma(vec4<f32>(subgroupBroadcast(q.w, 0u)), b, acc3);
    acc4 = fma(vec4<f32>(subgroupBroadcast(q.x, 1u)), b, acc4);
    acc5 = fma(vec4<f32>(subgroupBroadcast(q.y, 1u)), b, acc5);
    acc6 = fma(vec4<f32>(subgroupBroadcast(q.z, 1u)), b, acc6);
    acc7 = fma(vec4<f32>(subgroupBroadcast(q.w, 1u)), b, acc7);
    acc8 = fma(vec4<f32>(subgroupBroadcast(q.x, 2u)), b, acc8);
    acc9 = fma(vec4<f32>(subgroupBroadcast(q.y, 2u)), b, acc9);
    acc10 = fma(vec4<f32>(subgroupBroadcast(q.z, 2u)), b, acc10);
    acc11 = fma(vec4<f32>(subgroupBroadcast(q.w, 2u)), b, acc11);
    acc12 = fma(vec4<f32>(subgroupBroadcast(q.x, 3u)), b, acc12);
    acc13 = fma(vec4<f32>(subgroupBroadcast(q.y, 3u)), b, acc13);
    acc14 = fma(vec4<f32>(subgroupBroadcast(q.z, 3u)), b, acc14);
    acc15 = fma(vec4<f32>(subgroupBroadcast(q.w, 3u)), b, acc15);
    acc16 = fma(vec4<f32>(subgroupBroadcast(q.x, 4u)), b, acc16);
    acc17 = fma(vec4<f32>(subgroupBroadcast(q.y, 4u)), b, acc17);
    acc18 = fma(vec4<f32>(subgroupBroadcast(q.z, 4u)), b, acc18);
    acc19 = fma(vec4<f32>(subgroupBroadcast(q.w, 4u)), b, acc19);
    acc20 = fma(vec4<f32>(subgroupBroadcast(q.x, 5u)), b, acc20);
    acc21 = fma(vec4<f32>(subgroupBroadcast(q.y, 5u)), b, acc21);
    acc22 = fma(vec4<f32>(subgroupBroadcast(q.z, 5u)), b, acc22);
    acc23 = fma(vec4<f32>(subgroupBroadcast(q.w, 5u)), b, acc23);
    acc24 = fma(vec4<f32>(subgroupBroadcast(q.x, 6u)), b, acc24);
    acc25 = fma(vec4<f32>(subgroupBroadcast(q.y, 6u)), b, acc25);
    acc26 = fma(vec4<f32>(subgroupBroadcast(q.z, 6u)), b, acc26);
    acc27 = fma(vec4<f32>(subgroupBroadcast(q.w, 6u)), b, acc27);
    acc28 = fma(vec4<f32>(subgroupBroadcast(q.x, 7u)), b, acc28);
    acc29 = fma(vec4<f32>(subgroupBroadcast(q.y, 7u)), b, acc29);
    acc30 = fma(vec4<f32>(subgroupBroadcast(q.z, 7u)), b, acc30);
    acc31 = fma(vec4<f32>(subgroupBroadcast(q.w, 7u)), b, acc31);
}
