// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=2" --fresco-ring-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,ring=2" --fresco-cfg-parallel --fresco-ring-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=CFG
// RUN: not fresco-opt %s --fresco-create-grid="parallel=ulysses=2,ring=2" --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings -split-input-file 2>/dev/null | FileCheck %s --check-prefix=USP
// RUN: not fresco-opt %s --fresco-create-grid="parallel=ring=2,ulysses=2" --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings -split-input-file 2>&1 | FileCheck %s --check-prefix=ORDER
// Three strategies, to the collectives.
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,ulysses=2,ring=2" --fresco-cfg-parallel --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings --fresco-insert-collectives -split-input-file 2>/dev/null | FileCheck %s --check-prefix=THREE

// The small DiT of fresco-ulysses-parallel.mlir: each rank takes half of the
// image rows, hence half of the tokens, and keeps them through the
// attention, which becomes ring attention over grid axis 0 with q, k and v
// of this rank's 8 tokens (no all_to_all); the result is marked to be
// gathered by rows.
// CHECK-LABEL: func.func @dit
// CHECK-SAME: -> (tensor<2x4x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}, {}]>})
// CHECK: %[[X:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 2 : tensor<2x4x8x8xf32> -> tensor<2x4x4x8xf32>
// CHECK: fresco.conv2d %[[X]], {{.*}} -> tensor<2x16x2x4xf32>
// CHECK: %[[P:.*]] = fresco.pos_embed_2d {{.*}} : tensor<1x16x16xf32>
// CHECK: shard.all_slice %[[P]] on @grid grid_axes = [0] slice_axis = 1 : tensor<1x16x16xf32> -> tensor<1x8x16xf32>
// CHECK-NOT: shard.all_to_all
// CHECK: %[[A:.*]] = fresco.attention {{.*}} {num_heads = 4 : i64, ring_axes = #fresco.axes<[0]>, {{.*}}} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
// CHECK: fresco.linear %[[A]], {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[O:.*]] = fresco.reshape {{.*}} : tensor<2x4x2x2x4x2xf32> -> tensor<2x4x4x8xf32>
// CHECK: return %[[O]]
// With cfg first: the ring is grid axis 1, within each cfg half.
// CFG-LABEL: func.func @dit
// CFG-SAME: -> (tensor<1x4x4x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}, {1}, {}]>})
// CFG: shard.all_slice {{.*}} grid_axes = [1] slice_axis = 2 : tensor<1x4x8x8xf32> -> tensor<1x4x4x8xf32>
// CFG: fresco.attention {{.*}} ring_axes = #fresco.axes<[1]>{{.*}} : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
// With Ulysses first (the hybrid): each rank holds a quarter of the rows;
// Ulysses' all_to_alls trade its split for 2 of the 4 heads but keep the
// ring's, so ring attention runs on 8 of the 16 tokens and 2 heads; the
// result's mark names both axes (the ring's minor), for one all_gather that
// restores the rows in order.
// USP-LABEL: func.func @dit
// USP-SAME: -> (tensor<2x4x2x8xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0, 1}, {}]>})
// USP: %[[U:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 2 : tensor<2x4x8x8xf32> -> tensor<2x4x4x8xf32>
// USP: shard.all_slice %[[U]] on @grid grid_axes = [1] slice_axis = 2 : tensor<2x4x4x8xf32> -> tensor<2x4x2x8xf32>
// USP-COUNT-3: shard.all_to_all {{.*}} grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x4x16xf32> -> tensor<2x8x8xf32>
// USP: fresco.attention {{.*}} {num_heads = 2 : i64, ring_axes = #fresco.axes<[1]>, {{.*}}} : (tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
// USP: shard.all_to_all {{.*}} grid_axes = [0] split_axis = 1 concat_axis = 2 : tensor<2x8x8xf32> -> tensor<2x4x16xf32>
// USP: %[[O:.*]] = fresco.reshape {{.*}} -> tensor<2x4x2x8xf32>
// USP-NEXT: return %[[O]]
// cfg x Ulysses x ring: the batch halves on axis 0, each half's rows in
// quarters on axes 1 then 2; the all_to_alls on axis 1 keep the ring's
// split, ring attention runs over axis 2; the rows come back in one gather
// over axes 1 and 2, then the batch over axis 0.
// THREE-LABEL: func.func @dit
// THREE: %[[B:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 0 : tensor<2x4x8x8xf32> -> tensor<1x4x8x8xf32>
// THREE: %[[U:.*]] = shard.all_slice %[[B]] on @grid grid_axes = [1] slice_axis = 2 : tensor<1x4x8x8xf32> -> tensor<1x4x4x8xf32>
// THREE: shard.all_slice %[[U]] on @grid grid_axes = [2] slice_axis = 2 : tensor<1x4x4x8xf32> -> tensor<1x4x2x8xf32>
// THREE-COUNT-3: shard.all_to_all {{.*}} grid_axes = [1] split_axis = 2 concat_axis = 1 : tensor<1x4x16xf32> -> tensor<1x8x8xf32>
// THREE: fresco.attention {{.*}} {num_heads = 2 : i64, ring_axes = #fresco.axes<[2]>, {{.*}}} : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
// THREE: %[[R:.*]] = shard.all_gather {{.*}} grid_axes = [1, 2] gather_axis = 2 : tensor<1x4x2x8xf32> -> tensor<1x4x8x8xf32>
// THREE: %[[G:.*]] = shard.all_gather %[[R]] on @grid grid_axes = [0] gather_axis = 0 : tensor<1x4x8x8xf32> -> tensor<2x4x8x8xf32>
// THREE: return %[[G]]
// ORDER: error: ring=2 with ulysses=2: list ulysses before ring in --parallel (e.g. ulysses=2,ring=2)
func.func @dit(%x: tensor<2x4x8x8xf32>, %c: tensor<2x16xf32>) -> tensor<2x4x8x8xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %pb = fresco.param "proj.bias" : tensor<16xf32>
  %0 = fresco.conv2d %x, %w, %pb {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>, tensor<16xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %pe = fresco.pos_embed_2d {base_size = 4.0 : f64, dim = 16 : i64, grid_h = 4 : i64, grid_w = 4 : i64} : tensor<1x16x16xf32>
  %3 = fresco.add %2, %pe : (tensor<2x16x16xf32>, tensor<1x16x16xf32>) -> tensor<2x16x16xf32>
  %4 = fresco.layer_norm %3 {epsilon = 1.0e-6 : f64} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %5 = fresco.modulate %4, %c, %c : (tensor<2x16x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16x16xf32>
  %wq = fresco.param "q.weight" : tensor<16x16xf32>
  %wk = fresco.param "k.weight" : tensor<16x16xf32>
  %wv = fresco.param "v.weight" : tensor<16x16xf32>
  %q = fresco.linear %5, %wq : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %k = fresco.linear %5, %wk : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %v = fresco.linear %5, %wv : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 4 : i64, scale = 0.5 : f64} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %wo = fresco.param "out.weight" : tensor<16x16xf32>
  %o = fresco.linear %a, %wo : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %g = fresco.reshape %c : tensor<2x16xf32> -> tensor<2x1x16xf32>
  %6 = fresco.mul %g, %o : (tensor<2x1x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %7 = fresco.add %6, %3 : (tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %8 = fresco.gelu %7 {approximate = "tanh"} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %9 = fresco.reshape %8 : tensor<2x16x16xf32> -> tensor<2x4x4x2x2x4xf32>
  %10 = fresco.transpose %9 {permutation = array<i64: 0, 5, 1, 3, 2, 4>} : (tensor<2x4x4x2x2x4xf32>) -> tensor<2x4x4x2x4x2xf32>
  %11 = fresco.reshape %10 : tensor<2x4x4x2x4x2xf32> -> tensor<2x4x8x8xf32>
  return %11 : tensor<2x4x8x8xf32>
}

// -----

// Attention to a context every rank holds stays local: no ring; and one
// head is fine (ring attention does not split heads).
// CHECK-LABEL: func.func @cross
// CHECK: fresco.attention
// CHECK-NOT: ring_axes
// CHECK-SAME: num_heads = 1
// CHECK-SAME: (tensor<2x8x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x8x16xf32>
func.func @cross(%x: tensor<2x4x8x8xf32>, %ctx: tensor<2x5x16xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %a = fresco.attention %2, %ctx, %ctx {num_heads = 1 : i64, scale = 0.25 : f64} : (tensor<2x16x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}

// -----

// Keys split but values replicated: no consistent way to pass them around.
func.func @mixed(%x: tensor<2x4x8x8xf32>, %v: tensor<2x16x16xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  // expected-error @+1 {{fresco-ring-parallel: attention key and value must both be split along the sequence or both be replicated}}
  %a = fresco.attention %2, %2, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}

// -----

// Patch rows must divide the degree, named as the user wrote it.
func.func @rows(%x: tensor<2x4x4x8xf32>) -> tensor<2x2x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x4x4xf32>
  // expected-error @+1 {{ring=2 cannot split dimension 2 of operand 0: the op's factor there has size 1, not divisible by 2}}
  %0 = fresco.conv2d %x, %w {strides = array<i64: 4, 4>} : (tensor<2x4x4x8xf32>, tensor<16x4x4x4xf32>) -> tensor<2x16x1x2xf32>
  %1 = fresco.reshape %0 : tensor<2x16x1x2xf32> -> tensor<2x16x2xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x2xf32>) -> tensor<2x2x16xf32>
  %a = fresco.attention %2, %2, %2 {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x2x16xf32>, tensor<2x2x16xf32>, tensor<2x2x16xf32>) -> tensor<2x2x16xf32>
  return %a : tensor<2x2x16xf32>
}
