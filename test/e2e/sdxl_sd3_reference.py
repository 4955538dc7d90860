#!/usr/bin/env python3
"""Tiny random StableDiffusionXLPipeline / StableDiffusion3Pipeline folders, and the real diffusers
pipelines as the reference.

Write a folder:
  sdxl_sd3_reference.py make --kind sdxl|sdxl-refiner|sd3 --out DIR [--seed 0] [--sd35]
      [--no-t5] [--no-force-zeros] [--inpaint] [--controlnet] [--controlnets K] [--latent-channels C]
      [--latent-stats]
  diffusers' pipeline(...).save_pretrained with tiny random components and CLIP's real BPE
  merges (make_flux_pipeline.py builds them); text_encoder_2's tokenizer pads with "!" as the
  real SDXL / SD3 folders do.
  sdxl: the UNet of models/unet/configs/unet-tiny-sdxl.json (cross_attention_dim 24 = 8 + 16,
    pooled text 16), a CLIPTextModel (hidden 8) and a CLIPTextModelWithProjection (hidden 16,
    projection 16), a 4-channel VAE (vae_scale_factor 2, scaling 0.13025),
    EulerDiscreteScheduler with SDXL's config. --no-force-zeros registers
    force_zeros_for_empty_prompt false. --latent-stats: as Playground v2.5 (the VAE's
    latents_mean / latents_std and scaling factor 0.5, EDMDPMSolverMultistepScheduler with its
    config). --inpaint: a StableDiffusionXLInpaintPipeline folder whose
    UNet takes 9 channels (latents, mask, masked image latents), as SDXL inpainting 0.1's.
    --controlnet: a StableDiffusionXLControlNetPipeline folder with a random ControlNetModel of
    the UNet's config (ControlNetModel.from_unet, embedding [8, 16]; seed S + 5); with --inpaint a
    StableDiffusionXLControlNetInpaintPipeline folder (the net of the UNet's config with 4
    input channels).
    --controlnets K (sd3): a StableDiffusion3ControlNetPipeline folder with K random
    SD3ControlNetModels of 2 blocks (seeds S + 10 + k), the transformer given 4 (so sample i // 2
    lands after block i, the last block adding none); K > 1 is laid out as controlnet,
    controlnet_1, ... with an SD3MultiControlNetModel entry (diffusers cannot save that class).
    With --inpaint (K = 1): a StableDiffusion3ControlNetInpaintingPipeline folder whose net has
    extra_conditioning_channels 1 (the mask), as alimama-creative/SD3-Controlnet-Inpainting.
    run: such a folder runs with the control image's latent mean (diffusers 0.31 samples it from
    torch's global RNG).
  sdxl-refiner: a StableDiffusionXLImg2ImgPipeline folder as the SDXL refiner's: text_encoder and
    tokenizer null, sdxl's CLIPTextModelWithProjection (hidden 16, projection 16) alone, the UNet
    of unet-tiny-sdxl.json with cross_attention_dim 16 and projection_class_embeddings_input_dim
    16 + 5 x 8 (5 time ids: requires_aesthetics_score true), force_zeros_for_empty_prompt false,
    sdxl's VAE and scheduler.
  sd3: the transformer of models/sd3/configs/sd3-tiny.json (--sd35: sd3.5-tiny.json), two
    CLIPTextModelWithProjection (hidden 8 and 12, projections 4 and 8: pooled 12; padded to the
    joint_attention_dim 24), a T5 encoder (d_model 24; a trained SentencePiece tokenizer;
    --no-t5: none, as text_encoder_3=None), a 4-channel VAE with a shift factor,
    FlowMatchEulerDiscreteScheduler(shift=3.0). --latent-channels 16: the VAE's and the
    transformer's channels (StableDiffusion3InpaintPipeline takes SD3's 16 only).

Write initial latents:
  sdxl_sd3_reference.py latents --out x.npy [--batch 2] [--seed 0] [--height 32] [--width 24]
      [--channels 4]
  float32 N(0, 1) [B, C, H / 2, W / 2] (numpy default_rng(seed)).

Run the pipeline:
  sdxl_sd3_reference.py run --pipeline DIR --prompt P [--prompt ...] [--prompt-2 ...]
      [--patch P | --pipefusion M [--fresh-steps W]] (SD3: distrifusion.py's emulation)
      [--prompt-3 ...] [--negative-prompt N ...] [--negative-prompt-2 N ...]
      [--negative-prompt-3 N ...] --latents x.npy [--steps 4]
      [--guidance-scale G] [--height 32] [--width 24] [--max-sequence-length N]
      [--denoising-end F] [MICRO] [--dtype float32|float64] --out-latents y.npy
      [--out-images z.npy]
  The pipeline class model_index.json names, __call__ unchanged with latents=x and
  output_type="latent"; --out-images decodes them as the pipeline does (with latent statistics
  the pipeline itself decodes, in a second call). --scheduler CLASS (run and img2img): that
  diffusers class from_config of the folder's. --denoising-end: SDXL's
  denoising_end (the base half of an ensemble of experts). --control-image c.png
  [--controlnet-scale S] [--control-guidance-start F] [--control-guidance-end F]: the ControlNet
  class's image and its arguments.
  MICRO (SDXL, run and img2img): [--original-size H,W] [--crops-coords-top-left T,L]
  [--target-size H,W] and the same with --negative-: passed as the pipeline's original_size,
  crops_coords_top_left, ... (tuples of ints) when given, else left to its defaults.
  run --per-image: one pipeline call per prompt (its prompts, negative prompt and latents), the
  results concatenated. For negative time ids that differ from the prompts': diffusers 0.31's
  StableDiffusionXLPipeline concatenates [negative_add_time_ids, add_time_ids] and then repeats
  that pair per prompt, so with 2 prompts its UNet rows get ids (neg, pos, neg, pos) while the
  embeddings are (neg, neg, pos, pos): image 0's conditional row gets the negative ids. One
  prompt per call is what the class means (its img2img class repeats each half before
  concatenating), and what Fresco computes.

Image-to-image:
  sdxl_sd3_reference.py img2img --pipeline DIR --prompt P [...] [--prompt-2 ...] [--prompt-3 ...]
      [--negative-prompt N ...] (--image in.png | --image-latents x.npy) [--strength S]
      --latents noise.npy [--steps 4] [--guidance-scale G] [--max-sequence-length N]
      [--aesthetic-score A] [--negative-aesthetic-score A] [--denoising-start F]
      [--denoising-end F] [MICRO] [--dtype float32|float64] --out-latents y.npy
  StableDiffusionXLImg2ImgPipeline or StableDiffusion3Img2ImgPipeline (as model_index.json's class
  says) loaded from the text-to-image folder, __call__ with output_type="latent", the init image as
  PIL opens it and two substitutions so that it matches fresco-run --image: the encoded image is
  the latent distribution's mean (retrieve_latents with sample_mode="argmax") instead of a sample,
  and the noise prepare_latents draws for add_noise / scale_noise is noise.npy (fresco-run's
  --latents) instead of torch.randn. SDXL: in float64 the VAE's force_upcast is turned off (it
  would run the encoder in float32: an upcast meant for float16, a downcast from float64).
  A StableDiffusionXLImg2ImgPipeline folder (the refiner) is loaded as itself. --image-latents
  passes latents [B, 4, h, w] as the image (a base run's output, the refiner half of an ensemble
  of experts: diffusers takes them as they are, not encoded); with --denoising-start no noise is
  added (prepare_latents' add_noise false) and noise.npy is not drawn.
  --mask mask.png (with --image): StableDiffusionXLInpaintPipeline,
  StableDiffusionXLControlNetInpaintPipeline (a ControlNet folder) or
  StableDiffusion3InpaintPipeline instead, at --height x --width, with the same substitutions (the
  latents put back to the noised init image outside the binarized mask after every step).
"""
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "text"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import distrifusion  # noqa: E402
from fresco_ref_common import (add_control_args, add_latents_args, add_pipeline_run_args, arg_parser,  # noqa: E402
                               control_kwargs, give_img2img_noise,
                               import_diffusers, install_sdpa_for_torch1, load_loras, per_prompt, pipeline_reference_setup,
                               read_json, save_latents, save_pipeline, tiny_vae)

