// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=4" | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid | FileCheck %s --check-prefix=ONE
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,ulysses=2" | FileCheck %s --check-prefix=ULY
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=2 ranks=8" 2>&1 | FileCheck %s --check-prefix=RANKS
// RUN: not fresco-opt %s --fresco-create-grid="parallel=dp=2" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,ring=4" | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,pipeline=2" | FileCheck %s --check-prefix=PIPE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=0" 2>&1 | FileCheck %s --check-prefix=DEGREE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2,tp=2" 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,pipefusion=3 ranks=6" | FileCheck %s --check-prefix=PF
// RUN: fresco-opt %s --fresco-create-grid="parallel=pipefusion=2 pipefusion-patches=4 ranks=2" | FileCheck %s --check-prefix=PF4
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipeline=2,pipefusion=2" 2>&1 | FileCheck %s --check-prefix=PFPIPE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipefusion=2 pipefusion-patches=65" 2>&1 | FileCheck %s --check-prefix=PFMANY
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2 pipefusion-patches=2" 2>&1 | FileCheck %s --check-prefix=PFNONE
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,pipeline=2 microbatches=4 ranks=4" | FileCheck %s --check-prefix=MB
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2 microbatches=2" 2>&1 | FileCheck %s --check-prefix=MBNONE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipefusion=2 microbatches=2" 2>&1 | FileCheck %s --check-prefix=MBPF
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipeline=2 microbatches=1" 2>&1 | FileCheck %s --check-prefix=MBFEW
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipeline=2,microbatch=2" 2>&1 | FileCheck %s --check-prefix=MBAXIS
// RUN: not fresco-opt %s --fresco-create-grid="parallel=pipeline=1 microbatches=2" 2>&1 | FileCheck %s --check-prefix=MBONE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=4096" 2>&1 | FileCheck %s --check-prefix=HUGE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,,tp=2" 2>&1 | FileCheck %s --check-prefix=EMPTY
// EMPTY: error: 'cfg=2,,tp=2' has an empty item: list the axes as axis=N separated by single commas

// CHECK: module attributes {fresco.grid_axes = ["cfg", "tp"]}
// CHECK: shard.grid @grid(shape = 2x4)
// ONE: module attributes {fresco.grid_axes = ["replica"]}
// ONE: shard.grid @grid(shape = 1)
// ULY: module attributes {fresco.grid_axes = ["cfg", "ulysses"]}
// ULY: shard.grid @grid(shape = 2x2)
// RING: module attributes {fresco.grid_axes = ["tp", "ring"]}
// RING: shard.grid @grid(shape = 2x4)
// RANKS: error: the parallel degrees 'cfg=2,tp=2' multiply to 4 but the grid spans 8 rank(s)
// UNKNOWN: error: unknown parallel axis 'dp' in 'dp=2' (valid: cfg=N, tp=N, ulysses=N, ring=N, patch=N, pipeline=N, pipefusion=N; micro-batches: --microbatches M)
// PIPE: module attributes {fresco.grid_axes = ["cfg", "pipeline"]}
// PIPE: shard.grid @grid(shape = 2x2)
// DEGREE: error: parallel axis 'tp' needs a positive integer degree, got '0'
// TWICE: error: parallel axis 'tp' is given twice
// pipefusion=S: S pipeline stages, then the patches as a last axis that no
// rank owns (it does not count towards the ranks).
// PF: module attributes {fresco.grid_axes = ["cfg", "pipeline", "pipefusion"]}
// PF: shard.grid @grid(shape = 2x3x3)
// PF4: shard.grid @grid(shape = 2x4)
// PFPIPE: error: pipefusion=2 already cuts the pipeline stages: drop pipeline=
// PFMANY: error: --pipefusion-patches must be in 2..64, got 65
// PFNONE: error: --pipefusion-patches applies to --parallel pipefusion=S only
// Micro-batches: a last virtual axis over the batch, with pipeline stages.
// MB: module attributes {fresco.grid_axes = ["cfg", "pipeline", "microbatch"]}
// MB: shard.grid @grid(shape = 2x2x4)
// MBNONE: error: --microbatches applies to --parallel pipeline=S only
// MBPF: error: --microbatches applies to --parallel pipeline=S only (pipefusion=S runs its patches through the stages instead)
// MBFEW: error: --microbatches must be in 2..64, got 1
// MBAXIS: error: unknown parallel axis 'microbatch'
// MBONE: error: --microbatches applies to --parallel pipeline=S only, S >= 2 (one stage has nothing to overlap)
// A product past --ranks' limit (a degree of 2^63 - 1 hung placement).
// HUGE: error: the parallel degrees 'cfg=2,tp=4096' multiply to more than 4096 ranks
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
