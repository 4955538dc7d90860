// tp with a sequence strategy: tp's heads, then the sequence axis' split of
// the tokens, to the collectives.
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,ring=2" --fresco-tensor-parallel --fresco-ring-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,ulysses=2" --fresco-tensor-parallel --fresco-ulysses-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s --check-prefix=ULY

// tp x ring: tp (axis 0) loads half of the q/k/v rows, so each rank has 2 of
// the 4 heads; the ring (axis 1) cuts the tokens in two and ring attention
// runs over axis 1 on 2 heads and 4 tokens; the row-parallel output
// projection leaves one partial sum over tp, all-reduced before its bias;
// the tokens come back in one gather over the ring.
// RING: module attributes {fresco.grid_axes = ["tp", "ring"]}
// RING: %[[X:.*]] = shard.all_slice %arg0 on @grid grid_axes = [1] slice_axis = 1 : tensor<2x8x16xf32> -> tensor<2x4x16xf32>
// RING-NOT: shard.all_to_all
// RING: %[[WQ:.*]] = fresco.param "q.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
// RING: %[[Q:.*]] = fresco.linear %[[X]], %[[WQ]] : (tensor<2x4x16xf32>, tensor<8x16xf32>) -> tensor<2x4x8xf32>
// RING: fresco.param "k.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
// RING: fresco.param "v.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
// RING-NOT: shard.all_to_all
// RING: %[[A:.*]] = fresco.attention %[[Q]], {{.*}} {num_heads = 2 : i64, ring_axes = #fresco.axes<[1]>, {{.*}}} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
// RING-NOT: shard.all_to_all
// RING: %[[WO:.*]] = fresco.param "o.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x8xf32>
// RING: %[[O:.*]] = fresco.linear %[[A]], %[[WO]] : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
// RING-NEXT: %[[R:.*]] = shard.all_reduce %[[O]] on @grid grid_axes = [0] : tensor<2x4x16xf32> -> tensor<2x4x16xf32>
// RING-NOT: shard.all_reduce
// RING: %[[G:.*]] = shard.all_gather {{.*}} on @grid grid_axes = [1] gather_axis = 1 : tensor<2x4x16xf32> -> tensor<2x8x16xf32>
// RING-NEXT: return %[[G]]

// tp x ulysses: the same tp heads; Ulysses' all_to_alls over axis 1 trade
// each rank's 4 tokens of 2 heads for all 8 tokens of 1 head, and back;
// then the same single all_reduce over tp.
// ULY: module attributes {fresco.grid_axes = ["tp", "ulysses"]}
// ULY: %[[X:.*]] = shard.all_slice %arg0 on @grid grid_axes = [1] slice_axis = 1 : tensor<2x8x16xf32> -> tensor<2x4x16xf32>
// ULY: fresco.param "q.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
// ULY: fresco.param "k.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
// ULY: fresco.param "v.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<8x16xf32>
// ULY-COUNT-3: shard.all_to_all {{.*}} grid_axes = [1] split_axis = 2 concat_axis = 1 : tensor<2x4x8xf32> -> tensor<2x8x4xf32>
// ULY-NEXT: %[[A:.*]] = fresco.attention {{.*}} {num_heads = 1 : i64, {{.*}}} : (tensor<2x8x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
// ULY-NOT: ring_axes
// ULY-NEXT: shard.all_to_all %[[A]] on @grid grid_axes = [1] split_axis = 1 concat_axis = 2 : tensor<2x8x4xf32> -> tensor<2x4x8xf32>
// ULY: fresco.param "o.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<16x8xf32>
// ULY-NEXT: %[[O:.*]] = fresco.linear {{.*}} : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
// ULY-NEXT: shard.all_reduce %[[O]] on @grid grid_axes = [0] : tensor<2x4x16xf32> -> tensor<2x4x16xf32>
// ULY-NOT: shard.all_reduce
// ULY-NOT: shard.all_to_all
// ULY: %[[G:.*]] = shard.all_gather {{.*}} on @grid grid_axes = [1] gather_axis = 1 : tensor<2x4x16xf32> -> tensor<2x8x16xf32>
// ULY-NEXT: return %[[G]]
func.func @block(%x: tensor<2x8x16xf32> {fresco.sequence_dim = 1 : i64}) -> tensor<2x8x16xf32> {
  %wq = fresco.param "q.weight" : tensor<16x16xf32>
  %wk = fresco.param "k.weight" : tensor<16x16xf32>
  %wv = fresco.param "v.weight" : tensor<16x16xf32>
  %q = fresco.linear %x, %wq : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %k = fresco.linear %x, %wk : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %v = fresco.linear %x, %wv : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 4 : i64, scale = 0.5 : f64} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %wo = fresco.param "o.weight" : tensor<16x16xf32>
  %bo = fresco.param "o.bias" : tensor<16xf32>
  %o = fresco.linear %a, %wo, %bo : (tensor<2x8x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %y = fresco.add %o, %x : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}
