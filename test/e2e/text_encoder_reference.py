#!/usr/bin/env python3
"""Tiny random text encoders of Flux written by transformers, and their reference forward.

Write a model folder and token ids:
  text_encoder_reference.py make KIND OUT [--tokens T] [--batch B] [--seed S]
  KIND: clip (eos_token_id = vocab - 1), clip-legacy (eos_token_id 2: transformers pools at the
  largest id), clip-projection (CLIPTextModelWithProjection as SDXL's text_encoder_2 configures
  it: exact GELU, eos_token_id 2, text_projection to projection_dim, 3 layers), t5 (T5 v1.1 encoder, gated-gelu, written as a sharded safetensors index) or
  t5-real-buckets (the same with T5-XXL's 32 buckets and max_distance 128, for long sequences).
  Writes OUT/model (save_pretrained, the layout of a pipeline's text_encoder / text_encoder_2
  folder) and OUT/ids.npy (int64 [B, T]) shaped as the tokenizers make them: CLIP rows are
  BOS, words, EOS, then padding (EOS, as Flux's CLIP tokenizer pads, or 0 in the last row); T5
  rows are words, EOS (1), then padding (0). T is 77 for CLIP (max_position_embeddings).

Run the reference:
  text_encoder_reference.py run MODEL IDS OUTDIR [--dtype float64|float32]
  transformers' CLIPTextModel / CLIPTextModelWithProjection / T5EncoderModel on CPU (float64 by
  default), loaded from MODEL; writes last_hidden_state.npy and, for CLIP, pooler_output.npy, or
  for CLIPTextModelWithProjection penultimate_hidden_state.npy (hidden_states[-2], what SDXL's
  pipeline reads) and text_embeds.npy.
"""
import os
import sys

import numpy as np

from fresco_ref_common import arg_parser

VOCAB = 1000


def clip_config(legacy: bool, projection: bool = False):
    from transformers import CLIPTextConfig
    return CLIPTextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
                          num_hidden_layers=3 if projection else 2, num_attention_heads=2,
                          max_position_embeddings=77, hidden_act="gelu" if projection else "quick_gelu",
                          projection_dim=24 if projection else 32, bos_token_id=VOCAB - 2,
                          pad_token_id=VOCAB - 1, eos_token_id=2 if legacy else VOCAB - 1)


def t5_config(real_buckets: bool):
    from transformers import T5Config
    return T5Config(vocab_size=VOCAB, d_model=16, d_kv=8, d_ff=24, num_layers=2, num_heads=2,
                    relative_attention_num_buckets=32,
                    relative_attention_max_distance=128 if real_buckets else 20,
                    feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def randomize(model, seed: int) -> None:
    """Weights of a realistic spread (transformers' init leaves the norms at 1)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if "norm" in name else 0.3
            base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def make_ids(kind: str, batch: int, tokens: int, rng) -> np.ndarray:
    ids = np.zeros((batch, tokens), dtype=np.int64)
    for b in range(batch):
        words = int(rng.integers(1, tokens - 2))
        if kind.startswith("clip"):
            body = rng.integers(3, VOCAB - 2, size=words)
            row = [VOCAB - 2, *body, VOCAB - 1]
            pad = 0 if b == batch - 1 and batch > 1 else VOCAB - 1
        else:
            body = rng.integers(2, VOCAB, size=words)
            row = [*body, 1]
            pad = 0
        ids[b, :len(row)] = row
        ids[b, len(row):] = pad
    return ids


def make(args) -> int:
    import torch
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel
    torch.manual_seed(args.seed)
    if args.kind == "clip-projection":
        model = CLIPTextModelWithProjection(clip_config(True, projection=True))
        tokens = 77
        shard = "10GB"
    elif args.kind.startswith("clip"):
        model = CLIPTextModel(clip_config(args.kind == "clip-legacy"))
        tokens = 77
        shard = "10GB"
    else:
        model = T5EncoderModel(t5_config(args.kind == "t5-real-buckets"))
        tokens = args.tokens
        shard = "20KB"  # several shards and model.safetensors.index.json
    randomize(model, args.seed)
    out = os.path.join(args.out, "model")
    model.save_pretrained(out, safe_serialization=True, max_shard_size=shard)
    print("wrote", out, sorted(os.listdir(out)))
    ids = make_ids(args.kind, args.batch, tokens, np.random.default_rng(args.seed))
    np.save(os.path.join(args.out, "ids.npy"), ids)
    return 0


def run(args) -> int:
    import torch
    from transformers import AutoConfig, CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel
    # transformers 4.46 builds CLIP's causal mask with torch.full(...,
    # finfo(float64).min) in the default dtype, which float32 cannot hold.
    dtype = getattr(torch, args.dtype)
    torch.set_default_dtype(dtype)
    config = AutoConfig.from_pretrained(args.model)
    if config.model_type != "clip_text_model":
        cls = T5EncoderModel
    elif "CLIPTextModelWithProjection" in (config.architectures or []):
        cls = CLIPTextModelWithProjection
    else:
        cls = CLIPTextModel
    model = cls.from_pretrained(args.model, torch_dtype=dtype).eval()
    ids = torch.from_numpy(np.load(args.ids))
    projection = cls is CLIPTextModelWithProjection
    with torch.no_grad():
        out = model(ids, output_hidden_states=projection)
    os.makedirs(args.outdir, exist_ok=True)
    np.save(os.path.join(args.outdir, "last_hidden_state.npy"), out.last_hidden_state.numpy())
    if cls is CLIPTextModel:
        np.save(os.path.join(args.outdir, "pooler_output.npy"), out.pooler_output.numpy())
    if projection:
        np.save(os.path.join(args.outdir, "penultimate_hidden_state.npy"), out.hidden_states[-2].numpy())
        np.save(os.path.join(args.outdir, "text_embeds.npy"), out.text_embeds.numpy())
    return 0


def main() -> int:
    ap = arg_parser(__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("kind", choices=("clip", "clip-legacy", "clip-projection", "t5", "t5-real-buckets"))
    m.add_argument("out")
    m.add_argument("--tokens", type=int, default=24, help="T5 tokens per row (default 24)")
    m.add_argument("--batch", type=int, default=3)
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("model")
    r.add_argument("ids")
    r.add_argument("outdir")
    r.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = ap.parse_args()
    return make(args) if args.cmd == "make" else run(args)


if __name__ == "__main__":
    sys.exit(main())