REPO = os.path.dirname(os.path.dirname(HERE))
SDXL_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                      beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading",
                      interpolation_type="linear", prediction_type="epsilon", use_karras_sigmas=False)


def clip_model(vocab: int, hidden: int, projection: int = 0):
    """A 3-layer CLIP text model (hidden_states[-2] is then a real layer's output)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=3,
        num_attention_heads=2, max_position_embeddings=77, hidden_act="gelu",
        projection_dim=projection or hidden, bos_token_id=0, pad_token_id=1, eos_token_id=2)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def playground_like(folder: str) -> None:
    """Playground v2.5's layout on a saved SDXL folder: a VAE with latent statistics (values
    like that model's) and scaling factor 0.5, the EDM DPM-Solver scheduler config
    (scheduler_cases.PLAYGROUND_V25)."""
    sys.path.insert(0, os.path.join(HERE, "schedulers"))
    from scheduler_cases import PLAYGROUND_V25

    def rewrite(path, update):
        data = read_json(path)
        update(data)
        with open(path, "w") as f:
            json.dump(data, f, indent=2)

    rewrite(os.path.join(folder, "vae", "config.json"), lambda c: c.update(
        latents_mean=[-1.6574, 1.886, -1.383, 2.5155],
        latents_std=[8.4927, 5.9022, 6.5498, 5.2299], scaling_factor=0.5))
    rewrite(os.path.join(folder, "scheduler", "scheduler_config.json"), lambda c: (
        c.clear(), c.update(PLAYGROUND_V25)))
    rewrite(os.path.join(folder, "model_index.json"), lambda c: c.update(
        scheduler=["diffusers", "EDMDPMSolverMultistepScheduler"]))


def make(args) -> None:
    import torch
    from make_diffusers_checkpoint import randomize as randomize_diffusers
    from make_flux_pipeline import clip_tokenizer, t5_encoder_model, t5_tokenizer
    from text_encoder_reference import randomize as randomize_text

    diffusers = import_diffusers(need_accelerate=False)
    install_sdpa_for_torch1()  # SD3's attention processor refuses to build without it
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as root:
        tok = clip_tokenizer(root, 77)
        tok2 = clip_tokenizer(root, 77, name="clip2", pad="!")
        if args.kind == "sdxl-refiner":
            config = read_json(os.path.join(REPO, "models", "unet", "configs", "unet-tiny-sdxl.json"))
            config.update(cross_attention_dim=16,
                          projection_class_embeddings_input_dim=16 + 5 * config["addition_time_embed_dim"])
            unet = diffusers.UNet2DConditionModel.from_config(config)
            te2 = clip_model(len(tok2), 16, projection=16)
            v = tiny_vae(diffusers, scaling_factor=0.13025)
            randomize_diffusers(unet, args.seed)
            randomize_diffusers(v, args.seed + 1)
            randomize_text(te2, args.seed + 3)
            pipe = diffusers.StableDiffusionXLImg2ImgPipeline(
                vae=v, text_encoder=None, text_encoder_2=te2, tokenizer=None, tokenizer_2=tok2,
                unet=unet, scheduler=diffusers.EulerDiscreteScheduler(**SDXL_SCHEDULER),
                requires_aesthetics_score=True, force_zeros_for_empty_prompt=False,
                add_watermarker=False)
        elif args.kind == "sdxl":
            config = read_json(os.path.join(REPO, "models", "unet", "configs", "unet-tiny-sdxl.json"))
            if args.inpaint:  # SDXL inpainting 0.1's UNet: latents, mask, masked image latents
                config.update(in_channels=9, out_channels=4)
            unet = diffusers.UNet2DConditionModel.from_config(config)
            te, te2 = clip_model(len(tok), 8), clip_model(len(tok2), 16, projection=16)
            v = tiny_vae(diffusers, scaling_factor=0.13025)
            randomize_diffusers(unet, args.seed)
            randomize_diffusers(v, args.seed + 1)
            randomize_text(te, args.seed + 2)
            randomize_text(te2, args.seed + 3)
            cls = diffusers.StableDiffusionXLInpaintPipeline if args.inpaint else diffusers.StableDiffusionXLPipeline
            extra = {}
            if args.controlnet:  # a random SDXL ControlNet of the UNet's config (2x embedding)
                # With --inpaint: StableDiffusionXLControlNetInpaintPipeline, whose net reads the 4
                # latent channels alone (made from a 4-channel copy of the UNet's config).
                cls = diffusers.StableDiffusionXLControlNetInpaintPipeline if args.inpaint else \
                    diffusers.StableDiffusionXLControlNetPipeline
                base = diffusers.UNet2DConditionModel.from_config(dict(config, in_channels=4)) \
                    if args.inpaint else unet
                net = diffusers.ControlNetModel.from_unet(base, conditioning_embedding_out_channels=(8, 16),
                                                          load_weights_from_unet=False)
                randomize_diffusers(net, args.seed + 5)
                extra = dict(controlnet=net)
            pipe = cls(
                vae=v, text_encoder=te, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok2,
                unet=unet, scheduler=diffusers.EulerDiscreteScheduler(**SDXL_SCHEDULER),
                force_zeros_for_empty_prompt=not args.no_force_zeros, add_watermarker=False, **extra)
        else:
            name = "sd3.5-tiny.json" if args.sd35 else "sd3-tiny.json"
            config = read_json(os.path.join(REPO, "models", "sd3", "configs", name))
            # StableDiffusion3InpaintPipeline takes 16 channels (SD3's) only.
            config.update(in_channels=args.latent_channels, out_channels=args.latent_channels)
            if args.controlnets:  # 4 blocks: the nets' 2 samples land on blocks 0-1 and 2
                config.update(num_layers=4)
            transformer = diffusers.SD3Transformer2DModel.from_config(config)
            te, te2 = clip_model(len(tok), 8, projection=4), clip_model(len(tok2), 12, projection=8)
            te3 = tok3 = None
            if not args.no_t5:
                tok3 = t5_tokenizer(root)
                te3 = t5_encoder_model(len(tok3), 24)
                randomize_text(te3, args.seed + 4)
            v = tiny_vae(diffusers, args.latent_channels, scaling_factor=1.5305, shift_factor=0.0609)
            randomize_diffusers(transformer, args.seed)
            randomize_diffusers(v, args.seed + 1)
            randomize_text(te, args.seed + 2)
            randomize_text(te2, args.seed + 3)
            nets = []
            for k in range(args.controlnets):
                cconfig = {key: value for key, value in config.items() if not key.startswith("_")}
                # --inpaint: alimama's SD3-Controlnet-Inpainting layout (the mask channel).
                cconfig.update(num_layers=2, extra_conditioning_channels=1 if args.inpaint else 0)
                nets.append(diffusers.SD3ControlNetModel(**cconfig))
                randomize_diffusers(nets[-1], args.seed + 10 + k)
            cls, extra = diffusers.StableDiffusion3Pipeline, {}
            if nets:
                cls = diffusers.StableDiffusion3ControlNetInpaintingPipeline if args.inpaint else \
                    diffusers.StableDiffusion3ControlNetPipeline
                extra = dict(controlnet=nets[0])
            pipe = cls(
                transformer=transformer, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0),
                vae=v, text_encoder=te, tokenizer=tok, text_encoder_2=te2, tokenizer_2=tok2,
                text_encoder_3=te3, tokenizer_3=tok3, **extra)
        save_pipeline(pipe, args.out)
        if args.latent_stats:
            playground_like(args.out)
        if args.kind == "sd3" and len(nets) > 1:  # laid out as SD's MultiControlNetModel saves them
            for k, net in enumerate(nets[1:], 1):
                net.save_pretrained(os.path.join(args.out, f"controlnet_{k}"))
            index = read_json(os.path.join(args.out, "model_index.json"))
            index["controlnet"] = ["diffusers", "SD3MultiControlNetModel"]
            with open(os.path.join(args.out, "model_index.json"), "w") as f:
                json.dump(index, f, indent=2)
    print(f"wrote {args.out}: {type(pipe).__name__}, seed {args.seed}")


PER_IMAGE = ("prompt", "prompt_2", "prompt_3", "negative_prompt", "negative_prompt_2", "negative_prompt_3",
             "latents")
MICRO = ("original_size", "crops_coords_top_left", "target_size", "negative_original_size",
         "negative_crops_coords_top_left", "negative_target_size")


def add_micro_args(p) -> None:
    """SDXL's micro-conditioning, "H,W" / "T,L" as fresco-run takes it."""
    for key in MICRO:
        p.add_argument("--" + key.replace("_", "-"),
                       type=lambda v: tuple(int(x) for x in v.split(",")))


