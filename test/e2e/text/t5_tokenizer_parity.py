#!/usr/bin/env python3
"""T5 tokenizer parity: Fresco's T5Tokenizer against transformers'.

Trains a small SentencePiece unigram model (T5's layout: pad 0, eos 1, unk 2,
no bos; nmt_nfkc normalization) on generated multilingual text, builds
tokenizer_2 folders from it with transformers, then runs fresco-tokenize
--kind t5 on a few hundred prompts and requires the ids and the attention
mask that FluxPipeline gets from T5TokenizerFast(prompt,
padding="max_length", max_length=max_sequence_length, truncation=True).
The slow T5Tokenizer must agree too (both tokenize with SentencePiece's
model; a disagreement would make the reference ambiguous).

Folders: "full" (T5TokenizerFast.save_pretrained: spiece.model,
tokenizer.json, tokenizer_config.json with added_tokens_decoder,
special_tokens_map.json, as FLUX.1 ships tokenizer_2) and "bare" (spiece.model
alone: transformers converts it and adds 100 <extra_id_N>). Lengths: 512
(dev), 256 (schnell) and 16 (truncation everywhere). Truncated prompts must
print a warning naming both lengths.

Bad folders (no spiece.model, a corrupt or truncated one) must fail with a
message naming the file.

Usage: t5_tokenizer_parity.py --tool build/bin/fresco-tokenize [-v]
Nothing is downloaded. Exits 1 on any mismatch.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import warnings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# The slow T5Tokenizer warns on prompts ending in </s>; the test counts them.
warnings.filterwarnings("ignore", message="This sequence already has")

try:
    import google.protobuf  # noqa: E402,F401  (T5TokenizerFast's conversion)
    import sentencepiece as spm  # noqa: E402
except ImportError as e:
    sys.exit(f"t5_tokenizer_parity: {e.name} is not installed; run scripts/setup-venv.sh")
from transformers import T5Tokenizer, T5TokenizerFast  # noqa: E402

ASCII_WORDS = ("a photo of an astronaut riding horse on mars cat dog the quick "
               "brown fox jumps over lazy highly detailed 4k 8k portrait oil "
               "painting cyberpunk city at night neon lights hyperrealistic "
               "render bokeh Hello World McDonald's iPhone15 GPT-4o").split()
UNICODE_WORDS = ("café crème brûlée naïve résumé Ünïcödé straße Ærøskøbing "
                 "東京 の 夜景 桜 富士山 カメラ 한국어 서울 Москва ночь "
                 "Αθήνα φως العربية שלום हिन्दी ☕ 🐱 🚀 ½ ² ™ ﬁ Ⅻ ＡＢＣ １２３ "
                 "e\u0301 n\u0303").split()
PIECES = ["!", "?", ",", ".", "...", "--", "(", ")", "[", "]", "{", "}", "<", ">",
          "|", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "_", "=", "+", "~",
          "`", ";", ":", "\"", "'", "0", "7", "42", "2024", "3.14", "1,000,000",
          "</s>", "<pad>", "<unk>", "<extra_id_0>", "<extra_id_10>",
          "<extra_id_99>", "<extra_id_1", "</S>", "<s>",
          " ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b",
          "\x00", "\x0b", "\x7f"]

FIXED = [
    "",
    " ",
    "   \t\n  ",
    "a photo of a cat",
    "A PHOTO OF AN ASTRONAUT RIDING A HORSE ON MARS",
    "   leading and trailing   ",
    "repeated     spaces   and\ttabs\nand\nnewlines\r\nend   ",
    "numbers: 0 1 12 123 1234 3.14159 1e10 -5 +7 100% $9.99 #1 ２０２４",
    "punctuation!!! ??? ... --- ((nested)) [[brackets]] {{braces}} <<angle>>",
    "café crème brûlée, naïve résumé",
    "cafe\u0301 vs caf\u00e9",
    "東京の夜景、富士山と桜。",
    "emoji 🐱🚀☕ and symbols ½ ² ™ ﬁ Ⅻ",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３",
    "zero\u200bwidth and non\u00a0breaking and ideographic\u3000space",
    "control\x00chars\x01in\x07the\x1bmiddle\x7fhere",
    "a</s>b",
    "a </s> b",
    "</s></s>",
    "<pad>x<unk>y",
    "x<extra_id_0>y <extra_id_10> z<extra_id_99>",
    "<extra_id_1 unclosed and <EXTRA_ID_0> upper",
    "</S> is not special, <s> is not a token",
    "qxzj vbnm wrtp zzzzzzzzzzzzzzzzzzzzzzzz",
    " ".join(["word"] * 300),
    " ".join(["a photo of a cat"] * 200),
    "x" * 2000,
    "1234567890" * 100,
    "東京" * 400,
    "!" * 700,
]


def random_prompts(rng, count):
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.choice([rng.randint(0, 40), rng.randint(0, 400)])):
            r = rng.random()
            if r < 0.45:
                w = rng.choice(ASCII_WORDS)
                parts.append(w.upper() if rng.random() < 0.1 else w)
            elif r < 0.65:
                parts.append(rng.choice(UNICODE_WORDS))
            elif r < 0.93:
                parts.append(rng.choice(PIECES))
            else:
                # Any code point but surrogates, which JSON cannot carry.
                cps = [rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff),
                                   rng.randint(0xe000, 0x10ffff)])
                       for _ in range(rng.randint(1, 4))]
                parts.append("".join(map(chr, cps)))
            parts.append(rng.choice([" ", " ", " ", "", "  "]))
        out.append("".join(parts))
    return out


def train_model(root):
    """A T5-layout unigram model trained on generated text, written to
    root/spiece.model. The same bytes on every run: the corpus is fixed, it
    is fed from memory (a file's path would be recorded in the model) and
    trained on one thread (the result depends on the thread count)."""
    rng = random.Random(1)
    syllables = ["ka", "ro", "mi", "ten", "sha", "lo", "qu", "ex", "ph", "ing",
                 "tion", "st", "ar", "el", "on", "zu", "er", "an", "de", "ly"]
    words = ASCII_WORDS + UNICODE_WORDS + [
        "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
        for _ in range(600)]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 15)))
             + rng.choice(["", ".", ",", "!", " 42", " 1999"])
             for _ in range(4000)]
    path = os.path.join(root, "spiece.model")
    # character_coverage < 1 leaves rare characters unknown (<unk>).
    with open(path, "wb") as model:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, vocab_size=500,
            model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            character_coverage=0.995, num_threads=1, minloglevel=2)
    return path


def run_tool(tool, folder, max_length, prompts):
    stdin = "".join(json.dumps(p) + "\n" for p in prompts)
    return subprocess.run([tool, "--kind", "t5", "--tokenizer", folder,
                           "--max-length", str(max_length)],
                          input=stdin, capture_output=True, text=True)


def normalizers_differ(fast, sp, prompt):
    """Whether tokenizers' Precompiled normalizer and SentencePiece's disagree.

    tokenizers 0.20 applies the charsmap per grapheme cluster and keeps only
    the normalization of the cluster's longest mapped prefix, so a character
    it remaps followed by a combining mark ("½" + U+0AC8) loses the mark;
    SentencePiece (and so the slow T5Tokenizer and Fresco) keeps it.
    """
    normalizer = fast.backend_tokenizer.normalizer
    pieces = [p for p in prompt.split("</s>")]
    return any(normalizer.normalize_str(p).replace(" ", "") !=
               sp.normalize(p).replace("\u2581", "").replace(" ", "")
               for p in pieces)


def reference(fast, slow, sp, prompt, max_length):
    """FluxPipeline's ids (T5TokenizerFast), or SentencePiece's where the fast
    normalizer is known to diverge; returns (encoding, full length, kind).
    The kind is decided on the untruncated ids, so that a divergence past
    the truncation still picks the right full length."""
    kw = dict(padding="max_length", max_length=max_length, truncation=True)
    fast_full = fast(prompt).input_ids
    slow_full = slow(prompt).input_ids
    if slow_full == fast_full:
        return fast(prompt, **kw), len(fast_full), "agree"
    # The slow tokenizer adds no </s> after one the prompt ends with.
    if fast_full[-2:] == [fast.eos_token_id] * 2 and slow_full == fast_full[:-1]:
        return fast(prompt, **kw), len(fast_full), "eos"
    if normalizers_differ(fast, sp, prompt):
        return slow(prompt, **kw), len(slow_full), "normalizer"
    return fast(prompt, **kw), len(fast_full), "disagree"


def check_folder(name, folder, tool, prompts, max_length, sp, verbose):
    """Ids, mask and warnings of one folder at one max_length."""
    fast = T5TokenizerFast.from_pretrained(folder, local_files_only=True)
    slow = T5Tokenizer.from_pretrained(folder, local_files_only=True, legacy=True)
    tag = f"[{name} max_length {max_length}]"
    res = run_tool(tool, folder, max_length, prompts)
    if res.returncode != 0:
        print(f"{tag} fresco-tokenize failed ({res.returncode}): {res.stderr.strip()}")
        return 1
    lines = res.stdout.splitlines()
    failures = truncated = 0
    kinds = {"agree": 0, "eos": 0, "normalizer": 0, "disagree": 0}
    i = 0
    for n, prompt in enumerate(prompts):
        want, full, kind = reference(fast, slow, sp, prompt, max_length)
        kinds[kind] += 1
        if kind == "disagree" or (kind == "normalizer" and n < len(FIXED)):
            failures += 1
            print(f"{tag} slow and fast transformers tokenizers disagree on "
                  f"{prompt!r} ({kind})")
        warning = None
        if i < len(lines) and lines[i].startswith("warning:"):
            warning = lines[i]
            i += 1
        line = lines[i] if i < len(lines) else "<missing>"
        i += 1
        if not line.startswith("ids:") or " length: " not in line:
            failures += 1
            print(f"{tag} no ids for {prompt!r}: {line}")
            continue
        ids_text, length_text = line[len("ids:"):].split(" length: ")
        ids = [int(x) for x in ids_text.split()]
        length = int(length_text)
        mask = [1] * length + [0] * (max_length - length)
        if ids != want.input_ids or mask != want.attention_mask:
            failures += 1
            print(f"{tag} MISMATCH for {prompt!r}\n  fresco: {ids} length {length}\n"
                  f"  transformers: {want.input_ids}\n  mask: {want.attention_mask}")
            continue
        if full > max_length:
            truncated += 1
            if (warning is None or f" {full} tokens" not in warning
                    or f"max_sequence_length is {max_length}" not in warning):
                failures += 1
                print(f"{tag} truncated prompt ({full} > {max_length} tokens) "
                      f"without a warning naming both lengths: {warning}")
        elif warning is not None:
            failures += 1
            print(f"{tag} warning for a prompt that fits: {warning}")
        if verbose:
            print(f"{tag} ok ({kind}) {prompt!r}")
    if i != len(lines):
        failures += 1
        print(f"{tag} {len(lines) - i} extra output lines")
    # The known divergence must stay rare, or the prompts test little else.
    if kinds["normalizer"] > len(prompts) // 20:
        failures += 1
        print(f"{tag} {kinds['normalizer']} prompts hit the normalizer divergence")
    print(f"{tag} {len(prompts)} prompts ({truncated} truncated; slow and fast "
          f"agree on {kinds['agree']}, the slow one drops a doubled </s> on "
          f"{kinds['eos']}, fast's normalizer drops combining marks on "
          f"{kinds['normalizer']}); pad id {fast.pad_token_id}, eos id "
          f"{fast.eos_token_id}, vocab {len(fast)}")
    return failures


def check_bad_folders(tool, root, model):
    """Missing and corrupt spiece.model: exit 1 naming the file."""
    failures = 0
    with open(model, "rb") as f:
        proto = f.read()
    cases = {"missing": None, "garbage": b"this is not a protobuf\xff\xfe" * 10,
             "truncated": proto[:len(proto) // 3], "empty": b""}
    for name, content in cases.items():
        folder = os.path.join(root, "bad-" + name)
        os.makedirs(folder)
        if content is not None:
            with open(os.path.join(folder, "spiece.model"), "wb") as f:
                f.write(content)
        res = run_tool(tool, folder, 16, ["a photo"])
        if res.returncode != 1 or "spiece.model" not in res.stderr:
            failures += 1
            print(f"[bad {name}] expected exit 1 naming spiece.model, got "
                  f"{res.returncode}: {res.stderr.strip()} {res.stdout.strip()}")
        else:
            print(f"[bad {name}] refused: {res.stderr.strip()}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--random", type=int, default=300)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    prompts = FIXED + random_prompts(random.Random(0), args.random)
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        model = train_model(root)
        sp = spm.SentencePieceProcessor(model_file=model)
        full = os.path.join(root, "full")
        T5TokenizerFast(vocab_file=model, model_max_length=512).save_pretrained(full)
        assert os.path.exists(os.path.join(full, "tokenizer.json"))
        bare = os.path.join(root, "bare")
        os.makedirs(bare)
        shutil.copy(model, os.path.join(bare, "spiece.model"))
        for name, folder, lengths in [("full", full, [512, 256, 16]),
                                      ("bare", bare, [77])]:
            for max_length in lengths:
                failures += check_folder(name, folder, args.tool, prompts,
                                         max_length, sp, args.verbose)
        failures += check_bad_folders(args.tool, root, model)
    if failures:
        print(f"t5_tokenizer_parity: {failures} failure(s)")
        return 1
    print("t5_tokenizer_parity: all ids and masks equal transformers' T5TokenizerFast")
    return 0


if __name__ == "__main__":
    sys.exit(main())
