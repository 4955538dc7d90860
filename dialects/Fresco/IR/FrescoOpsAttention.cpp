//===- FrescoOpsAttention.cpp - attention and text-encoder ops ------------===//
//
// Type inference and verifiers of attention and of the text-encoder ops
// (token embedding, EOS pooling, T5 relative position bias).
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOpsUtil.h"

using namespace mlir;
using namespace mlir::fresco;
using namespace mlir::fresco::detail;

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto q = staticType(loc, "attention", "query", adaptor.getQuery());
  auto k = staticType(loc, "attention", "key", adaptor.getKey());
  auto v = staticType(loc, "attention", "value", adaptor.getValue());
  if (failed(q) || failed(k) || failed(v))
    return failure();
  for (auto t : {*q, *k, *v})
    if (t.getRank() != 3)
      return opError(loc, "attention",
                     "query, key and value must be [B, T, heads*head_dim], "
                     "got ",
                     shapeStr(t.getShape()));
  if (k->getShape() != v->getShape())
    return opError(loc, "attention", "key ", shapeStr(k->getShape()),
                   " and value ", shapeStr(v->getShape()), " differ");
  if (q->getDimSize(0) != k->getDimSize(0) ||
      q->getDimSize(2) != k->getDimSize(2))
    return opError(loc, "attention", "query ", shapeStr(q->getShape()),
                   " and key ", shapeStr(k->getShape()),
                   " must agree in batch and width");
  int64_t heads = adaptor.getNumHeads();
  if (heads <= 0 || q->getDimSize(2) % heads != 0)
    return opError(loc, "attention", "width ", q->getDimSize(2),
                   " is not divisible by num_heads = ", heads);
  if (Value bias = adaptor.getBias()) {
    auto bt = staticType(loc, "attention", "bias", bias);
    if (failed(bt))
      return failure();
    SmallVector<int64_t> want = {heads, q->getDimSize(1), k->getDimSize(1)};
    if (bt->getShape() != ArrayRef<int64_t>(want))
      return opError(loc, "attention",
                     "bias must be [heads, Tq, Tk] = ", shapeStr(want),
                     ", got ", shapeStr(bt->getShape()));
  }
  if (adaptor.getCausal() && q->getDimSize(1) != k->getDimSize(1))
    return opError(loc, "attention",
                   "causal attention needs as many queries "
                   "as keys, got ",
                   q->getDimSize(1), " and ", k->getDimSize(1));
  results.push_back(*q);
  return success();
}

LogicalResult AttentionOp::verify() {
  // The mask and the bias index the whole key sequence of one rank.
  if ((getCausal() || getBias()) && (getRingAxes() || getKeyValid()))
    return emitOpError("a causal mask or score bias cannot be combined with "
                       "ring_axes or key_valid");
  std::optional<ArrayRef<int64_t>> valid = getKeyValid();
  if (!valid)
    return success();
  int64_t tk = getKey().getType().getDimSize(1);
  if (valid->empty())
    return emitOpError("key_valid must not be empty");
  if (llvm::any_of(*valid, [&](int64_t v) { return v < 0 || v > tk; }))
    return emitOpError("key_valid ")
           << shapeStr(*valid) << " has a count outside [0, " << tk << "]";
  // With a ring the table has a row per ring rank: its length is checked
  // against the grid by the plan emitter.
  if (getRingAxes())
    return success();
  int64_t segments = int64_t(valid->size());
  if (tk % segments != 0)
    return emitOpError("key_valid has ")
           << segments << " segments, which do not divide the " << tk
           << " keys";
  if (llvm::any_of(*valid, [&](int64_t v) { return v > tk / segments; }))
    return emitOpError("key_valid ")
           << shapeStr(*valid) << " counts more keys than a segment of "
           << tk / segments << " holds";
  if (llvm::all_of(*valid, [](int64_t v) { return v == 0; }))
    return emitOpError("key_valid leaves no key to attend to");
  return success();
}

//===----------------------------------------------------------------------===//
// Text-encoder ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto table = staticType(loc, "embedding", "table", adaptor.getTable());
  auto ids = staticType(loc, "embedding", "ids", adaptor.getIds());
  if (failed(table) || failed(ids))
    return failure();
  if (table->getRank() != 2)
    return opError(loc, "embedding",
                   "table must be [num_embeddings, dim], got ",
                   shapeStr(table->getShape()));
  SmallVector<int64_t> shape(ids->getShape());
  shape.push_back(table->getDimSize(1));
  results.push_back(like(*table, shape));
  return success();
}

LogicalResult EosPoolOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "eos_pool", "input", adaptor.getInput());
  auto ids = staticType(loc, "eos_pool", "ids", adaptor.getIds());
  if (failed(x) || failed(ids))
    return failure();
  if (x->getRank() != 3)
    return opError(loc, "eos_pool", "input must be [B, T, D], got ",
                   shapeStr(x->getShape()));
  if (ids->getShape() != x->getShape().drop_back())
    return opError(loc, "eos_pool",
                   "ids must be [B, T] = ", shapeStr(x->getShape().drop_back()),
                   ", got ", shapeStr(ids->getShape()));
  if (x->getDimSize(1) == 0)
    return opError(loc, "eos_pool", "no tokens to pool");
  results.push_back(like(*x, {x->getDimSize(0), x->getDimSize(2)}));
  return success();
}

LogicalResult RelativePositionBiasOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto t =
      staticType(loc, "relative_position_bias", "table", adaptor.getTable());
  if (failed(t))
    return failure();
  int64_t buckets = adaptor.getNumBuckets();
  if (t->getRank() != 2 || t->getDimSize(0) != buckets)
    return opError(loc, "relative_position_bias", "table must be [", buckets,
                   ", heads], got ", shapeStr(t->getShape()));
  // Each direction's half (or the whole, one-way) has max_exact = half / 2
  // exact buckets, and the log-spaced ones need max_distance beyond them.
  bool bidirectional = adaptor.getBidirectional();
  if (buckets < (bidirectional ? 4 : 2))
    return opError(loc, "relative_position_bias", "num_buckets ", buckets,
                   " leaves no exact bucket");
  int64_t exact = (bidirectional ? buckets / 2 : buckets) / 2;
  if (adaptor.getMaxDistance() <= exact)
    return opError(loc, "relative_position_bias", "max_distance ",
                   adaptor.getMaxDistance(), " must exceed the ", exact,
                   " exact buckets");
  results.push_back(like(*t, {t->getDimSize(1), adaptor.getQueryLength(),
                              adaptor.getKeyLength()}));
  return success();
}