def micro_kwargs(args) -> dict:
    return {key: getattr(args, key) for key in MICRO if getattr(args, key) is not None}


def run(args) -> None:
    import torch

    diffusers, dt = pipeline_reference_setup(args.dtype)
    cls = getattr(diffusers, read_json(os.path.join(args.pipeline, "model_index.json"))["_class_name"])
    index = read_json(os.path.join(args.pipeline, "model_index.json"))
    # Components saved as [null, null] (SD3 without T5) must be passed as None.
    absent = {k: None for k, v in index.items() if isinstance(v, list) and v[0] is None}
    sd3_control = cls in (diffusers.StableDiffusion3ControlNetPipeline,
                          diffusers.StableDiffusion3ControlNetInpaintingPipeline)
    if sd3_control:  # the nets, which diffusers cannot load as a multi-net
        nets, k = [], 0
        while os.path.isdir(os.path.join(args.pipeline, f"controlnet_{k}" if k else "controlnet")):
            nets.append(diffusers.SD3ControlNetModel.from_pretrained(
                os.path.join(args.pipeline, f"controlnet_{k}" if k else "controlnet"), torch_dtype=dt))
            k += 1
            if index["controlnet"][1] != "SD3MultiControlNetModel":
                break
        absent["controlnet"] = nets[0] if len(nets) == 1 else diffusers.SD3MultiControlNetModel(nets)
    pipe = cls.from_pretrained(args.pipeline, torch_dtype=dt, **absent)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler:
        pipe.scheduler = getattr(diffusers, args.scheduler).from_config(pipe.scheduler.config)
    load_loras(pipe, args.lora)
    x = torch.from_numpy(np.load(args.latents)).to(dt)
    n = len(args.prompt)
    kwargs = dict(prompt=args.prompt, prompt_2=per_prompt(args.prompt_2, n),
                  negative_prompt=per_prompt(args.negative_prompt, n),
                  negative_prompt_2=per_prompt(args.negative_prompt_2, n), latents=x,
                  num_inference_steps=args.steps, height=args.height, width=args.width,
                  output_type="latent")
    if args.guidance_scale is not None:
        kwargs["guidance_scale"] = args.guidance_scale
    if args.denoising_end is not None:
        kwargs["denoising_end"] = args.denoising_end
    if args.guidance_rescale is not None:
        kwargs["guidance_rescale"] = args.guidance_rescale
    if args.clip_skip is not None:
        kwargs["clip_skip"] = args.clip_skip
    kwargs.update(micro_kwargs(args))
    if args.control_image:
        kwargs.update(control_kwargs(args, "control_image" if sd3_control else "image"))
    if args.control_mask:  # StableDiffusion3ControlNetInpaintingPipeline's
        from PIL import Image
        kwargs["control_mask"] = Image.open(args.control_mask)
    if sd3_control and isinstance(pipe.controlnet, diffusers.SD3MultiControlNetModel):
        scale = kwargs.get("controlnet_conditioning_scale", 1.0)  # its __call__ zips it with the nets
        kwargs["controlnet_conditioning_scale"] = scale if isinstance(scale, list) else [scale] * len(
            pipe.controlnet.nets)
        if not isinstance(kwargs["control_image"], list):
            kwargs["control_image"] = [kwargs["control_image"]]
    if cls in (diffusers.StableDiffusion3Pipeline, diffusers.StableDiffusion3ControlNetPipeline,
               diffusers.StableDiffusion3ControlNetInpaintingPipeline):
        kwargs["prompt_3"] = per_prompt(args.prompt_3, n)
        kwargs["negative_prompt_3"] = per_prompt(args.negative_prompt_3, n)
        if args.max_sequence_length:
            kwargs["max_sequence_length"] = args.max_sequence_length
    emulation = distrifusion.from_args(args, pipe.unet if hasattr(pipe, "unet") else pipe.transformer)
    assert not (emulation and args.per_image), "--per-image does not take an emulation"
    with torch.no_grad():
        if args.per_image:
            # One call per prompt (see the module's docstring), each of its
            # per-prompt arguments and latents cut to that image.
            def one(i):
                k = {key: (v[i:i + 1] if key in PER_IMAGE and v is not None else v)
                     for key, v in kwargs.items()}
                return pipe(**k).images
            out = torch.cat([one(i) for i in range(n)])
        elif sd3_control:
            # The control image's latents: the encoder's mean (diffusers 0.31
            # samples them from torch's global RNG), as fresco-run takes them.
            dist = diffusers.models.autoencoders.vae.DiagonalGaussianDistribution
            original = dist.sample
            dist.sample = lambda self, generator=None: self.mode()
            try:
                out = pipe(**kwargs).images
            finally:
                dist.sample = original
        else:
            out = pipe(**kwargs).images
        if emulation:
            emulation.check_calls(args.steps)
            print(emulation.summary())
        np.save(args.out_latents, out.float().numpy())
        if args.out_images and getattr(pipe.vae.config, "latents_mean", None) is not None:
            # Latent statistics: the pipeline decodes (a second call) and the
            # VAE's output is kept.
            decoded, decode = [], pipe.vae.decode

            def keep(z, *a, **k):
                r = decode(z, *a, **k)
                decoded.append(r[0] if isinstance(r, tuple) else r.sample)
                return r
            pipe.vae.decode = keep
            assert not (emulation or args.per_image or sd3_control)
            again = pipe(**dict(kwargs, output_type="pt")).images
            assert len(decoded) == 1 and again.shape[0] == out.shape[0], len(decoded)
            np.save(args.out_images, decoded[0].float().numpy())
        elif args.out_images:
            z = out / pipe.vae.config.scaling_factor
            if getattr(pipe.vae.config, "shift_factor", None) is not None and \
                    cls in (diffusers.StableDiffusion3Pipeline, diffusers.StableDiffusion3ControlNetPipeline):
                z = z + pipe.vae.config.shift_factor
            img = pipe.vae.decode(z, return_dict=False)[0]
            np.save(args.out_images, img.float().numpy())
    print(f"wrote {args.out_latents} {list(out.shape)}")


