// RUN: fresco-opt %s --fresco-test-sharding-rules -split-input-file -verify-diagnostics

// Every fresco op's sharding rule (ShardingRules.cpp), in Shardy's notation:
// operand dimensions -> result dimensions, each dimension its factors
// (major to minor, `1` when it has none), factor sizes, then the factors
// that are contracted (reduction), must stay whole (need_replication) or are
// attention's key tokens (key_sequence, with the heads factor their split
// may move onto). The pass also checks each rule against the op's types.

func.func @rules(%x: tensor<2x5x8xf32>, %img: tensor<2x4x8x8xf32>, %c: tensor<2x8xf32>, %t: tensor<2xf32>, %ids: tensor<2xi64>, %kv: tensor<2x7x8xf32>) {
  // Parameters: a split is a slice each rank loads.
  // expected-remark @below {{sharding rule () -> ([i, j]) {i=4, j=8}}}
  %w = fresco.param "w" : tensor<4x8xf32>
  // expected-remark @below {{sharding rule () -> ([i]) {i=4}}}
  %b = fresco.param "b" : tensor<4xf32>
  // Linear: batch and output features parallel, the input features contracted
  // (a split leaves a partial sum; the bias goes after the all_reduce).
  // expected-remark @below {{sharding rule ([i, j, k], [l, k], [l]) -> ([i, j, l]) {i=2, j=5, k=8, l=4} reduction={k}}}
  %0 = fresco.linear %x, %w, %b : (tensor<2x5x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x5x4xf32>
  // With an epilogue activation the sum must be whole before it.
  // expected-remark @below {{sharding rule ([i, j, k], [l, k]) -> ([i, j, l]) {i=2, j=5, k=8, l=4} need_replication={k}}}
  %1 = fresco.linear %x, %w {activation = "gelu_tanh"} : (tensor<2x5x8xf32>, tensor<4x8xf32>) -> tensor<2x5x4xf32>
  // expected-remark @below {{sharding rule () -> ([i, j, k, l]) {i=16, j=4, k=2, l=2}}}
  %cw = fresco.param "cw" : tensor<16x4x2x2xf32>
  // A patch embedding (stride == kernel, no padding): each input row block
  // (l, m) is output row l with its kernel row m, so rows split in parallel.
  // expected-remark @below {{sharding rule ([i, j, (l, m), (n, o)], [k, j, m, o]) -> ([i, k, l, n]) {i=2, j=4, k=16, l=4, m=2, n=4, o=2} reduction={j} need_replication={m, o}}}
  %2 = fresco.conv2d %img, %cw {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  // expected-remark @below {{sharding rule () -> ([i, j, k, l]) {i=4, j=4, k=3, l=3}}}
  %cw3 = fresco.param "cw3" : tensor<4x4x3x3xf32>
  // expected-remark @below {{sharding rule () -> ([i]) {i=4}}}
  %cb3 = fresco.param "cb3" : tensor<4xf32>
  // A padded 3x3 convolution looks across rows and columns.
  // expected-remark @below {{sharding rule ([i, j, l, o], [k, j, m, p], [k]) -> ([i, k, n, q]) {i=2, j=4, k=4, l=8, m=3, n=8, o=8, p=3, q=8} reduction={j} need_replication={l, m, n, o, p, q}}}
  %3 = fresco.conv2d %img, %cw3, %cb3 {padding = array<i64: 1, 1>} : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  // expected-remark @below {{sharding rule () -> ([i]) {i=8}}}
  %g = fresco.param "g" : tensor<8xf32>
  // Norms: statistics over the last dimension; the modulation [B, D] shares
  // the batch.
  // expected-remark @below {{sharding rule ([i, j, k], [k], [k], [i, k], [i, k]) -> ([i, j, k]) {i=2, j=5, k=8} need_replication={k}}}
  %4 = fresco.layer_norm %x, %g, %g modulate(%c, %c) {epsilon = 1.0e-6 : f64} : (tensor<2x5x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k], [k]) -> ([i, j, k]) {i=2, j=5, k=8} need_replication={k}}}
  %5 = fresco.rms_norm %x, %g {epsilon = 1.0e-6 : f64} : (tensor<2x5x8xf32>, tensor<8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule () -> ([i]) {i=4}}}
  %gg = fresco.param "gg" : tensor<4xf32>
  // Group norm: statistics over channel groups and every position; the
  // channels split in whole groups (j, a split divides num_groups).
  // expected-remark @below {{sharding rule ([i, (j, k), l, m], [(j, k)], [(j, k)]) -> ([i, (j, k), l, m]) {i=2, j=2, k=2, l=8, m=8} need_replication={k, l, m} heads=j}}
  %6 = fresco.group_norm %img, %gg, %gg {num_groups = 2 : i64, epsilon = 1.0e-6 : f64} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k], [i, k], [i, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %7 = fresco.modulate %x, %c, %c : (tensor<2x5x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x5x8xf32>
  // Attention: the feature dimension is (heads k, head dimension); the keys
  // and values' tokens m are the key sequence, resolved by ring attention or
  // by all_to_alls onto the heads.
  // expected-remark @below {{sharding rule ([i, j, (k, l)], [i, m, (k, l)], [i, m, (k, n)]) -> ([i, j, (k, n)]) {i=2, j=5, k=2, l=4, m=7, n=4} need_replication={l} key_sequence={m} heads=k}}
  %8 = fresco.attention %x, %kv, %kv {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %9 = fresco.gelu %x {approximate = "tanh"} : (tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, j]) {i=2, j=8}}}
  %10 = fresco.silu %c : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{sharding rule ([i, k]) -> ([i, j, k]) {i=2, j=1, k=8}}}
  %cr = fresco.reshape %c : tensor<2x8xf32> -> tensor<2x1x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k], [k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %11 = fresco.add %x, %g : (tensor<2x5x8xf32>, tensor<8xf32>) -> tensor<2x5x8xf32>
  // Broadcasting: an operand's size-1 dimension has no factor.
  // expected-remark @below {{sharding rule ([i, j, k], [i, 1, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %12 = fresco.sub %x, %cr : (tensor<2x5x8xf32>, tensor<2x1x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, 1, k], [i, j, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %13 = fresco.mul %cr, %x : (tensor<2x1x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k], [i, j, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %14 = fresco.div %x, %x : (tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, 1, k], [i, j, k], [i, j, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %15 = fresco.mul_add %cr, %x, %x : (tensor<2x1x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i]) -> ([i, j]) {i=2, j=8}}}
  %16 = fresco.timestep_embedding %t {dim = 8 : i64} : (tensor<2xf32>) -> tensor<2x8xf32>
  // expected-remark @below {{sharding rule () -> ([i, j]) {i=10, j=8}}}
  %tab = fresco.param "tab" : tensor<10x8xf32>
  // Embedding: the table's rows stay whole.
  // expected-remark @below {{sharding rule ([j, k], [i]) -> ([i, k]) {i=2, j=10, k=8} need_replication={j}}}
  %17 = fresco.embedding %tab, %ids : (tensor<10x8xf32>, tensor<2xi64>) -> tensor<2x8xf32>
  // expected-remark @below {{sharding rule () -> ([i, j, k]) {i=1, j=6, k=8}}}
  %18 = fresco.pos_embed_2d {base_size = 2.0 : f64, dim = 8 : i64, grid_h = 2 : i64, grid_w = 3 : i64} : tensor<1x6x8xf32>
  // Nearest upsampling: output rows (k, m) copy input row k.
  // expected-remark @below {{sharding rule ([i, j, k, l]) -> ([i, j, (k, m), (l, n)]) {i=2, j=4, k=8, l=8, m=2, n=2}}}
  %19 = fresco.upsample_nearest %img : (tensor<2x4x8x8xf32>) -> tensor<2x4x16x16xf32>
  // Reshapes share the factors that nest, major to minor (DiT's unpatchify
  // splits rows into (patch row, pixel)); shapes that do not nest need
  // replication.
  // expected-remark @below {{sharding rule ([i, j, (k, l)]) -> ([i, j, k, l]) {i=2, j=5, k=2, l=4}}}
  %20 = fresco.reshape %x : tensor<2x5x8xf32> -> tensor<2x5x2x4xf32>
  // expected-remark @below {{sharding rule ([i, j, (k, l), (m, n)]) -> ([i, j, k, l, m, n]) {i=2, j=4, k=4, l=2, m=4, n=2}}}
  %21 = fresco.reshape %img : tensor<2x4x8x8xf32> -> tensor<2x4x4x2x4x2xf32>
  // expected-remark @below {{sharding rule ([i, j, k]) -> ([l, m]) {i=2, j=5, k=8, l=5, m=16} need_replication={i, j, k, l, m}}}
  %22 = fresco.reshape %x : tensor<2x5x8xf32> -> tensor<5x16xf32>
  // expected-remark @below {{sharding rule ([i, j, k, l]) -> ([i, k, l, j]) {i=2, j=4, k=8, l=8}}}
  %23 = fresco.transpose %img {permutation = array<i64: 0, 2, 3, 1>} : (tensor<2x4x8x8xf32>) -> tensor<2x8x8x4xf32>
  // A slice needs its axis whole unless it keeps all of it.
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, k]) {i=2, j=8, k=4} need_replication={j, k}}}
  %24 = fresco.slice %c {axis = 1 : i64, start = 2 : i64, size = 4 : i64} : (tensor<2x8xf32>) -> tensor<2x4xf32>
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, j]) {i=2, j=8}}}
  %25 = fresco.slice %c {axis = -1 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // Concat needs its axis whole.
  // expected-remark @below {{sharding rule ([i, k], [i, l]) -> ([i, j]) {i=2, j=16, k=8, l=8} need_replication={j, k, l}}}
  %26 = fresco.concat %c, %10 {axis = 1 : i64} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x16xf32>
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, j]) {i=2, j=8}}}
  %27 = fresco.stage_transfer %c {axis = 0 : i16, from_stage = 0 : i64, to_stage = 1 : i64} : tensor<2x8xf32>
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, j]) {i=2, j=8}}}
  %28 = fresco.stage_broadcast %c {axis = 0 : i16, from_stage = 1 : i64} : tensor<2x8xf32>
  return
}

