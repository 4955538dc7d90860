// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fold-into-reduction))' -split-input-file | FileCheck %s
// Then one program per rank: the first member keeps the once-counted
// operands, the other drops them.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fold-into-reduction),fresco-specialize-ranks{ranks=2})' -split-input-file | FileCheck %s --check-prefix=RANKS

// A UNet transformer block's output projection under tp=2: the bias,
// added after the all_reduce, becomes the linear's bias, counted once; the
// residual stays after the all_reduce (a bf16 all_reduce would round the
// residual stream at every hop).
// CHECK-LABEL: func.func @bias_then_residual
// CHECK: %[[L:.*]] = fresco.linear %arg0, %{{.*}}, %{{.*}} {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}}
// CHECK: %[[R:.*]] = shard.all_reduce %[[L]]
// CHECK: %[[Z:.*]] = fresco.add %arg1, %[[R]]
// CHECK: return %[[Z]]
// RANKS-LABEL: module @rank0
// RANKS: fresco.linear %arg0, %{{.*}}, %{{.*}} :
// RANKS-NOT: partial_sum
// RANKS: shard.all_reduce
// RANKS-LABEL: module @rank1
// RANKS: fresco.linear %arg0, %{{.*}} :
// RANKS-NOT: partial_sum
// RANKS: shard.all_reduce
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @bias_then_residual(%x: tensor<2x8x4xf32>, %r: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
    %w = fresco.param "proj_out.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %b = fresco.param "proj_out.bias" : tensor<16xf32>
    %p = fresco.linear %x, %w : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %y = fresco.add %s, %b : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    %z = fresco.add %r, %y : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    return %z : tensor<2x8x16xf32>
  }
}

// -----

// A gate defined after the linear: the linear and its all_reduce move to
// the product, where the gate exists.
// CHECK-LABEL: func.func @gate_defined_later
// CHECK: %[[G:.*]] = fresco.silu %arg1
// CHECK: %[[L:.*]] = fresco.linear %arg0, %{{.*}} gate %[[G]] :
// CHECK: %[[R:.*]] = shard.all_reduce %[[L]]
// CHECK: return %[[R]]
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @gate_defined_later(%x: tensor<2x8x4xf32>, %g0: tensor<2x1x16xf32>) -> tensor<2x8x16xf32> {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %p = fresco.linear %x, %w : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %g = fresco.silu %g0 : (tensor<2x1x16xf32>) -> tensor<2x1x16xf32>
    %z = fresco.mul %s, %g : (tensor<2x8x16xf32>, tensor<2x1x16xf32>) -> tensor<2x8x16xf32>
    return %z : tensor<2x8x16xf32>
  }
}

// -----

