// RUN: fresco-opt %s -split-input-file -verify-diagnostics

// Every verifier error of the partitioning attributes (FrescoAttributes.td)
// and of where they are attached (FrescoDialect's attribute hooks).

func.func @axis_twice(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{grid axis 1 appears twice}}
  %y = fresco.silu %x {fresco.sharding = #fresco.sharding<[{1, 1}]>} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @axis_split_and_partial(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{grid axis 0 appears twice}}
  %y = fresco.silu %x {fresco.sharding = #fresco.sharding<[{0}], partial = {0}>} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @negative_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{grid axis -1 is negative}}
  %y = fresco.silu %x {fresco.sharding = #fresco.sharding<[{-1}]>} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @sharding_rank(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.sharding' has 2 dimension(s) but the result is 'tensor<4xf32>'}}
  %y = fresco.silu %x {fresco.sharding = #fresco.sharding<[{0}, {}]>} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @sharding_untyped(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.sharding' must be a #fresco.sharding, got array<i64: 0, 0>}}
  %y = fresco.silu %x {fresco.sharding = array<i64: 0, 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @partial_param() -> tensor<4xf32> {
  // expected-error @+1 {{a parameter cannot be a partial sum}}
  %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}], partial = {0}>} : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.sharding' has 1 dimension(s) but result 0 is 'tensor<2x4xf32>'}}
func.func @result_rank(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {fresco.sharding = #fresco.sharding<[{0}]>}) {
  return %x : tensor<2x4xf32>
}

// -----

func.func @stage_untyped(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.stage' must be a #fresco.stage, got 1 : i64}}
  %y = fresco.silu %x {fresco.stage = 1 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @stage_negative(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{pipeline stage -1 is negative}}
  %y = fresco.silu %x {fresco.stage = #fresco.stage<-1>} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.pipeline_axis' must be a non-negative i16 grid axis}}
func.func @pipeline_axis(%x: tensor<4xf32>) -> tensor<4xf32> attributes {fresco.pipeline_axis = 0 : i64} {
  return %x : tensor<4xf32>
}

// -----

func.func @ring_axes_empty(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{#fresco.axes needs at least one grid axis}}
  %a = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, ring_axes = #fresco.axes<[]>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %a : tensor<1x4x8xf32>
}

// -----

func.func @ring_axes_untyped(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{attribute 'ring_axes' failed to satisfy constraint}}
  %a = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, ring_axes = array<i16: 0>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %a : tensor<1x4x8xf32>
}

// -----

// expected-error @+1 {{'fresco.sharding' has 1 dimension(s) but argument 0 is 'tensor<2x4xf32>'}}
func.func @arg_rank(%x: tensor<2x4xf32> {fresco.sharding = #fresco.sharding<[{0}]>}) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}

// -----

// expected-error @+1 {{an argument cannot be a partial sum}}
func.func @arg_partial(%x: tensor<2x4xf32> {fresco.sharding = #fresco.sharding<[{}, {}], partial = {0}>}) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}

// -----

// The sequence marker names a dimension of its argument.
// expected-error @+1 {{'fresco.sequence_dim' on argument 0 must be a dimension of the function argument, got 3 : i64}}
func.func @sequence_dim_out_of_range(%x: tensor<1x4x8xf32> {fresco.sequence_dim = 3 : i64}) -> tensor<1x4x8xf32> {
  return %x : tensor<1x4x8xf32>
}

// -----

// expected-error @+1 {{'fresco.sequence_dim' on argument 0 must be a dimension of the function argument, got "tokens"}}
func.func @sequence_dim_not_integer(%x: tensor<1x4x8xf32> {fresco.sequence_dim = "tokens"}) -> tensor<1x4x8xf32> {
  return %x : tensor<1x4x8xf32>
}

// -----

func.func @seed_partial(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.seed' must be a #fresco.sharding without partial axes of the rank of the result ('tensor<4xf32>'), got #fresco.sharding<[{}], partial = {0}>}}
  %0 = fresco.silu %x {fresco.seed = #fresco.sharding<[{}], partial = {0}>} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.seed' must be a #fresco.sharding without partial axes of the rank of argument 0 ('tensor<4xf32>'), got #fresco.sharding<[{0}, {}]>}}
func.func @seed_rank(%x: tensor<4xf32> {fresco.seed = #fresco.sharding<[{0}, {}]>}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

func.func @gather_after_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.gather_after' must be a #fresco.axes, got 1 : i16}}
  %0 = fresco.silu %x {fresco.gather_after = 1 : i16} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.seed_order': grid axis 1 appears twice}}
module attributes {fresco.seed_order = array<i16: 1, 0, 1>} {
}

// -----

// expected-error @+1 {{'fresco.seed_order' must be an i16 array of grid axes, got [1]}}
module attributes {fresco.seed_order = [1]} {
}