// -----

// Ring attention has the same rule: ring_axes says how this op resolves a
// split of its key sequence, not what it computes.
func.func @ring(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-remark @below {{sharding rule ([i, j, (k, l)], [i, m, (k, l)], [i, m, (k, n)]) -> ([i, j, (k, n)]) {i=1, j=4, k=4, l=2, m=4, n=2} need_replication={l} key_sequence={m} heads=k}}
  %a = fresco.attention %q, %q, %q {num_heads = 4 : i64, scale = 0.5 : f64, ring_axes = #fresco.axes<[0]>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %a : tensor<1x4x8xf32>
}

// -----

// Flux's rotary embedding: tokens are parallel in the table and in the
// rotation (a sequence split takes its table rows with its tokens), heads
// too (tp); a head's pairs need their whole table row.
func.func @rope(%ids: tensor<7x3xf32>, %q: tensor<2x7x32xf32>, %w: tensor<16xf32>) {
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, k, l]) {i=7, j=3, k=8, l=2} need_replication={j, k, l}}}
  %t = fresco.rope_table %ids {theta = 1.0e+04 : f64, axes_dim = array<i64: 4, 6, 6>} : (tensor<7x3xf32>) -> tensor<7x8x2xf32>
  // expected-remark @below {{sharding rule ([i, j, (k, l, m)], [j, l, m]) -> ([i, j, (k, l, m)]) {i=2, j=7, k=2, l=8, m=2} need_replication={l, m} heads=k}}
  %r = fresco.rope %q, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  // The fused q/k norm's weight [Dh] holds every head's pairs: replicated.
  // expected-remark @below {{sharding rule ([i, j, (k, l, m)], [j, l, m], [(l, m)]) -> ([i, j, (k, l, m)]) {i=2, j=7, k=2, l=8, m=2} need_replication={l, m} heads=k}}
  %n = fresco.rope %q, %t norm(%w) {epsilon = 1.0e-06 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  return
}

