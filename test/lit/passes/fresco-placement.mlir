// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=3" | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=vae=0,transformer=1" | FileCheck %s --check-prefix=PLACED
// RUN: not fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=unet=0" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=vae=5" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=2 place=transformer=1" 2>&1 | FileCheck %s --check-prefix=GRID

// Default: the denoiser on the grid's ranks, the decoder on rank 0.
// CHECK: func.func @transformer{{.*}}fresco.ranks = array<i64: 0, 1>
// CHECK: func.func @vae{{.*}}fresco.ranks = array<i64: 0>
// PLACED: func.func @transformer{{.*}}fresco.ranks = array<i64: 1>
// PLACED: func.func @vae{{.*}}fresco.ranks = array<i64: 0>
// UNKNOWN: error: --place names component 'unet' but the module has: transformer, vae
// RANGE: error: --place vae=5: rank '5' is not in 0..1
// GRID: error: 'transformer' is placed on 1 rank(s) but its parallel grid has 2
module attributes {fresco.pipeline = {denoiser = "transformer", decoder = "vae"}} {
  func.func @transformer(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
  func.func @vae(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}
