// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-split-concat-linear | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2" --fresco-split-concat-linear | FileCheck %s --check-prefix=NOTP
// RUN: fresco-opt %s --fresco-split-concat-linear | FileCheck %s --check-prefix=NOTP
// RUN: fresco-opt %s --fresco-split-concat-linear --fresco-lower-to-plan | FileCheck %s --check-prefix=FUSED
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-split-concat-linear --fresco-tensor-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s --check-prefix=TP

// A Flux single-stream block's output projection: over [attention; MLP]
// (8 + 32 features), it becomes one linear per part on the weight's column
// blocks, the bias added once after their sum.
// CHECK-LABEL: func.func @single
// CHECK-NOT: fresco.concat
// CHECK: %[[WA:.*]] = fresco.param "proj_out.weight" {checkpoint_shape = array<i64: 8, 40>, offsets = array<i64: 0, 0>} : tensor<8x8xf32>
// CHECK: %[[A:.*]] = fresco.linear %{{.*}}, %[[WA]] : (tensor<1x4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x8xf32>
// CHECK: %[[WM:.*]] = fresco.param "proj_out.weight" {checkpoint_shape = array<i64: 8, 40>, offsets = array<i64: 0, 8>} : tensor<8x32xf32>
// CHECK: %[[M:.*]] = fresco.linear %{{.*}}, %[[WM]] : (tensor<1x4x32xf32>, tensor<8x32xf32>) -> tensor<1x4x8xf32>
// CHECK: %[[S:.*]] = fresco.add %[[A]], %[[M]]
// CHECK: %[[Y:.*]] = fresco.add %[[S]], %{{.*}} : (tensor<1x4x8xf32>, tensor<8xf32>)
// CHECK: return %[[Y]]
// Without tp (another axis, or no grid: one rank) the bias goes with the
// first part, so the sum is one add of two linears, which
// fresco-fuse-epilogues makes the second GEMM's residual: no concatenation
// is copied.
// NOTP-NOT: fresco.concat
// NOTP: %[[A:.*]] = fresco.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
// NOTP: %[[M:.*]] = fresco.linear %{{.*}}, %{{.*}} : (tensor<1x4x32xf32>, tensor<8x32xf32>) -> tensor<1x4x8xf32>
// NOTP: %[[S:.*]] = fresco.add %[[A]], %[[M]]
// NOTP-NEXT: return %[[S]]
// FUSED-NOT: fresco.concat
// FUSED-NOT: fresco.add
// FUSED: %[[M:.*]] = fresco.linear %{{.*}}, %{{.*}} {fresco.offset = {{[0-9]+}} : i64} : (tensor<1x4x32xf32>, tensor<8x32xf32>) -> tensor<1x4x8xf32>
// FUSED-NEXT: %[[Y:.*]] = fresco.linear %{{.*}}, %{{.*}}, %{{.*}} residual %[[M]]
// FUSED-NEXT: return %[[Y]]
// Under tp=2 each rank loads half of each block's columns; the two partial
// sums are added first, then reduced once.
// TP: fresco.param "proj_out.weight" {checkpoint_shape = array<i64: 8, 40>, fresco.sharding = #fresco.sharding<[{}, {0}]>, offsets = array<i64: 0, 0>} : tensor<8x4xf32>
// TP: fresco.param "proj_out.weight" {checkpoint_shape = array<i64: 8, 40>, fresco.sharding = #fresco.sharding<[{}, {0}]>, offsets = array<i64: 0, 8>} : tensor<8x16xf32>
// TP: %[[S:.*]] = fresco.add
// TP-NEXT: %[[R:.*]] = shard.all_reduce %[[S]]
// TP-NOT: shard.all_reduce
// TP: fresco.add %[[R]]
func.func @single(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %wq = fresco.param "to_q.weight" : tensor<8x8xf32>
  %wk = fresco.param "to_k.weight" : tensor<8x8xf32>
  %wv = fresco.param "to_v.weight" : tensor<8x8xf32>
  %q = fresco.linear %x, %wq : (tensor<1x4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x8xf32>
  %k = fresco.linear %x, %wk : (tensor<1x4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x8xf32>
  %v = fresco.linear %x, %wv : (tensor<1x4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x8xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %w1 = fresco.param "proj_mlp.weight" : tensor<32x8xf32>
  %h = fresco.linear %x, %w1 : (tensor<1x4x8xf32>, tensor<32x8xf32>) -> tensor<1x4x32xf32>
  %g = fresco.gelu %h {approximate = "tanh"} : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  %c = fresco.concat %a, %g {axis = 2 : i64} : (tensor<1x4x8xf32>, tensor<1x4x32xf32>) -> tensor<1x4x40xf32>
  %w = fresco.param "proj_out.weight" : tensor<8x40xf32>
  %b = fresco.param "proj_out.bias" : tensor<8xf32>
  %y = fresco.linear %c, %w, %b : (tensor<1x4x40xf32>, tensor<8x40xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}
