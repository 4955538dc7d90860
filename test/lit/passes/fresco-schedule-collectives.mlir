// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-schedule-collectives))' -split-input-file | FileCheck %s

// Ulysses' projections: each all_to_all moves up to its projection, so the
// next projection can run while it travels; attention still waits for all
// three. The result's all_to_all already follows its producer.
// CHECK-LABEL: func.func @ulysses_qkv
// CHECK: %[[Q:.*]] = fresco.linear %arg0, %arg1
// CHECK-NEXT: %[[QA:.*]] = shard.all_to_all %[[Q]]
// CHECK-NEXT: %[[K:.*]] = fresco.linear %arg0, %arg2
// CHECK-NEXT: %[[KA:.*]] = shard.all_to_all %[[K]]
// CHECK-NEXT: %[[V:.*]] = fresco.linear %arg0, %arg3
// CHECK-NEXT: %[[VA:.*]] = shard.all_to_all %[[V]]
// CHECK-NEXT: %[[O:.*]] = fresco.attention %[[QA]], %[[KA]], %[[VA]]
// CHECK-NEXT: %[[OA:.*]] = shard.all_to_all %[[O]]
// CHECK-NEXT: return %[[OA]]
shard.grid @grid(shape = 2)
func.func @ulysses_qkv(%x: tensor<2x8x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x16xf32>, %wv: tensor<16x16xf32>) -> tensor<2x8x16xf32> {
  %q = fresco.linear %x, %wq : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %k = fresco.linear %x, %wk : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %v = fresco.linear %x, %wv : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %qa = shard.all_to_all %q on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %ka = shard.all_to_all %k on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %va = shard.all_to_all %v on @grid grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %o = fresco.attention %qa, %ka, %va {num_heads = 1 : i64, scale = 0.35 : f64} : (tensor<2x16x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32>) -> tensor<2x16x8xf32>
  %oa = shard.all_to_all %o on @grid grid_axes = [0] split_axis = 1 concat_axis = 2 : tensor<2x16x8xf32> -> tensor<2x8x16xf32>
  return %oa : tensor<2x8x16xf32>
}

// -----

// Collectives keep their order: the all_gather of %b cannot pass the
// all_reduce issued before it, though its operand is ready earlier, and the
// all_gather of an argument stays behind both. Ops that are not
// collectives stay where they were.
// CHECK-LABEL: func.func @order_kept
// CHECK-NEXT: %[[A:.*]] = fresco.linear %arg0
// CHECK-NEXT: %[[B:.*]] = fresco.linear %arg0
// CHECK-NEXT: %[[R:.*]] = shard.all_reduce %[[A]]
// CHECK-NEXT: %[[G:.*]] = shard.all_gather %[[B]]
// CHECK-NEXT: %[[G0:.*]] = shard.all_gather %arg1
// CHECK-NEXT: %[[S:.*]] = fresco.silu %[[R]]
shard.grid @grid(shape = 2)
func.func @order_kept(%x: tensor<2x8xf32>, %y: tensor<2x4xf32>, %w: tensor<4x8xf32>) -> (tensor<2x4xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %a = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %b = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %r = shard.all_reduce %a on @grid grid_axes = [0] : tensor<2x4xf32> -> tensor<2x4xf32>
  %s = fresco.silu %r : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %g = shard.all_gather %b on @grid grid_axes = [0] gather_axis = 1 : tensor<2x4xf32> -> tensor<2x8xf32>
  %g0 = shard.all_gather %y on @grid grid_axes = [0] gather_axis = 1 : tensor<2x4xf32> -> tensor<2x8xf32>
  return %s, %g, %g0 : tensor<2x4xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// No collective before it: an all_gather of an argument goes first.
// CHECK-LABEL: func.func @argument_first
// CHECK-NEXT: %[[G:.*]] = shard.all_gather %arg1
// CHECK-NEXT: fresco.silu %arg0
shard.grid @grid(shape = 2)
func.func @argument_first(%x: tensor<2x4xf32>, %y: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x8xf32>) {
  %s = fresco.silu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %g = shard.all_gather %y on @grid grid_axes = [0] gather_axis = 1 : tensor<2x4xf32> -> tensor<2x8xf32>
  return %s, %g : tensor<2x4xf32>, tensor<2x8xf32>
}
