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

// The upper bank: a second block of 32 rows × 4 columns per lane, for kernels whose lanes own eight
// columns (two blocks side by side): loads of the row values, or of the columns, are then shared.
var<private> acc32: vec4<f32>;
var<private> acc33: vec4<f32>;
var<private> acc34: vec4<f32>;
var<private> acc35: vec4<f32>;
var<private> acc36: vec4<f32>;
var<private> acc37: vec4<f32>;
var<private> acc38: vec4<f32>;
var<private> acc39: vec4<f32>;
var<private> acc40: vec4<f32>;
var<private> acc41: vec4<f32>;
var<private> acc42: vec4<f32>;
var<private> acc43: vec4<f32>;
var<private> acc44: vec4<f32>;
var<private> acc45: vec4<f32>;
var<private> acc46: vec4<f32>;
var<private> acc47: vec4<f32>;
var<private> acc48: vec4<f32>;
var<private> acc49: vec4<f32>;
var<private> acc50: vec4<f32>;
var<private> acc51: vec4<f32>;
var<private> acc52: vec4<f32>;
var<private> acc53: vec4<f32>;
var<private> acc54: vec4<f32>;
var<private> acc55: vec4<f32>;
var<private> acc56: vec4<f32>;
var<private> acc57: vec4<f32>;
var<private> acc58: vec4<f32>;
var<private> acc59: vec4<f32>;
var<private> acc60: vec4<f32>;
var<private> acc61: vec4<f32>;
var<private> acc62: vec4<f32>;
var<private> acc63: vec4<f32>;

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

// Four depths' rank-1 updates at once, in depth order x, y, z, w: `ax`..`aw` are rank1_rows's `a` for
// each depth, `bx`..`bw` its `b`. Each accumulator takes all four products in one statement, so it is
// loaded from and stored to the stack once per four depths instead of once per depth (lavapipe keeps
// most of the 128 accumulators on the stack, and splits each fma into a multiply and an add).
fn rank4_rows(ax: vec4<f32>, ay: vec4<f32>, az: vec4<f32>, aw: vec4<f32>, bx: vec4<f32>, by: vec4<f32>, bz: vec4<f32>, bw: vec4<f32>) {
    acc0 = fma(vec4<f32>(subgroupBroadcast(aw.x, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 0u)), bx, acc0))));
    acc1 = fma(vec4<f32>(subgroupBroadcast(aw.x, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 1u)), bx, acc1))));
    acc2 = fma(vec4<f32>(subgroupBroadcast(aw.x, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 2u)), bx, acc2))));
    acc3 = fma(vec4<f32>(subgroupBroadcast(aw.x, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 3u)), bx, acc3))));
    acc4 = fma(vec4<f32>(subgroupBroadcast(aw.x, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 4u)), bx, acc4))));
    acc5 = fma(vec4<f32>(subgroupBroadcast(aw.x, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 5u)), bx, acc5))));
    acc6 = fma(vec4<f32>(subgroupBroadcast(aw.x, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 6u)), bx, acc6))));
    acc7 = fma(vec4<f32>(subgroupBroadcast(aw.x, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 7u)), bx, acc7))));
    acc8 = fma(vec4<f32>(subgroupBroadcast(aw.y, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 0u)), bx, acc8))));
    acc9 = fma(vec4<f32>(subgroupBroadcast(aw.y, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 1u)), bx, acc9))));
    acc10 = fma(vec4<f32>(subgroupBroadcast(aw.y, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 2u)), bx, acc10))));
    acc11 = fma(vec4<f32>(subgroupBroadcast(aw.y, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 3u)), bx, acc11))));
    acc12 = fma(vec4<f32>(subgroupBroadcast(aw.y, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 4u)), bx, acc12))));
    acc13 = fma(vec4<f32>(subgroupBroadcast(aw.y, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 5u)), bx, acc13))));
    acc14 = fma(vec4<f32>(subgroupBroadcast(aw.y, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 6u)), bx, acc14))));
    acc15 = fma(vec4<f32>(subgroupBroadcast(aw.y, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 7u)), bx, acc15))));
    acc16 = fma(vec4<f32>(subgroupBroadcast(aw.z, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 0u)), bx, acc16))));
    acc17 = fma(vec4<f32>(subgroupBroadcast(aw.z, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 1u)), bx, acc17))));
    acc18 = fma(vec4<f32>(subgroupBroadcast(aw.z, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 2u)), bx, acc18))));
    acc19 = fma(vec4<f32>(subgroupBroadcast(aw.z, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 3u)), bx, acc19))));
    acc20 = fma(vec4<f32>(subgroupBroadcast(aw.z, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 4u)), bx, acc20))));
    acc21 = fma(vec4<f32>(subgroupBroadcast(aw.z, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 5u)), bx, acc21))));
    acc22 = fma(vec4<f32>(subgroupBroadcast(aw.z, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 6u)), bx, acc22))));
    acc23 = fma(vec4<f32>(subgroupBroadcast(aw.z, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 7u)), bx, acc23))));
    acc24 = fma(vec4<f32>(subgroupBroadcast(aw.w, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 0u)), bx, acc24))));
    acc25 = fma(vec4<f32>(subgroupBroadcast(aw.w, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 1u)), bx, acc25))));
    acc26 = fma(vec4<f32>(subgroupBroadcast(aw.w, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 2u)), bx, acc26))));
    acc27 = fma(vec4<f32>(subgroupBroadcast(aw.w, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 3u)), bx, acc27))));
    acc28 = fma(vec4<f32>(subgroupBroadcast(aw.w, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 4u)), bx, acc28))));
    acc29 = fma(vec4<f32>(subgroupBroadcast(aw.w, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 5u)), bx, acc29))));
    acc30 = fma(vec4<f32>(subgroupBroadcast(aw.w, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 6u)), bx, acc30))));
    acc31 = fma(vec4<f32>(subgroupBroadcast(aw.w, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 7u)), bx, acc31))));
}

