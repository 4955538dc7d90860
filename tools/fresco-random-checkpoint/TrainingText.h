//===- TrainingText.h - English text for random tokenizers ---*- C++ -*-===//
#ifndef FRESCO_TOOLS_RANDOMCKPT_TRAININGTEXT_H
#define FRESCO_TOOLS_RANDOMCKPT_TRAININGTEXT_H

namespace fresco::randomckpt {

/// Newline-separated English sentences, lower case: the text the random
/// pipelines' CLIP merges and T5 SentencePiece model are learnt from.
extern const char *const kTrainingText;

} // namespace fresco::randomckpt

#endif // FRESCO_TOOLS_RANDOMCKPT_TRAININGTEXT_H
