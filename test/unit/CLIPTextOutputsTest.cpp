//===- CLIPTextOutputsTest.cpp - which CLIP text outputs get built --------===//
//
// SDXL's pipeline reads hidden_states[-2] alone from its first encoder: the
// function must then stop after layer N-2, without the last layer or the
// final layer norm. (The numbers are e2e-clip-text-projection-forward's.)
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoDialect.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/text/CLIPTextModel.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/JSON.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace fresco::models;

namespace {

CLIPTextConfig tinyConfig(bool projection) {
  llvm::json::Object o{{"model_type", "clip_text_model"},
                       {"vocab_size", 50},
                       {"hidden_size", 8},
                       {"intermediate_size", 12},
                       {"num_hidden_layers", 3},
                       {"num_attention_heads", 2},
                       {"max_position_embeddings", 5},
                       {"projection_dim", 6}};
  if (projection)
    o["architectures"] = llvm::json::Array{"CLIPTextModelWithProjection"};
  llvm::Expected<CLIPTextConfig> c = CLIPTextConfig::fromJSON(o);
  EXPECT_TRUE(bool(c)) << llvm::toString(c.takeError());
  return *c;
}

struct Built {
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::func::FuncOp fn;
  std::set<std::string> params;

  Built(const CLIPTextConfig &c, CLIPOutputs outputs) {
    ctx.loadDialect<mlir::fresco::FrescoDialect, mlir::func::FuncDialect>();
    module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&ctx));
    fn = buildCLIPText(*module, c, 2, "enc", outputs);
    fn.walk([&](mlir::fresco::ParamOp p) { params.insert(p.getName().str()); });
  }
  std::string resultName(unsigned i) {
    return fn.getResultAttrOfType<mlir::StringAttr>(i, "fresco.name")
        .getValue()
        .str();
  }
};

TEST(CLIPTextOutputs, PenultimateAloneStopsBeforeTheLastLayer) {
  Built b(tinyConfig(false), {false, true, false});
  ASSERT_EQ(b.fn.getNumResults(), 1u);
  EXPECT_EQ(b.resultName(0), "penultimate_hidden_state");
  EXPECT_TRUE(b.params.count("text_model.encoder.layers.1.mlp.fc2.weight"));
  EXPECT_FALSE(b.params.count("text_model.encoder.layers.2.mlp.fc2.weight"));
  EXPECT_FALSE(b.params.count("text_model.final_layer_norm.weight"));
}

TEST(CLIPTextOutputs, ProjectionNamesTextEmbeds) {
  Built b(tinyConfig(true), {true, true, true});
  ASSERT_EQ(b.fn.getNumResults(), 3u);
  EXPECT_EQ(b.resultName(0), "last_hidden_state");
  EXPECT_EQ(b.resultName(1), "penultimate_hidden_state");
  EXPECT_EQ(b.resultName(2), "text_embeds");
  EXPECT_EQ(mlir::cast<mlir::RankedTensorType>(b.fn.getResultTypes()[2])
                .getShape()[1],
            6);
  EXPECT_TRUE(b.params.count("text_projection.weight"));
  EXPECT_FALSE(b.params.count("text_projection.bias"));
}

TEST(CLIPTextOutputs, PlainModelKeepsPoolerOutput) {
  Built b(tinyConfig(false), CLIPOutputs::Pooled);
  ASSERT_EQ(b.fn.getNumResults(), 1u);
  EXPECT_EQ(b.resultName(0), "pooler_output");
  EXPECT_FALSE(b.params.count("text_projection.weight"));
}

} // namespace
