#!/usr/bin/env python3
"""Write a tiny random FluxPipeline folder with diffusers' own FluxPipeline.save_pretrained.

  make_flux_pipeline.py --out DIR [--seed S] [--schnell] [--text-tokens N]
      [--vae-block-out-channels 8,16] [--controlnets K [--union M]]

Components (every class the real one, built from a config, weights redrawn):
  transformer     FluxTransformer2DModel as models/flux/configs/flux-tiny.json (guidance_embeds
                  true) or, with --schnell, flux-tiny-schnell.json (false), with in_channels 64
                  as FLUX.1's: FluxPipeline's latents have in_channels / 4 = 16 channels, the
                  VAE's. Seed S.
  vae             AutoencoderKL, 16 latent channels, block_out_channels from
                  --vae-block-out-channels (default 8,16: the VAE scales by 2 ** (blocks - 1) = 2;
                  diffusers 0.31's FluxPipeline.vae_scale_factor is 2 ** blocks = 4, the 2x2
                  packing included, so an H x W image has (H/4)(W/4) tokens; FLUX.1's 4 blocks
                  give 16), no quant convs,
                  scaling_factor 0.3611 and shift_factor 0.1159 as FLUX.1's VAE. Seed S + 1.
  text_encoder    transformers CLIPTextModel, hidden size = the transformer's
                  pooled_projection_dim, vocab_size 49408 (the tokenizer's), bos/pad/eos ids 0/1/2
                  as FLUX.1's config (eos 2: transformers pools at the largest id, <|endoftext|>),
                  max_position_embeddings N (--text-tokens, default 77). Seed S + 2.
  tokenizer       CLIPTokenizer from CLIP's real BPE merges (the open_clip_torch wheel's, as
                  test/e2e/text/clip_tokenizer_parity.py builds it), pad <|endoftext|>,
                  model_max_length N.
  text_encoder_2  transformers T5EncoderModel, T5 v1.1 (gated-gelu, 32 buckets, max_distance 128
                  as T5-XXL), d_model = the transformer's joint_attention_dim, vocab_size the
                  tokenizer's length (with its 100 extra ids) rounded up to a multiple of 64;
                  written as a sharded safetensors index (2 shards). Seed S + 3.
  tokenizer_2     T5TokenizerFast from a SentencePiece unigram model trained on generated text
                  (t5_tokenizer_parity.train_model: deterministic, independent of S),
                  model_max_length 512.
  scheduler       FlowMatchEulerDiscreteScheduler with FLUX.1-dev's config (shift 3.0, dynamic
                  shifting, base_shift 0.5, max_shift 1.15, base/max_image_seq_len 256/4096) or,
                  with --schnell, FLUX.1-schnell's (shift 1.0, no dynamic shifting).

With --controlnets K (K >= 1) the folder is a FluxControlNetPipeline's: controlnet/ holds a
FluxControlNetModel of the transformer's config with 1 double and 3 single blocks (so the
transformer's 2 double blocks both add its one sample, and its 2 single blocks the first two of
three: FluxTransformer2DModel's ceil interval), seed S + 10. K > 1 adds controlnet_1, ... (seeds S +
10 + k) and names the entry FluxMultiControlNetModel (diffusers 0.31 cannot save that class; the
folders are laid out as its SD counterpart MultiControlNetModel saves them). The zero-initialized
layers (controlnet_blocks, controlnet_x_embedder) are redrawn too, so the nets matter. --union M
makes them ControlNet-Union nets of M modes (num_mode M: a mode embedding token joins their text).

Weights are drawn by make_diffusers_checkpoint.randomize (the diffusers models: U(+-1/sqrt(fan_in))
weights, U(+-0.1) biases, norm gains 1 + U(+-0.1), embeddings N(0, 1)) and
text_encoder_reference.randomize (the text encoders: N(0, 0.3) weights, norm gains 1 + N(0, 0.5)),
so the folder is the same for the same arguments. Stored float32. Nothing is downloaded.
"""
import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "text"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from fresco_ref_common import (arg_parser, import_diffusers, install_sdpa_for_torch1, print_files,  # noqa: E402
                               read_json, save_pipeline)

