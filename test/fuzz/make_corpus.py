#!/usr/bin/env python3
"""Regenerates the seed corpora in test/fuzz/corpus/ (small valid files).

  make_corpus.py --bin BUILD/bin      (fresco-compile for the plan seeds)

Run with the project's .venv (numpy, safetensors, sentencepiece). Former
crashes (crash-*, hang-*) in the corpus folders are kept.
"""
import argparse
import io
import json
import os
import struct
import subprocess
import tempfile

import numpy as np
import sentencepiece as spm
from safetensors.numpy import save as st_save

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEP = b"\n#~fresco-part~#\n"  # FuzzUtil.h's kPartSeparator


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def plans(bin_dir):
    compile_ = os.path.join(bin_dir, "fresco-compile")
    dit = os.path.join(ROOT, "models/dit/configs/dit-tiny.json")
    pipe = os.path.join(ROOT, "models/dit/pipelines/dit-tiny")
    rs = os.path.join(ROOT, "test/lit/Inputs/reduce-scatter.mlir")
    mlp = os.path.join(ROOT, "test/lit/Inputs/mlp.mlir")
    gated = os.path.join(ROOT, "test/lit/Inputs/gated-linear.mlir")
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in [("dit-tiny", [dit]),
                           ("dit-tiny-bf16", [dit, "--dtype", "bf16"]),
                           ("dit-tiny-tp2", [dit, "--ranks", "2", "--parallel", "tp=2"]),
                           ("dit-tiny-fp8", [dit, "--dtype", "bf16", "--gemm", "fp8"]),
                           ("pipe-dit-tiny", [pipe]),
                           # StaleGather and Pipeline.fresh_steps.
                           ("pipe-dit-tiny-patch2",
                            [pipe, "--ranks", "2", "--parallel", "patch=2"]),
                           # PatchCache and Pipeline.warmup_function.
                           ("pipe-dit-tiny-pipefusion2",
                            [pipe, "--ranks", "2", "--parallel", "pipefusion=2"]),
                           # ReduceScatter (a hand-partitioned module).
                           ("reduce-scatter2", [rs, "--ranks", "2"]),
                           # LinearAttrs.residual (fc2 + the residual).
                           ("mlp-residual", [mlp]),
                           # LinearAttrs.gate, with a residual and without.
                           ("gated-linear", [gated])]:
            out = os.path.join(tmp, name + ".fplan")
            subprocess.run([compile_, *args, "-o", out, "--quiet"], check=True)
            put("plan", name + ".fplan", open(out, "rb").read())


def tensors(seed):
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((2, 3)).astype(np.float32),
            "b": rng.standard_normal((3,)).astype(np.float16),
            "i": np.arange(4, dtype=np.int64).reshape(2, 2),
            "s": np.array(1.5, dtype=np.float32)}


