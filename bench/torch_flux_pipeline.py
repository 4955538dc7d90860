#!/usr/bin/env python3
"""A small FluxPipeline on CPU PyTorch + diffusers: the baseline of bench/cpu_flux_pipeline.sh.

  torch_flux_pipeline.py make OUT [--seed 0]
      writes a random-weight FluxPipeline folder with diffusers' save_pretrained: the transformer
      of bench/configs/flux-small/transformer.json (2 double + 4 single blocks, 8 heads x 64),
      FLUX.1's VAE (models/vae/configs/flux1-vae.json), CLIP ViT-L's text encoder (FLUX.1's
      text_encoder config: 12 layers, 768 wide) with CLIP's real BPE tokenizer, a T5 v1.1 encoder
      of bench/configs/flux-small/text_encoder_2.json with a trained SentencePiece tokenizer (the
      tokenizers as test/e2e/make_flux_pipeline.py builds them), FLUX.1-dev's scheduler.
  torch_flux_pipeline.py run PIPE --prompt P [--prompt ...] [--steps 4] [--height 256]
      [--width 256] [--max-sequence-length 128] [--runs 2] [--threads N]
      times diffusers' FluxPipeline.__call__ on it (float32, torch.no_grad, the calls' own code):
      the prompt encoding (encode_prompt), each denoising step (callback_on_step_end times) and the
      VAE decode (as FluxPipeline does it for an image output), --runs times, and prints one
      JSON line per run with the threads and versions. Step i's time is between the step-end
      callbacks of steps i - 1 and i (the first step is not reported: it holds the setup).
Nothing is downloaded; timing does not depend on the weights' values.
"""
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
E2E = os.path.join(ROOT, "test", "e2e")
sys.path.insert(0, E2E)
sys.path.insert(0, os.path.join(E2E, "text"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from fresco_ref_common import arg_parser, import_diffusers, install_sdpa_for_torch1, read_json  # noqa: E402

CONFIGS = os.path.join(HERE, "configs", "flux-small")
FLUX1 = os.path.join(ROOT, "models", "flux", "pipelines", "flux1-dev")


def make(out: str, seed: int) -> None:
    import torch
    from make_flux_pipeline import DEV_SCHEDULER, clip_tokenizer, t5_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    diffusers = import_diffusers(need_accelerate=False)
    install_sdpa_for_torch1()
    torch.manual_seed(seed)
    transformer = diffusers.FluxTransformer2DModel.from_config(read_json(os.path.join(CONFIGS, "transformer.json")))
    vae = diffusers.AutoencoderKL.from_config(read_json(os.path.join(ROOT, "models", "vae", "configs",
                                                                     "flux1-vae.json")))
    with tempfile.TemporaryDirectory() as root:
        tokenizer = clip_tokenizer(root, 77)
        tokenizer_2 = t5_tokenizer(root)
        clip = read_json(os.path.join(FLUX1, "text_encoder", "config.json"))
        clip = {k: v for k, v in clip.items() if k not in ("architectures", "model_type", "torch_dtype")}
        text_encoder = CLIPTextModel(CLIPTextConfig(**clip))
        t5 = read_json(os.path.join(CONFIGS, "text_encoder_2.json"))
        text_encoder_2 = T5EncoderModel(T5Config(
            vocab_size=-(-len(tokenizer_2) // 64) * 64, relative_attention_num_buckets=32,
            relative_attention_max_distance=128, feed_forward_proj="gated-gelu", is_encoder_decoder=False,
            use_cache=False, tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
            decoder_start_token_id=0, **t5))
        pipe = diffusers.FluxPipeline(
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(**DEV_SCHEDULER), vae=vae,
            text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2, transformer=transformer)
        if os.path.exists(out):
            shutil.rmtree(out)
        pipe.save_pretrained(out, safe_serialization=True)
    print(f"wrote {out}")


def run(args) -> None:
    # Read when torch and its BLAS load (as bench/torch_dit_pipeline.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)

    diffusers = import_diffusers(need_accelerate=False)
    install_sdpa_for_torch1()
    pipe = diffusers.FluxPipeline.from_pretrained(args.pipeline, torch_dtype=torch.float32)
    common = dict(height=args.height, width=args.width, num_inference_steps=args.steps,
                  guidance_scale=3.5, max_sequence_length=args.max_sequence_length)
    for run_index in range(args.runs):
        with torch.no_grad():
            t0 = time.perf_counter()
            pipe.encode_prompt(prompt=args.prompt, prompt_2=None,
                               max_sequence_length=args.max_sequence_length)
            encode = time.perf_counter() - t0
            stamps = []

            def on_step(p, i, t, kwargs):
                stamps.append(time.perf_counter())
                return kwargs

            generator = torch.Generator().manual_seed(run_index)
            t0 = time.perf_counter()
            latents = pipe(prompt=args.prompt, output_type="latent", generator=generator,
                           callback_on_step_end=on_step, **common).images
            t1 = time.perf_counter()
            # The decode as FluxPipeline does it for an image output type.
            t2 = time.perf_counter()
            z = pipe._unpack_latents(latents, args.height, args.width, pipe.vae_scale_factor)
            z = z / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
            pipe.vae.decode(z, return_dict=False)
            decode = time.perf_counter() - t2
        step_times = [b - a for a, b in zip(stamps[:-1], stamps[1:])]
        print(json.dumps({
            "impl": "diffusers-cpu", "run": run_index, "images": len(args.prompt),
            "size": [args.height, args.width], "steps": args.steps,
            "encode_s": round(encode, 4),
            "step_median_s": round(statistics.median(step_times), 4) if step_times else None,
            "step_times_s": [round(s, 4) for s in step_times], "call_s": round(t1 - t0, 4),
            "vae_decode_s": round(decode, 4), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "diffusers": diffusers.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}))


def main() -> None:
    ap = arg_parser(__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("pipeline")
    r.add_argument("--prompt", action="append", required=True)
    r.add_argument("--steps", type=int, default=4)
    r.add_argument("--height", type=int, default=256)
    r.add_argument("--width", type=int, default=256)
    r.add_argument("--max-sequence-length", type=int, default=128)
    r.add_argument("--runs", type=int, default=2)
    r.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch and OpenBLAS threads (default: all usable cores)")
    args = ap.parse_args()
    if args.cmd == "make":
        make(args.out, args.seed)
    else:
        run(args)


if __name__ == "__main__":
    main()
