// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=2" | FileCheck %s
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=3" 2>&1 | FileCheck %s --check-prefix=IDLE
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=3 place=vae=2" | FileCheck %s --check-prefix=VAE2
// RUN: fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=vae=0,transformer=1" | FileCheck %s --check-prefix=PLACED
// RUN: not fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=unet=0" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=vae=5" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=2 place=transformer=1" 2>&1 | FileCheck %s --check-prefix=GRID
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-placement="ranks=1" 2>&1 | FileCheck %s --check-prefix=WIDE
// RUN: not fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=vae=0,vae=1" 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not fresco-opt %s --fresco-create-grid --fresco-placement="ranks=2 place=vae=0,,transformer=1" 2>&1 | FileCheck %s --check-prefix=EMPTY
// EMPTY: error: --place 'vae=0,,transformer=1' has an empty item

// Default: the denoiser on the grid's ranks, the decoder on rank 0.
// CHECK: func.func @transformer{{.*}}fresco.ranks = array<i64: 0, 1>
// CHECK: func.func @vae{{.*}}fresco.ranks = array<i64: 0>
// PLACED: func.func @transformer{{.*}}fresco.ranks = array<i64: 1>
// PLACED: func.func @vae{{.*}}fresco.ranks = array<i64: 0>
// UNKNOWN: error: --place names component 'unet' but the module has: transformer, vae
// RANGE: error: --place vae=5: rank '5' is not in 0..1
// GRID: error: 'transformer' is placed on 1 rank(s) but its parallel grid has 2
// WIDE: error: the parallel degrees make a grid of 2 ranks but the plan has 1 (--ranks)
// TWICE: error: --place names 'vae' twice
// A rank past the denoiser's grid with nothing placed on it would idle.
// IDLE: error: the parallel degrees make a grid of 2 rank(s) but the plan has 3 (--ranks), and nothing is placed on rank 2: give degrees that multiply to 3, or place components there with --place
// VAE2: func.func @transformer{{.*}}fresco.ranks = array<i64: 0, 1>
// VAE2: func.func @vae{{.*}}fresco.ranks = array<i64: 2>
module attributes {fresco.pipeline = {denoiser = "transformer", decoder = "vae"}} {
  func.func @transformer(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
  func.func @vae(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}