def safetensors():
    put("safetensors", "mixed.safetensors", st_save(tensors(0), metadata={"format": "pt"}))
    put("safetensors", "one.safetensors", st_save({"x": np.ones((1, 2, 2), np.float32)}))
    # bf16: numpy has none; write the header by hand.
    header = json.dumps({"h": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    put("safetensors", "bf16.safetensors",
        struct.pack("<Q", len(header)) + header + b"\x80\x3f\x00\x40")


def checkpoint():
    t = tensors(1)
    a = st_save({"w": t["w"], "b": t["b"]})
    b = st_save({"i": t["i"]})
    index = {"metadata": {"total_size": 64},
             "weight_map": {"w": "a.st", "b": "a.st", "i": "b.st"}}
    config = {"_class_name": "Tiny", "in_channels": 4}
    put("checkpoint", "sharded", SEP.join([json.dumps(config).encode(),
                                          json.dumps(index).encode(), a, b]))


def lora():
    """LoRA files for lora.cpp's fixed plan: PEFT (a linear, the padded one,
    a convolution, a weight the plan does not load, CLIP's q_proj, alphas)
    and kohya (a fused qkv split by rows, an alpha)."""
    rng = np.random.default_rng(2)

    def u(*shape):
        return rng.uniform(-0.5, 0.5, shape).astype(np.float32)
    put("lora", "peft.safetensors", st_save({
        "transformer.a.lora_A.weight": u(2, 4), "transformer.a.lora_B.weight": u(6, 2),
        "transformer.a.alpha": np.array(3.0, np.float32),
        "transformer.c.lora_A.weight": u(1, 2, 3, 3), "transformer.c.lora_B.weight": u(4, 1, 1, 1),
        "transformer.u.lora_A.weight": u(2, 4), "transformer.u.lora_B.weight": u(4, 2),
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight": u(2, 4),
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight": u(4, 2)}))
    put("lora", "kohya.safetensors", st_save({
        "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": u(2, 4),
        "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": u(12, 2),
        "lora_unet_double_blocks_0_img_attn_qkv.alpha": np.array(1.0, np.float32),
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": u(1, 4),
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": u(4, 1)}))


def npy():
    for name, arr in [("f32", np.arange(6, dtype=np.float32).reshape(2, 3)),
                      ("f16", np.ones((3,), np.float16)),
                      ("i64", np.arange(3, dtype=np.int64)),
                      ("scalar", np.array(2.0, np.float32)),
                      ("fortran", np.asfortranarray(np.eye(2, dtype=np.float32)))]:
        buf = io.BytesIO()
        np.save(buf, arr)
        put("npy", name + ".npy", buf.getvalue())


def png():
    """Small PNGs of every colour type and bit depth libspng converts: gray 1/2/4/8/16-bit, gray
    with alpha, palette (with and without tRNS), RGB, RGBA (PIL writes no interlaced PNG)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    cases = {
        "rgb8": (Image.fromarray(rgb, "RGB"), {}),
        "rgba8": (Image.fromarray(rng.integers(0, 256, (5, 7, 4), dtype=np.uint8), "RGBA"), {}),
        "gray8": (Image.fromarray(rgb[..., 0], "L"), {}),
        "gray1": (Image.fromarray(rgb[..., 0] > 127), {}),
        "gray16": (Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), {}),
        "graya": (Image.fromarray(rgb[..., :2].copy(), "LA"), {}),
        "palette": (Image.fromarray(rgb, "RGB").convert("P"), {}),
        "palette_trns": (Image.fromarray(rgb, "RGB").convert("P"), {"transparency": 0}),
    }
    for name, (img, kw) in cases.items():
        buf = io.BytesIO()
        img.save(buf, "PNG", **kw)
        put("png", name + ".png", buf.getvalue())
    for bits in (2, 4):
        buf = io.BytesIO()
        Image.fromarray(rgb[..., 0] >> (8 - bits), "L").save(buf, "PNG", bits=bits)
        put("png", f"gray{bits}.png", buf.getvalue())


def json_docs():
    put("json", "config.json", open(os.path.join(ROOT, "models/dit/configs/dit-tiny.json"), "rb").read())
    put("json", "nested.json", b'{"a": [1, 2.5e-3, {"b": null, "c": "\\u00e9"}], "d": true}')


def scheduler():
    cfg = open(os.path.join(ROOT, "models/dit/pipelines/dit-tiny/scheduler/scheduler_config.json"), "rb").read()
    flow = json.dumps({"num_train_timesteps": 1000, "shift": 3.0,
                       "use_dynamic_shifting": False}).encode()
    # Byte 0: the class (supportedSchedulers() order), byte 1: steps - 1.
    for i, body in enumerate([cfg, cfg, cfg, flow]):
        put("scheduler_config", "class%d.json" % i, bytes([i, 9]) + body)
    put("scheduler_config", "ddim-options.json", bytes([0, 4]) + json.dumps(
        {"beta_schedule": "scaled_linear", "timestep_spacing": "trailing",
         "prediction_type": "v_prediction", "set_alpha_to_one": False}).encode())
    put("scheduler_config", "dpm-karras.json", bytes([1, 6]) + json.dumps(
        {"use_karras_sigmas": True, "solver_order": 2,
         "algorithm_type": "dpmsolver++"}).encode())
    # Byte 1's top bit: a --scheduler-config KEY=VALUE line before the config.
    put("scheduler_config", "override-karras.json", bytes([1, 0x80 | 6]) + b"use_karras_sigmas=true\n" +
        json.dumps({"timestep_spacing": "leading", "_use_default_values": ["use_karras_sigmas"]}).encode())
    put("scheduler_config", "override-trailing.json", bytes([0, 0x80 | 4]) + b"timestep_spacing=trailing\n" + cfg)


def clip():
    vocab = {"h": 0, "i": 1, "hi</w>": 2, "a</w>": 3, "!</w>": 4,
             "<|startoftext|>": 5, "<|endoftext|>": 6, "!": 7}
    config = {"model_max_length": 8, "bos_token": "<|startoftext|>",
              "eos_token": {"content": "<|endoftext|>"},
              "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    put("clip_tokenizer", "tiny", SEP.join([
        json.dumps(vocab).encode(), b"#version: 0.2\nh i</w>\n",
        json.dumps(config).encode(), "hi a! Hi \u00e9 <|endoftext|>".encode()]))


def t5():
    words = ["a", "photo", "of", "cat", "dog", "night", "city", "caf\u00e9", "\u6771\u4eac", "42"]
    lines = [" ".join(words[(i * 7 + k * 3) % 10] for k in range(6)) for i in range(400)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="unigram",
        vocab_size=32, normalization_rule_name="identity", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    config = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
              "extra_ids": 2}
    put("t5_tokenizer", "tiny", SEP.join([
        model.getvalue(), json.dumps(config).encode(),
        "a photo of a cat at night, \u6771\u4eac <extra_id_0>".encode()]))


def store():
    def s(b):
        return struct.pack("<I", len(b)) + b
    put("store_request", "set-get", b"S" + s(b"rank0") + s(b"addr:1234") +
        b"G" + s(b"rank0") + b"H" + s(b"rank1") + b"G" + s(b"missing"))
    put("store_request", "has", b"H" + s(b"k"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="folder holding fresco-compile")
    args = ap.parse_args()
    plans(args.bin)
    safetensors()
    checkpoint()
    lora()
    npy()
    png()
    json_docs()
    scheduler()
    clip()
    t5()
    store()


if __name__ == "__main__":
    main()
