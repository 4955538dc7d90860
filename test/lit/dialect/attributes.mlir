// RUN: fresco-opt %s | FileCheck %s
// Round trip, then round trip the generic form.
// RUN: fresco-opt %s --mlir-print-op-generic | fresco-opt | FileCheck %s

// The partitioning attributes: a parameter's slice, a partial sum, a split
// function result, ring attention's axes and a pipeline stage.
// CHECK-LABEL: func.func @partitioned
// CHECK-SAME: -> (tensor<2x5x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}, {}]>})
// CHECK-SAME: fresco.pipeline_axis = 2 : i16
// CHECK: fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {1, 3}]>, fresco.stage = #fresco.stage<0>} : tensor<8x2xf32>
// CHECK: fresco.linear {{.*}} {fresco.sharding = #fresco.sharding<[{}, {}, {}], partial = {1, 3}>, fresco.stage = #fresco.stage<0>}
// CHECK: fresco.attention {{.*}} {fresco.stage = #fresco.stage<1>, {{.*}}ring_axes = #fresco.axes<[0, 1]>
module attributes {fresco.grid_axes = ["cfg", "tp", "pipeline", "ring"]} {
  func.func @partitioned(%x: tensor<2x5x2xf32>) -> (tensor<2x5x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}, {}]>}) attributes {fresco.pipeline_axis = 2 : i16} {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {1, 3}]>, fresco.stage = #fresco.stage<0>} : tensor<8x2xf32>
    %y = fresco.linear %x, %w {fresco.sharding = #fresco.sharding<[{}, {}, {}], partial = {1, 3}>, fresco.stage = #fresco.stage<0>} : (tensor<2x5x2xf32>, tensor<8x2xf32>) -> tensor<2x5x8xf32>
    %a = fresco.attention %y, %y, %y {num_heads = 2 : i64, scale = 0.5 : f64, ring_axes = #fresco.axes<[0, 1]>, fresco.stage = #fresco.stage<1>} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
    return %a : tensor<2x5x8xf32>
  }
}

// A replicated tensor of rank 0 and of rank 2.
// CHECK-LABEL: func.func @replicated
// CHECK-SAME: {fresco.sharding = #fresco.sharding<[{}, {}]>}
// CHECK: fresco.param "s" {fresco.sharding = #fresco.sharding<[]>}
func.func @replicated(%x: tensor<2x3xf32>) -> (tensor<2x3xf32> {fresco.sharding = #fresco.sharding<[{}, {}]>}) {
  %w = fresco.param "s" {fresco.sharding = #fresco.sharding<[]>} : tensor<f32>
  %y = fresco.add %x, %w : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
