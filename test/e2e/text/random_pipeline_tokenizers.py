#!/usr/bin/env python3
"""fresco-random-checkpoint's FluxPipeline folders, read by transformers.

Writes a random pipeline from each Flux template (models/flux/pipelines/
flux-tiny and flux-tiny-schnell) with fresco-random-checkpoint, twice (the
same bytes), and requires:
  - the tokenizers it generates (tokenizer/: CLIP byte-level BPE learnt by the
    tool; tokenizer_2/: a SentencePiece model trained at run time) load in
    transformers' CLIPTokenizer and T5TokenizerFast (and the slow
    T5Tokenizer), with vocabularies that fit the text encoders' vocab_size;
  - fresco-tokenize (Fresco's runtime tokenizers) gives the ids transformers
    gives on a few dozen prompts, the call FluxPipeline makes;
  - the BPE learnt something: a plain English prompt takes fewer tokens than
    it has letters;
  - the text encoders' and the transformer's weights load into
    transformers' CLIPTextModel / T5EncoderModel and diffusers'
    FluxTransformer2DModel with no missing or unexpected tensor.

Usage: random_pipeline_tokenizers.py --tool build/bin/fresco-tokenize
           --random-checkpoint build/bin/fresco-random-checkpoint
Nothing is downloaded. Exits 1 on any failure.
"""

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.modules["ftfy"] = None  # the no-ftfy path, which Fresco replays

from transformers import (CLIPTextModel, CLIPTokenizer, T5EncoderModel,  # noqa: E402
                          T5Tokenizer, T5TokenizerFast)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

PROMPTS = [
    "",
    "a photo of a cat",
    "A Photo Of An Astronaut Riding A Horse On Mars, highly detailed, 8k",
    "a cozy cabin by a frozen lake, smoke rising from the chimney!!!",
    "words the text never had: xylophone quixotic zephyr jukebox",
    "numbers 0 1 42 2024 3.14 and punctuation (a) [b] {c} <d> 'e' \"f\"",
    "it's a dog's life; they're here, we'll see, I'd go",
    "<|startoftext|>specials inline<|endoftext|> and </s> <pad> <extra_id_0>",
    "   leading, trailing and   repeated   spaces\tand\ttabs\nnewlines   ",
    " ".join(["a long prompt about a red sports car"] * 20),
    "x" * 300,
]
UNICODE = ["café crème brûlée", "東京の夜景", "emoji 🐱 and ½ ² ﬁ", "ＦＵＬＬ"]


