// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-chunk-tp-reduction{chunks=2}))' -split-input-file | FileCheck %s
// Four chunks: whole samples no longer, two runs of each sample's tokens.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-chunk-tp-reduction{chunks=4}))' -split-input-file | FileCheck %s --check-prefix=FOUR
// Then the plan's view: the chunks' sums start asynchronously, and the
// windows, GEMM results and sums are views.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-chunk-tp-reduction{chunks=2},fresco-place-waits,fresco-assign-buffers{alignment=4}))' -split-input-file | FileCheck %s --check-prefix=PLAN

// DiT's gated residual after fresco-fold-into-reduction, batch 2: a sample
// per chunk, each with its gate's row and the once-counted bias; the
// residual add after the sum runs per chunk too, and the chunks are
// concatenated for the return.
// CHECK-LABEL: func.func @gated
// CHECK-SAME: fresco.chunked_sums = array<i64: 1, 2>
// CHECK: %[[X0:.*]] = fresco.slice %arg0 {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<2x8x4xf32>) -> tensor<1x8x4xf32>
// CHECK: %[[G0:.*]] = fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<2x1x16xf32>) -> tensor<1x1x16xf32>
// CHECK: %[[L0:.*]] = fresco.linear %[[X0]], %{{.*}}, %{{.*}} gate %[[G0]] {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}} : {{.*}} -> tensor<1x8x16xf32>
// CHECK: %[[S0:.*]] = shard.all_reduce %[[L0]] on @grid grid_axes = [0] : tensor<1x8x16xf32> -> tensor<1x8x16xf32>
// CHECK: %[[X1:.*]] = fresco.slice %arg0 {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// CHECK: %[[G1:.*]] = fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// CHECK: %[[L1:.*]] = fresco.linear %[[X1]], %{{.*}}, %{{.*}} gate %[[G1]] {fresco.partial_sum
// CHECK: %[[S1:.*]] = shard.all_reduce %[[L1]]
// CHECK: %[[R0:.*]] = fresco.slice %arg1 {axis = 0 : i64, size = 1 : i64, start = 0 : i64}
// CHECK: %[[A0:.*]] = fresco.add %[[S0]], %[[R0]] : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
// CHECK: %[[R1:.*]] = fresco.slice %arg1 {axis = 0 : i64, size = 1 : i64, start = 1 : i64}
// CHECK: %[[A1:.*]] = fresco.add %[[S1]], %[[R1]]
// CHECK: %[[C:.*]] = fresco.concat %[[A0]], %[[A1]] {axis = 0 : i64} : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<2x8x16xf32>
// CHECK: return %[[C]]
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
// FOUR: return %[[B]]
// PLAN-LABEL: func.func @gated
// PLAN: %[[L0:.*]] = fresco.linear {{.*}}fresco.offset = [[AT:[0-9]+]] : i64
// PLAN: %[[S0:.*]] = shard.all_reduce %[[L0]] {{.*}} {fresco.async, fresco.offset = [[AT]] : i64}
// PLAN: %[[L1:.*]] = fresco.linear {{.*}}fresco.offset = [[AT1:[0-9]+]] : i64
// PLAN: %[[S1:.*]] = shard.all_reduce %[[L1]] {{.*}} {fresco.async, fresco.offset = [[AT1]] : i64}
// PLAN: %[[W0:.*]] = fresco.wait %[[S0]]
// PLAN: fresco.add %[[W0]]
// PLAN: %[[W1:.*]] = fresco.wait %[[S1]]
// PLAN: fresco.add %[[W1]]
// PLAN: fresco.concat {{.*}}fresco.in_place
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

// -----