REPO = os.path.dirname(os.path.dirname(HERE))
FLUX_CONFIGS = os.path.join(REPO, "models", "flux", "configs")

DEV_SCHEDULER = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                     max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
SCHNELL_SCHEDULER = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, base_shift=0.5,
                         max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
T5_MAX_LENGTH = 512
T5_SHARDS = 2


def clip_tokenizer(root: str, max_length: int, name: str = "clip", pad: str = None):
    """CLIPTokenizer from CLIP's real merges, saved and reloaded as a pipeline would; `pad`
    replaces <|endoftext|> as the padding token (SDXL's and SD3's tokenizer_2 pad with "!")."""
    import gzip
    from clip_tokenizer_parity import clip_merges_path, make_folder
    from transformers import CLIPTokenizer

    with gzip.open(clip_merges_path()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]  # CLIP's count: 49408 tokens in all
    kwargs = dict(model_max_length=max_length)
    if pad:
        kwargs["pad_token"] = pad
    folder = make_folder(root, name, merges, **kwargs)
    return CLIPTokenizer.from_pretrained(folder, local_files_only=True)


def t5_tokenizer(root: str):
    from t5_tokenizer_parity import train_model
    from transformers import T5TokenizerFast

    return T5TokenizerFast(vocab_file=train_model(root), model_max_length=T5_MAX_LENGTH)


def clip_text_model(vocab: int, hidden: int, positions: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    # Ids 0/1/2 as FLUX.1's text_encoder config (the legacy pooling at the largest id).
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=positions, hidden_act="quick_gelu",
        projection_dim=hidden, bos_token_id=0, pad_token_id=1, eos_token_id=2))


def t5_encoder_model(vocab: int, d_model: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=vocab, d_model=d_model, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False,
        tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))


def vae_model(diffusers, channels: list):
    n = len(channels)
    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(channels), layers_per_block=1,
        act_fn="silu", latent_channels=16, norm_num_groups=math.gcd(*channels, 4), sample_size=32,
        scaling_factor=0.3611, shift_factor=0.1159, force_upcast=True, use_quant_conv=False,
        use_post_quant_conv=False, mid_block_add_attention=True)