def tokenize(tool, kind, folder, prompts, max_length=None):
    cmd = [tool, "--kind", kind, "--tokenizer", folder]
    if max_length:
        cmd += ["--max-length", str(max_length)]
    res = subprocess.run(cmd, input="".join(json.dumps(p) + "\n" for p in prompts),
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return [[int(x) for x in line[4:].split(" length: ")[0].split()]
            for line in res.stdout.splitlines() if line.startswith("ids:")]


def check_pipeline(name, pipe, tool):
    failures = 0
    clip_config = json.load(open(os.path.join(pipe, "text_encoder", "config.json")))
    t5_config = json.load(open(os.path.join(pipe, "text_encoder_2", "config.json")))

    clip = CLIPTokenizer.from_pretrained(os.path.join(pipe, "tokenizer"), local_files_only=True)
    assert clip.fix_text is None, "the reference must take the no-ftfy path"
    if len(clip) != clip_config["vocab_size"]:
        failures += 1
        print(f"[{name}] CLIP tokenizer has {len(clip)} tokens, text_encoder vocab_size "
              f"{clip_config['vocab_size']}")
    words = "a photo of an astronaut riding a horse on mars"
    n = len(clip(words).input_ids) - 2
    if n >= len(words.replace(" ", "")) // 2:
        failures += 1
        print(f"[{name}] the learnt BPE splits {words!r} into {n} tokens: hardly merged")
    prompts = PROMPTS + UNICODE
    want = [clip(p, padding="max_length", max_length=clip.model_max_length, truncation=True).input_ids
            for p in prompts]
    got = tokenize(tool, "clip", os.path.join(pipe, "tokenizer"), prompts)
    if got != want:
        failures += 1
        for p, g, w in zip(prompts, got, want):
            if g != w:
                print(f"[{name}] CLIP MISMATCH for {p!r}\n  fresco: {g}\n  transformers: {w}")
    print(f"[{name}] CLIP: {len(clip)} tokens, {len(prompts)} prompts equal, {words!r} in {n} tokens")

    folder = os.path.join(pipe, "tokenizer_2")
    fast = T5TokenizerFast.from_pretrained(folder, local_files_only=True)
    slow = T5Tokenizer.from_pretrained(folder, local_files_only=True, legacy=True)
    if len(fast) > t5_config["vocab_size"] or len(slow) != len(fast):
        failures += 1
        print(f"[{name}] T5 tokenizers have {len(fast)} / {len(slow)} ids, text_encoder_2 vocab_size "
              f"{t5_config['vocab_size']}")
    prompts = PROMPTS + UNICODE
    for max_length in (fast.model_max_length, 16):
        kw = dict(padding="max_length", max_length=max_length, truncation=True)
        want = [fast(p, **kw).input_ids for p in prompts]
        if [slow(p, **kw).input_ids for p in prompts] != want:
            failures += 1
            print(f"[{name}] slow and fast T5 tokenizers disagree at max_length {max_length}")
        got = tokenize(tool, "t5", folder, prompts, max_length)
        if got != want:
            failures += 1
            for p, g, w in zip(prompts, got, want):
                if g != w:
                    print(f"[{name}] T5 MISMATCH (max_length {max_length}) for {p!r}\n  fresco: {g}\n"
                          f"  transformers: {w}")
    print(f"[{name}] T5: {len(fast)} ids (vocab_size {t5_config['vocab_size']}), {len(prompts)} prompts "
          f"equal at max_length {fast.model_max_length} and 16")

    for sub, cls in (("text_encoder", CLIPTextModel), ("text_encoder_2", T5EncoderModel)):
        _, info = cls.from_pretrained(os.path.join(pipe, sub), output_loading_info=True)
        bad = {k: v for k, v in info.items() if v}
        if bad:
            failures += 1
            print(f"[{name}] {sub}: transformers' {cls.__name__} reports {bad}")
    sys.path.insert(0, os.path.dirname(HERE))
    from fresco_ref_common import import_diffusers, install_sdpa_for_torch1
    install_sdpa_for_torch1()
    diffusers = import_diffusers()
    _, info = diffusers.FluxTransformer2DModel.from_pretrained(os.path.join(pipe, "transformer"),
                                                               output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        failures += 1
        print(f"[{name}] transformer: diffusers' FluxTransformer2DModel reports {bad}")
    print(f"[{name}] text_encoder, text_encoder_2 and transformer load with no missing or unexpected tensor")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="fresco-tokenize")
    ap.add_argument("--random-checkpoint", required=True, help="fresco-random-checkpoint")
    args = ap.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        for name in ("flux-tiny", "flux-tiny-schnell"):
            template = os.path.join(ROOT, "models", "flux", "pipelines", name)
            pipe, again = os.path.join(root, name), os.path.join(root, name + "-again")
            for out in (pipe, again):
                subprocess.run([args.random_checkpoint, template, "-o", out, "--seed", "3"], check=True,
                               capture_output=True)
            cmp = filecmp.dircmp(pipe, again)
            differ = []

            def walk(c, prefix=""):
                differ.extend(prefix + f for f in c.diff_files + c.left_only + c.right_only)
                for sub, sc in c.subdirs.items():
                    walk(sc, prefix + sub + "/")
            walk(cmp)
            # dircmp compares sizes and dates only; compare the bytes too.
            for folder, _, files in os.walk(pipe):
                for f in files:
                    a = os.path.join(folder, f)
                    b = os.path.join(again, os.path.relpath(a, pipe))
                    if os.path.exists(b) and not filecmp.cmp(a, b, shallow=False):
                        differ.append(os.path.relpath(a, pipe))
            if differ:
                failures += 1
                print(f"[{name}] two runs with the same seed differ in {sorted(set(differ))}")
            failures += check_pipeline(name, pipe, args.tool)
    if failures:
        print(f"random_pipeline_tokenizers: {failures} failure(s)")
        return 1
    print("random_pipeline_tokenizers: transformers reads the random Flux pipelines as Fresco does")
    return 0


if __name__ == "__main__":
    sys.exit(main())