// A DiT block's tail: attention's projection summed, the residual, the
// modulated norm, the MLP (its second linear summed again), the residual:
// all per chunk up to the reshape to heads, which reads them concatenated.
// Chunk by chunk within each stretch up to a sum: chunk 0's MLP runs while
// chunk 1's first sum travels, chunk 1's MLP while chunk 0's second does.
// CHECK-LABEL: func.func @block
// CHECK-SAME: fresco.chunked_sums = array<i64: 2, 2>
// CHECK: %[[P0:.*]] = fresco.linear {{.*}} -> tensor<1x8x16xf32>
// CHECK-NEXT: %[[S0:.*]] = shard.all_reduce %[[P0]]
// CHECK: %[[P1:.*]] = fresco.linear {{.*}} -> tensor<1x8x16xf32>
// CHECK-NEXT: %[[S1:.*]] = shard.all_reduce %[[P1]]
// CHECK: %[[H0:.*]] = fresco.add %{{.*}}, %[[S0]]
// CHECK: %[[M0:.*]] = fresco.slice %arg2 {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<2x16xf32>) -> tensor<1x16xf32>
// CHECK: fresco.layer_norm %[[H0]] modulate(%[[M0]], %{{.*}}) {{.*}} -> tensor<1x8x16xf32>
// CHECK: fresco.linear {{.*}}activation = "gelu_tanh"{{.*}} -> tensor<1x8x8xf32>
// CHECK: %[[Q0:.*]] = fresco.linear {{.*}} -> tensor<1x8x16xf32>
// CHECK-NEXT: %[[T0:.*]] = shard.all_reduce %[[Q0]]
// CHECK: %[[H1:.*]] = fresco.add %{{.*}}, %[[S1]]
// CHECK: fresco.layer_norm %[[H1]]
// CHECK: %[[Q1:.*]] = fresco.linear {{.*}} -> tensor<1x8x16xf32>
// CHECK-NEXT: %[[T1:.*]] = shard.all_reduce %[[Q1]]
// CHECK: %[[O0:.*]] = fresco.add %[[H0]], %[[T0]]
// CHECK: %[[O1:.*]] = fresco.add %[[H1]], %[[T1]]
// CHECK: %[[C:.*]] = fresco.concat %[[O0]], %[[O1]]
// CHECK: fresco.reshape %[[C]] : tensor<2x8x16xf32> -> tensor<2x8x4x4xf32>
// PLAN-LABEL: func.func @block
// PLAN: %[[S0:.*]] = shard.all_reduce {{.*}}fresco.async
// PLAN: %[[S1:.*]] = shard.all_reduce {{.*}}fresco.async
// PLAN: fresco.wait %[[S0]]
// PLAN: %[[T0:.*]] = shard.all_reduce {{.*}}fresco.async
// PLAN: fresco.wait %[[S1]]
// PLAN: %[[T1:.*]] = shard.all_reduce {{.*}}fresco.async
// PLAN: fresco.wait %[[T0]]
// PLAN: fresco.wait %[[T1]]
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @block(%x: tensor<2x8x4xf32>, %r: tensor<2x8x16xf32>, %shift: tensor<2x16xf32>, %scale: tensor<2x16xf32>) -> tensor<2x8x4x4xf32> {
    %w1 = fresco.param "attn.to_out.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %p1 = fresco.linear %x, %w1 : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s1 = shard.all_reduce %p1 on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %h = fresco.add %r, %s1 : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    %n = fresco.layer_norm %h modulate(%shift, %scale) {epsilon = 1.0e-6 : f64} : (tensor<2x8x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x8x16xf32>
    %wf1 = fresco.param "ff.0.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
    %f = fresco.linear %n, %wf1 {activation = "gelu_tanh"} : (tensor<2x8x16xf32>, tensor<8x16xf32>) -> tensor<2x8x8xf32>
    %wf2 = fresco.param "ff.2.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x8xf32>
    %p2 = fresco.linear %f, %wf2 : (tensor<2x8x8xf32>, tensor<16x8xf32>) -> tensor<2x8x16xf32>
    %s2 = shard.all_reduce %p2 on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %o = fresco.add %h, %s2 : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    %heads = fresco.reshape %o : tensor<2x8x16xf32> -> tensor<2x8x4x4xf32>
    return %heads : tensor<2x8x4x4xf32>
  }
}

// -----

