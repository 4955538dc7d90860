// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,ring=2" --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s

// A group norm whose channels tp splits (in whole groups) and whose rows a
// sequence split cuts: each rank normalises its 2 of 4 groups, with its
// slice of the affine, with statistics over both row bands (stats_axes).
// CHECK-LABEL: func.func @groups_and_rows
// CHECK: fresco.group_norm {{.*}}num_groups = 2 : i64, stats_axes = #fresco.axes<[1]>} : (tensor<2x4x2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x2x4xf32>
func.func @groups_and_rows(%x: tensor<2x8x4x4xf32> {fresco.seed = #fresco.sharding<[{}, {0}, {1}, {}]>}) -> tensor<2x8x4x4xf32> attributes {fresco.component = "unet"} {
  %g = fresco.param "g" : tensor<8xf32>
  %b = fresco.param "b" : tensor<8xf32>
  %0 = fresco.group_norm %x, %g, %b {num_groups = 4 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x4x4xf32>
  return %0 : tensor<2x8x4x4xf32>
}

// -----

// 3 groups do not split over 2 ranks.
func.func @odd_groups(%x: tensor<2x6x4x4xf32> {fresco.seed = #fresco.sharding<[{}, {0}, {1}, {}]>}) -> tensor<2x6x4x4xf32> attributes {fresco.component = "unet"} {
  %g = fresco.param "g" : tensor<6xf32>
  %b = fresco.param "b" : tensor<6xf32>
  // expected-error @+1 {{tp=2 x ring=2 splits the channels of a group norm of 3 groups over 2 ranks; it splits whole groups only}}
  %0 = fresco.group_norm %x, %g, %b {num_groups = 3 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x6x4x4xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<2x6x4x4xf32>
  return %0 : tensor<2x6x4x4xf32>
}
