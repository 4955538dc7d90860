//===- RandomTokenizers.h - Random pipelines' tokenizers --------*- C++ -*-===//
//
// The vocabulary files of a random pipeline's tokenizers, learnt from the
// built-in English text (TrainingText.h), so that a demo needs no Python and
// no download: CLIP's byte-level BPE (vocab.json + merges.txt, laid out as
// CLIP's: the 256 byte symbols, their "</w>" forms, one token per merge,
// <|startoftext|>, <|endoftext|>) and T5's SentencePiece unigram model
// (spiece.model: pad 0, eos 1, unk 2, no bos, as T5's). Both are the same
// bytes on every run for the same sizes.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TOOLS_RANDOMCKPT_RANDOMTOKENIZERS_H
#define FRESCO_TOOLS_RANDOMCKPT_RANDOMTOKENIZERS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>

namespace fresco::randomckpt {

/// Writes `dir`/vocab.json and `dir`/merges.txt: a CLIP vocabulary of
/// exactly `vocabSize` tokens, its merges learnt by byte-pair encoding on the
/// built-in text. Fails when `vocabSize` is below the 514 fixed tokens or
/// above what the text can give.
llvm::Error writeClipVocabulary(llvm::StringRef dir, int64_t vocabSize);

/// Trains a SentencePiece unigram model of at most `maxPieces` pieces on the
/// built-in text (one thread: the result depends on the thread count) and
/// writes it to `dir`/spiece.model.
llvm::Error writeT5SentencePiece(llvm::StringRef dir, int64_t maxPieces);

} // namespace fresco::randomckpt

#endif // FRESCO_TOOLS_RANDOMCKPT_RANDOMTOKENIZERS_H
