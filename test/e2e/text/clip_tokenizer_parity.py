#!/usr/bin/env python3
"""CLIP tokenizer parity: Fresco's ClipTokenizer against transformers'.

Builds tokenizer folders in diffusers' layout (vocab.json, merges.txt,
tokenizer_config.json, special_tokens_map.json, written by transformers'
CLIPTokenizer.save_pretrained) from CLIP's real BPE merges, which ship in
the open_clip_torch wheel (scripts/setup-venv.sh installs it, no deps), then
runs fresco-tokenize on a few hundred prompts and requires the same ids as
CLIPTokenizer(prompt, padding="max_length", max_length=model_max_length,
truncation=True), the call FluxPipeline makes.

Folders: CLIP's (pad <|endoftext|>, 77 tokens, as FLUX.1 and SD 1.x ship),
one padding with "!" (as SD 2.x ships: "!" is then an added token that
splits words), and one with model_max_length 16 (truncation everywhere).

Prompts with non-ASCII characters must be refused by Fresco (it supports
ASCII only); transformers' ftfy path is disabled so that the reference is
the path Fresco replays, whether or not ftfy is installed.

Usage: clip_tokenizer_parity.py --tool build/bin/fresco-tokenize [-v]
Nothing is downloaded. Exits 1 on any mismatch.
"""

import argparse
import gzip
import importlib.metadata as md
import json
import os
import random
import subprocess
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# CLIPTokenizer cleans with ftfy.fix_text when ftfy imports, with
# BasicTokenizer otherwise; Fresco replays the latter.
sys.modules["ftfy"] = None

from transformers import CLIPTokenizer  # noqa: E402
from transformers.models.clip.tokenization_clip import bytes_to_unicode  # noqa: E402


def clip_merges_path():
    try:
        files = md.files("open_clip_torch") or []
    except md.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == "bpe_simple_vocab_16e6.txt.gz":
            return f.locate()
    sys.exit("clip_tokenizer_parity: open_clip_torch (its BPE vocabulary) is not "
             "installed; run scripts/setup-venv.sh")


