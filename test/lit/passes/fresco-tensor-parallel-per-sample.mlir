// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-tensor-parallel="min-split-bytes=1024" --fresco-propagate-shardings | FileCheck %s --check-prefix=ADALN
// A per-sample layer whose weight reaches min-split-bytes is split by output
// columns and gathered at once (adaLN: its six chunks need all of it);
// a smaller one stays replicated.
// ADALN-LABEL: func.func @adaln
// ADALN: %[[W:.*]] = fresco.param "adaln.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<48x8xf32>
// ADALN: %[[L:.*]] = fresco.linear %{{.*}}, %[[W]], %{{.*}} : (tensor<2x8xf32>, tensor<48x8xf32>, tensor<48xf32>) -> tensor<2x48xf32>
// ADALN: %[[G:.*]] = shard.all_gather %[[L]] on @grid grid_axes = [0] gather_axis = 1 : tensor<2x48xf32> -> tensor<2x96xf32>
// ADALN: fresco.slice %[[G]] {axis = 1 : i64, size = 16 : i64, start = 80 : i64}
// ADALN: fresco.param "small.weight" : tensor<4x8xf32>
func.func @adaln(%c: tensor<2x8xf32>) -> (tensor<2x16xf32>, tensor<2x4xf32>) {
  %w = fresco.param "adaln.weight" : tensor<96x8xf32>
  %b = fresco.param "adaln.bias" : tensor<96xf32>
  %e = fresco.linear %c, %w, %b : (tensor<2x8xf32>, tensor<96x8xf32>, tensor<96xf32>) -> tensor<2x96xf32>
  %s = fresco.slice %e {axis = 1 : i64, start = 80 : i64, size = 16 : i64} : (tensor<2x96xf32>) -> tensor<2x16xf32>
  %ws = fresco.param "small.weight" : tensor<4x8xf32>
  %t = fresco.linear %c, %ws : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %s, %t : tensor<2x16xf32>, tensor<2x4xf32>
}