// rank1_cols for four depths, as rank4_rows is rank1_rows for four.
fn rank4_cols(qx: vec4<f32>, qy: vec4<f32>, qz: vec4<f32>, qw: vec4<f32>, bx: vec4<f32>, by: vec4<f32>, bz: vec4<f32>, bw: vec4<f32>) {
    acc0 = fma(vec4<f32>(subgroupBroadcast(qw.x, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 0u)), bx, acc0))));
    acc1 = fma(vec4<f32>(subgroupBroadcast(qw.y, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 0u)), bx, acc1))));
    acc2 = fma(vec4<f32>(subgroupBroadcast(qw.z, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 0u)), bx, acc2))));
    acc3 = fma(vec4<f32>(subgroupBroadcast(qw.w, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 0u)), bx, acc3))));
    acc4 = fma(vec4<f32>(subgroupBroadcast(qw.x, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 1u)), bx, acc4))));
    acc5 = fma(vec4<f32>(subgroupBroadcast(qw.y, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 1u)), bx, acc5))));
    acc6 = fma(vec4<f32>(subgroupBroadcast(qw.z, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 1u)), bx, acc6))));
    acc7 = fma(vec4<f32>(subgroupBroadcast(qw.w, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 1u)), bx, acc7))));
    acc8 = fma(vec4<f32>(subgroupBroadcast(qw.x, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 2u)), bx, acc8))));
    acc9 = fma(vec4<f32>(subgroupBroadcast(qw.y, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 2u)), bx, acc9))));
    acc10 = fma(vec4<f32>(subgroupBroadcast(qw.z, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 2u)), bx, acc10))));
    acc11 = fma(vec4<f32>(subgroupBroadcast(qw.w, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 2u)), bx, acc11))));
    acc12 = fma(vec4<f32>(subgroupBroadcast(qw.x, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 3u)), bx, acc12))));
    acc13 = fma(vec4<f32>(subgroupBroadcast(qw.y, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 3u)), bx, acc13))));
    acc14 = fma(vec4<f32>(subgroupBroadcast(qw.z, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 3u)), bx, acc14))));
    acc15 = fma(vec4<f32>(subgroupBroadcast(qw.w, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 3u)), bx, acc15))));
    acc16 = fma(vec4<f32>(subgroupBroadcast(qw.x, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 4u)), bx, acc16))));
    acc17 = fma(vec4<f32>(subgroupBroadcast(qw.y, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 4u)), bx, acc17))));
    acc18 = fma(vec4<f32>(subgroupBroadcast(qw.z, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 4u)), bx, acc18))));
    acc19 = fma(vec4<f32>(subgroupBroadcast(qw.w, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 4u)), bx, acc19))));
    acc20 = fma(vec4<f32>(subgroupBroadcast(qw.x, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 5u)), bx, acc20))));
    acc21 = fma(vec4<f32>(subgroupBroadcast(qw.y, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 5u)), bx, acc21))));
    acc22 = fma(vec4<f32>(subgroupBroadcast(qw.z, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 5u)), bx, acc22))));
    acc23 = fma(vec4<f32>(subgroupBroadcast(qw.w, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 5u)), bx, acc23))));
    acc24 = fma(vec4<f32>(subgroupBroadcast(qw.x, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 6u)), bx, acc24))));
    acc25 = fma(vec4<f32>(subgroupBroadcast(qw.y, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 6u)), bx, acc25))));
    acc26 = fma(vec4<f32>(subgroupBroadcast(qw.z, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 6u)), bx, acc26))));
    acc27 = fma(vec4<f32>(subgroupBroadcast(qw.w, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 6u)), bx, acc27))));
    acc28 = fma(vec4<f32>(subgroupBroadcast(qw.x, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 7u)), bx, acc28))));
    acc29 = fma(vec4<f32>(subgroupBroadcast(qw.y, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 7u)), bx, acc29))));
    acc30 = fma(vec4<f32>(subgroupBroadcast(qw.z, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 7u)), bx, acc30))));
    acc31 = fma(vec4<f32>(subgroupBroadcast(qw.w, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 7u)), bx, acc31))));
}