def make_folder(root, name, merges, **kwargs):
    """vocab.json + merges.txt as CLIP builds them, saved by transformers."""
    src = os.path.join(root, name + "-src")
    os.makedirs(src)
    # CLIP's vocabulary: bytes, bytes + </w>, one token per merge, specials.
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(src, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(src, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(os.path.join(src, "vocab.json"),
                        os.path.join(src, "merges.txt"), **kwargs)
    out = os.path.join(root, name)
    tok.save_pretrained(out)
    return out


WORDS = ("a photo of an astronaut riding horse on mars cat dog the quick brown "
         "fox jumps over lazy highly detailed 4k 8k trending artstation "
         "portrait oil painting by greg rutkowski cyberpunk city at night "
         "neon lights hyperrealistic octane render unreal engine "
         "photorealistic bokeh supercalifragilisticexpialidocious xyzzy qwv "
         "HELLO World McDonald's iPhone15 GPT-4o").split()
PIECES = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "''", "'",
          "!", "?", ",", ".", "...", "--", "(", ")", "[", "]", "{", "}", "<", ">",
          "|", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "_", "=", "+", "~",
          "`", ";", ":", "\"", "0", "1", "42", "2024", "3.14", "1,000,000",
          "<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "<|endoftext",
          " ", "  ", "\t", "\n", "\r\n", "\x00", "\x01", "\x0b", "\x0c", "\x1f",
          "\x7f"]

FIXED = [
    "",
    " ",
    "   \t\n  ",
    "a photo of a cat",
    "A Photo Of A CAT",
    "A PHOTO OF AN ASTRONAUT RIDING A HORSE ON MARS",
    "a photo of an astronaut riding a horse on mars",
    "Hello, world! How's it going? I'm fine; you're great, we've won, they'll "
    "see, he'd go. Don't can't won't.",
    "it's it'S IT'S rock'n'roll o'clock y'all 'tis",
    "numbers: 0 1 12 123 1234 3.14159 1e10 -5 +7 100% $9.99 #1",
    "repeated     spaces   and\ttabs\nand\nnewlines\r\nend   ",
    "   leading and trailing   ",
    "punctuation!!! ??? ... --- ((nested)) [[brackets]] {{braces}} <<angle>>",
    "emoticons :) :-( ;-) <3 :P xD",
    "email me at someone@example.com or visit https://example.org/path?q=1&r=2",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "a<|endoftext|>b",
    "x!<|endoftext|>y",
    "<|startoftext|>a photo<|endoftext|>",
    "<|STARTOFTEXT|>shouting specials<|EndOfText|>",
    "<|endoftext|><|endoftext|>",
    "control\x00chars\x01in\x07the\x1bmiddle\x7fhere",
    "vertical\x0btab and form\x0cfeed",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "qxzj vbnm wrtp zzzzzzzzzzzzzzzzzzzzzzzz",
    "a! b? c. d, e; f: g' h\" i` j~",
    "'",
    "''",
    "'s",
    "!",
    "(masterpiece:1.2), best quality, 8k, ultra-detailed, (photorealistic:1.4)",
    " ".join(["word"] * 80),
    " ".join(["a photo of a cat"] * 30),
    "x" * 500,
    "1234567890" * 20,
    "!" * 100,
    "A cinematic shot of a baby racoon wearing an intricate italian priest "
    "robe, standing in front of a gothic cathedral at sunset, volumetric "
    "lighting, highly detailed, sharp focus, 35mm film grain, award winning "
    "photograph, trending on artstation, by annie leibovitz and greg "
    "rutkowski, octane render, unreal engine 5, ray tracing, 8k uhd",
]

NON_ASCII = ["café au lait", "naïve résumé", "東京タワー", "emoji 🐱 cat",
             "non\u00a0breaking", "smart “quotes”", "ß"]


def random_prompts(rng, count):
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 70)):
            r = rng.random()
            if r < 0.55:
                w = rng.choice(WORDS)
                parts.append(w.upper() if rng.random() < 0.1 else w)
            elif r < 0.9:
                parts.append(rng.choice(PIECES))
            else:
                parts.append("".join(chr(rng.randint(0, 127))
                                     for _ in range(rng.randint(1, 6))))
            parts.append(rng.choice([" ", " ", " ", "", "  "]))
        out.append("".join(parts))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--random", type=int, default=300)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    with gzip.open(clip_merges_path()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]

    prompts = FIXED + random_prompts(random.Random(0), args.random)
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        folders = [
            ("clip", make_folder(root, "clip", merges, model_max_length=77)),
            ("pad-bang", make_folder(root, "pad-bang", merges, pad_token="!",
                                     model_max_length=77)),
            ("max16", make_folder(root, "max16", merges, model_max_length=16)),
        ]
        for name, folder in folders:
            ref = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
            assert ref.fix_text is None, "the reference must take the no-ftfy path"
            stdin = "".join(json.dumps(p) + "\n" for p in prompts + NON_ASCII)
            res = subprocess.run([args.tool, "--tokenizer", folder], input=stdin,
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"[{name}] fresco-tokenize failed ({res.returncode}): "
                      f"{res.stderr.strip()}")
                failures += 1
                continue
            got = res.stdout.splitlines()
            if len(got) != len(prompts) + len(NON_ASCII):
                print(f"[{name}] expected {len(prompts) + len(NON_ASCII)} lines, "
                      f"got {len(got)}")
                failures += 1
                continue
            truncated = 0
            for prompt, line in zip(prompts, got):
                want = ref(prompt, padding="max_length",
                           max_length=ref.model_max_length,
                           truncation=True).input_ids
                truncated += len(ref(prompt).input_ids) > ref.model_max_length
                have = ([int(x) for x in line.split()[1:]]
                        if line.startswith("ids:") else line)
                if have != want:
                    failures += 1
                    print(f"[{name}] MISMATCH for {prompt!r}\n  fresco: {have}\n"
                          f"  transformers: {want}")
                elif args.verbose:
                    print(f"[{name}] ok {prompt!r}")
            for prompt, line in zip(NON_ASCII, got[len(prompts):]):
                if not (line.startswith("error:") and "not ASCII" in line):
                    failures += 1
                    print(f"[{name}] non-ASCII prompt {prompt!r} not refused: {line}")
            print(f"[{name}] {len(prompts)} prompts ({truncated} truncated, "
                  f"max_length {ref.model_max_length}, pad id {ref.pad_token_id}), "
                  f"{len(NON_ASCII)} non-ASCII refused")
    if failures:
        print(f"clip_tokenizer_parity: {failures} failure(s)")
        return 1
    print("clip_tokenizer_parity: all ids equal transformers' CLIPTokenizer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