def img2img(args) -> None:
    import torch
    from PIL import Image

    diffusers, dt = pipeline_reference_setup(args.dtype)
    index = read_json(os.path.join(args.pipeline, "model_index.json"))
    if args.mask:
        cls = {"StableDiffusionXLPipeline": diffusers.StableDiffusionXLInpaintPipeline,
               "StableDiffusionXLInpaintPipeline": diffusers.StableDiffusionXLInpaintPipeline,
               "StableDiffusionXLControlNetPipeline": diffusers.StableDiffusionXLControlNetInpaintPipeline,
               "StableDiffusionXLControlNetInpaintPipeline":
                   diffusers.StableDiffusionXLControlNetInpaintPipeline,
               "StableDiffusionXLImg2ImgPipeline": diffusers.StableDiffusionXLInpaintPipeline,
               "StableDiffusion3Pipeline": diffusers.StableDiffusion3InpaintPipeline}[index["_class_name"]]
    else:
        cls = {"StableDiffusionXLPipeline": diffusers.StableDiffusionXLImg2ImgPipeline,
               "StableDiffusionXLImg2ImgPipeline": diffusers.StableDiffusionXLImg2ImgPipeline,
               "StableDiffusionXLControlNetPipeline": diffusers.StableDiffusionXLControlNetImg2ImgPipeline,
               "StableDiffusion3Pipeline": diffusers.StableDiffusion3Img2ImgPipeline}[index["_class_name"]]
    module = sys.modules[cls.__module__]
    absent = {k: None for k, v in index.items() if isinstance(v, list) and v[0] is None}
    pipe = cls.from_pretrained(args.pipeline, torch_dtype=dt, **absent)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler:
        pipe.scheduler = getattr(diffusers, args.scheduler).from_config(pipe.scheduler.config)
    if dt == torch.float64 and getattr(pipe.vae.config, "force_upcast", False):
        pipe.vae.register_to_config(force_upcast=False)
    noise = torch.from_numpy(np.load(args.latents.lstrip("@"))).to(dt)
    calls = give_img2img_noise(module, noise)
    n = len(args.prompt)
    image = (torch.from_numpy(np.load(args.image_latents)).to(dt) if args.image_latents
             else Image.open(args.image))
    kwargs = dict(prompt=args.prompt, prompt_2=per_prompt(args.prompt_2, n),
                  negative_prompt=per_prompt(args.negative_prompt, n), image=image,
                  num_inference_steps=args.steps, output_type="latent")
    for key in ("strength", "guidance_scale", "aesthetic_score", "negative_aesthetic_score",
                "denoising_start", "denoising_end", "guidance_rescale", "clip_skip"):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    kwargs.update(micro_kwargs(args))
    if args.control_image:
        kwargs.update(control_kwargs(args, "control_image"))
    if args.mask:
        kwargs.update(mask_image=Image.open(args.mask), height=args.height, width=args.width)
    if cls in (diffusers.StableDiffusion3Img2ImgPipeline, diffusers.StableDiffusion3InpaintPipeline):
        kwargs["prompt_3"] = per_prompt(args.prompt_3, n)
        if args.max_sequence_length:
            kwargs["max_sequence_length"] = args.max_sequence_length
    with torch.no_grad():
        out = pipe(**kwargs).images
    # With denoising_start the image (latents) is not noised: no draw.
    # (The inpaint classes draw it anyway, for the blend.)
    want = 0 if args.denoising_start is not None and not args.mask else 1
    assert len(calls) == want, f"prepare_latents drew noise {len(calls)} times, expected {want}"
    np.save(args.out_latents, out.float().numpy())
    print(f"wrote {args.out_latents} {list(out.shape)} ({cls.__name__})")