def shard_t5(model, folder: str) -> None:
    """Rewrites folder's T5 weights as a 2-shard index, as real pipelines ship text_encoder_2."""
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    for name in os.listdir(folder):
        if name.startswith("model") and name.endswith((".safetensors", ".json")):
            os.remove(os.path.join(folder, name))
    model.save_pretrained(folder, safe_serialization=True, max_shard_size=nbytes * 3 // 5)
    shards = [n for n in os.listdir(folder) if n.endswith(".safetensors")]
    if len(shards) != T5_SHARDS or not os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
        sys.exit(f"expected {T5_SHARDS} T5 shards and an index in {folder}, got {sorted(os.listdir(folder))}")


def parse_channels(text: str) -> list:
    try:
        channels = [int(c) for c in text.split(",")]
    except ValueError:
        channels = []
    if not channels or min(channels) <= 0:
        sys.exit(f"--vae-block-out-channels must be positive integers separated by commas, got {text!r}")
    return channels


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--out", required=True, help="output pipeline folder (created)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    ap.add_argument("--schnell", action="store_true", help="FLUX.1-schnell: no guidance embedder, shift 1")
    ap.add_argument("--text-tokens", type=int, default=77,
                    help="CLIP tokens: tokenizer model_max_length and max_position_embeddings (default 77)")
    ap.add_argument("--controlnets", type=int, default=0,
                    help="FluxControlNetModels: a FluxControlNetPipeline folder (default 0: FluxPipeline)")
    ap.add_argument("--union", type=int, default=None, help="the nets' num_mode (ControlNet-Union)")
    ap.add_argument("--vae-block-out-channels", default="8,16",
                    help="VAE block_out_channels, comma separated (default 8,16: FluxPipeline.vae_scale_factor 4)")
    args = ap.parse_args()
    if not 0 <= args.controlnets <= 16:
        sys.exit(f"--controlnets must be in 0..16, got {args.controlnets}")
    if args.text_tokens < 3:
        sys.exit(f"--text-tokens must be at least 3 (BOS, a word, EOS), got {args.text_tokens}")
    channels = parse_channels(args.vae_block_out_channels)

    import torch
    from make_diffusers_checkpoint import randomize as randomize_diffusers
    from text_encoder_reference import randomize as randomize_text

    diffusers = import_diffusers(need_accelerate=False)
    install_sdpa_for_torch1()  # Flux's blocks refuse to build without it on torch 1
    torch.manual_seed(args.seed)

    tconfig = read_json(os.path.join(FLUX_CONFIGS, "flux-tiny-schnell.json" if args.schnell else "flux-tiny.json"))
    # FluxPipeline's latents have in_channels / 4 channels (2x2 packing): 16, FLUX.1's VAE's.
    tconfig["in_channels"] = 64
    transformer = diffusers.FluxTransformer2DModel.from_config(tconfig)
    vae = vae_model(diffusers, channels)
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(**(SCHNELL_SCHEDULER if args.schnell else DEV_SCHEDULER))

    # The tokenizers save their vocabulary files from root: save the pipeline before it goes.
    with tempfile.TemporaryDirectory() as root:
        tokenizer = clip_tokenizer(root, args.text_tokens)
        tokenizer_2 = t5_tokenizer(root)
        text_encoder = clip_text_model(len(tokenizer), tconfig["pooled_projection_dim"], args.text_tokens)
        t5_vocab = -(-len(tokenizer_2) // 64) * 64
        text_encoder_2 = t5_encoder_model(t5_vocab, tconfig["joint_attention_dim"])

        randomize_diffusers(transformer, args.seed)
        randomize_diffusers(vae, args.seed + 1)
        randomize_text(text_encoder, args.seed + 2)
        randomize_text(text_encoder_2, args.seed + 3)

        parts = dict(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                     text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)
        nets = []
        for k in range(args.controlnets):
            cconfig = dict(tconfig, _class_name="FluxControlNetModel", num_layers=1, num_single_layers=3,
                           num_mode=args.union)
            nets.append(diffusers.FluxControlNetModel.from_config(cconfig))
            randomize_diffusers(nets[-1], args.seed + 10 + k)
        if nets:
            pipe = diffusers.FluxControlNetPipeline(controlnet=nets[0], **parts)
        else:
            pipe = diffusers.FluxPipeline(**parts)
        save_pipeline(pipe, args.out)
        if len(nets) > 1:
            for k, net in enumerate(nets[1:], 1):
                net.save_pretrained(os.path.join(args.out, f"controlnet_{k}"))
            index_path = os.path.join(args.out, "model_index.json")
            index = read_json(index_path)
            index["controlnet"] = ["diffusers", "FluxMultiControlNetModel"]
            with open(index_path, "w") as f:
                json.dump(index, f, indent=2)
    shard_t5(text_encoder_2, os.path.join(args.out, "text_encoder_2"))

    def count(m):
        return sum(p.numel() for p in m.parameters())

    print(f"wrote {args.out}: {type(pipe).__name__} ({'schnell' if args.schnell else 'dev'}), float32, "
          f"seed {args.seed}, {len(nets)} ControlNet(s)")
    print(f"  transformer {count(transformer)} parameters, vae {count(vae)} (FluxPipeline."
          f"vae_scale_factor {2 ** len(channels)}), text_encoder {count(text_encoder)} (vocab {len(tokenizer)}, "
          f"{args.text_tokens} tokens), text_encoder_2 {count(text_encoder_2)} (vocab {t5_vocab}, "
          f"tokenizer {len(tokenizer_2)})")
    print_files(args.out)


if __name__ == "__main__":
    main()
