// Seeds that never went through fresco-propagate-shardings are refused,
// not ignored (the plan would silently run unpartitioned).
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2" --fresco-cfg-parallel --fresco-insert-collectives -split-input-file 2>&1 | FileCheck %s --check-prefix=STRATEGY
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-insert-collectives -split-input-file 2>&1 | FileCheck %s --check-prefix=HAND
// STRATEGY: error: the strategies' seeds were not propagated: run fresco-propagate-shardings before fresco-insert-collectives
func.func @strategy_seeded(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = fresco.silu %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// HAND: error: seeds that were never propagated: run fresco-propagate-shardings before fresco-insert-collectives
func.func @hand_seeded(%x: tensor<4x8xf32> {fresco.seed = #fresco.sharding<[{}, {0}]>}) -> tensor<4x8xf32> {
  %0 = fresco.silu %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