// rank1_rows on the upper bank (acc32..acc63).
fn rank1_rows_upper(a: vec4<f32>, b: vec4<f32>) {
    acc32 = fma(vec4<f32>(subgroupBroadcast(a.x, 0u)), b, acc32);
    acc33 = fma(vec4<f32>(subgroupBroadcast(a.x, 1u)), b, acc33);
    acc34 = fma(vec4<f32>(subgroupBroadcast(a.x, 2u)), b, acc34);
    acc35 = fma(vec4<f32>(subgroupBroadcast(a.x, 3u)), b, acc35);
    acc36 = fma(vec4<f32>(subgroupBroadcast(a.x, 4u)), b, acc36);
    acc37 = fma(vec4<f32>(subgroupBroadcast(a.x, 5u)), b, acc37);
    acc38 = fma(vec4<f32>(subgroupBroadcast(a.x, 6u)), b, acc38);
    acc39 = fma(vec4<f32>(subgroupBroadcast(a.x, 7u)), b, acc39);
    acc40 = fma(vec4<f32>(subgroupBroadcast(a.y, 0u)), b, acc40);
    acc41 = fma(vec4<f32>(subgroupBroadcast(a.y, 1u)), b, acc41);
    acc42 = fma(vec4<f32>(subgroupBroadcast(a.y, 2u)), b, acc42);
    acc43 = fma(vec4<f32>(subgroupBroadcast(a.y, 3u)), b, acc43);
    acc44 = fma(vec4<f32>(subgroupBroadcast(a.y, 4u)), b, acc44);
    acc45 = fma(vec4<f32>(subgroupBroadcast(a.y, 5u)), b, acc45);
    acc46 = fma(vec4<f32>(subgroupBroadcast(a.y, 6u)), b, acc46);
    acc47 = fma(vec4<f32>(subgroupBroadcast(a.y, 7u)), b, acc47);
    acc48 = fma(vec4<f32>(subgroupBroadcast(a.z, 0u)), b, acc48);
    acc49 = fma(vec4<f32>(subgroupBroadcast(a.z, 1u)), b, acc49);
    acc50 = fma(vec4<f32>(subgroupBroadcast(a.z, 2u)), b, acc50);
    acc51 = fma(vec4<f32>(subgroupBroadcast(a.z, 3u)), b, acc51);
    acc52 = fma(vec4<f32>(subgroupBroadcast(a.z, 4u)), b, acc52);
    acc53 = fma(vec4<f32>(subgroupBroadcast(a.z, 5u)), b, acc53);
    acc54 = fma(vec4<f32>(subgroupBroadcast(a.z, 6u)), b, acc54);
    acc55 = fma(vec4<f32>(subgroupBroadcast(a.z, 7u)), b, acc55);
    acc56 = fma(vec4<f32>(subgroupBroadcast(a.w, 0u)), b, acc56);
    acc57 = fma(vec4<f32>(subgroupBroadcast(a.w, 1u)), b, acc57);
    acc58 = fma(vec4<f32>(subgroupBroadcast(a.w, 2u)), b, acc58);
    acc59 = fma(vec4<f32>(subgroupBroadcast(a.w, 3u)), b, acc59);
    acc60 = fma(vec4<f32>(subgroupBroadcast(a.w, 4u)), b, acc60);
    acc61 = fma(vec4<f32>(subgroupBroadcast(a.w, 5u)), b, acc61);
    acc62 = fma(vec4<f32>(subgroupBroadcast(a.w, 6u)), b, acc62);
    acc63 = fma(vec4<f32>(subgroupBroadcast(a.w, 7u)), b, acc63);
}

// rank4_rows on the upper bank.
fn rank4_rows_upper(ax: vec4<f32>, ay: vec4<f32>, az: vec4<f32>, aw: vec4<f32>, bx: vec4<f32>, by: vec4<f32>, bz: vec4<f32>, bw: vec4<f32>) {
    acc32 = fma(vec4<f32>(subgroupBroadcast(aw.x, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 0u)), bx, acc32))));
    acc33 = fma(vec4<f32>(subgroupBroadcast(aw.x, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 1u)), bx, acc33))));
    acc34 = fma(vec4<f32>(subgroupBroadcast(aw.x, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 2u)), bx, acc34))));
    acc35 = fma(vec4<f32>(subgroupBroadcast(aw.x, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 3u)), bx, acc35))));
    acc36 = fma(vec4<f32>(subgroupBroadcast(aw.x, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 4u)), bx, acc36))));
    acc37 = fma(vec4<f32>(subgroupBroadcast(aw.x, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 5u)), bx, acc37))));
    acc38 = fma(vec4<f32>(subgroupBroadcast(aw.x, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 6u)), bx, acc38))));
    acc39 = fma(vec4<f32>(subgroupBroadcast(aw.x, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.x, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.x, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.x, 7u)), bx, acc39))));
    acc40 = fma(vec4<f32>(subgroupBroadcast(aw.y, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 0u)), bx, acc40))));
    acc41 = fma(vec4<f32>(subgroupBroadcast(aw.y, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 1u)), bx, acc41))));
    acc42 = fma(vec4<f32>(subgroupBroadcast(aw.y, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 2u)), bx, acc42))));
    acc43 = fma(vec4<f32>(subgroupBroadcast(aw.y, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 3u)), bx, acc43))));
    acc44 = fma(vec4<f32>(subgroupBroadcast(aw.y, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 4u)), bx, acc44))));
    acc45 = fma(vec4<f32>(subgroupBroadcast(aw.y, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 5u)), bx, acc45))));
    acc46 = fma(vec4<f32>(subgroupBroadcast(aw.y, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 6u)), bx, acc46))));
    acc47 = fma(vec4<f32>(subgroupBroadcast(aw.y, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.y, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.y, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.y, 7u)), bx, acc47))));
    acc48 = fma(vec4<f32>(subgroupBroadcast(aw.z, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 0u)), bx, acc48))));
    acc49 = fma(vec4<f32>(subgroupBroadcast(aw.z, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 1u)), bx, acc49))));
    acc50 = fma(vec4<f32>(subgroupBroadcast(aw.z, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 2u)), bx, acc50))));
    acc51 = fma(vec4<f32>(subgroupBroadcast(aw.z, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 3u)), bx, acc51))));
    acc52 = fma(vec4<f32>(subgroupBroadcast(aw.z, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 4u)), bx, acc52))));
    acc53 = fma(vec4<f32>(subgroupBroadcast(aw.z, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 5u)), bx, acc53))));
    acc54 = fma(vec4<f32>(subgroupBroadcast(aw.z, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 6u)), bx, acc54))));
    acc55 = fma(vec4<f32>(subgroupBroadcast(aw.z, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.z, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.z, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.z, 7u)), bx, acc55))));
    acc56 = fma(vec4<f32>(subgroupBroadcast(aw.w, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 0u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 0u)), bx, acc56))));
    acc57 = fma(vec4<f32>(subgroupBroadcast(aw.w, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 1u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 1u)), bx, acc57))));
    acc58 = fma(vec4<f32>(subgroupBroadcast(aw.w, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 2u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 2u)), bx, acc58))));
    acc59 = fma(vec4<f32>(subgroupBroadcast(aw.w, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 3u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 3u)), bx, acc59))));
    acc60 = fma(vec4<f32>(subgroupBroadcast(aw.w, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 4u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 4u)), bx, acc60))));
    acc61 = fma(vec4<f32>(subgroupBroadcast(aw.w, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 5u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 5u)), bx, acc61))));
    acc62 = fma(vec4<f32>(subgroupBroadcast(aw.w, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 6u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 6u)), bx, acc62))));
    acc63 = fma(vec4<f32>(subgroupBroadcast(aw.w, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(az.w, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(ay.w, 7u)), by, fma(vec4<f32>(subgroupBroadcast(ax.w, 7u)), bx, acc63))));
}

