// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-place-waits))' -split-input-file | FileCheck %s

// Ulysses after fresco-schedule-collectives: q's and k's all_to_alls are
// started and waited for just before the attention (more exchanges over the
// same axis may run meanwhile); v's is read at once by nothing else but the
// attention, which follows it: in place. The output's all_to_all is read by
// the return right after it: in place.
// CHECK-LABEL: func.func @ulysses_qkv
// CHECK: %[[QA:.*]] = shard.all_to_all {{.*}} {fresco.async}
// CHECK: %[[KA:.*]] = shard.all_to_all {{.*}} {fresco.async}
// CHECK: %[[VA:.*]] = shard.all_to_all {{.*}} concat_axis = 1 :
// CHECK-NEXT: %[[QW:.*]] = fresco.wait %[[QA]]
// CHECK-NEXT: %[[KW:.*]] = fresco.wait %[[KA]]
// CHECK-NEXT: %[[O:.*]] = fresco.attention %[[QW]], %[[KW]], %[[VA]]
// CHECK-NEXT: %[[OA:.*]] = shard.all_to_all %[[O]] {{.*}} concat_axis = 2 :
// CHECK-NEXT: return %[[OA]]
shard.grid @grid(shape = 2)
func.func @ulysses_qkv(%x: tensor<2x8x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x16xf32>, %wv: tensor<16x16xf32>) -> tensor<2x8x16xf32> {
  %q = fresco.linear %x, %wq : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %qa = shard.all_to_all %q on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %k = fresco.linear %x, %wk : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %ka = shard.all_to_all %k on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %v = fresco.linear %x, %wv : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %va = shard.all_to_all %v on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %o = fresco.attention %qa, %ka, %va {num_heads = 1 : i64, scale = 0.35 : f64} : (tensor<2x16x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32>) -> tensor<2x16x8xf32>
  %oa = shard.all_to_all %o on @grid grid_axes = [0] split_axis = 1 concat_axis = 2 : tensor<2x16x8xf32> -> tensor<2x8x16xf32>
  return %oa : tensor<2x8x16xf32>
}

// -----

