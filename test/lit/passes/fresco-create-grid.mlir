// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=4" | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid | FileCheck %s --check-prefix=ONE
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,ulysses=2" | FileCheck %s --check-prefix=ULY
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=2 ranks=8" 2>&1 | FileCheck %s --check-prefix=RANKS
// RUN: not fresco-opt %s --fresco-create-grid="parallel=dp=2" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,ring=4" | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,pipeline=2" | FileCheck %s --check-prefix=PIPE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=0" 2>&1 | FileCheck %s --check-prefix=DEGREE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2,tp=2" 2>&1 | FileCheck %s --check-prefix=TWICE

// CHECK: module attributes {fresco.grid_axes = ["cfg", "tp"]}
// CHECK: shard.grid @grid(shape = 2x4)
// ONE: module attributes {fresco.grid_axes = ["replica"]}
// ONE: shard.grid @grid(shape = 1)
// ULY: module attributes {fresco.grid_axes = ["cfg", "ulysses"]}
// ULY: shard.grid @grid(shape = 2x2)
// RING: module attributes {fresco.grid_axes = ["tp", "ring"]}
// RING: shard.grid @grid(shape = 2x4)
// RANKS: error: the parallel degrees 'cfg=2,tp=2' multiply to 4 but the grid spans 8 rank(s)
// UNKNOWN: error: unknown parallel axis 'dp' in 'dp=2' (valid: cfg=N, tp=N, ulysses=N, ring=N, patch=N, pipeline=N)
// PIPE: module attributes {fresco.grid_axes = ["cfg", "pipeline"]}
// PIPE: shard.grid @grid(shape = 2x2)
// DEGREE: error: parallel axis 'tp' needs a positive integer degree, got '0'
// TWICE: error: parallel axis 'tp' is given twice
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
