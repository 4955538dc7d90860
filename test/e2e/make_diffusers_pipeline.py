#!/usr/bin/env python3
"""Write a diffusers DiTPipeline folder with random weights, using diffusers' own save_pretrained.

  make_diffusers_pipeline.py --template DIR --out OUT [--seed 0] [--dtype float32|float16|bfloat16]

DIR is a weightless pipeline template (model_index.json, transformer/config.json,
vae/config.json, scheduler/scheduler_config.json), e.g. models/dit/pipelines/dit-tiny. The real
diffusers classes are built from those configs: the transformer by its config's `_class_name`
(a legacy Transformer2DModel DiT config becomes DiTTransformer2DModel, as in
make_diffusers_checkpoint.py), the VAE as AutoencoderKL (encoder, quant_conv, post_quant_conv and
decoder: the whole model, as diffusers saves it) and the scheduler by its `_class_name`. Every
parameter is redrawn with make_diffusers_checkpoint.randomize (weights U(+-1/sqrt(fan_in)), biases
U(+-0.1), norm gains 1 + U(+-0.1), embeddings N(0, 1)): the transformer from --seed, the VAE from
--seed + 1, so no tensor is trivially zero or one. The three are assembled into
DiTPipeline(transformer, vae, scheduler) and written with
save_pretrained(OUT, safe_serialization=True), so OUT is exactly diffusers' layout:
  OUT/model_index.json
  OUT/transformer/config.json + diffusion_pytorch_model.safetensors
  OUT/vae/config.json + diffusion_pytorch_model.safetensors
  OUT/scheduler/scheduler_config.json
The configs are rewritten by the installed diffusers (its version, every default filled in).
An `id2label` in the template's model_index.json is handed to DiTPipeline, but DiTPipeline does
not register it in its config, so save_pretrained does not write it back (diffusers' behaviour).

--legacy-vae-attention then renames the VAE's attention tensors in the written safetensors to the
names diffusers < 0.14 saved (as in checkpoints of that era, such as DiT-XL-2-256's vae, saved by
0.12.0.dev0): <block>.to_q/.to_k/.to_v/.to_out.0.{weight,bias} ->
<block>.query/.key/.value/.proj_attn.{weight,bias} (group_norm keeps its name, shapes unchanged).
diffusers' from_pretrained maps them back (ModelMixin._convert_deprecated_attention_blocks), so the
references load the same weights either way; a loader that mirrors diffusers must accept both.
"""
import re
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fresco_ref_common import (add_storage_dtype_arg, arg_parser, import_diffusers, print_files,  # noqa: E402
                               read_json, torch_dtype)
from make_diffusers_checkpoint import randomize  # noqa: E402


LEGACY_ATTENTION = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def rename_vae_attention(path: str) -> None:
    import safetensors.torch

    tensors = safetensors.torch.load_file(path)
    pattern = re.compile(r"^(.*\.attentions\.\d+)\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$")
    renamed = {}
    for key, tensor in tensors.items():
        m = pattern.match(key)
        renamed[f"{m[1]}.{LEGACY_ATTENTION[m[2]]}.{m[3]}" if m else key] = tensor
    n = sum(1 for key in tensors if pattern.match(key))
    safetensors.torch.save_file(renamed, path, metadata={"format": "pt"})
    print(f"renamed {n} VAE attention tensors to the legacy names in {path}")


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--template", required=True, help="pipeline template folder (configs only)")
    ap.add_argument("--out", required=True, help="output pipeline folder (created)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed: transformer seed, VAE seed + 1 (default 0)")
    add_storage_dtype_arg(ap)
    ap.add_argument("--legacy-vae-attention", action="store_true",
                    help="store the VAE attention tensors under the pre-0.14 names (query/key/value/proj_attn)")
    args = ap.parse_args()

    diffusers = import_diffusers(need_accelerate=False)
    index = read_json(os.path.join(args.template, "model_index.json"))
    if index.get("_class_name") != "DiTPipeline":
        sys.exit(f"{args.template}: model_index _class_name {index.get('_class_name')!r} is not DiTPipeline")
    for component in ("transformer", "vae", "scheduler"):
        if component not in index:
            sys.exit(f"{args.template}: model_index.json has no {component!r}")

    tconfig = read_json(os.path.join(args.template, "transformer", "config.json"))
    vconfig = read_json(os.path.join(args.template, "vae", "config.json"))
    sconfig = read_json(os.path.join(args.template, "scheduler", "scheduler_config.json"))
    if vconfig.get("_class_name") != "AutoencoderKL":
        sys.exit(f"{args.template}/vae: _class_name {vconfig.get('_class_name')!r} is not AutoencoderKL")

    transformer = getattr(diffusers, tconfig["_class_name"]).from_config(tconfig)
    vae = diffusers.AutoencoderKL.from_config(vconfig)
    scheduler = getattr(diffusers, sconfig["_class_name"]).from_config(sconfig)
    if transformer.config.num_embeds_ada_norm != 1000:
        print(f"warning: num_embeds_ada_norm is {transformer.config.num_embeds_ada_norm}; DiTPipeline "
              "uses class id 1000 as the null class for guidance, which needs 1000", file=sys.stderr)

    randomize(transformer, args.seed)
    randomize(vae, args.seed + 1)
    transformer.to(torch_dtype(args.dtype))
    vae.to(torch_dtype(args.dtype))

    id2label = index.get("id2label")
    pipe = diffusers.DiTPipeline(transformer=transformer, vae=vae, scheduler=scheduler, id2label=id2label)
    pipe.save_pretrained(args.out, safe_serialization=True)

    if args.legacy_vae_attention:
        rename_vae_attention(os.path.join(args.out, "vae", "diffusion_pytorch_model.safetensors"))

    def count(m):
        return sum(p.numel() for p in m.parameters())

    print(f"wrote {args.out}: DiTPipeline, {args.dtype}, seed {args.seed}")
    print(f"  transformer: {type(transformer).__name__}, {count(transformer)} parameters (seed {args.seed})")
    print(f"  vae: AutoencoderKL, {count(vae)} parameters ({count(vae.decoder) + count(vae.post_quant_conv)} "
          f"in post_quant_conv + decoder), seed {args.seed + 1}")
    print(f"  scheduler: {type(scheduler).__name__}")
    print_files(args.out)


if __name__ == "__main__":
    main()