// DiT's and Flux's gated residual r + g * (sum + b): the bias and the
// gate (on every member: it scales each part) go into the linear, the
// residual stays after the all_reduce. Flux's split single-block
// projection: the linear whose residual is the other part (a partial sum
// too) takes the bias, and with a gate both parts take it.
// CHECK-LABEL: func.func @gated
// CHECK: %[[L:.*]] = fresco.linear %arg0, %{{.*}}, %{{.*}} gate %arg2 {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}}
// CHECK: %[[R:.*]] = shard.all_reduce %[[L]]
// CHECK-NOT: fresco.mul
// CHECK: %[[Z:.*]] = fresco.add %[[R]], %arg1
// CHECK: return %[[Z]]
// CHECK-LABEL: func.func @split_projection
// CHECK: %[[M:.*]] = fresco.linear %arg1, %{{.*}} : (tensor<8x8xf32>, tensor<16x8xf32>)
// CHECK: %[[L:.*]] = fresco.linear %arg0, %{{.*}}, %{{.*}} residual %[[M]] {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}}
// CHECK: shard.all_reduce %[[L]]
// CHECK-NOT: fresco.add
// CHECK-LABEL: func.func @split_projection_gated
// CHECK: %[[M:.*]] = fresco.linear %arg1, %{{.*}} gate %arg2 :
// CHECK: %[[L:.*]] = fresco.linear %arg0, %{{.*}}, %{{.*}} gate %arg2 residual %[[M]] {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}}
// CHECK: %[[R:.*]] = shard.all_reduce %[[L]]
// CHECK-NEXT: fresco.add %arg3, %[[R]]
// The second member (after the first's module):
// RANKS: func.func @split_projection_gated
// RANKS: module @rank1
// RANKS: func.func @gated
// RANKS: fresco.linear %arg0, %{{.*}} gate %arg2 :
// RANKS: func.func @split_projection(
// RANKS: %[[M:.*]] = fresco.linear %arg1, %{{.*}} :
// RANKS: fresco.linear %arg0, %{{.*}} residual %[[M]] :
// RANKS: func.func @split_projection_gated
// RANKS: %[[M:.*]] = fresco.linear %arg1, %{{.*}} gate %arg2 :
// RANKS: fresco.linear %arg0, %{{.*}} gate %arg2 residual %[[M]] :
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @gated(%x: tensor<2x8x4xf32>, %r: tensor<2x8x16xf32>, %g: tensor<2x1x16xf32>) -> tensor<2x8x16xf32> {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %b = fresco.param "b" : tensor<16xf32>
    %p = fresco.linear %x, %w : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
    %y = fresco.add %s, %b : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    %m = fresco.mul %g, %y : (tensor<2x1x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    %z = fresco.add %m, %r : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    return %z : tensor<2x8x16xf32>
  }
  func.func @split_projection(%a: tensor<8x4xf32>, %mlp: tensor<8x8xf32>) -> tensor<8x16xf32> {
    %wa = fresco.param "wa" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %wm = fresco.param "wm" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x8xf32>
    %b = fresco.param "b" : tensor<16xf32>
    %m = fresco.linear %mlp, %wm : (tensor<8x8xf32>, tensor<16x8xf32>) -> tensor<8x16xf32>
    %p = fresco.linear %a, %wa residual %m : (tensor<8x4xf32>, tensor<16x4xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<8x16xf32> -> tensor<8x16xf32>
    %y = fresco.add %b, %s : (tensor<16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
  func.func @split_projection_gated(%a: tensor<1x8x4xf32>, %mlp: tensor<1x8x8xf32>, %g: tensor<1x1x16xf32>, %r: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
    %wa = fresco.param "wa" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %wm = fresco.param "wm" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x8xf32>
    %b = fresco.param "b" : tensor<16xf32>
    %m = fresco.linear %mlp, %wm : (tensor<1x8x8xf32>, tensor<16x8xf32>) -> tensor<1x8x16xf32>
    %p = fresco.linear %a, %wa residual %m : (tensor<1x8x4xf32>, tensor<16x4xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
    %s = shard.all_reduce %p on @grid grid_axes = [0] : tensor<1x8x16xf32> -> tensor<1x8x16xf32>
    %y = fresco.add %s, %b : (tensor<1x8x16xf32>, tensor<16xf32>) -> tensor<1x8x16xf32>
    %gy = fresco.mul %y, %g : (tensor<1x8x16xf32>, tensor<1x1x16xf32>) -> tensor<1x8x16xf32>
    %z = fresco.add %r, %gy : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
    return %z : tensor<1x8x16xf32>
  }
}

// -----

// --tp-reduce-scatter: the bias and the gate fold before the
// reduce_scatter; the residual is this rank's block of the tokens and stays
// after it.
// CHECK-LABEL: func.func @reduce_scatter
// CHECK: %[[L:.*]] = fresco.linear %arg0, %{{.*}}, %{{.*}} gate %arg2 {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}}
// CHECK: %[[R:.*]] = shard.reduce_scatter %[[L]]
// CHECK-NOT: fresco.mul
// CHECK: fresco.add %[[R]], %arg1
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @reduce_scatter(%x: tensor<2x8x4xf32>, %r: tensor<2x4x16xf32>, %g: tensor<2x1x16xf32>) -> tensor<2x4x16xf32> {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %b = fresco.param "b" : tensor<16xf32>
    %p = fresco.linear %x, %w : (tensor<2x8x4xf32>, tensor<16x4xf32>) -> tensor<2x8x16xf32>
    %s = shard.reduce_scatter %p on @grid grid_axes = [0] scatter_axis = 1 : tensor<2x8x16xf32> -> tensor<2x4x16xf32>
    %y = fresco.add %s, %b : (tensor<2x4x16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
    %m = fresco.mul %g, %y : (tensor<2x1x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
    %z = fresco.add %m, %r : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
    return %z : tensor<2x4x16xf32>
  }
}

// -----

// Left alone: a partial sum read by another op too (it would see the bias),
// a reduction read twice, a sum with a broadcast operand that is not a
// bias, a max reduction, a bias added after the gate (the linear would
// gate it: the gate folds, the add stays) and a gate after the residual
// (nothing folds).
// CHECK-LABEL: func.func @not_folded
// CHECK-NOT: partial_sum
// CHECK-COUNT-4: fresco.add
// CHECK: fresco.linear %arg0, %{{.*}} gate %arg3 :
// CHECK: fresco.add
// CHECK: fresco.linear %arg0, %{{.*}} :
// CHECK: fresco.add
// CHECK: fresco.mul
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @not_folded(%x: tensor<8x4xf32>, %b: tensor<16xf32>, %c: tensor<1x16xf32>, %g: tensor<1x16xf32>, %r: tensor<8x16xf32>) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x4xf32>
    %p0 = fresco.linear %x, %w : (tensor<8x4xf32>, tensor<16x4xf32>) -> tensor<8x16xf32>
    %s0 = shard.all_reduce %p0 on @grid grid_axes = [0] : tensor<8x16xf32> -> tensor<8x16xf32>
    %y0 = fresco.add %s0, %b : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    %p1 = fresco.linear %x, %w : (tensor<8x4xf32>, tensor<16x4xf32>) -> tensor<8x16xf32>
    %s1 = shard.all_reduce %p1 on @grid grid_axes = [0] : tensor<8x16xf32> -> tensor<8x16xf32>
    %y1 = fresco.add %s1, %b : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    %p2 = fresco.linear %x, %w : (tensor<8x4xf32>, tensor<16x4xf32>) -> tensor<8x16xf32>
    %s2 = shard.all_reduce %p2 on @grid grid_axes = [0] : tensor<8x16xf32> -> tensor<8x16xf32>
    %y2 = fresco.add %s2, %c : (tensor<8x16xf32>, tensor<1x16xf32>) -> tensor<8x16xf32>
    %p3 = fresco.linear %x, %w : (tensor<8x4xf32>, tensor<16x4xf32>) -> tensor<8x16xf32>
    %s3 = shard.all_reduce %p3 on @grid grid_axes = [0] reduction = max : tensor<8x16xf32> -> tensor<8x16xf32>
    %y3 = fresco.add %s3, %b : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    %p4 = fresco.linear %x, %w : (tensor<8x4xf32>, tensor<16x4xf32>) -> tensor<8x16xf32>
    %s4 = shard.all_reduce %p4 on @grid grid_axes = [0] : tensor<8x16xf32> -> tensor<8x16xf32>
    %m4 = fresco.mul %s4, %g : (tensor<8x16xf32>, tensor<1x16xf32>) -> tensor<8x16xf32>
    %y4 = fresco.add %m4, %b : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    %p5 = fresco.linear %x, %w : (tensor<8x4xf32>, tensor<16x4xf32>) -> tensor<8x16xf32>
    %s5 = shard.all_reduce %p5 on @grid grid_axes = [0] : tensor<8x16xf32> -> tensor<8x16xf32>
    %a5 = fresco.add %s5, %r : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
    %y5 = fresco.mul %g, %a5 : (tensor<1x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
    return %y0, %p0, %y1, %s1, %y2, %y3, %y4, %y5 : tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>
  }
}