// Communication the exchange may not overlap ends its window: an
// all_reduce, and an all_gather, over another grid axis.
// CHECK-LABEL: func.func @other_communication
// CHECK: %[[G:.*]] = shard.all_gather %arg0 {{.*}}grid_axes = [0]{{.*}}{fresco.async}
// CHECK-NEXT: fresco.silu
// CHECK-NEXT: %[[GW:.*]] = fresco.wait %[[G]]
// CHECK-NEXT: shard.all_reduce
// CHECK: %[[H:.*]] = shard.all_gather %arg0 {{.*}}grid_axes = [0]{{.*}}{fresco.async}
// CHECK-NEXT: fresco.silu
// CHECK-NEXT: %[[HW:.*]] = fresco.wait %[[H]]
// CHECK-NEXT: shard.all_gather %arg0 {{.*}}grid_axes = [1] gather_axis = 0 :
// CHECK: return %[[GW]], {{.*}}, %[[HW]]
shard.grid @grid(shape = 2x2)
func.func @other_communication(%x: tensor<2x4xf32>) -> (tensor<4x4xf32>, tensor<2x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 : tensor<2x4xf32> -> tensor<4x4xf32>
  %s = fresco.silu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = shard.all_reduce %s on @grid grid_axes = [1] : tensor<2x4xf32> -> tensor<2x4xf32>
  %h = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 : tensor<2x4xf32> -> tensor<4x4xf32>
  %t = fresco.silu %r : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %i = shard.all_gather %x on @grid grid_axes = [1] gather_axis = 0 : tensor<2x4xf32> -> tensor<4x4xf32>
  return %g, %t, %h, %i : tensor<4x4xf32>, tensor<2x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// A group norm whose statistics span ranks (a UNet's split rows) gathers
// them: it ends the window too, whatever grid axis it uses.
// CHECK-LABEL: func.func @split_group_norm
// CHECK: %[[A:.*]] = shard.all_to_all %arg0 {{.*}}{fresco.async}
// CHECK-NEXT: fresco.silu
// CHECK-NEXT: %[[AW:.*]] = fresco.wait %[[A]]
// CHECK-NEXT: fresco.group_norm {{.*}}stats_axes
// CHECK: return %[[AW]]
shard.grid @grid(shape = 2)
func.func @split_group_norm(%x: tensor<2x8x16xf32>, %y: tensor<2x8x4x6xf32>) -> (tensor<2x16x8xf32>, tensor<2x8x4x6xf32>) {
  %a = shard.all_to_all %x on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %s = fresco.silu %y : (tensor<2x8x4x6xf32>) -> tensor<2x8x4x6xf32>
  %n = fresco.group_norm %s {num_groups = 4 : i64, epsilon = 1.0e-5 : f64, stats_axes = #fresco.axes<[0]>} : (tensor<2x8x4x6xf32>) -> tensor<2x8x4x6xf32>
  return %a, %n : tensor<2x16x8xf32>, tensor<2x8x4x6xf32>
}

// -----

// A pipeline stage's exchange is waited for before the next stage's ops,
// and the wait belongs to its stage.
// CHECK-LABEL: func.func @stages
// CHECK: shard.all_gather {{.*}}fresco.async{{.*}}fresco.stage = #fresco.stage<0>
// CHECK-NEXT: fresco.silu {{.*}}fresco.stage = #fresco.stage<0>
// CHECK-NEXT: fresco.wait {{.*}}fresco.stage = #fresco.stage<0>
// CHECK-NEXT: fresco.silu {{.*}}fresco.stage = #fresco.stage<1>
shard.grid @grid(shape = 2x2)
func.func @stages(%x: tensor<2x4xf32>) -> (tensor<4x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) attributes {fresco.pipeline_axis = 1 : i16} {
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 {fresco.stage = #fresco.stage<0>} : tensor<2x4xf32> -> tensor<4x4xf32>
  %s = fresco.silu %x {fresco.stage = #fresco.stage<0>} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %t = fresco.silu %x {fresco.stage = #fresco.stage<1>} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %g, %s, %t : tensor<4x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// Read by the next op: nothing to overlap, no wait.
// CHECK-LABEL: func.func @read_at_once
// CHECK-NOT: fresco.wait
// CHECK-NOT: fresco.async
shard.grid @grid(shape = 2)
func.func @read_at_once(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 : tensor<2x4xf32> -> tensor<4x4xf32>
  %s = fresco.silu %g : (tensor<4x4xf32>) -> tensor<4x4xf32>
  return %s : tensor<4x4xf32>
}

// -----

// Only parameters and views before the reader: no instruction would run
// meanwhile, so no wait (an empty window costs a scratch region and a step).
// CHECK-LABEL: func.func @nothing_runs_between
// CHECK-NOT: fresco.wait
// CHECK-NOT: fresco.async
shard.grid @grid(shape = 2)
func.func @nothing_runs_between(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 : tensor<2x4xf32> -> tensor<4x4xf32>
  %w = fresco.param "w" : tensor<4x4xf32>
  %r = fresco.reshape %g : tensor<4x4xf32> -> tensor<16xf32>
  %s = fresco.reshape %r : tensor<16xf32> -> tensor<4x4xf32>
  %y = fresco.add %s, %w : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

// tp's sums of two streams (Flux's image and text tokens): the first
// all_reduce runs while the second stream's GEMM computes, and more
// collectives over the same axis may run meanwhile; a max all_reduce is not
// started early.
// CHECK-LABEL: func.func @two_streams
// CHECK: %[[A:.*]] = shard.all_reduce %{{.*}} {fresco.async}
// CHECK-NEXT: fresco.linear
// CHECK-NEXT: %[[B:.*]] = shard.all_reduce
// CHECK-NOT: fresco.async
// CHECK-NEXT: %[[AW:.*]] = fresco.wait %[[A]]
// CHECK-NEXT: %[[M:.*]] = shard.all_reduce %{{.*}} reduction = max
// CHECK-NOT: fresco.async
// CHECK: return %[[AW]], %[[B]]
shard.grid @grid(shape = 2)
func.func @two_streams(%x: tensor<4x8xf32>, %c: tensor<2x8xf32>, %w: tensor<8x8xf32>, %v: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %p = fresco.linear %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %a = shard.all_reduce %p on @grid grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
  %q = fresco.linear %c, %v : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %b = shard.all_reduce %q on @grid grid_axes = [0] : tensor<2x8xf32> -> tensor<2x8xf32>
  %m = shard.all_reduce %q on @grid grid_axes = [0] reduction = max : tensor<2x8xf32> -> tensor<2x8xf32>
  %s = fresco.silu %c : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %a, %b, %m : tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}