// rank4_cols on the upper bank.
fn rank4_cols_upper(qx: vec4<f32>, qy: vec4<f32>, qz: vec4<f32>, qw: vec4<f32>, bx: vec4<f32>, by: vec4<f32>, bz: vec4<f32>, bw: vec4<f32>) {
    acc32 = fma(vec4<f32>(subgroupBroadcast(qw.x, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 0u)), bx, acc32))));
    acc33 = fma(vec4<f32>(subgroupBroadcast(qw.y, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 0u)), bx, acc33))));
    acc34 = fma(vec4<f32>(subgroupBroadcast(qw.z, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 0u)), bx, acc34))));
    acc35 = fma(vec4<f32>(subgroupBroadcast(qw.w, 0u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 0u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 0u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 0u)), bx, acc35))));
    acc36 = fma(vec4<f32>(subgroupBroadcast(qw.x, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 1u)), bx, acc36))));
    acc37 = fma(vec4<f32>(subgroupBroadcast(qw.y, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 1u)), bx, acc37))));
    acc38 = fma(vec4<f32>(subgroupBroadcast(qw.z, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 1u)), bx, acc38))));
    acc39 = fma(vec4<f32>(subgroupBroadcast(qw.w, 1u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 1u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 1u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 1u)), bx, acc39))));
    acc40 = fma(vec4<f32>(subgroupBroadcast(qw.x, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 2u)), bx, acc40))));
    acc41 = fma(vec4<f32>(subgroupBroadcast(qw.y, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 2u)), bx, acc41))));
    acc42 = fma(vec4<f32>(subgroupBroadcast(qw.z, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 2u)), bx, acc42))));
    acc43 = fma(vec4<f32>(subgroupBroadcast(qw.w, 2u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 2u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 2u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 2u)), bx, acc43))));
    acc44 = fma(vec4<f32>(subgroupBroadcast(qw.x, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 3u)), bx, acc44))));
    acc45 = fma(vec4<f32>(subgroupBroadcast(qw.y, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 3u)), bx, acc45))));
    acc46 = fma(vec4<f32>(subgroupBroadcast(qw.z, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 3u)), bx, acc46))));
    acc47 = fma(vec4<f32>(subgroupBroadcast(qw.w, 3u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 3u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 3u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 3u)), bx, acc47))));
    acc48 = fma(vec4<f32>(subgroupBroadcast(qw.x, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 4u)), bx, acc48))));
    acc49 = fma(vec4<f32>(subgroupBroadcast(qw.y, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 4u)), bx, acc49))));
    acc50 = fma(vec4<f32>(subgroupBroadcast(qw.z, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 4u)), bx, acc50))));
    acc51 = fma(vec4<f32>(subgroupBroadcast(qw.w, 4u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 4u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 4u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 4u)), bx, acc51))));
    acc52 = fma(vec4<f32>(subgroupBroadcast(qw.x, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 5u)), bx, acc52))));
    acc53 = fma(vec4<f32>(subgroupBroadcast(qw.y, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 5u)), bx, acc53))));
    acc54 = fma(vec4<f32>(subgroupBroadcast(qw.z, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 5u)), bx, acc54))));
    acc55 = fma(vec4<f32>(subgroupBroadcast(qw.w, 5u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 5u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 5u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 5u)), bx, acc55))));
    acc56 = fma(vec4<f32>(subgroupBroadcast(qw.x, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 6u)), bx, acc56))));
    acc57 = fma(vec4<f32>(subgroupBroadcast(qw.y, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 6u)), bx, acc57))));
    acc58 = fma(vec4<f32>(subgroupBroadcast(qw.z, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 6u)), bx, acc58))));
    acc59 = fma(vec4<f32>(subgroupBroadcast(qw.w, 6u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 6u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 6u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 6u)), bx, acc59))));
    acc60 = fma(vec4<f32>(subgroupBroadcast(qw.x, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.x, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.x, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.x, 7u)), bx, acc60))));
    acc61 = fma(vec4<f32>(subgroupBroadcast(qw.y, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.y, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.y, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.y, 7u)), bx, acc61))));
    acc62 = fma(vec4<f32>(subgroupBroadcast(qw.z, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.z, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.z, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.z, 7u)), bx, acc62))));
    acc63 = fma(vec4<f32>(subgroupBroadcast(qw.w, 7u)), bw, fma(vec4<f32>(subgroupBroadcast(qz.w, 7u)), bz, fma(vec4<f32>(subgroupBroadcast(qy.w, 7u)), by, fma(vec4<f32>(subgroupBroadcast(qx.w, 7u)), bx, acc63))));
}

