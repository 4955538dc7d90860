// The strategies only write seeds; fresco-propagate-shardings carries them.
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=2,ulysses=2,ring=2" --fresco-cfg-parallel --fresco-tensor-parallel="min-split-bytes=64" --fresco-ulysses-parallel --fresco-ring-parallel | FileCheck %s --check-prefix=SEED
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=2,ulysses=2,ring=2" --fresco-cfg-parallel --fresco-tensor-parallel="min-split-bytes=64" --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s --check-prefix=ALL

// Four strategies' seeds: cfg's batch on every argument as it enters, tp's
// weight rows (and its per-sample layer gathered at once), the two sequence
// axes on the marked tokens, and the order they were written in.
// SEED: module attributes {{{.*}}fresco.seed_order = array<i16: 0, 1, 2, 3>}
// SEED: func.func @block(%arg0: tensor<2x8x8xf32> {fresco.seed = #fresco.sharding<[{}, {2, 3}, {}]>, fresco.sequence_dim = 1 : i64, fresco.sharding = #fresco.sharding<[{0}, {}, {}]>}, %arg1: tensor<2x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}]>})
// SEED-NOT: shard.
// SEED: fresco.param "q.weight" {fresco.seed = #fresco.sharding<[{1}, {}]>}
// SEED: fresco.param "k.weight" {fresco.seed = #fresco.sharding<[{1}, {}]>}
// SEED: fresco.param "v.weight" {fresco.seed = #fresco.sharding<[{1}, {}]>}
// SEED: fresco.param "o.weight" : tensor<8x8xf32>
// SEED: fresco.param "emb.weight" {fresco.seed = #fresco.sharding<[{1}, {}]>}
// SEED: fresco.linear {{.*}} {fresco.gather_after = #fresco.axes<[1]>}
// SEED-NOT: shard.

// One step propagates them axis by axis: each sequence axis cuts the
// block the one before it made, tp's heads ride through Ulysses'
// all_to_alls and ring attention takes the rest; the results are gathered
// in reverse order.
// ALL-NOT: fresco.seed
// ALL: %[[C:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 0 : tensor<2x8x8xf32> -> tensor<1x8x8xf32>
// ALL-NEXT: %[[U:.*]] = shard.all_slice %[[C]] on @grid grid_axes = [2] slice_axis = 1 : tensor<1x8x8xf32> -> tensor<1x4x8xf32>
// ALL-NEXT: %[[R:.*]] = shard.all_slice %[[U]] on @grid grid_axes = [3] slice_axis = 1 : tensor<1x4x8xf32> -> tensor<1x2x8xf32>
// ALL-NEXT: shard.all_slice %arg1 on @grid grid_axes = [0] slice_axis = 0 : tensor<2x8xf32> -> tensor<1x8xf32>
// ALL: fresco.linear %[[R]], {{.*}} : (tensor<1x2x8xf32>, tensor<4x8xf32>) -> tensor<1x2x4xf32>
// ALL: shard.all_to_all {{.*}} grid_axes = [2] split_axis = 2 concat_axis = 1 : tensor<1x2x4xf32> -> tensor<1x4x2xf32>
// ALL: fresco.attention {{.*}} {num_heads = 1 : i64, ring_axes = #fresco.axes<[3]>, {{.*}}} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
// ALL: shard.all_to_all {{.*}} grid_axes = [2] split_axis = 1 concat_axis = 2 : tensor<1x4x2xf32> -> tensor<1x2x4xf32>
// ALL: fresco.param "o.weight" {fresco.sharding = #fresco.sharding<[{}, {1}]>} : tensor<8x4xf32>
// ALL: shard.all_reduce {{.*}} grid_axes = [1] : tensor<1x2x8xf32> -> tensor<1x2x8xf32>
// ALL: fresco.param "emb.weight" {fresco.sharding = #fresco.sharding<[{1}, {}]>} : tensor<4x8xf32>
// ALL-NEXT: fresco.linear
// ALL-NEXT: shard.all_gather {{.*}} grid_axes = [1] gather_axis = 1 : tensor<1x4xf32> -> tensor<1x8xf32>
// ALL: shard.all_gather {{.*}} grid_axes = [2, 3] gather_axis = 1 : tensor<1x2x8xf32> -> tensor<1x8x8xf32>
// ALL-NEXT: shard.all_gather {{.*}} grid_axes = [0] gather_axis = 0 : tensor<1x8x8xf32> -> tensor<2x8x8xf32>
// ALL-NOT: fresco.seed
func.func @block(%x: tensor<2x8x8xf32> {fresco.sequence_dim = 1 : i64}, %c: tensor<2x8xf32>) -> tensor<2x8x8xf32> {
  %wq = fresco.param "q.weight" : tensor<8x8xf32>
  %wk = fresco.param "k.weight" : tensor<8x8xf32>
  %wv = fresco.param "v.weight" : tensor<8x8xf32>
  %q = fresco.linear %x, %wq : (tensor<2x8x8xf32>, tensor<8x8xf32>) -> tensor<2x8x8xf32>
  %k = fresco.linear %x, %wk : (tensor<2x8x8xf32>, tensor<8x8xf32>) -> tensor<2x8x8xf32>
  %v = fresco.linear %x, %wv : (tensor<2x8x8xf32>, tensor<8x8xf32>) -> tensor<2x8x8xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 4 : i64, scale = 0.5 : f64} : (tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %wo = fresco.param "o.weight" : tensor<8x8xf32>
  %o = fresco.linear %a, %wo : (tensor<2x8x8xf32>, tensor<8x8xf32>) -> tensor<2x8x8xf32>
  %we = fresco.param "emb.weight" : tensor<8x8xf32>
  %e = fresco.linear %c, %we : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %r = fresco.reshape %e : tensor<2x8xf32> -> tensor<2x1x8xf32>
  %y = fresco.add %o, %r : (tensor<2x8x8xf32>, tensor<2x1x8xf32>) -> tensor<2x8x8xf32>
  return %y : tensor<2x8x8xf32>
}