// What stays whole: a sum that does not divide into chunks (3 samples), a
// max all_reduce, an all_reduce of something else than a linear; and an op
// whose operand is not cut alike (a [T, D] table, right-aligned) reads the
// chunks concatenated.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: fresco.chunked_sums
// CHECK: shard.all_reduce %{{.*}} : tensor<3x8x16xf32>
// CHECK: shard.all_reduce %{{.*}} reduction = max
// CHECK: shard.all_reduce %arg1
// CHECK-LABEL: func.func @table
// CHECK: %[[S0:.*]] = shard.all_reduce {{.*}} -> tensor<1x8x16xf32>
// CHECK: %[[S1:.*]] = shard.all_reduce {{.*}} -> tensor<1x8x16xf32>
// CHECK: %[[C:.*]] = fresco.concat %[[S0]], %[[S1]]
// CHECK: fresco.add %[[C]], %arg1 : (tensor<2x8x16xf32>, tensor<8x16xf32>)
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @left_alone(%x: tensor<3x8x4xf32>, %y: tensor<2x8x16xf32>) -> (tensor<3x8x16xf32>, tensor<3x8x16xf32>, tensor<2x8x16xf32>) {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %p = fresco.linear %x, %w : (tensor<3x8x4xf32>, tensor<16x4xf32>) -> tensor<3x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<3x8x16xf32> -> tensor<3x8x16xf32>
    %q = fresco.linear %x, %w : (tensor<3x8x4xf32>, tensor<16x4xf32>) -> tensor<3x8x16xf32>
    %m = shard.all_reduce %q on @grid grid_axes = [0] reduction = max : tensor<3x8x16xf32> -> tensor<3x8x16xf32>
    %t = shard.all_reduce %y on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    return %s, %m, %t : tensor<3x8x16xf32>, tensor<3x8x16xf32>, tensor<2x8x16xf32>
  }
  func.func @table(%x: tensor<2x8x4xf32>, %pos: tensor<8x16xf32>) -> tensor<2x8x16xf32> {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %p = fresco.linear %x, %w : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %z = fresco.add %s, %pos : (tensor<2x8x16xf32>, tensor<8x16xf32>) -> tensor<2x8x16xf32>
    return %z : tensor<2x8x16xf32>
  }
}

// -----

// A chunked sum of lower rank than the op reading it broadcasts against
// other axes there: that op reads it concatenated. One [1, T, D] operand
// read under two cuts (batch 2 and batch 1 in 4 chunks) is viewed once per
// cut. An op nothing reads is cut but stays after the sums.
// FOUR-LABEL: func.func @rank
// FOUR: %[[C:.*]] = fresco.concat
// FOUR: %[[R:.*]] = fresco.reshape %[[C]] : tensor<4x1x16xf32> -> tensor<2x2x16xf32>
// FOUR: fresco.add %[[R]], %arg1 : (tensor<2x2x16xf32>, tensor<2x2x2x16xf32>)
// FOUR-LABEL: func.func @two_cuts
// FOUR-DAG: fresco.reshape %arg2 : tensor<1x8x16xf32> -> tensor<2x4x16xf32>
// FOUR-DAG: fresco.reshape %arg2 : tensor<1x8x16xf32> -> tensor<4x2x16xf32>
// FOUR-LABEL: func.func @dead
// FOUR-COUNT-4: shard.all_reduce
// FOUR: fresco.add
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @rank(%x: tensor<2x2x8xf32>, %y: tensor<2x2x2x16xf32>) -> tensor<2x2x2x16xf32> {
    %w = fresco.param "w" : tensor<16x8xf32>
    %p = fresco.linear %x, %w : (tensor<2x2x8xf32>, tensor<16x8xf32>) -> tensor<2x2x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x2x16xf32> -> tensor<2x2x16xf32>
    %z = fresco.add %s, %y : (tensor<2x2x16xf32>, tensor<2x2x2x16xf32>) -> tensor<2x2x2x16xf32>
    return %z : tensor<2x2x2x16xf32>
  }
  func.func @two_cuts(%x: tensor<2x8x4xf32>, %y: tensor<1x8x4xf32>, %pos: tensor<1x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<1x8x16xf32>) {
    %w = fresco.param "w" : tensor<16x4xf32>
    %p = fresco.linear %x, %w : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %z = fresco.add %s, %pos : (tensor<2x8x16xf32>, tensor<1x8x16xf32>) -> tensor<2x8x16xf32>
    %q = fresco.linear %y, %w : (tensor<1x8x4xf32>, tensor<16x4xf32>) -> tensor<1x8x16xf32>
    %t = shard.all_reduce %q on @grid grid_axes = [0] : tensor<1x8x16xf32> -> tensor<1x8x16xf32>
    %u = fresco.add %t, %pos : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
    return %z, %u : tensor<2x8x16xf32>, tensor<1x8x16xf32>
  }
  func.func @dead(%x: tensor<2x4x8xf32>, %r: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
    %w = fresco.param "w" : tensor<16x8xf32>
    %p = fresco.linear %x, %w : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x4x16xf32> -> tensor<2x4x16xf32>
    %z = fresco.add %s, %r : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
    %q = fresco.mul %s, %r : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
    return %q : tensor<2x4x16xf32>
  }
}