// rank1_cols on the upper bank.
fn rank1_cols_upper(q: vec4<f32>, b: vec4<f32>) {
    acc32 = fma(vec4<f32>(subgroupBroadcast(q.x, 0u)), b, acc32);
    acc33 = fma(vec4<f32>(subgroupBroadcast(q.y, 0u)), b, acc33);
    acc34 = fma(vec4<f32>(subgroupBroadcast(q.z, 0u)), b, acc34);
    acc35 = fma(vec4<f32>(subgroupBroadcast(q.w, 0u)), b, acc35);
    acc36 = fma(vec4<f32>(subgroupBroadcast(q.x, 1u)), b, acc36);
    acc37 = fma(vec4<f32>(subgroupBroadcast(q.y, 1u)), b, acc37);
    acc38 = fma(vec4<f32>(subgroupBroadcast(q.z, 1u)), b, acc38);
    acc39 = fma(vec4<f32>(subgroupBroadcast(q.w, 1u)), b, acc39);
    acc40 = fma(vec4<f32>(subgroupBroadcast(q.x, 2u)), b, acc40);
    acc41 = fma(vec4<f32>(subgroupBroadcast(q.y, 2u)), b, acc41);
    acc42 = fma(vec4<f32>(subgroupBroadcast(q.z, 2u)), b, acc42);
    acc43 = fma(vec4<f32>(subgroupBroadcast(q.w, 2u)), b, acc43);
    acc44 = fma(vec4<f32>(subgroupBroadcast(q.x, 3u)), b, acc44);
    acc45 = fma(vec4<f32>(subgroupBroadcast(q.y, 3u)), b, acc45);
    acc46 = fma(vec4<f32>(subgroupBroadcast(q.z, 3u)), b, acc46);
    acc47 = fma(vec4<f32>(subgroupBroadcast(q.w, 3u)), b, acc47);
    acc48 = fma(vec4<f32>(subgroupBroadcast(q.x, 4u)), b, acc48);
    acc49 = fma(vec4<f32>(subgroupBroadcast(q.y, 4u)), b, acc49);
    acc50 = fma(vec4<f32>(subgroupBroadcast(q.z, 4u)), b, acc50);
    acc51 = fma(vec4<f32>(subgroupBroadcast(q.w, 4u)), b, acc51);
    acc52 = fma(vec4<f32>(subgroupBroadcast(q.x, 5u)), b, acc52);
    acc53 = fma(vec4<f32>(subgroupBroadcast(q.y, 5u)), b, acc53);
    acc54 = fma(vec4<f32>(subgroupBroadcast(q.z, 5u)), b, acc54);
    acc55 = fma(vec4<f32>(subgroupBroadcast(q.w, 5u)), b, acc55);
    acc56 = fma(vec4<f32>(subgroupBroadcast(q.x, 6u)), b, acc56);
    acc57 = fma(vec4<f32>(subgroupBroadcast(q.y, 6u)), b, acc57);
    acc58 = fma(vec4<f32>(subgroupBroadcast(q.z, 6u)), b, acc58);
    acc59 = fma(vec4<f32>(subgroupBroadcast(q.w, 6u)), b, acc59);
    acc60 = fma(vec4<f32>(subgroupBroadcast(q.x, 7u)), b, acc60);
    acc61 = fma(vec4<f32>(subgroupBroadcast(q.y, 7u)), b, acc61);
    acc62 = fma(vec4<f32>(subgroupBroadcast(q.z, 7u)), b, acc62);
    acc63 = fma(vec4<f32>(subgroupBroadcast(q.w, 7u)), b, acc63);
}

