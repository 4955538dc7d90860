// RUN: fresco-opt %s --fresco-create-grid="parallel=pipeline=2 microbatches=2 ranks=2" --fresco-cfg-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-pipefusion | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=pipeline=2 microbatches=2 ranks=2" --fresco-cfg-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-pipefusion --fresco-pipeline-parallel | FileCheck %s --check-prefix=STAGES
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,pipeline=2 microbatches=2 ranks=4" --fresco-cfg-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-pipefusion | FileCheck %s --check-prefix=CFG
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipeline=2 microbatches=8 ranks=2" --fresco-cfg-parallel 2>&1 | FileCheck %s --check-prefix=ODD
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,pipeline=2 microbatches=4 ranks=4" --fresco-cfg-parallel 2>&1 | FileCheck %s --check-prefix=ODDCFG

// Micro-batches (--microbatches 2): the batch of 4 in two parts of 2 run
// one after the other, the weights read by both, the results concatenated.
// CHECK-LABEL: func.func @model
// CHECK-SAME: attributes {fresco.microbatches = 2 : i64}
// CHECK: %[[L0:.*]] = fresco.slice %arg1 {axis = 0 : i64, size = 2 : i64, start = 0 : i64}
// CHECK: %[[X0:.*]] = fresco.slice %arg0 {axis = 0 : i64, size = 2 : i64, start = 0 : i64}
// CHECK: %[[W1:.*]] = fresco.param "w1"
// CHECK: fresco.linear %[[X0]], %[[W1]] : (tensor<2x3x8xf32>
// CHECK: %[[W2:.*]] = fresco.param "w2"
// CHECK: %[[Y0:.*]] = fresco.linear {{.*}}, %[[W2]]
// CHECK: fresco.slice %arg1 {axis = 0 : i64, size = 2 : i64, start = 2 : i64}
// CHECK: %[[X1:.*]] = fresco.slice %arg0 {axis = 0 : i64, size = 2 : i64, start = 2 : i64}
// CHECK: fresco.linear %[[X1]], %[[W1]]
// CHECK: %[[Y1:.*]] = fresco.linear {{.*}}, %[[W2]]
// CHECK: %[[Y:.*]] = fresco.concat %[[Y0]], %[[Y1]] {axis = 0 : i64} : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<4x3x8xf32>
// CHECK: return %[[Y]]
// CHECK-NOT: shard.all_gather

// Stages by dataflow: each micro-batch crosses the same stages (w1 and the
// labels' table on 0, w2 on 1: the time balance over both micro-batches),
// one transfer per micro-batch, just before the next stage's first op on it.
// STAGES: fresco.param "w1" {fresco.stage = #fresco.stage<0>}
// STAGES: fresco.param "table" {fresco.stage = #fresco.stage<0>}
// STAGES: fresco.param "w2" {fresco.stage = #fresco.stage<1>}
// STAGES: fresco.stage_transfer {{.*}}from_stage = 0 : i64, to_stage = 1 : i64} : tensor<2x3x8xf32>
// STAGES: fresco.slice %arg1 {{.*}}fresco.stage = #fresco.stage<0>{{.*}}start = 2
// STAGES: fresco.stage_transfer {{.*}}from_stage = 0 : i64, to_stage = 1 : i64} : tensor<2x3x8xf32>
// STAGES-NOT: fresco.stage_transfer
// STAGES: fresco.concat {{.*}}fresco.stage = #fresco.stage<1>
// STAGES: fresco.stage_broadcast

// With cfg: each rank's half in two micro-batches, concatenated, then
// gathered over cfg alone.
// CFG: fresco.slice {{.*}}start = 0 : i64} : (tensor<2x3x8xf32>) -> tensor<1x3x8xf32>
// CFG: fresco.slice {{.*}}start = 1 : i64} : (tensor<2x3x8xf32>) -> tensor<1x3x8xf32>
// CFG: %[[C:.*]] = fresco.concat {{.*}} : (tensor<1x3x8xf32>, tensor<1x3x8xf32>) -> tensor<2x3x8xf32>
// CFG: shard.all_gather %[[C]] on @grid grid_axes = [0] gather_axis = 0 : tensor<2x3x8xf32> -> tensor<4x3x8xf32>

// ODD: error: batch 4 of 'model' is not divisible by --microbatches 8
// ODDCFG: error: batch 4 (2 per cfg=2 rank) of 'model' is not divisible by --microbatches 4
func.func @model(%x: tensor<4x3x8xf32>, %labels: tensor<4xi64>) -> tensor<4x3x8xf32> {
  %w = fresco.param "w1" : tensor<8x8xf32>
  %h = fresco.linear %x, %w : (tensor<4x3x8xf32>, tensor<8x8xf32>) -> tensor<4x3x8xf32>
  %t = fresco.param "table" : tensor<10x8xf32>
  %e = fresco.embedding %t, %labels : (tensor<10x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
  %r = fresco.reshape %e : tensor<4x8xf32> -> tensor<4x1x8xf32>
  %a = fresco.add %h, %r : (tensor<4x3x8xf32>, tensor<4x1x8xf32>) -> tensor<4x3x8xf32>
  %w2 = fresco.param "w2" : tensor<8x8xf32>
  %o = fresco.linear %a, %w2 : (tensor<4x3x8xf32>, tensor<8x8xf32>) -> tensor<4x3x8xf32>
  return %o : tensor<4x3x8xf32>
}
