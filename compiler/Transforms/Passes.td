//===- Passes.td - Fresco compiler passes ------------------*- tablegen -*-===//
#ifndef FRESCO_COMPILER_PASSES_TD
#define FRESCO_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def AssignBuffers : Pass<"fresco-assign-buffers", "::mlir::func::FuncOp"> {
  let summary = "Plan the static arena: give every activation a byte offset";
  let description = [{
    Computes each activation's live range over the function's single block,
    lets `fresco.reshape` results share their operand's storage, and packs
    the buffers into one arena (greedy by size, live ranges that overlap
    never share bytes). Records `fresco.offset` on every op that defines an
    arena value and on every argument, `fresco.arena_bytes` (peak) and
    `fresco.intermediate_bytes` (sum without reuse) on the function.
    Parameters (`fresco.param`) and their reshapes live outside the arena.
    Floats are sized by the module's storage (`fresco.float_storage`:
    2 bytes under bf16/f16, but for the timesteps and what only moves them,
    which stay 4 bytes); `fresco.wait` results share their collective's
    storage. Where the elements a `fresco.slice` or `fresco.concat` moves
    are contiguous (every dimension before the axis is 1) and at an
    aligned offset, the slice's result is a window of its input's buffer
    and the concatenation's operands, each computed for it alone, are
    written in place inside its result; both get `fresco.in_place`, and the
    runtime skips the copies whose source and destination coincide.
  }];
  let options = [
    Option<"alignment", "alignment", "uint64_t", /*default=*/"64",
           "byte alignment of every buffer">
  ];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def FuseEpilogues : Pass<"fresco-fuse-epilogues", "::mlir::func::FuncOp"> {
  let summary = "Fuse GELU/SiLU and residual sums into the preceding linear "
                "(a GEMM epilogue)";
  let description = [{
    A `fresco.gelu` or `fresco.silu` whose input is a `fresco.linear`
    without activation, used by it alone, becomes that linear's
    `activation` ("gelu_tanh" for approximate = "tanh", "gelu" for "none",
    "silu"): one kernel instead of two, and no buffer for the linear's
    pre-activation result. A linear with other uses keeps its result and
    the activation stays an op.

    A `fresco.add` of such a linear (without activation) and a value of the
    sum's shape (no broadcast) becomes the linear with that value as its
    `residual`, placed at the add: the GEMM accumulates onto it. Either
    operand order; of two linears, the earlier one moves to the add and
    takes the later's result (its input is read last, so a collective
    feeding it overlaps the other GEMM).

    A gated residual `add(mul(g, L), r)` (any operand order; the mul and
    the linear L used once, g of LinearOp's gate shape [B or 1, 1, ..., N],
    r of the sum's shape) becomes L with `gate` g and `residual` r, ahead
    of the plain residual fold (DiT's, SD3's and Flux's gated residuals).
    Where L's residual is itself such a linear L2 (Flux's split proj_out),
    L2 takes g and r and L takes g and L2. A `mul(g, L)` that no add takes
    becomes L with the gate alone.

    Runs after partitioning (a partial sum is all-reduced before any
    activation or residual sum; two partial sums may still be added) and
    before fresco-assign-buffers.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def FoldIntoReduction
    : Pass<"fresco-fold-into-reduction", "::mlir::func::FuncOp"> {
  let summary = "Apply a tp partial sum's bias and gate in its linear, "
                "before the reduction";
  let description = [{
    `add(shard.all_reduce(linear(x, W)), b)` with `b` of shape [N] (a
    row-parallel linear's bias, added after tp's all_reduce), then
    `mul(g, ...)` with a per-sample gate `g` (DiT's, SD3's and Flux's
    gated residuals): the linear takes `b` as its bias, marked
    `fresco.partial_sum = {axes = <the reduction's axes>, once =
    ["bias"]}`, and `g` as its gate, and the add and the product go.
    fresco-specialize-ranks keeps the bias on the member at coordinate 0
    of the axes and drops it on the others, so the sum counts it once; the
    gate scales every member's part. A bias added after the gate stays (the
    linear would gate it). The residual stays after the collective: on one
    member it would join the partial sums, and a bf16/f16 all_reduce would
    round the residual stream at every hop. A `shard.reduce_scatter`
    (--tp-reduce-scatter) is treated alike. The linear must be used by the
    reduction alone and the reduction by the add or mul alone; where the
    linear's residual is the other part of a split projection (a partial
    sum itself, Flux's single blocks), that part takes the gate too. Runs
    after fresco-fuse-epilogues, before fresco-fuse-elementwise.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def ChunkTpReduction
    : Pass<"fresco-chunk-tp-reduction", "::mlir::func::FuncOp"> {
  let summary = "Split tp's row-parallel linears and the row-wise ops after "
                "their all_reduce into chunks that overlap each other's sums";
  let description = [{
    A sum `shard.all_reduce` of a linear's result (tp's partial sums) that
    reads nothing else becomes `chunks` linears over contiguous rows of
    [B, T, *]: whole samples per chunk when B divides by `chunks`, else
    `chunks / B` runs of each sample's tokens (`chunks` a multiple of B, T
    of `chunks / B`), else the reduction is left alone. Each chunk's sum is
    its own all_reduce. The linear's bias, gate (its sample's row) and
    residual (its rows; the other part of a split projection is chunked
    alike) go with each chunk. The row-wise ops after the sum (add, sub,
    mul, div, mul_add, gelu, silu, quick_gelu, layer_norm and its [B, D]
    modulation, rms_norm, modulate, linear; every operand chunked alike,
    its rows cut, a per-sample row, or broadcast whole) run per chunk too,
    a later chunked sum's linear reading the chunks directly; an op that
    needs every row reads them concatenated (views: fresco-assign-buffers
    writes each chunk in place). The block is then ordered chunk by chunk
    within each stretch up to the next sum (a list schedule that keeps
    every def-use and the order of the ops it did not make), and
    fresco-place-waits starts every chunk's all_reduce asynchronously: on
    NCCL chunk i's sum overlaps the other chunks' work. The function gets
    `fresco.chunked_sums = array<i64: sums, chunks>`. Runs after
    fresco-fold-into-reduction. A no-op for `chunks` < 2.
  }];
  let options = [
    Option<"chunks", "chunks", "int64_t", /*default=*/"2",
           "chunks per row-parallel linear">
  ];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def FuseElementwise : Pass<"fresco-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Fuse a mul into the add that uses it (fresco.mul_add)";
  let description = [{
    `add(mul(a, b), c)` (either operand order) becomes `mul_add(a, b, c)`
    when the mul has no other use and c has the sum's shape: one kernel
    and one buffer fewer each (gated residuals whose product is not a
    linear's; fresco-fuse-epilogues takes the others). Runs after
    partitioning and before fresco-assign-buffers.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def TransposeChunks : Pass<"fresco-transpose-chunks", "::mlir::func::FuncOp"> {
  let summary = "Chunks of a row batch as windows of one transpose";
  let description = [{
    Slices of whole c-column chunks along the last axis of an f32 tensor
    [..., k*c] with more than one row (adaLN's chunks at batch > 1) are
    each a strided copy. Where at least two of them cut at least half the
    chunks of a tensor of at most 2^18 elements (larger ones copy at
    bandwidth anyway), one `fresco.transpose` of the tensor, reshaped to [rows, k, c],
    to [k, rows, c] replaces them, and each chunk becomes a slice of whole
    leading rows of it (then a window: fresco-assign-buffers): one launch
    instead of one per chunk. Runs after partitioning and before
    fresco-assign-buffers.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def FuseModulation : Pass<"fresco-fuse-modulation", "::mlir::func::FuncOp"> {
  let summary = "Fuse adaLN modulation into the preceding layer norm";
  let description = [{
    A `fresco.modulate` whose input is a `fresco.layer_norm` without
    modulation, used by it alone, becomes that norm's `modulation` operands
    (shift, scale): DiT's norm1 / norm3 / norm_out followed by their adaLN
    modulation run as one kernel, and the normalised, unmodulated tensor
    needs no buffer. The fused norm takes the modulate's place in the
    block, where shift and scale are defined. A norm with other uses keeps
    its result and the modulate stays an op. Runs after partitioning and
    before fresco-assign-buffers.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def FuseRopeNorm : Pass<"fresco-fuse-rope-norm", "::mlir::func::FuncOp"> {
  let summary = "Fuse the per-head RMS norm of q or k into its rotation";
  let description = [{
    `rope(reshape(rms_norm(reshape(x) : [B, T, H, Dh], w)))` with H the
    rope's `num_heads` becomes `rope(x)` with `norm(w)` and the norm's
    epsilon: Flux's q/k norms and the rotary embedding run as one kernel
    that reads q or k once, and the normalised tensor needs no buffer. A
    norm (or its reshape) with other uses, a norm without weight or one
    whose rows are not the rope's heads stays as it is. Runs after
    partitioning and before fresco-assign-buffers.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def TpReduceScatter : Pass<"fresco-tp-reduce-scatter", "::mlir::ModuleOp"> {
  let summary = "tp's partial sums reduce-scattered over the tokens "
                "(Megatron's sequence parallelism)";
  let description = [{
    Runs after fresco-insert-collectives. An all_reduce over the grid's tp
    axis of a [B, T, D] partial sum (T a multiple of the degree) becomes a
    `shard.reduce_scatter` along the tokens, and the ops after it that the
    sharding rules let run on a token split (a parallel factor making up a
    whole dimension of each result: bias and gate, residual adds, layer and
    RMS norms, modulation, linears with replicated weights) run on this
    rank's T/P tokens, replicated operands with that factor sliced locally
    (`shard.all_slice`). Readers that need all the tokens (a linear whose
    weight tp splits, attention, a reshape across the tokens, the results)
    read one `shard.all_gather` of the split value. An all_reduce that no op
    could take split is kept. Not with the patch or pipefusion axes (an
    error). A no-op without a tp axis.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def PlaceWaits : Pass<"fresco-place-waits", "::mlir::func::FuncOp"> {
  let summary = "Start collectives early, wait before their readers";
  let description = [{
    A `shard.all_to_all`, `shard.all_gather` or sum `shard.all_reduce`
    whose result is not read by the op right after it is marked
    `fresco.async` (started where it stands) and a `fresco.wait` is placed
    before the first of: its first reader, the next communicating op other
    than one of those three over the same grid axes (a communicator's
    calls run in one order; other groups' must not run concurrently), the
    next op of another pipeline stage, the function's end. Its readers
    then read the wait's result. The runtime overlaps the collective with
    the ops in between where its communicator allows (NCCL, Gloo on host
    memory). Runs after fresco-schedule-collectives and
    fresco-pipeline-parallel, before fresco-assign-buffers (which keeps the
    collective's result live up to the wait).
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def ScheduleCollectives
    : Pass<"fresco-schedule-collectives", "::mlir::func::FuncOp"> {
  let summary = "Move all_to_all and all_gather up to their operands' definitions";
  let description = [{
    Each `shard.all_to_all` and `shard.all_gather` moves to just after the
    last definition of its operands (or the previous communicating op, if
    later), so the ops between it and its first use can overlap its
    communication; the runtime issues a collective whose result is not used
    by the next instruction asynchronously where its communicator allows
    (NCCL). Collectives keep their relative order and never pass another
    communicating op (another collective, ring attention), so every rank
    issues them in the same order. Runs before fresco-assign-buffers.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect"];
}

def CreateGrid : Pass<"fresco-create-grid", "::mlir::ModuleOp"> {
  let summary = "Create the device grid from a parallel spec like cfg=2,tp=2";
  let description = [{
    Adds `shard.grid @grid` with one axis per entry of `parallel` (in the
    order given) and the module attribute `fresco.grid_axes` naming them.
    Known axis names: cfg, tp, ulysses, ring, patch, pipeline, pipefusion.
    Fails when the product of the degrees differs from `ranks` (when
    given). `pipefusion=S` is pipeline=S stages plus a last, virtual axis
    `pipefusion` of `patches` coordinates (default S) that no rank owns:
    each rank runs all of them in turn (fresco-pipefusion unrolls it).
    `microbatches` M with pipeline=S adds a last virtual axis `microbatch`
    of M coordinates: the batch split M ways, each part run through the
    stages in turn (also unrolled by fresco-pipefusion).
  }];
  let options = [
    Option<"parallel", "parallel", "std::string", /*default=*/"\"\"",
           "comma-separated axis=degree list, e.g. cfg=2,tp=2, ulysses=4 or ring=2">,
    Option<"ranks", "ranks", "int64_t", /*default=*/"0",
           "ranks the grid must span (0: any)">,
    Option<"patches", "pipefusion-patches", "int64_t", /*default=*/"0",
           "PipeFusion's patches per rank with pipefusion=S (0: S)">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"0",
           "micro-batches through the stages of pipeline=S (0: none)">
  ];
  let dependentDialects = ["::mlir::shard::ShardDialect"];
}

def CfgParallel : Pass<"fresco-cfg-parallel", "::mlir::ModuleOp"> {
  let summary = "Split the denoiser's batch over the grid's cfg axis";
  let description = [{
    Classifier-free guidance runs the conditional and unconditional halves
    of the batch through the same model: each rank on the `cfg` axis takes
    its slice of the batch. The pass only seeds that split: every
    argument's `fresco.sharding` (dimension 0 over the cfg axis). Then
    fresco-propagate-shardings slices the arguments (shard.all_slice: no
    communication) and the ops' sharding rules carry the split through the
    function: activations that depend on the inputs become local along the
    batch, and each result is marked `fresco.sharding` for an all_gather by
    fresco-insert-collectives; an op whose rule needs the batch whole (a
    slice or concat along it, a reshape that mixes it) is a located error
    there. Fails when the arguments do not share a batch, it does not
    divide, or a result does not depend on them. With a `microbatch` axis
    (`--microbatches M`, pipeline=S) it also seeds each argument's batch,
    as cfg leaves it, split M ways over that virtual axis
    (`fresco.seed`); fresco-pipefusion runs the parts in turn. A no-op
    without either axis.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def SplitChunkedLinear : Pass<"fresco-split-chunked-linear", "::mlir::ModuleOp"> {
  let summary = "Split a linear whose features are sliced into one per slice";
  let description = [{
    In the denoiser, with a tp axis on the grid: `linear(x, W, b)` whose
    users all slice disjoint ranges of its last dimension becomes one
    linear per slice, `linear(x, W[s:e], b[s:e])`, the rows parameters of
    their own (`checkpoint_shape`, `offsets`). GEGLU projects [hidden;
    gate] and splits the halves; split by tp, each half is a
    column-parallel linear. A no-op without tp (one GEMM is faster).
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def SplitConcatLinear : Pass<"fresco-split-concat-linear", "::mlir::ModuleOp"> {
  let summary = "Split a linear over a feature concatenation into its parts";
  let description = [{
    In the denoiser: `linear(concat(a, m), W, b)` along the last dimension,
    W a parameter, becomes `linear(a, Wa) + linear(m, Wm) + b`, Wa and Wm
    parameters loading W's column blocks (`checkpoint_shape`, `offsets`).
    Flux's single-stream blocks project attention and MLP outputs
    concatenated; split by tp, each part is a row-parallel linear, and the
    propagation adds the two partial sums before one all_reduce (the bias
    is added once, after the sum). Without a tp axis the bias goes with
    the first part, `linear(a, Wa, b) + linear(m, Wm)`: fresco-fuse-epilogues
    makes the sum one GEMM's residual, and no concatenation is copied.
    fresco-compile runs it on one rank too.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def PadUneven : Pass<"fresco-pad-uneven", "::mlir::ModuleOp"> {
  let summary = "Pad sizes that the grid's degrees do not divide";
  let description = [{
    In the denoiser, before the strategies: tokens whose count (patch rows
    of the image, or a packed [B, T, C] sequence) the sequence degree
    (ulysses x ring) does not divide are padded with zeros right after
    the patch embedding (a fresco.pad marked `fresco.sequence_seed`, where
    the sequence passes then split); attention heads that tp x ulysses does
    not divide get zero rows in their q, k and v projections; a token
    MLP's width that tp does not divide gets zero rows in its first
    linear (parameters with `checkpoint_shape`). The ops' sharding rules
    carry the padding forward: attention masks padded keys (`key_valid`),
    a contraction over zero-padded weights adds zeros, and the padding is
    sliced off (`fresco.slice` marked `fresco.unpad`) before any op that
    would mix it into real values and before the return. The strategies
    that follow then split evenly. A no-op when every size divides.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def TensorParallel : Pass<"fresco-tensor-parallel", "::mlir::ModuleOp"> {
  let summary = "Megatron tensor parallelism over the grid's tp axis";
  let description = [{
    In the denoiser: every multi-head attention whose q, k and v come from
    linear layers of their own (directly, or through single-use reshapes
    and per-head norms) gets its heads split (q/k/v weights
    column-parallel, the output projection row-parallel); every
    linear -> activation -> linear chain
    (the MLP) gets fc1 column-parallel and fc2 row-parallel. The pass only
    seeds the column-parallel weights (`fresco.seed` on their parameters);
    in fresco-propagate-shardings the ops' sharding rules split the heads
    and make the contracting layers row-parallel: their results are marked as partial sums
    (`fresco.sharding` with `partial`, one all_reduce each, inserted by
    fresco-insert-collectives) with the bias added after the reduction.
    Per-sample linear layers ([B, D] inputs: adaLN, embedders, the output
    head's modulation) stay replicated unless their weight is at least
    `min-split-bytes`: those big ones (DiT's adaLN projections, 6D x D) are
    split by output columns and their [B, out] results all-gathered, which
    saves (P-1)/P of the weight on every rank for a few KiB of traffic.
    Head counts or hidden sizes that do not divide the degree are an error
    naming the layer. A no-op without a tp axis.
  }];
  let options = [
    Option<"minSplitBytes", "min-split-bytes", "int64_t",
           /*default=*/"8 << 20",
           "split per-sample linear weights of at least this many bytes">
  ];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def UlyssesParallel : Pass<"fresco-ulysses-parallel", "::mlir::ModuleOp"> {
  let summary = "DeepSpeed-Ulysses sequence parallelism over the ulysses axis";
  let description = [{
    The pass only seeds the tokens' split (`fresco.seed`): in the denoiser,
    the [B, C, H, W] image argument by rows (or the arguments marked
    `fresco.sequence_dim`, or the tokens fresco-pad-uneven padded).
    fresco-propagate-shardings then slices it (shard.all_slice along
    dimension 2, after any cfg batch slice); a patch
    embedding (stride == kernel, no padding) turns each band of rows into a
    contiguous block of tokens, and every per-token op (linear, layer_norm,
    rms_norm, modulate, activations, broadcasting arithmetic) stays local, with
    replicated operands that span the tokens (the position table) sliced to
    this rank's block. Around every attention a shard.all_to_all turns the
    sequence-split q, k and v into head-split ones (H/P heads per rank) and
    another turns the result back. A result still split is all-gathered
    before the return. The ops' sharding rules carry the split
    (ShardingPropagation) through reshapes and transposes; any op whose
    rule cannot take it is a located error, as are head counts or patch
    rows that do not divide the degree. A no-op without a ulysses axis.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def RingParallel : Pass<"fresco-ring-parallel", "::mlir::ModuleOp"> {
  let summary = "Ring attention sequence parallelism over the ring axis";
  let description = [{
    Seeds the denoiser's tokens' split over the ring axis exactly as
    fresco-ulysses-parallel does; fresco-propagate-shardings carries it
    the same way (image rows, a patch embedding that keeps
    each band contiguous, per-token ops local, replicated operands that span
    the tokens sliced, split results all-gathered before the return), but
    keeps attention split too: a self-attention, whose key and value are
    split like its query, gets `ring_axes` = [the ring axis], and the
    runtime passes each rank's key/value block around the ring, merging the
    blocks with an online softmax. Attention to a replicated context stays
    local. The head count needs not divide the degree. After
    fresco-ulysses-parallel (a ulysses axis listed before the ring axis; the
    other order is refused), it splits each Ulysses band further, keeps the
    split through Ulysses' all_to_alls and joins Ulysses' final row gather
    (one all_gather over both axes). A no-op without a ring axis.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def PatchParallel : Pass<"fresco-patch-parallel", "::mlir::ModuleOp"> {
  let summary = "Displaced patch parallelism (DistriFusion) over the patch axis";
  let description = [{
    Seeds the denoiser's tokens' split over the patch axis exactly as
    fresco-ulysses-parallel does, and fresco-propagate-shardings carries it
    the same way, but resolves a self-attention's split keys and values
    with `fresco.stale_gather`: each rank's own block is fresh, the other
    ranks' blocks are those of their previous run (a step earlier), so
    their exchange can overlap the step. Queries stay split; attention to a
    replicated context stays local; the head count needs not divide the
    degree. Approximate (DistriFusion): the pipeline's first
    `fresh_steps` steps exchange fresh blocks. Refused together with
    ulysses or ring. A no-op without a patch axis.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def PipeFusionWarmup : Pass<"fresco-pipefusion-warmup", "::mlir::ModuleOp"> {
  let summary = "PipeFusion's exact warm-up twin of the denoiser";
  let description = [{
    With a `pipefusion` axis (fresco-create-grid, `pipefusion=S`): clones
    the pipeline's denoiser as `<denoiser>_warmup`, named in
    `fresco.pipeline` as `denoiser_warmup`. Every strategy applies to both
    but the patches' split, which only the denoiser gets: the pipeline's
    first `fresh_steps` steps run the twin (exact, and filling the patch
    caches whole), the others the patched denoiser. Refused for a module
    without a pipeline. A no-op without a pipefusion axis.
  }];
}

def PipeFusion : Pass<"fresco-pipefusion", "::mlir::ModuleOp"> {
  let summary = "PipeFusion: unroll the patches, stale keys and values cached";
  let description = [{
    After fresco-insert-collectives, the denoiser is SPMD over the virtual
    `pipefusion` axis: its tokens split into M patches, each self-attention
    reading the whole keys and values through `fresco.stale_gather`. This
    pass runs the M patches one after the other in one function: the ops
    that depend on the patch are cloned once per patch (the patch's slice
    of the input at its offset); a stale_gather becomes a
    `fresco.patch_cache` writing the patch's block into a rank-local cache
    and reading all M blocks (this step's for the patches before, the
    previous step's for those after); the final all_gather over the
    patches becomes a concatenation of the patches' results. The warm-up
    twin's matching attentions write their whole keys and values into the
    same caches (`parts = 1`). The axis then leaves the grid. Anything
    else that communicates across the patches is refused.

    The `microbatch` axis (`--microbatches M` with pipeline=S: the batch
    split M ways) is unrolled the same way, with no caches: nothing but
    the slices and the final gather may cross it. The function gets
    `fresco.microbatches = M`, so that fresco-pipeline-parallel cuts it by
    dataflow and the stages overlap on the micro-batches.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def PipelineParallel : Pass<"fresco-pipeline-parallel", "::mlir::ModuleOp"> {
  let summary = "Layer sharding: the denoiser cut into pipeline stages";
  let description = [{
    Cuts the denoiser's ops, in program order, into as many contiguous
    stages as the grid's pipeline axis has, balancing the parameter bytes
    they read (PipeFusion's pair: the parameters' stages balance a roofline
    estimate of the patched step's time per stage where that makes the
    busiest stage at least 2% faster, and ops follow by dataflow); marks
    every op `fresco.stage = s` and the function
    `fresco.pipeline_axis`. Operand-free ops (parameters, the position
    table) are repeated in each stage that uses them; any other value used
    by a later stage is passed with `fresco.stage_transfer`, and the
    function's results reach every stage with `fresco.stage_broadcast`. The
    plan emitter gives each rank its stage's ops (and parameters) only. The
    marks (`#fresco.stage`) survive later rewrites (CSE, fusion,
    canonicalize: StageListener.h); the lowering runs the pass at its end,
    before fresco-assign-buffers, so that the stages are balanced over the
    fused ops. A no-op without a pipeline axis.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def InsertCollectives : Pass<"fresco-insert-collectives", "::mlir::ModuleOp"> {
  let summary = "Materialise partitioning annotations as shard collectives";
  let description = [{
    A `fresco.sharding` with partial axes on an op becomes a
    shard.all_reduce (sum) of its result over those axes, right after it;
    a `fresco.sharding` on a function result becomes the all_gathers of
    its split dimensions (and the all_reduce of its partial axes) before
    the return, restoring the global type.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def Placement : Pass<"fresco-placement", "::mlir::ModuleOp"> {
  let summary = "Assign component functions to ranks";
  let description = [{
    Sets `fresco.ranks` (the world ranks that run it) on every public
    function. `place` lists component=rank[+rank...] entries, e.g.
    "vae=0,transformer=1"; unlisted components default to: the pipeline's
    denoiser on every rank of the grid, its decoder on rank 0, any other
    function on every rank. The denoiser must be placed on exactly as many
    ranks as the grid has. Fails on unknown components or ranks outside
    0..ranks-1.
  }];
  let options = [
    Option<"place", "place", "std::string", /*default=*/"\"\"",
           "component=rank list, e.g. vae=0,transformer=1">,
    Option<"ranks", "ranks", "int64_t", /*default=*/"1",
           "world size">
  ];
}

def PropagateShardings : Pass<"fresco-propagate-shardings", "::mlir::ModuleOp"> {
  let summary = "Partition every function from the strategies' seeds";
  let description = [{
    The one partitioning step. The strategy passes only write seeds
    (Seeds.h): `fresco.sharding` on a function argument (split as it
    enters), `fresco.seed` on an argument or op (the value split where it
    is; a parameter as each use loads it), `fresco.gather_after` on an op
    (its split results gathered right after it), and the module's
    `fresco.seed_order`. This pass reads and removes them all and, one grid
    axis at a time in the seed order (unordered seeds together, first),
    slices the seeds (shard.all_slice) and carries the splits through the
    function by the ops' sharding rules (ShardingPropagation): local
    types, replicated operands sliced where they meet a split (parameters
    load only their slice), a split contraction marked as a partial sum,
    attention's head count divided with its heads, a token split resolved
    at attention by the axis's kind (Ulysses' all_to_alls, ring
    attention), split results marked `fresco.sharding`. Any split an op's
    rule forbids is a located error. Follow with fresco-insert-collectives
    for the communication.
  }];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::fresco::FrescoDialect"];
}

def TestShardingRules : Pass<"fresco-test-sharding-rules"> {
  let summary = "Print each fresco op's sharding rule as a remark (testing)";
  let description = [{
    For every op implementing ShardingRuleOpInterface: checks the rule
    against the op's operand and result types (one entry per dimension,
    each the product of its factors) and emits a remark with the rule in
    Shardy's notation, e.g. `([i, j, k], [l, k], [l]) -> ([i, j, l])
    {i=2, j=5, k=8, l=4} reduction={k}`. Changes nothing.
  }];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

def SpecializeRanks : Pass<"fresco-specialize-ranks", "::mlir::ModuleOp"> {
  let summary = "Give every rank its own copy of the functions it runs";
  let description = [{
    The last step before the plan emitter: for each world rank r a nested
    `module @rank<r> attributes {fresco.rank = r}` receives a copy of every
    public function placed on r (`fresco.ranks`; all ranks without it),
    with what depends on the rank resolved: only the rank's pipeline stage
    (stage transfers become `fresco.send` / `fresco.recv`, the final
    broadcast `fresco.broadcast`, tags in program order), each
    `shard.all_slice` the `fresco.slice` of the rank's block, each split
    parameter the slice it loads (`offsets`, `checkpoint_shape`), a
    partial sum's once-counted bias (`fresco.partial_sum`) only on its
    group's first member, each
    collective's and ring attention's group as world ranks
    (`fresco.members`, `fresco.ring_members`). The original functions are
    removed; the module keeps `@grid` and its attributes.
  }];
  let options = [
    Option<"ranks", "ranks", "int64_t", /*default=*/"1",
           "number of ranks (processes) of the plan">
  ];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

#endif // FRESCO_COMPILER_PASSES_TD