// Moves every row of both banks one up (acc1 to acc0, ..., acc63 to acc62), so that a loop over the
// rows stores each from acc0 and acc32. The alternatives cost more: a loop that indexed the
// accumulators would put all 64 in memory on every iteration, and 64 unrolled stores are 64 copies of
// lavapipe's per-lane store loop, which take its compiler seconds per kernel (BENCHMARKS.md).
fn shift_rows() {
    acc0 = acc1;
    acc1 = acc2;
    acc2 = acc3;
    acc3 = acc4;
    acc4 = acc5;
    acc5 = acc6;
    acc6 = acc7;
    acc7 = acc8;
    acc8 = acc9;
    acc9 = acc10;
    acc10 = acc11;
    acc11 = acc12;
    acc12 = acc13;
    acc13 = acc14;
    acc14 = acc15;
    acc15 = acc16;
    acc16 = acc17;
    acc17 = acc18;
    acc18 = acc19;
    acc19 = acc20;
    acc20 = acc21;
    acc21 = acc22;
    acc22 = acc23;
    acc23 = acc24;
    acc24 = acc25;
    acc25 = acc26;
    acc26 = acc27;
    acc27 = acc28;
    acc28 = acc29;
    acc29 = acc30;
    acc30 = acc31;
    acc32 = acc33;
    acc33 = acc34;
    acc34 = acc35;
    acc35 = acc36;
    acc36 = acc37;
    acc37 = acc38;
    acc38 = acc39;
    acc39 = acc40;
    acc40 = acc41;
    acc41 = acc42;
    acc42 = acc43;
    acc43 = acc44;
    acc44 = acc45;
    acc45 = acc46;
    acc46 = acc47;
    acc47 = acc48;
    acc48 = acc49;
    acc49 = acc50;
    acc50 = acc51;
    acc51 = acc52;
    acc52 = acc53;
    acc53 = acc54;
    acc54 = acc55;
    acc55 = acc56;
    acc56 = acc57;
    acc57 = acc58;
    acc58 = acc59;
    acc59 = acc60;
    acc60 = acc61;
    acc61 = acc62;
    acc62 = acc63;
}

// The register block's running totals, hi + lo, for the compensated sums of common.wgsl: a product
// sums a run of depths in acc0..acc63, then flush_blocks adds each accumulator into its total and
// clears it, and settle_blocks leaves the totals in the accumulators for the stores.
var<private> hi0: vec4<f32>;
var<private> hi1: vec4<f32>;
var<private> hi2: vec4<f32>;
var<private> hi3: vec4<f32>;
var<private> hi4: vec4<f32>;
var<private> hi5: vec4<f32>;
var<private> hi6: vec4<f32>;
var<private> hi7: vec4<f32>;
var<private> hi8: vec4<f32>;
var<private> hi9: vec4<f32>;
var<private> hi10: vec4<f32>;
var<private> hi11: vec4<f32>;
var<private> hi12: vec4<f32>;
var<private> hi13: vec4<f32>;
var<private> hi14: vec4<f32>;
var<private> hi15: vec4<f32>;
var<private> hi16: vec4<f32>;
var<private> hi17: vec4<f32>;
var<private> hi18: vec4<f32>;
var<private> hi19: vec4<f32>;
var<private> hi20: vec4<f32>;
var<private> hi21: vec4<f32>;
var<private> hi22: vec4<f32>;
var<private> hi23: vec4<f32>;
var<private> hi24: vec4<f32>;
var<private> hi25: vec4<f32>;
var<private> hi26: vec4<f32>;
var<private> hi27: vec4<f32>;
var<private> hi28: vec4<f32>;
var<private> hi29: vec4<f32>;
var<private> hi30: vec4<f32>;
var<private> hi31: vec4<f32>;
var<private> hi32: vec4<f32>;
var<private> hi33: vec4<f32>;
var<private> hi34: vec4<f32>;
var<private> hi35: vec4<f32>;
var<private> hi36: vec4<f32>;
var<private> hi37: vec4<f32>;
var<private> hi38: vec4<f32>;
var<private> hi39: vec4<f32>;
var<private> hi40: vec4<f32>;
var<private> hi41: vec4<f32>;
var<private> hi42: vec4<f32>;
var<private> hi43: vec4<f32>;
var<private> hi44: vec4<f32>;
var<private> hi45: vec4<f32>;
var<private> hi46: vec4<f32>;
var<private> hi47: vec4<f32>;
var<private> hi48: vec4<f32>;
var<private> hi49: vec4<f32>;
var<private> hi50: vec4<f32>;
var<private> hi51: vec4<f32>;
var<private> hi52: vec4<f32>;
var<private> hi53: vec4<f32>;
var<private> hi54: vec4<f32>;
var<private> hi55: vec4<f32>;
var<private> hi56: vec4<f32>;
var<private> hi57: vec4<f32>;
var<private> hi58: vec4<f32>;
var<private> hi59: vec4<f32>;
var<private> hi60: vec4<f32>;
var<private> hi61: vec4<f32>;
var<private> hi62: vec4<f32>;
var<private> hi63: vec4<f32>;
var<private> lo0: vec4<f32>;
var<private> lo1: vec4<f32>;
var<private> lo2: vec4<f32>;
var<private> lo3: vec4<f32>;
var<private> lo4: vec4<f32>;
var<private> lo5: vec4<f32>;
var<private> lo6: vec4<f32>;
var<private> lo7: vec4<f32>;
var<private> lo8: vec4<f32>;
var<private> lo9: vec4<f32>;
var<private> lo10: vec4<f32>;
var<private> lo11: vec4<f32>;
var<private> lo12: vec4<f32>;
var<private> lo13: vec4<f32>;
var<private> lo14: vec4<f32>;
var<private> lo15: vec4<f32>;
var<private> lo16: vec4<f32>;
var<private> lo17: vec4<f32>;
var<private> lo18: vec4<f32>;
var<private> lo19: vec4<f32>;
var<private> lo20: vec4<f32>;
var<private> lo21: vec4<f32>;
var<private> lo22: vec4<f32>;
var<private> lo23: vec4<f32>;
var<private> lo24: vec4<f32>;
var<private> lo25: vec4<f32>;
var<private> lo26: vec4<f32>;
var<private> lo27: vec4<f32>;
var<private> lo28: vec4<f32>;
var<private> lo29: vec4<f32>;
var<private> lo30: vec4<f32>;
var<private> lo31: vec4<f32>;
var<private> lo32: vec4<f32>;
var<private> lo33: vec4<f32>;
var<private> lo34: vec4<f32>;
var<private> lo35: vec4<f32>;
var<private> lo36: vec4<f32>;
var<private> lo37: vec4<f32>;
var<private> lo38: vec4<f32>;
var<private> lo39: vec4<f32>;
var<private> lo40: vec4<f32>;
var<private> lo41: vec4<f32>;
var<private> lo42: vec4<f32>;
var<private> lo43: vec4<f32>;
var<private> lo44: vec4<f32>;
var<private> lo45: vec4<f32>;
var<private> lo46: vec4<f32>;
var<private> lo47: vec4<f32>;
var<private> lo48: vec4<f32>;
var<private> lo49: vec4<f32>;
var<private> lo50: vec4<f32>;
var<private> lo51: vec4<f32>;
var<private> lo52: vec4<f32>;
var<private> lo53: vec4<f32>;
var<private> lo54: vec4<f32>;
var<private> lo55: vec4<f32>;
var<private> lo56: vec4<f32>;
var<private> lo57: vec4<f32>;
var<private> lo58: vec4<f32>;
var<private> lo59: vec4<f32>;
var<private> lo60: vec4<f32>;
var<private> lo61: vec4<f32>;
var<private> lo62: vec4<f32>;
var<private> lo63: vec4<f32>;

