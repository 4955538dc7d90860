// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-split-chunked-linear | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2" --fresco-split-chunked-linear | FileCheck %s --check-prefix=NOTP
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-split-chunked-linear --fresco-tensor-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s --check-prefix=TP

// A GEGLU feed-forward (Stable Diffusion's): one projection to [hidden;
// gate] (2 x 16 features) read in halves becomes one linear per half, each
// loading its rows of the weight and of the bias.
// CHECK-LABEL: func.func @geglu
// CHECK: %[[WH:.*]] = fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, offsets = array<i64: 0, 0>} : tensor<16x8xf32>
// CHECK: %[[BH:.*]] = fresco.param "ff.net.0.proj.bias" {checkpoint_shape = array<i64: 32>, offsets = array<i64: 0>} : tensor<16xf32>
// CHECK: %[[H:.*]] = fresco.linear %arg0, %[[WH]], %[[BH]]
// CHECK: %[[WG:.*]] = fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, offsets = array<i64: 16, 0>} : tensor<16x8xf32>
// CHECK: %[[BG:.*]] = fresco.param "ff.net.0.proj.bias" {checkpoint_shape = array<i64: 32>, offsets = array<i64: 16>} : tensor<16xf32>
// CHECK: %[[G:.*]] = fresco.linear %arg0, %[[WG]], %[[BG]]
// CHECK-NOT: fresco.slice
// CHECK: %[[A:.*]] = fresco.gelu %[[G]]
// CHECK: fresco.mul %[[H]], %[[A]]
// Slices that overlap, or a user that is not a slice: left as they are.
// CHECK: fresco.linear {{.*}} -> tensor<1x4x32xf32>
// CHECK-COUNT-2: fresco.slice
// CHECK: fresco.linear {{.*}} -> tensor<1x4x32xf32>
// CHECK: fresco.slice
// A parameter of another component (a ControlNet's) keeps its component.
// CHECK-LABEL: func.func @geglu_component
// CHECK: fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, component = "controlnet", offsets = array<i64: 0, 0>} : tensor<16x8xf32>
// CHECK: fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, component = "controlnet", offsets = array<i64: 16, 0>} : tensor<16x8xf32>
// Without tp: one GEMM, as before.
// NOTP: fresco.linear {{.*}} : (tensor<1x4x8xf32>, tensor<32x8xf32>, tensor<32xf32>) -> tensor<1x4x32xf32>
// NOTP: fresco.slice
// Under tp=2 both halves are column-parallel (8 of 16 rows each per rank),
// the second linear row-parallel: one all_reduce, the bias after it.
// TP: fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, fresco.sharding = #fresco.sharding<[{0}, {}]>, offsets = array<i64: 0, 0>} : tensor<8x8xf32>
// TP: fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, fresco.sharding = #fresco.sharding<[{0}, {}]>, offsets = array<i64: 16, 0>} : tensor<8x8xf32>
// TP: fresco.param "ff.net.2.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<8x8xf32>
// TP: shard.all_reduce
// TP-NOT: shard.all_reduce
// TP: return
// TP-LABEL: func.func @geglu_component
// TP: fresco.param "ff.net.0.proj.weight" {checkpoint_shape = array<i64: 32, 8>, component = "controlnet", fresco.sharding = #fresco.sharding<[{0}, {}]>, offsets = array<i64: 0, 0>} : tensor<8x8xf32>
// TP: fresco.param "ff.net.2.weight" {component = "controlnet", fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<8x8xf32>
func.func @geglu(%x: tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x24xf32>, tensor<1x4x48xf32>) {
  %w = fresco.param "ff.net.0.proj.weight" : tensor<32x8xf32>
  %b = fresco.param "ff.net.0.proj.bias" : tensor<32xf32>
  %p = fresco.linear %x, %w, %b : (tensor<1x4x8xf32>, tensor<32x8xf32>, tensor<32xf32>) -> tensor<1x4x32xf32>
  %h = fresco.slice %p {axis = 2 : i64, start = 0 : i64, size = 16 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x16xf32>
  %g = fresco.slice %p {axis = 2 : i64, start = 16 : i64, size = 16 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x16xf32>
  %a = fresco.gelu %g : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %m = fresco.mul %h, %a : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %w2 = fresco.param "ff.net.2.weight" : tensor<8x16xf32>
  %b2 = fresco.param "ff.net.2.bias" : tensor<8xf32>
  %y = fresco.linear %m, %w2, %b2 : (tensor<1x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %wo = fresco.param "w_overlap" : tensor<32x8xf32>
  %po = fresco.linear %x, %wo : (tensor<1x4x8xf32>, tensor<32x8xf32>) -> tensor<1x4x32xf32>
  %oa = fresco.slice %po {axis = 2 : i64, start = 0 : i64, size = 16 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x16xf32>
  %ob = fresco.slice %po {axis = 2 : i64, start = 8 : i64, size = 8 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x8xf32>
  %oc = fresco.concat %oa, %ob {axis = 2 : i64} : (tensor<1x4x16xf32>, tensor<1x4x8xf32>) -> tensor<1x4x24xf32>
  %ww = fresco.param "w_whole" : tensor<32x8xf32>
  %pw = fresco.linear %x, %ww : (tensor<1x4x8xf32>, tensor<32x8xf32>) -> tensor<1x4x32xf32>
  %wa = fresco.slice %pw {axis = 2 : i64, start = 0 : i64, size = 16 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x16xf32>
  %wc = fresco.concat %pw, %wa {axis = 2 : i64} : (tensor<1x4x32xf32>, tensor<1x4x16xf32>) -> tensor<1x4x48xf32>
  return %y, %oc, %wc : tensor<1x4x8xf32>, tensor<1x4x24xf32>, tensor<1x4x48xf32>
}

func.func @geglu_component(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %w = fresco.param "ff.net.0.proj.weight" {component = "controlnet"} : tensor<32x8xf32>
  %p = fresco.linear %x, %w : (tensor<1x4x8xf32>, tensor<32x8xf32>) -> tensor<1x4x32xf32>
  %h = fresco.slice %p {axis = 2 : i64, start = 0 : i64, size = 16 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x16xf32>
  %g = fresco.slice %p {axis = 2 : i64, start = 16 : i64, size = 16 : i64} : (tensor<1x4x32xf32>) -> tensor<1x4x16xf32>
  %a = fresco.gelu %g : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %m = fresco.mul %h, %a : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %w2 = fresco.param "ff.net.2.weight" {component = "controlnet"} : tensor<8x16xf32>
  %y = fresco.linear %m, %w2 : (tensor<1x4x16xf32>, tensor<8x16xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}