def main() -> None:
    ap = arg_parser(__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--kind", choices=("sdxl", "sdxl-refiner", "sd3"), required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--sd35", action="store_true", help="sd3: SD3.5-like (dual attention, qk norms)")
    m.add_argument("--no-t5", action="store_true", help="sd3: no text_encoder_3")
    m.add_argument("--inpaint", action="store_true",
                   help="sdxl: a StableDiffusionXLInpaintPipeline folder with a 9-channel UNet (with "
                        "--controlnet: a StableDiffusionXLControlNetInpaintPipeline folder); sd3 with "
                        "--controlnets 1: a StableDiffusion3ControlNetInpaintingPipeline folder")
    m.add_argument("--latent-channels", type=int, default=4,
                   help="sd3: the VAE's and transformer's channels (16 for the inpaint class)")
    m.add_argument("--controlnet", action="store_true",
                   help="sdxl: a StableDiffusionXLControlNetPipeline folder with a random ControlNetModel")
    m.add_argument("--controlnets", type=int, default=0,
                   help="sd3: a StableDiffusion3ControlNetPipeline folder with K random SD3ControlNetModels "
                        "of 2 blocks (the transformer gets 4)")
    m.add_argument("--no-force-zeros", action="store_true",
                   help="sdxl: force_zeros_for_empty_prompt false")
    m.add_argument("--latent-stats", action="store_true",
                   help="sdxl: as Playground v2.5 (the VAE's latents_mean / latents_std, scaling "
                        "factor 0.5, EDMDPMSolverMultistepScheduler)")
    add_latents_args(sub.add_parser("latents"))
    r = sub.add_parser("run")
    add_pipeline_run_args(r, guidance_default=None)
    r.add_argument("--scheduler", help="a diffusers scheduler class, made from_config of the folder's")
    r.add_argument("--prompt-2", action="append")
    r.add_argument("--prompt-3", action="append")
    r.add_argument("--negative-prompt-2", action="append")
    r.add_argument("--negative-prompt-3", action="append")
    r.add_argument("--max-sequence-length", type=int)
    r.add_argument("--denoising-end", type=float)
    add_micro_args(r)
    r.add_argument("--per-image", action="store_true")
    add_control_args(r, required=False)
    r.add_argument("--control-mask", help="StableDiffusion3ControlNetInpaintingPipeline's control_mask")
    distrifusion.add_args(r)
    i2i = sub.add_parser("img2img")
    add_pipeline_run_args(i2i, guidance_default=None)
    i2i.add_argument("--scheduler", help="as run's")
    i2i.add_argument("--prompt-2", action="append")
    i2i.add_argument("--prompt-3", action="append")
    i2i.add_argument("--max-sequence-length", type=int)
    image = i2i.add_mutually_exclusive_group(required=True)
    image.add_argument("--image")
    image.add_argument("--image-latents")
    i2i.add_argument("--strength", type=float)
    i2i.add_argument("--mask", help="with --image: the inpaint class instead (white repainted)")
    for flag in ("--aesthetic-score", "--negative-aesthetic-score", "--denoising-start",
                 "--denoising-end"):
        i2i.add_argument(flag, type=float)
    add_micro_args(i2i)
    add_control_args(i2i, required=False)
    args = ap.parse_args()
    if args.cmd == "run":
        distrifusion.check_args(ap, args)
    {"make": make, "latents": save_latents, "run": run, "img2img": img2img}[args.cmd](args)


if __name__ == "__main__":
    main()