fn flush_one(acc: ptr<private, vec4<f32>>, hi: ptr<private, vec4<f32>>, lo: ptr<private, vec4<f32>>, one: f32) {
    let total = add_compensated4(Sum4(*hi, *lo), *acc, one);
    *hi = total.hi;
    *lo = total.lo;
    *acc = vec4<f32>(0.0);
}

fn settle_one(acc: ptr<private, vec4<f32>>, hi: ptr<private, vec4<f32>>, lo: ptr<private, vec4<f32>>, one: f32) {
    flush_one(acc, hi, lo, one);
    *acc = *hi + *lo;
}

// flush_one on both banks.
fn flush_blocks(one: f32) {
    flush_one(&acc0, &hi0, &lo0, one);
    flush_one(&acc1, &hi1, &lo1, one);
    flush_one(&acc2, &hi2, &lo2, one);
    flush_one(&acc3, &hi3, &lo3, one);
    flush_one(&acc4, &hi4, &lo4, one);
    flush_one(&acc5, &hi5, &lo5, one);
    flush_one(&acc6, &hi6, &lo6, one);
    flush_one(&acc7, &hi7, &lo7, one);
    flush_one(&acc8, &hi8, &lo8, one);
    flush_one(&acc9, &hi9, &lo9, one);
    flush_one(&acc10, &hi10, &lo10, one);
    flush_one(&acc11, &hi11, &lo11, one);
    flush_one(&acc12, &hi12, &lo12, one);
    flush_one(&acc13, &hi13, &lo13, one);
    flush_one(&acc14, &hi14, &lo14, one);
    flush_one(&acc15, &hi15, &lo15, one);
    flush_one(&acc16, &hi16, &lo16, one);
    flush_one(&acc17, &hi17, &lo17, one);
    flush_one(&acc18, &hi18, &lo18, one);
    flush_one(&acc19, &hi19, &lo19, one);
    flush_one(&acc20, &hi20, &lo20, one);
    flush_one(&acc21, &hi21, &lo21, one);
    flush_one(&acc22, &hi22, &lo22, one);
    flush_one(&acc23, &hi23, &lo23, one);
    flush_one(&acc24, &hi24, &lo24, one);
    flush_one(&acc25, &hi25, &lo25, one);
    flush_one(&acc26, &hi26, &lo26, one);
    flush_one(&acc27, &hi27, &lo27, one);
    flush_one(&acc28, &hi28, &lo28, one);
    flush_one(&acc29, &hi29, &lo29, one);
    flush_one(&acc30, &hi30, &lo30, one);
    flush_one(&acc31, &hi31, &lo31, one);
    flush_one(&acc32, &hi32, &lo32, one);
    flush_one(&acc33, &hi33, &lo33, one);
    flush_one(&acc34, &hi34, &lo34, one);
    flush_one(&acc35, &hi35, &lo35, one);
    flush_one(&acc36, &hi36, &lo36, one);
    flush_one(&acc37, &hi37, &lo37, one);
    flush_one(&acc38, &hi38, &lo38, one);
    flush_one(&acc39, &hi39, &lo39, one);
    flush_one(&acc40, &hi40, &lo40, one);
    flush_one(&acc41, &hi41, &lo41, one);
    flush_one(&acc42, &hi42, &lo42, one);
    flush_one(&acc43, &hi43, &lo43, one);
    flush_one(&acc44, &hi44, &lo44, one);
    flush_one(&acc45, &hi45, &lo45, one);
    flush_one(&acc46, &hi46, &lo46, one);
    flush_one(&acc47, &hi47, &lo47, one);
    flush_one(&acc48, &hi48, &lo48, one);
    flush_one(&acc49, &hi49, &lo49, one);
    flush_one(&acc50, &hi50, &lo50, one);
    flush_one(&acc51, &hi51, &lo51, one);
    flush_one(&acc52, &hi52, &lo52, one);
    flush_one(&acc53, &hi53, &lo53, one);
    flush_one(&acc54, &hi54, &lo54, one);
    flush_one(&acc55, &hi55, &lo55, one);
    flush_one(&acc56, &hi56, &lo56, one);
    flush_one(&acc57, &hi57, &lo57, one);
    flush_one(&acc58, &hi58, &lo58, one);
    flush_one(&acc59, &hi59, &lo59, one);
    flush_one(&acc60, &hi60, &lo60, one);
    flush_one(&acc61, &hi61, &lo61, one);
    flush_one(&acc62, &hi62, &lo62, one);
    flush_one(&acc63, &hi63, &lo63, one);
}

