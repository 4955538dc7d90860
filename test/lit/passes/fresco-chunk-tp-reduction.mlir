// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-chunk-tp-reduction{chunks=2}))' -split-input-file | FileCheck %s
// Four chunks: whole samples no longer, two runs of each sample's tokens.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-chunk-tp-reduction{chunks=4}))' -split-input-file | FileCheck %s --check-prefix=FOUR
// Then the plan's view: the chunks' sums start asynchronously but the last,
// and the windows, GEMM results and sums are views of the concatenation.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-chunk-tp-reduction{chunks=2},fresco-place-waits,fresco-assign-buffers{alignment=4}))' -split-input-file | FileCheck %s --check-prefix=PLAN

// DiT's gated residual after fresco-fold-into-reduction, batch 2: a sample
// per chunk, each with its gate's row and the once-counted bias.
// CHECK-LABEL: func.func @gated
// CHECK: %[[X0:.*]] = fresco.slice %arg0 {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<2x8x4xf32>) -> tensor<1x8x4xf32>
// CHECK: %[[G0:.*]] = fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<2x1x16xf32>) -> tensor<1x1x16xf32>
// CHECK: %[[L0:.*]] = fresco.linear %[[X0]], %{{.*}}, %{{.*}} gate %[[G0]] {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}} : {{.*}} -> tensor<1x8x16xf32>
// CHECK: %[[S0:.*]] = shard.all_reduce %[[L0]] on @grid grid_axes = [0] : tensor<1x8x16xf32> -> tensor<1x8x16xf32>
// CHECK: %[[X1:.*]] = fresco.slice %arg0 {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// CHECK: %[[G1:.*]] = fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// CHECK: %[[L1:.*]] = fresco.linear %[[X1]], %{{.*}}, %{{.*}} gate %[[G1]] {fresco.partial_sum
// CHECK: %[[S1:.*]] = shard.all_reduce %[[L1]]
// CHECK: %[[C:.*]] = fresco.concat %[[S0]], %[[S1]] {axis = 0 : i64} : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<2x8x16xf32>
// CHECK: fresco.add %[[C]], %arg1
// FOUR-LABEL: func.func @gated
// FOUR: %[[V:.*]] = fresco.reshape %arg0 : tensor<2x8x4xf32> -> tensor<4x4x4xf32>
// FOUR: %[[X0:.*]] = fresco.slice %[[V]] {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<4x4x4xf32>) -> tensor<1x4x4xf32>
// FOUR: fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 0 : i64}
// FOUR-NOT: fresco.slice %arg2 {{.*}}start = 0
// FOUR: fresco.slice %[[V]] {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// FOUR: fresco.slice %[[V]] {axis = 0 : i64, size = 1 : i64, start = 2 : i64}
// FOUR: fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// FOUR: fresco.slice %[[V]] {axis = 0 : i64, size = 1 : i64, start = 3 : i64}
// FOUR-NOT: fresco.slice %arg2
// FOUR: %[[C:.*]] = fresco.concat {{.*}} -> tensor<4x4x16xf32>
// FOUR: %[[B:.*]] = fresco.reshape %[[C]] : tensor<4x4x16xf32> -> tensor<2x8x16xf32>
// FOUR: fresco.add %[[B]], %arg1
// PLAN-LABEL: func.func @gated
// PLAN: %[[L0:.*]] = fresco.linear {{.*}}fresco.offset = [[AT:[0-9]+]] : i64
// PLAN: %[[S0:.*]] = shard.all_reduce %[[L0]] {{.*}} {fresco.async, fresco.offset = [[AT]] : i64}
// PLAN: %[[L1:.*]] = fresco.linear {{.*}}fresco.offset = [[AT1:[0-9]+]] : i64
// PLAN: %[[S1:.*]] = shard.all_reduce %[[L1]] {{.*}} {fresco.offset = [[AT1]] : i64}
// PLAN: %[[W0:.*]] = fresco.wait %[[S0]]
// PLAN: fresco.concat %[[W0]], %[[S1]] {axis = 0 : i64, fresco.in_place, fresco.offset = [[AT]] : i64}
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @gated(%x: tensor<2x8x4xf32>, %r: tensor<2x8x16xf32>, %g: tensor<2x1x16xf32>) -> tensor<2x8x16xf32> {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %b = fresco.param "b" : tensor<16xf32>
    %p = fresco.linear %x, %w, %b gate %g {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}} : (tensor<2x8x4xf32>, tensor<16x4xf32>, tensor<16xf32>, tensor<2x1x16xf32>) -> tensor<2x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %z = fresco.add %s, %r : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    return %z : tensor<2x8x16xf32>
  }
}