// The text encoders' ops. A causal mask compares global positions: queries
// j and keys m stay whole (ring attention cannot take them). A bias [heads,
// Tq, Tk] keeps the keys whole and is sliced with the heads and queries.
func.func @text_encoders(%x: tensor<2x5x8xf32>, %ids: tensor<2x5xi64>, %t: tensor<32x2xf32>) {
  // expected-remark @below {{sharding rule ([i, j]) -> ([j, k, l]) {i=32, j=2, k=5, l=5} need_replication={i, k, l}}}
  %b = fresco.relative_position_bias %t {num_buckets = 32 : i64, max_distance = 20 : i64, bidirectional, query_length = 5 : i64, key_length = 5 : i64} : (tensor<32x2xf32>) -> tensor<2x5x5xf32>
  // expected-remark @below {{sharding rule ([i, j, (k, l)], [i, m, (k, l)], [i, m, (k, n)]) -> ([i, j, (k, n)]) {i=2, j=5, k=2, l=4, m=5, n=4} need_replication={j, l, m} heads=k}}
  %0 = fresco.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.5 : f64, causal} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j, (k, l)], [i, m, (k, l)], [i, m, (k, n)], [k, j, m]) -> ([i, j, (k, n)]) {i=2, j=5, k=2, l=4, m=5, n=4} need_replication={l, m} heads=k}}
  %1 = fresco.attention %x, %x, %x, %b {num_heads = 2 : i64, scale = 1.0 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x5xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %2 = fresco.quick_gelu %x : (tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k], [i, j]) -> ([i, k]) {i=2, j=5, k=8} need_replication={j}}}
  %3 = fresco.eos_pool %x, %ids {token_id = 7 : i64} : (tensor<2x5x8xf32>, tensor<2x5xi64>) -> tensor<2x8xf32>
  return
}

