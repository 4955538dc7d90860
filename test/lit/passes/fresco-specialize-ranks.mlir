// RUN: fresco-opt %s --fresco-specialize-ranks="ranks=5" -split-input-file -verify-diagnostics | FileCheck %s

// tp=2 x pipeline=2 on ranks 0-3 and a decoder on rank 4: each rank gets
// its own module with its copy of what it runs. Stage 0 (ranks 0 and 2)
// loads its slice of the split weight (rows [8 * tp, 8 * tp + 8)) and sends
// its two values forward (tags in program order), stage 1 (ranks 1 and 3)
// receives them, takes its block of the all_slice, runs ring attention
// with its ring's world ranks; the broadcast of the result is rooted at
// stage 1 of each tp group. Collectives name their members.
// CHECK-LABEL: module @rank0 attributes {fresco.rank = 0 : i64}
// CHECK: shard.grid @grid(shape = 2x2)
// CHECK: func.func @two_layers
// CHECK-NOT: fresco.pipeline_axis
// CHECK: fresco.param "l0.weight" {checkpoint_shape = array<i64: 16, 16>, offsets = array<i64: 0, 0>} : tensor<8x16xf32>
// CHECK: %[[C:.*]] = fresco.silu %arg1 :
// CHECK: fresco.send %[[C]] {members = array<i32: 0, 1>, peer = 1 : i64, tag = 0 : i32}
// CHECK: %[[G:.*]] = shard.all_gather {{.*}} {fresco.members = array<i32: 0, 2>}
// CHECK: fresco.send %[[G]] {members = array<i32: 0, 1>, peer = 1 : i64, tag = 1 : i32}
// CHECK: %[[B:.*]] = fresco.broadcast {members = array<i32: 0, 1>, root = 1 : i64} -> tensor<1x4x16xf32>
// CHECK: return %[[B]]
// CHECK-LABEL: module @rank1 attributes {fresco.rank = 1 : i64}
// CHECK-NOT: fresco.param
// CHECK: %[[C1:.*]] = fresco.recv {members = array<i32: 0, 1>, peer = 0 : i64, tag = 0 : i32} : tensor<1x4x16xf32>
// CHECK: %[[M1:.*]] = fresco.recv {members = array<i32: 0, 1>, peer = 0 : i64, tag = 1 : i32} : tensor<1x4x16xf32>
// CHECK: %[[S1:.*]] = fresco.slice %[[M1]] {axis = 1 : i64, size = 2 : i64, start = 0 : i64}
// CHECK: fresco.attention %[[S1]], %[[S1]], {{.*}} {fresco.ring_members = array<i32: 1, 3>,
// CHECK: %[[G1:.*]] = shard.all_gather {{.*}} {fresco.members = array<i32: 1, 3>}
// CHECK: fresco.broadcast %[[G1]] : tensor<1x4x16xf32> {members = array<i32: 0, 1>, root = 1 : i64}
// CHECK-LABEL: module @rank2 attributes {fresco.rank = 2 : i64}
// CHECK: fresco.param "l0.weight" {checkpoint_shape = array<i64: 16, 16>, offsets = array<i64: 8, 0>}
// CHECK: fresco.send {{.*}} {members = array<i32: 2, 3>, peer = 1 : i64, tag = 0 : i32}
// CHECK-LABEL: module @rank3 attributes {fresco.rank = 3 : i64}
// CHECK: fresco.slice {{.*}} {axis = 1 : i64, size = 2 : i64, start = 2 : i64}
// CHECK-LABEL: module @rank4 attributes {fresco.rank = 4 : i64}
// CHECK-NOT: func.func @two_layers
// CHECK: func.func @decoder
// CHECK-NOT: func.func
module attributes {fresco.grid_axes = ["tp", "pipeline"]} {
  shard.grid @grid(shape = 2x2)
  func.func @two_layers(%x: tensor<1x4x16xf32>, %c: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> attributes {fresco.pipeline_axis = 1 : i16, fresco.ranks = array<i64: 0, 1, 2, 3>} {
    %w0 = fresco.param "l0.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>, fresco.stage = #fresco.stage<0>} : tensor<8x16xf32>
    %cs = fresco.silu %c {fresco.stage = #fresco.stage<0>} : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
    %ct = fresco.stage_transfer %cs {axis = 1 : i16, from_stage = 0 : i64, to_stage = 1 : i64} : tensor<1x4x16xf32>
    %h0 = fresco.linear %x, %w0 {fresco.stage = #fresco.stage<0>} : (tensor<1x4x16xf32>, tensor<8x16xf32>) -> tensor<1x4x8xf32>
    %g0 = shard.all_gather %h0 on @grid grid_axes = [0] gather_axis = 2 {fresco.stage = #fresco.stage<0>} : tensor<1x4x8xf32> -> tensor<1x4x16xf32>
    %mt = fresco.stage_transfer %g0 {axis = 1 : i16, from_stage = 0 : i64, to_stage = 1 : i64} : tensor<1x4x16xf32>
    %s1 = shard.all_slice %mt on @grid grid_axes = [0] slice_axis = 1 {fresco.stage = #fresco.stage<1>} : tensor<1x4x16xf32> -> tensor<1x2x16xf32>
    %q = fresco.slice %ct {axis = 1 : i64, start = 0 : i64, size = 2 : i64, fresco.stage = #fresco.stage<1>} : (tensor<1x4x16xf32>) -> tensor<1x2x16xf32>
    %a = fresco.attention %s1, %s1, %q {num_heads = 2 : i64, scale = 0.5 : f64, ring_axes = #fresco.axes<[0]>, fresco.stage = #fresco.stage<1>} : (tensor<1x2x16xf32>, tensor<1x2x16xf32>, tensor<1x2x16xf32>) -> tensor<1x2x16xf32>
    %r = shard.all_gather %a on @grid grid_axes = [0] gather_axis = 1 {fresco.stage = #fresco.stage<1>} : tensor<1x2x16xf32> -> tensor<1x4x16xf32>
    %b = fresco.stage_broadcast %r {axis = 1 : i16, from_stage = 1 : i64} : tensor<1x4x16xf32>
    return %b : tensor<1x4x16xf32>
  }
  func.func @decoder(%x: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> attributes {fresco.ranks = array<i64: 4>} {
    %0 = fresco.silu %x : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
    return %0 : tensor<1x4x16xf32>
  }
}

// -----

// A bare model: every rank runs it whole (no grid).
// CHECK-LABEL: module @rank0 attributes {fresco.rank = 0 : i64}
// CHECK: func.func @f
// CHECK-LABEL: module @rank4 attributes {fresco.rank = 4 : i64}
// CHECK: func.func @f
module {
  func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}

// -----

// expected-error @+1 {{placed on rank 7 outside the 5 ranks}}
func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> attributes {fresco.ranks = array<i64: 7>} {
  return %x : tensor<2xf32>
}

// -----

module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    // expected-error @+1 {{a collective in a function that is not partitioned over the grid}}
    %0 = shard.all_reduce %x on @grid grid_axes = [0] : tensor<2x4xf32> -> tensor<2x4xf32>
    return %0 : tensor<2x4xf32>
  }
}

// -----

// expected-error @+1 {{the module is already specialised per rank}}
module {
  module @rank0 attributes {fresco.rank = 0 : i64} {
  }
}

// -----

// A partial sum over an axis the function's grid does not have.
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 5)
  func.func @f(%x: tensor<2x4xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>) -> tensor<2x8xf32> {
    // expected-error @+1 {{a partial sum over grid axes the function is not partitioned over}}
    %0 = fresco.linear %x, %w, %b {fresco.partial_sum = {axes = array<i16: 1>, once = ["bias"]}} : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    return %0 : tensor<2x8xf32>
  }
}
