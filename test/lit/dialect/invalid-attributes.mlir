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

// -----

// The lowering attributes (DiscardableAttributes.cpp): unit marks...

func.func @sequence_seed_not_unit(%x: tensor<2x5x8xf32>) -> tensor<2x8x8xf32> {
  // expected-error @+1 {{'fresco.sequence_seed' is a unit mark, got 1 : i64}}
  %0 = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 8 : i64, fresco.sequence_seed = 1} : (tensor<2x5x8xf32>) -> tensor<2x8x8xf32>
  return %0 : tensor<2x8x8xf32>
}

// -----

func.func @sequence_seed_on_slice(%x: tensor<2x8x8xf32>) -> tensor<2x5x8xf32> {
  // expected-error @+1 {{'fresco.sequence_seed' belongs on fresco.pad, not on 'fresco.slice'}}
  %0 = fresco.slice %x {axis = 1 : i64, start = 0 : i64, size = 5 : i64, fresco.sequence_seed} : (tensor<2x8x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @unpad_on_pad(%x: tensor<2x5x8xf32>) -> tensor<2x8x8xf32> {
  // expected-error @+1 {{'fresco.unpad' belongs on fresco.slice, not on 'fresco.pad'}}
  %0 = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 8 : i64, fresco.unpad} : (tensor<2x5x8xf32>) -> tensor<2x8x8xf32>
  return %0 : tensor<2x8x8xf32>
}

// -----

shard.grid @grid(shape = 2)
func.func @async_on_reduce_scatter(%x: tensor<2x4xf32>) -> tensor<1x4xf32> {
  // expected-error @+1 {{'fresco.async' belongs on shard.all_to_all or shard.all_gather or shard.all_reduce, not on 'shard.reduce_scatter'}}
  %0 = shard.reduce_scatter %x on @grid grid_axes = [0] scatter_axis = 0 {fresco.async} : tensor<2x4xf32> -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

func.func @keep_f32_on_compute(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.keep_f32' belongs on fresco.send or fresco.recv or fresco.broadcast, not on 'fresco.silu'}}
  %0 = fresco.silu %x {fresco.keep_f32} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.keep_f32' is a unit mark, got true}}
func.func @keep_f32_arg_not_unit(%t: tensor<2xf32> {fresco.keep_f32 = true}) -> tensor<2xf32> {
  return %t : tensor<2xf32>
}

// -----

// ...world ranks...

shard.grid @grid(shape = 2)
func.func @members_twice(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'fresco.members' lists rank 1 twice}}
  %0 = shard.all_reduce %x on @grid grid_axes = [0] {fresco.members = array<i32: 1, 1>} : tensor<2x4xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

shard.grid @grid(shape = 2)
func.func @members_negative(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'fresco.members' lists the negative rank -1}}
  %0 = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 {fresco.members = array<i32: 0, -1>} : tensor<2x4xf32> -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

shard.grid @grid(shape = 2)
func.func @members_kind(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'fresco.members' must be a non-empty i32 array of world ranks, got array<i64: 0, 1>}}
  %0 = shard.all_reduce %x on @grid grid_axes = [0] {fresco.members = array<i64: 0, 1>} : tensor<2x4xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @members_on_compute(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.members' belongs on shard.all_reduce or shard.reduce_scatter or shard.all_gather or shard.all_to_all or shard.update_halo or fresco.stale_gather, not on 'fresco.silu'}}
  %0 = fresco.silu %x {fresco.members = array<i32: 0, 1>} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A group norm's members are the ranks its statistics span.
func.func @members_on_local_group_norm(%x: tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32> {
  // expected-error @+1 {{'fresco.members' belongs on a fresco.group_norm with stats_axes}}
  %0 = fresco.group_norm %x {num_groups = 2 : i64, epsilon = 1.0e-5 : f64, fresco.members = array<i32: 0, 1>} : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  return %0 : tensor<1x4x2x2xf32>
}

// -----

func.func @ring_members_without_ring(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{'fresco.ring_members' belongs on a fresco.attention with ring_axes}}
  %0 = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, fresco.ring_members = array<i32: 0, 1>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %0 : tensor<1x4x8xf32>
}

// -----

// expected-error @+1 {{'fresco.rank' belongs on a module nested in a module}}
func.func @rank_on_function() attributes {fresco.rank = 0 : i64} {
  return
}

// -----

module {
  // expected-error @+1 {{'fresco.rank' must be a non-negative i64, got -1 : i64}}
  module @rank0 attributes {fresco.rank = -1 : i64} {
  }
}

// -----

// expected-error @+1 {{'fresco.ranks' must be a non-empty i64 array of world ranks, got array<i64>}}
func.func @ranks_empty(%x: tensor<4xf32>) -> tensor<4xf32> attributes {fresco.ranks = array<i64>} {
  return %x : tensor<4xf32>
}

// -----

// ...the module's grid and storage...

// expected-error @+1 {{'fresco.grid_axes' names axis "tp" twice}}
module attributes {fresco.grid_axes = ["tp", "tp"]} {
}

// -----

// expected-error @+1 {{'fresco.grid_axes' must be a non-empty array of axis names, got []}}
module attributes {fresco.grid_axes = []} {
}

// -----

// expected-error @+1 {{'fresco.grid_axes' must name each axis by its kind (cfg, tp, ulysses, ring, pipeline or replica), got 1 : i64}}
module attributes {fresco.grid_axes = [1]} {
}

// -----

// expected-error @+1 {{'fresco.grid_axes' must name each axis by its kind (cfg, tp, ulysses, ring, pipeline or replica), got "expert"}}
module attributes {fresco.grid_axes = ["tp", "expert"]} {
}

// -----

// expected-error @+1 {{'fresco.grid_axes' belongs on a module, not on 'func.func'}}
func.func @grid_axes_on_function() attributes {fresco.grid_axes = ["tp"]} {
  return
}

// -----

// expected-error @+1 {{'fresco.float_storage' must be "f32", "bf16" or "f16", got "fp8"}}
module attributes {fresco.float_storage = "fp8"} {
}

// -----

// ...names, offsets and sizes...

// expected-error @+1 {{'fresco.component' must be a non-empty string, got 1 : i64}}
func.func @component_kind() attributes {fresco.component = 1} {
  return
}

// -----

func.func @component_on_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.component' belongs on a function, not on 'fresco.silu'}}
  %0 = fresco.silu %x {fresco.component = "transformer"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.name' must be a non-empty string, got 1 : i64}}
func.func @name_result(%x: tensor<4xf32>) -> (tensor<4xf32> {fresco.name = 1}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.offset' must be a non-negative i64, got -64 : i64}}
func.func @offset_arg(%x: tensor<4xf32> {fresco.offset = -64 : i64}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

func.func @offset_no_result(%x: tensor<4xf32>) {
  // expected-error @+1 {{'fresco.offset' needs an op with exactly one result}}
  fresco.send %x {members = array<i32: 0, 1>, peer = 1 : i64, tag = 0 : i32, fresco.offset = 0 : i64} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{'fresco.arena_bytes' must be a non-negative i64, got 64 : i32}}
func.func @arena_bytes_kind() attributes {fresco.arena_bytes = 64 : i32} {
  return
}

// -----

// ...and no other name.

func.func @unknown(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.shard' is not an attribute of the fresco dialect}}
  %0 = fresco.silu %x {fresco.shard = 1} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.stage' is not an attribute of a function argument}}
func.func @unknown_arg(%x: tensor<4xf32> {fresco.stage = #fresco.stage<0>}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{'fresco.seed' is not an attribute of a function result}}
func.func @unknown_result(%x: tensor<4xf32>) -> (tensor<4xf32> {fresco.seed = #fresco.sharding<[{}]>}) {
  return %x : tensor<4xf32>
}

// -----

func.func @valid_rows_on_pad(%x: tensor<2x5x8xf32>) -> tensor<2x8x8xf32> {
  // expected-error @+1 {{'fresco.valid_rows' belongs on shard.update_halo, not on 'fresco.pad'}}
  %0 = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 8 : i64, fresco.valid_rows = 5 : i64} : (tensor<2x5x8xf32>) -> tensor<2x8x8xf32>
  return %0 : tensor<2x8x8xf32>
}

// -----

func.func @valid_rows_not_positive(%x: tensor<2x5x8xf32>) -> tensor<2x8x8xf32> {
  // expected-error @+1 {{'fresco.valid_rows' must be a positive integer, got 0 : i64}}
  %0 = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 8 : i64, fresco.valid_rows = 0 : i64} : (tensor<2x5x8xf32>) -> tensor<2x8x8xf32>
  return %0 : tensor<2x8x8xf32>
}

// -----

// expected-error @+1 {{'fresco.padded_rows' must be array<i64: real, padded> with 0 < real < padded on a function}}
func.func @padded_rows_not_growing(%x: tensor<2x4xf32>) -> tensor<2x4xf32> attributes {fresco.padded_rows = array<i64: 8, 8>} {
  return %x : tensor<2x4xf32>
}

// -----

func.func @partial_sum_not_on_linear(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fresco.partial_sum' must be {axes = array<i16: ...>, once = ["bias"]} on a fresco.linear}}
  %y = fresco.silu %x {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @partial_sum_axis_twice(%x: tensor<2x4xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'fresco.partial_sum' lists grid axis 0 twice}}
  %y = fresco.linear %x, %w, %b {fresco.partial_sum = {axes = array<i16: 0, 0>, once = ["bias"]}} : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

func.func @partial_sum_once_residual(%x: tensor<2x4xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>, %r: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'fresco.partial_sum' must be {axes = array<i16: ...>, once = ["bias"]} on a fresco.linear}}
  %y = fresco.linear %x, %w, %b residual %r {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias", "residual"]}} : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

func.func @partial_sum_without_bias(%x: tensor<2x4xf32>, %w: tensor<8x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'fresco.partial_sum' counts the bias once, but the linear has no bias}}
  %y = fresco.linear %x, %w {fresco.partial_sum = {axes = array<i16: 0>, once = ["bias"]}} : (tensor<2x4xf32>, tensor<8x4xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