// -----

// Pad is the inverse of slice: its offsets need the padded axis whole, unless
// it pads nothing.
func.func @pad(%x: tensor<2x5x8xf32>) {
  // expected-remark @below {{sharding rule ([i, j, k]) -> ([i, l, k]) {i=2, j=5, k=8, l=8} need_replication={j, l}}}
  %0 = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x5x8xf32>) -> tensor<2x8x8xf32>
  // expected-remark @below {{sharding rule ([i, j, k]) -> ([i, j, k]) {i=2, j=5, k=8}}}
  %1 = fresco.pad %x {axis = -1 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  return
}

// -----

// Point-to-point transfers exist only after fresco-specialize-ranks, where
// nothing is split: their rules only say how dimensions correspond (a send has
// no result, a receive no operand, a non-root broadcast no input).
func.func @transfers(%x: tensor<2x8xf32>) {
  // expected-remark @below {{sharding rule ([i, j]) -> () {i=2, j=8}}}
  fresco.send %x {members = array<i32: 0, 1>, peer = 1 : i64, tag = 0 : i32} : tensor<2x8xf32>
  // expected-remark @below {{sharding rule () -> ([i, j]) {i=2, j=8}}}
  %0 = fresco.recv {members = array<i32: 0, 1>, peer = 1 : i64, tag = 1 : i32} : tensor<2x8xf32>
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, j]) {i=2, j=8}}}
  %1 = fresco.broadcast %x : tensor<2x8xf32> {members = array<i32: 0, 1>, root = 0 : i64} -> tensor<2x8xf32>
  // expected-remark @below {{sharding rule () -> ([i, j]) {i=2, j=8}}}
  %2 = fresco.broadcast {members = array<i32: 0, 1>, root = 1 : i64} -> tensor<2x8xf32>
  return
}

// -----

// A wait is its collective's result, complete: element for element. The
// shard collective itself has no fresco rule and prints nothing.
shard.grid @grid(shape = 2)
func.func @wait(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 {fresco.async} : tensor<2x4xf32> -> tensor<4x4xf32>
  // expected-remark @below {{sharding rule ([i, j]) -> ([i, j]) {i=4, j=4}}}
  %0 = fresco.wait %g : tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}