// settle_one on both banks: once, after the last depth, before the stores.
fn settle_blocks(one: f32) {
    settle_one(&acc0, &hi0, &lo0, one);
    settle_one(&acc1, &hi1, &lo1, one);
    settle_one(&acc2, &hi2, &lo2, one);
    settle_one(&acc3, &hi3, &lo3, one);
    settle_one(&acc4, &hi4, &lo4, one);
    settle_one(&acc5, &hi5, &lo5, one);
    settle_one(&acc6, &hi6, &lo6, one);
    settle_one(&acc7, &hi7, &lo7, one);
    settle_one(&acc8, &hi8, &lo8, one);
    settle_one(&acc9, &hi9, &lo9, one);
    settle_one(&acc10, &hi10, &lo10, one);
    settle_one(&acc11, &hi11, &lo11, one);
    settle_one(&acc12, &hi12, &lo12, one);
    settle_one(&acc13, &hi13, &lo13, one);
    settle_one(&acc14, &hi14, &lo14, one);
    settle_one(&acc15, &hi15, &lo15, one);
    settle_one(&acc16, &hi16, &lo16, one);
    settle_one(&acc17, &hi17, &lo17, one);
    settle_one(&acc18, &hi18, &lo18, one);
    settle_one(&acc19, &hi19, &lo19, one);
    settle_one(&acc20, &hi20, &lo20, one);
    settle_one(&acc21, &hi21, &lo21, one);
    settle_one(&acc22, &hi22, &lo22, one);
    settle_one(&acc23, &hi23, &lo23, one);
    settle_one(&acc24, &hi24, &lo24, one);
    settle_one(&acc25, &hi25, &lo25, one);
    settle_one(&acc26, &hi26, &lo26, one);
    settle_one(&acc27, &hi27, &lo27, one);
    settle_one(&acc28, &hi28, &lo28, one);
    settle_one(&acc29, &hi29, &lo29, one);
    settle_one(&acc30, &hi30, &lo30, one);
    settle_one(&acc31, &hi31, &lo31, one);
    settle_one(&acc32, &hi32, &lo32, one);
    settle_one(&acc33, &hi33, &lo33, one);
    settle_one(&acc34, &hi34, &lo34, one);
    settle_one(&acc35, &hi35, &lo35, one);
    settle_one(&acc36, &hi36, &lo36, one);
    settle_one(&acc37, &hi37, &lo37, one);
    settle_one(&acc38, &hi38, &lo38, one);
    settle_one(&acc39, &hi39, &lo39, one);
    settle_one(&acc40, &hi40, &lo40, one);
    settle_one(&acc41, &hi41, &lo41, one);
    settle_one(&acc42, &hi42, &lo42, one);
    settle_one(&acc43, &hi43, &lo43, one);
    settle_one(&acc44, &hi44, &lo44, one);
    settle_one(&acc45, &hi45, &lo45, one);
    settle_one(&acc46, &hi46, &lo46, one);
    settle_one(&acc47, &hi47, &lo47, one);
    settle_one(&acc48, &hi48, &lo48, one);
    settle_one(&acc49, &hi49, &lo49, one);
    settle_one(&acc50, &hi50, &lo50, one);
    settle_one(&acc51, &hi51, &lo51, one);
    settle_one(&acc52, &hi52, &lo52, one);
    settle_one(&acc53, &hi53, &lo53, one);
    settle_one(&acc54, &hi54, &lo54, one);
    settle_one(&acc55, &hi55, &lo55, one);
    settle_one(&acc56, &hi56, &lo56, one);
    settle_one(&acc57, &hi57, &lo57, one);
    settle_one(&acc58, &hi58, &lo58, one);
    settle_one(&acc59, &hi59, &lo59, one);
    settle_one(&acc60, &hi60, &lo60, one);
    settle_one(&acc61, &hi61, &lo61, one);
    settle_one(&acc62, &hi62, &lo62, one);
    settle_one(&acc63, &hi63, &lo63, one);
}
