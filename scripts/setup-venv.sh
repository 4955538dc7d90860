#!/usr/bin/env bash
# Creates <repo>/.venv for the Python reference tests: Debian's CPU PyTorch (python3-torch, seen
# through --system-site-packages) plus pinned diffusers. diffusers 0.31.0 is the newest release
# that runs on Debian's torch 1.13; accelerate is what lets it load sharded checkpoints.
# transformers is the CLIP and T5 tokenizer reference (sentencepiece trains the T5 test model and,
# with protobuf, lets transformers build T5TokenizerFast from it); open_clip_torch is installed
# without its dependencies (torch, timm, ftfy...) only for the CLIP BPE vocabulary its wheel ships;
# peft is what diffusers' load_lora_weights needs (0.11.1: later versions load with
# load_state_dict(assign=True), which torch 1.13 lacks; its dependencies come with accelerate).
# Safe to rerun: it installs only what is missing or at another version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
SYS_PY=/usr/bin/python3
PINS=(diffusers==0.31.0 huggingface_hub==0.25.2 safetensors==0.8.0 accelerate==1.0.1
      transformers==4.46.3 sentencepiece==0.2.0 protobuf==5.28.3)
NODEPS_PINS=(open_clip_torch==3.3.0 peft==0.11.1)

if ! "$SYS_PY" -c "import torch" 2>/dev/null; then
  echo "setup-venv: $SYS_PY cannot import torch (Debian's python3-torch); run scripts/install-deps.sh" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup-venv: creating $VENV (--system-site-packages from $SYS_PY)"
  "$SYS_PY" -m venv --system-site-packages "$VENV"
fi

# Installed means: every pin is at its version and the DiT class imports (with torch).
if "$VENV/bin/python" - "${PINS[@]}" "${NODEPS_PINS[@]}" 2>/dev/null <<'PY'
import importlib.metadata as md
import sys
import accelerate  # noqa: F401
from diffusers import DiTTransformer2DModel  # noqa: F401
from transformers import CLIPTokenizer  # noqa: F401
import sentencepiece  # noqa: F401

sys.exit(any(md.version(name) != ver for name, ver in (p.split("==") for p in sys.argv[1:])))
PY
then
  echo "setup-venv: $VENV is ready (${PINS[*]} ${NODEPS_PINS[*]})"
  exit 0
fi

echo "setup-venv: installing ${PINS[*]} into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${NODEPS_PINS[@]}"
"$VENV/bin/python" -c "import diffusers, torch
print('setup-venv: ready: torch', torch.__version__, 'diffusers', diffusers.__version__)"
