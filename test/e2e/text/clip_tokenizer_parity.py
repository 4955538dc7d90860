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

Unicode prompts (accents and combining marks that NFC composes, Greek's
final sigma, Turkish dotted I, ideographs split one per word, kana, hangul,
emoji with joiners and skin tones, full-width forms, Unicode digits and
spaces, format, private-use and unassigned characters that the cleaning
drops, "'\\u017f" that the pattern matches as 's under IGNORECASE, U+0345
that it matches nowhere) are compared alike; transformers' ftfy path is
disabled so that the reference is the path Fresco replays, whether or not
ftfy is installed. Random code points are drawn among those assigned in
Python's Unicode version or in none up to Fresco's (ICU's 15.0): a
character new in between is kept by Fresco and dropped as unassigned by
Python 3.11 (14.0). A prompt that is not UTF-8 must be refused naming the
byte offset.

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
import unicodedata

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

UNICODE_WORDS = ("café crème brûlée naïve résumé Ünïcödé STRASSE straße ẞ "
                 "Ærøskøbing ΟΔΟΣ Αθήνα ΣΊΣΥΦΟΣ İstanbul ıi Ǆemal ǅ "
                 "東京 の 夜景 桜 富士山 カメラ ｶﾒﾗ 한국어 서울 Москва НОЧЬ "
                 "العربية שלום हिन्दी ☕ 🐱 🚀 👩\u200d👩\u200d👧 👍🏽 🇫🇷 ½ ² ™ "
                 "ﬁ ﬅ Ⅻ ⅻ ＡＢＣ １２３ ٣٤ ४२ e\u0301 n\u0303 A\u030a \u212b "
                 "\u212a Ꭰ ა Ა \u017fs '\u017f").split()
UNICODE_PIECES = ["\u00a0", "\u3000", "\u2009", "\u2028", "\u2029", "\u0085",
                  "\u200b", "\u200d", "\u00ad", "\ufeff", "\ue000",
                  "\U000f0000", "\u0378", "\ufdd0", "\U0010ffff", "\ufffd",
                  "\u0301", "\u0308", "\u3002", "\u300c", "\u2014", "\u201c",
                  "\u2019s", "\u2019", "'\u017f", "'\u212a", "\u0345"]

UNICODE_FIXED = [
    "café au lait, naïve résumé",
    "cafe\u0301 vs caf\u00e9 vs CAFE\u0301",
    "ΟΔΥΣΣΕΥΣ ΟΔΟΣ. ΣΑΣ ΣΣ Σ σ ς ΑΣ' ΑΣ\u0301 Α\u0301Σ",
    "İSTANBUL İi Iı DİYARBAKIR",
    "STRASSE STRAẞE Straße",
    "東京タワーの夜景、富士山と桜。中文分词测试",
    "한국어 텍스트 \u1112\u1161\u11ab\u1100\u116e\u11a8",
    "emoji 🐱 cat 🚀 rocket 👩\u200d👩\u200d👧 family 👍🏽 🇫🇷",
    "non\u00a0breaking thin\u2009space ideographic\u3000space "
    "line\u2028separator para\u2029graph next\u0085line",
    "zero\u200bwidth join\u200dner soft\u00adhyphen bom\ufeffhere",
    "private\ue000use \U000f0000 unassigned\u0378 nonchar\ufdd0 "
    "max\U0010ffff replacement\ufffd",
    "smart \u201cquotes\u201d and it\u2019s \u2014 dashes",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３ ｶﾀｶﾅ",
    "digits ٠١٢٣ ४२ ² ½ Ⅻ ⅻ ①",
    "it'\u017f 'ſ 'S '\u212a <|\u017ftartoftext|> <|endoftext|>",
    "\u0301leading combining mark",
    "ypogegrammeni a\u0345b !\u0345! \u1fb3 \u1fbc '\u0345s \u0345",
    "Ǆ ǅ ǆ ǈ Ꭰ ꭰ Ა ა \u212a \u212b",
    "x" * 40 + "é" * 40 + "東" * 40,
    "🐱" * 100,
]

# Not UTF-8: each must be refused naming its byte offset.
INVALID_UTF8 = [b"ab\xffcd", b"caf\xc3", b"\xed\xa0\x80 surrogate",
                b"\xc0\xaf overlong"]


def assigned_in_both(cp):
    """Python's category of cp, or None where Python (14.0) and ICU (15.0)
    may disagree on whether it is assigned."""
    cat = unicodedata.category(chr(cp))
    if cat == "Cn" and cp not in (0x0378, 0xFDD0, 0x10FFFF):
        return None
    return cat


def random_prompts(rng, count):
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 70)):
            r = rng.random()
            if r < 0.55:
                w = rng.choice(WORDS)
                parts.append(w.upper() if rng.random() < 0.1 else w)
            elif r < 0.85:
                parts.append(rng.choice(PIECES))
            elif r < 0.95:
                parts.append(rng.choice(UNICODE_WORDS + UNICODE_PIECES))
            else:
                cps, want = [], rng.randint(1, 6)
                while len(cps) < want:
                    cp = rng.choice([rng.randint(0, 127), rng.randint(0xa0, 0x2fff),
                                     rng.randint(0x3000, 0xffff),
                                     rng.randint(0x10000, 0x10ffff)])
                    if not 0xD800 <= cp <= 0xDFFF and assigned_in_both(cp):
                        cps.append(cp)
                parts.append("".join(map(chr, cps)))
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

    prompts = FIXED + UNICODE_FIXED + random_prompts(random.Random(0), args.random)
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
            stdin = "".join(json.dumps(p) + "\n" for p in prompts)
            stdin += "".join('{"bytes": "%s"}\n' % b.hex() for b in INVALID_UTF8)
            res = subprocess.run([args.tool, "--tokenizer", folder], input=stdin,
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"[{name}] fresco-tokenize failed ({res.returncode}): "
                      f"{res.stderr.strip()}")
                failures += 1
                continue
            got = res.stdout.splitlines()
            if len(got) != len(prompts) + len(INVALID_UTF8):
                print(f"[{name}] expected {len(prompts) + len(INVALID_UTF8)} lines, "
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
            for prompt, line in zip(INVALID_UTF8, got[len(prompts):]):
                # The offset of the first byte Python's strict decoder rejects.
                try:
                    prompt.decode("utf-8")
                    offset = None
                except UnicodeDecodeError as e:
                    offset = e.start
                if not (line.startswith("error:") and "not valid UTF-8" in line
                        and f"offset {offset})" in line):
                    failures += 1
                    print(f"[{name}] invalid UTF-8 {prompt!r} not refused at "
                          f"offset {offset}: {line}")
            unicode = sum(any(ord(c) > 127 for c in p) for p in prompts)
            print(f"[{name}] {len(prompts)} prompts ({unicode} with non-ASCII "
                  f"characters, {truncated} truncated, max_length "
                  f"{ref.model_max_length}, pad id {ref.pad_token_id}), "
                  f"{len(INVALID_UTF8)} invalid UTF-8 refused")
    if failures:
        print(f"clip_tokenizer_parity: {failures} failure(s)")
        return 1
    print("clip_tokenizer_parity: all ids equal transformers' CLIPTokenizer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
