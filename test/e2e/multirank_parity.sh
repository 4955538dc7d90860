#!/usr/bin/env bash
# multirank_parity.sh: the parallel strategies on real CPU ranks (separate
# processes, Gloo over TCP on loopback) against the 1-rank run of the same
# tiny pipeline: 4 DDIM steps with guidance, final latents within 1e-5 of
# their max magnitude and PNGs of the same size; through the host-staged
# collectives of a device backend (--backend cpu-staged), the same bits. Also checks, per rank, that
# the weight bytes fresco-inspect reports are what the runtime loaded, that
# tensor parallelism loads ~1/P of the shardable weights, and that the
# communication per step is the Megatron / CFG / Ulysses formula.
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN

"$B/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny-4heads" \
  -o "$work/pipe" 2> /dev/null
"$FRESCO_PYTHON" "$here/dit_pipeline_reference.py" --pipeline "$work/pipe" \
  --make-latents "$work/x0.npy" --batch 2 --seed 4 > /dev/null
run() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch "${BATCH:-2}" \
    --ranks "$ranks" "$@" --quiet
  "$B/fresco-inspect" "$work/$name.fplan" --json > "$work/$name.json"
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" \
    --class-label 3,7 --steps 4 --latents "@$work/x0.npy" \
    -o "$work/$name.png" --output-latents "@$work/$name.npy" --stats \
    --timeout 60 2> "$work/$name.log"
  echo "== $name: $(grep -c 'fresco-run: load' "$work/$name.log") rank(s) reported"
}
run one 1
run cfg2 2 --parallel cfg=2
run tp2 2 --parallel tp=2
run tp4 4 --parallel tp=4
run cfg2tp2 4 --parallel cfg=2,tp=2
run placed 2 --place transformer=1,vae=0
run cfg2tp4 8 --parallel cfg=2,tp=4
# adaLN and embedder linears split too (gathered along the feature axis).
run tp2split 2 --parallel tp=2 --tp-split-min-bytes 0
# Ulysses: image rows (tokens) split, all_to_all around every attention.
run uly2 2 --parallel ulysses=2
run cfg2uly2 4 --parallel cfg=2,ulysses=2
run tp2uly2 4 --parallel tp=2,ulysses=2
# Ring attention: tokens split as for Ulysses, key/value blocks passed
# around the ring inside every attention.
run ring2 2 --parallel ring=2
run ring4 4 --parallel ring=4
run cfg2ring2 4 --parallel cfg=2,ring=2
run tp2ring2 4 --parallel tp=2,ring=2
# Both (USP): Ulysses over heads, ring over what Ulysses leaves of the tokens.
run uly2ring2 4 --parallel ulysses=2,ring=2
# Megatron's sequence parallelism: tp's partial sums reduce-scattered over
# the tokens, the ops between the blocks on half (a quarter) of them.
run tp2rs 2 --parallel tp=2 --tp-reduce-scatter
run tp4rs 4 --parallel tp=4 --tp-reduce-scatter
run cfg2tp2rs 4 --parallel cfg=2,tp=2 --tp-reduce-scatter
run tp2uly2rs 4 --parallel tp=2,ulysses=2 --tp-reduce-scatter
run tp2ring2rs 4 --parallel tp=2,ring=2 --tp-reduce-scatter
# Layer sharding: the transformer's blocks cut into stages.
run pipe2 2 --parallel pipeline=2
run cfg2pipe2 4 --parallel cfg=2,pipeline=2
run tp2pipe2 4 --parallel tp=2,pipeline=2
run tp2pipe2rs 4 --parallel tp=2,pipeline=2 --tp-reduce-scatter
# tp's row-parallel linears in chunks (a sample each; with 4, half a
# sample's tokens each), the ops after their sums per chunk, every chunk's
# all_reduce started asynchronously.
run tp2ch2 2 --parallel tp=2 --tp-chunks 2
run cfg2tp2ch4 4 --parallel cfg=2,tp=2 --tp-chunks 4
run tp2pipe2ch2 4 --parallel tp=2,pipeline=2 --tp-chunks 2
run ring2pipe2 4 --parallel ring=2,pipeline=2
# Four stages: values go from one stage to several later ones (0 -> 1 and
# 0 -> 2, 1 -> 3, ...), middle stages both receive and send; and stages on
# placed ranks, the VAE on a rank of its own.
run pipe4 4 --parallel pipeline=4
# Six stages of a model whose class-embedding tables each hold more than
# 1/6 of the bytes: cut so that every stage still has weights.
run pipe6 6 --parallel pipeline=6
run placedpipe2 3 --place vae=0,transformer=1+2 --parallel pipeline=2
# Micro-batches: the batch (2 images x 2 guidance halves) cut into parts
# that every stage runs in turn, so the stages overlap; exact.
run pipe2mb2 2 --parallel pipeline=2 --microbatches 2
run pipe2mb4 2 --parallel pipeline=2 --microbatches 4
run pipe4mb4 4 --parallel pipeline=4 --microbatches 4
run cfg2pipe2mb2 4 --parallel cfg=2,pipeline=2 --microbatches 2
run tp2pipe2mb2 4 --parallel tp=2,pipeline=2 --microbatches 2
run uly2pipe2mb2 4 --parallel pipeline=2,ulysses=2 --microbatches 2
run placedpipe2mb2 3 --place vae=0,transformer=1+2 --parallel pipeline=2 \
  --microbatches 2
# Plans compiled for more images than the run asks for: the batch is
# padded (the CFG halves stay where cfg splits them, the decoder rank
# receives the images asked for).
BATCH=3 run cfg2pad3 2 --parallel cfg=2
BATCH=4 run cfg2tp2pad4 4 --parallel cfg=2,tp=2
BATCH=3 run placedpad3 2 --place transformer=1,vae=0
BATCH=3 run ring2pipe2pad3 4 --parallel ring=2,pipeline=2
# The device-memory path (weights copied in, all_reduce and all_gather
# staged through host buffers, as on a GPU) must give the very same bits.
# replays LOG: the "N replayed" of every rank's --stats line, one a line.
replays() { sed -n 's/.*, \([0-9]*\) replayed$/\1/p' "$1"; }
for name in tp2split cfg2tp2 cfg2uly2 cfg2ring2 tp2pipe2 cfg2pipe2mb2 cfg2tp2rs \
  cfg2tp2ch4; do
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" --backend cpu-staged \
    --class-label 3,7 --steps 4 --latents "@$work/x0.npy" --quiet --stats \
    -o "$work/$name-staged.png" --output-latents "@$work/$name-staged.npy" \
    2> "$work/$name-staged.log"
  cmp "$work/$name.npy" "$work/$name-staged.npy"
  # Collectives staged through the host cannot be recorded: step by step.
  ranks=$(replays "$work/$name-staged.log" | wc -l)
  [ "$ranks" -ge 2 ] && [ -z "$(replays "$work/$name-staged.log" | grep -v '^0$')" ] ||
    { echo "FAIL: $name staged: expected no replays"; cat "$work/$name-staged.log"; exit 1; }
  echo "== $name on cpu-staged: identical latents, step by step"
  # And as NCCL is driven: collectives on the backend's own memory, queued
  # with the kernels, so each rank records its denoising step once (after
  # the warm-up step) and replays it: 3 of the 4 steps.
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" --backend cpu-staged \
    --comm gloo-direct --class-label 3,7 --steps 4 --latents "@$work/x0.npy" --quiet --stats \
    -o "$work/$name-direct.png" --output-latents "@$work/$name-direct.npy" \
    2> "$work/$name-direct.log"
  cmp "$work/$name.npy" "$work/$name-direct.npy"
  [ "$(replays "$work/$name-direct.log" | wc -l)" -eq "$ranks" ] &&
    [ -z "$(replays "$work/$name-direct.log" | grep -v '^3$')" ] ||
    { echo "FAIL: $name direct: expected 3 replays per rank"; cat "$work/$name-direct.log"; exit 1; }
  echo "== $name on cpu-staged, --comm gloo-direct: identical latents, 3 of 4 steps replayed"
done

# Collectives bound asynchronously (an all_to_all, all_gather or
# all_reduce whose result is read later: started, waited for before its
# first reader) give the very bits of the same collectives run in place.
for name in uly2 tp2split cfg2uly2 tp2ch2; do
  FRESCO_ASYNC_COLLECTIVES=0 "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" \
    --class-label 3,7 --steps 4 --latents "@$work/x0.npy" --quiet \
    -o "$work/$name-inplace.png" --output-latents "@$work/$name-inplace.npy"
  cmp "$work/$name.npy" "$work/$name-inplace.npy"
  waits=$("$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" --class-label 3,7 \
    --steps 1 --latents "@$work/x0.npy" --quiet --profile -o "$work/$name-prof.png" 2>&1 |
    grep -c '(wait)' || true)
  [ "$waits" -ge 1 ] || { echo "FAIL: $name has no asynchronous collective"; exit 1; }
  # Gloo completes an exchange when it starts; --comm gloo-direct defers it
  # to its Wait, as NCCL may: a window the plan got wrong shows here.
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" --backend cpu-staged \
    --comm gloo-direct --class-label 3,7 --steps 4 --latents "@$work/x0.npy" --quiet \
    -o "$work/$name-deferred.png" --output-latents "@$work/$name-deferred.npy"
  cmp "$work/$name.npy" "$work/$name-deferred.npy"
  echo "== $name: asynchronous collectives ($waits ranks' kinds waited) identical to in place"
done

# bf16 storage (--dtype bf16, as on GPUs; cpu-staged emulates it): 2-byte
# activations through every collective. Host-staged and direct collectives
# sum the same way, so the same bits; within bf16's error of the f32 run.
for name in one tp2split cfg2uly2 cfg2ring2 tp2pipe2 cfg2pipe2 tp2rs tp2ch2; do
  for comm in gloo gloo-direct; do
    "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" --backend cpu-staged \
      --dtype bf16 --comm $comm --class-label 3,7 --steps 4 --latents "@$work/x0.npy" \
      --quiet -o "$work/$name-bf16.png" --output-latents "@$work/$name-bf16-$comm.npy"
  done
  cmp "$work/$name-bf16-gloo.npy" "$work/$name-bf16-gloo-direct.npy"
  "$FRESCO_PYTHON" "$here/compare_npy.py" "$work/$name-bf16-gloo.npy" "$work/one.npy" \
    --rtol-max 3e-2 > "$work/$name-bf16.txt" || { cat "$work/$name-bf16.txt"; exit 1; }
  # And it did run in bf16: an f32 run is within 1e-5 of one.npy.
  "$FRESCO_PYTHON" - "$work/$name-bf16.txt" <<'PY' || exit 1
import re, sys
ratio = float(re.search(r"ratio ([0-9.e+-]+)", open(sys.argv[1]).read()).group(1))
if ratio < 1e-4:
    sys.exit(f"FAIL: bf16 latents within {ratio:g} of f32: the storage was not bf16")
PY
  echo "== $name bf16 storage: staged and direct identical, $(grep -o 'ratio [0-9.e-]*' "$work/$name-bf16.txt") of the f32 run"
done

"$FRESCO_PYTHON" - "$work" <<'PY'
import json, os, re, sys
import numpy as np
from PIL import Image
from safetensors.numpy import load_file
work = sys.argv[1]
ref = np.load(f"{work}/one.npy")
ok = True
for name in ["cfg2", "tp2", "tp4", "cfg2tp2", "placed", "cfg2tp4", "tp2split",
             "uly2", "cfg2uly2", "tp2uly2", "ring2", "ring4", "cfg2ring2",
             "tp2ring2", "uly2ring2", "pipe2", "cfg2pipe2", "tp2pipe2",
             "ring2pipe2", "pipe4", "pipe6", "placedpipe2", "cfg2pad3", "cfg2tp2pad4",
             "placedpad3", "ring2pipe2pad3", "pipe2mb2", "pipe2mb4",
             "pipe4mb4", "cfg2pipe2mb2", "tp2pipe2mb2", "uly2pipe2mb2",
             "placedpipe2mb2", "tp2rs", "tp4rs", "cfg2tp2rs", "tp2uly2rs",
             "tp2ring2rs", "tp2pipe2rs", "tp2ch2", "cfg2tp2ch4", "tp2pipe2ch2"]:
    got = np.load(f"{work}/{name}.npy")
    ratio = np.abs(got - ref).max() / np.abs(ref).max()
    sizes = {Image.open(f"{work}/{name}-{i}.png").size for i in range(2)}
    good = ratio <= 1e-5 and sizes == {Image.open(f"{work}/one-{i}.png").size for i in range(2)}
    good &= not os.path.exists(f"{work}/{name}-2.png")  # only the images asked for
    print(f"{name:8s} latents ratio {ratio:.3g}, png sizes {sorted(sizes)}: {'OK' if good else 'FAIL'}")
    ok &= good

# Per-rank weight bytes: fresco-inspect vs what each rank loaded.
for name in ["one", "tp2", "tp4", "cfg2tp2", "placed", "cfg2tp4", "tp2split",
             "uly2", "cfg2uly2", "tp2uly2", "ring2", "ring4", "cfg2ring2",
             "tp2ring2", "uly2ring2", "pipe2", "cfg2pipe2", "tp2pipe2",
             "ring2pipe2", "pipe4", "pipe6", "placedpipe2", "pipe2mb2", "cfg2pipe2mb2",
             "tp2pipe2mb2", "tp2rs", "cfg2tp2rs", "tp2pipe2rs", "tp2ch2"]:
    inspect = {r["rank"]: r["weight_bytes"] for r in json.load(open(f"{work}/{name}.json"))["ranks"]}
    log = open(f"{work}/{name}.log").read()
    loaded = {}
    for m in re.finditer(r"(?:\[rank (\d+)\] )?fresco-run: load .*weights (\d+) bytes", log):
        loaded[int(m.group(1) or 0)] = int(m.group(2))
    good = loaded == inspect
    print(f"{name:8s} weight bytes per rank {inspect}: runtime {'agrees' if good else 'differs: ' + str(loaded)}")
    ok &= good

# Megatron TP: every attention q/k/v (weights, biases), out-projection
# weight, MLP fc1 (weight, bias) and fc2 weight are split P ways; the rest
# is replicated. Expected transformer bytes per rank, from the checkpoint.
w = load_file(f"{work}/pipe/transformer/diffusion_pytorch_model.safetensors")
def split(k):
    return (re.search(r"attn1\.to_[qkv]\.", k) or re.search(r"attn1\.to_out\.0\.weight", k)
            or re.search(r"ff\.net\.0\.proj\.", k) or re.search(r"ff\.net\.2\.weight", k))
shardable = sum(v.nbytes for k, v in w.items() if split(k))
replicated = sum(v.nbytes for k, v in w.items() if not split(k))
vae = sum(v.nbytes for v in load_file(f"{work}/pipe/vae/diffusion_pytorch_model.safetensors").values())
for name, P in [("tp2", 2), ("tp4", 4)]:
    ranks = json.load(open(f"{work}/{name}.json"))["ranks"]
    for r in ranks:
        expect = replicated + shardable / P + (vae if r["rank"] == 0 else 0)
        err = abs(r["weight_bytes"] - expect) / expect
        good = err <= 0.05
        print(f"{name} rank {r['rank']}: {r['weight_bytes']} bytes vs {expect:.0f} expected ({err:.2%}): {'OK' if good else 'FAIL'}")
        ok &= good

# Communication per step: Megatron = 2 all_reduces of [B_local, T, D] f32 per
# block; CFG = one all_gather of the noise prediction [2B, 2C, H, W] f32.
cfg = json.load(open(f"{work}/pipe/transformer/config.json"))
L, D = cfg["num_layers"], cfg["num_attention_heads"] * cfg["attention_head_dim"]
T = (cfg["sample_size"] // cfg["patch_size"]) ** 2
out = 2 * 2 * cfg["out_channels"] * cfg["sample_size"] ** 2 * 4
# Ulysses = 4 all_to_alls per block (q, k, v in, the attention out back),
# each producing [B_local, T, D / P] f32 (a 1/P share of its
# [B_local, T/P, D] input goes to each peer), plus the all_gather of the
# row-split prediction [B_local, 2C, H, W] before cfg's. With tp too, the
# all_reduces cover the rank's T/P tokens and the all_to_alls its D/tp.
# Ring = per block, P - 1 hops each sending the rank's key and value blocks
# [B_local, T/P, D/tp] f32, plus the same row all_gather as Ulysses (one,
# over both axes, with both). With both, Ulysses' all_to_alls move the ring
# block's T/ring tokens and ring's blocks hold D/uly columns.
for name, cfgdeg, tp, uly, ring in [
        ("cfg2", 2, 1, 1, 1), ("tp2", 1, 2, 1, 1), ("tp4", 1, 4, 1, 1),
        ("cfg2tp2", 2, 2, 1, 1), ("cfg2tp4", 2, 4, 1, 1),
        ("uly2", 1, 1, 2, 1), ("cfg2uly2", 2, 1, 2, 1), ("tp2uly2", 1, 2, 2, 1),
        ("ring2", 1, 1, 1, 2), ("ring4", 1, 1, 1, 4), ("cfg2ring2", 2, 1, 1, 2),
        ("tp2ring2", 1, 2, 1, 2), ("uly2ring2", 1, 1, 2, 2)]:
    want = {}
    seq = uly * ring
    if tp > 1:
        want["all_reduce"] = 2 * L * (4 // cfgdeg) * (T // seq) * D * 4
    if uly > 1:
        want["all_to_all"] = 4 * L * (4 // cfgdeg) * (T // ring) * (D // tp // uly) * 4
    if ring > 1:
        want["ring_send_recv"] = L * (ring - 1) * 2 * (4 // cfgdeg) * (T // ring) * (D // tp // uly) * 4
    if seq > 1:
        want["all_gather"] = out // cfgdeg
    if cfgdeg > 1:
        want["all_gather"] = want.get("all_gather", 0) + out
    for r in json.load(open(f"{work}/{name}.json"))["ranks"]:
        got = r["comm_bytes_per_step"]
        if got != want:
            print(f"{name} rank {r['rank']}: comm {got} != formula {want}: FAIL")
            ok = False
        # One ring message (key and value together) per hop per block.
        calls = r["comm_calls_per_step"].get("ring_send_recv", 0)
        if calls != L * (ring - 1):
            print(f"{name} rank {r['rank']}: {calls} ring messages != {L * (ring - 1)}: FAIL")
            ok = False
    print(f"{name:8s} comm bytes per step per rank {want}: matches the formula")
# tp's reduce_scatter over the tokens: the same weights per rank as tp; in
# each block the all_reduces' bytes reduce-scattered instead (inspect counts
# the operand), no all_reduce left, and per block two all_gathers of the
# tokens back (the first block's norm reads the replicated input: one less)
# plus one of the output projection's tokens before the unpatchify.
for name, base in [("tp2rs", "tp2"), ("tp4rs", "tp4"), ("cfg2tp2rs", "cfg2tp2"),
                   ("tp2uly2rs", "tp2uly2"), ("tp2ring2rs", "tp2ring2"),
                   ("tp2pipe2rs", "tp2pipe2")]:
    got = {r["rank"]: r for r in json.load(open(f"{work}/{name}.json"))["ranks"]}
    for r in json.load(open(f"{work}/{base}.json"))["ranks"]:
        g = got[r["rank"]]
        bc, gc = r["comm_calls_per_step"], g["comm_calls_per_step"]
        bb, gb = r["comm_bytes_per_step"], g["comm_bytes_per_step"]
        # Layer sharding: each stage reduces its own blocks' sums.
        good = (g["weight_bytes"] == r["weight_bytes"] and "all_reduce" not in gc
                and gb.get("reduce_scatter") == bb.get("all_reduce")
                and gc.get("reduce_scatter") == bc.get("all_reduce"))
        if not name.startswith("tp2pipe2"):
            good &= gc.get("all_gather", 0) == bc.get("all_gather", 0) + 2 * L
        if not good:
            print(f"{name} rank {r['rank']}: weights {g['weight_bytes']} vs {r['weight_bytes']}, "
                  f"comm {gc} {gb} vs {base}'s {bc} {bb}: FAIL")
            ok = False
    print(f"{name:8s} reduce_scatters in place of {base}'s all_reduces, tokens gathered back: checked")
# Layer sharding: the stages' transformer weights add up to the whole (each
# parameter in the one stage that reads it), neither stage holds more than
# 3/4 of them, the prediction [2B, 2C, H, W] is broadcast once per step
# from the last stage, and activations go forward with sends.
for name, cfgdeg in [("pipe2", 1), ("cfg2pipe2", 2)]:
    ranks = json.load(open(f"{work}/{name}.json"))["ranks"]
    stage = {r["rank"]: r["weight_bytes"] - (vae if r["rank"] == 0 else 0) for r in ranks}
    # Grid order: pipeline is the last axis, so stages alternate by rank.
    per_stage = [sum(b for k, b in stage.items() if k % 2 == s) // cfgdeg for s in range(2)]
    total = sum(v.nbytes for v in w.values())
    good = sum(per_stage) == total and max(per_stage) <= 0.75 * total
    print(f"{name} transformer bytes per stage {per_stage} of {total}: {'OK' if good else 'FAIL'}")
    ok &= good
    for r in ranks:
        comm = r["comm_bytes_per_step"]
        # After cfg's all_gather (last stage only): the whole prediction.
        good = comm.get("broadcast") == out
        good = good and (r["rank"] % 2 == 1 or comm.get("send", 0) > 0)
        if not good:
            print(f"{name} rank {r['rank']}: comm {comm}: FAIL")
            ok = False
    print(f"{name:8s} broadcast of the prediction per step, sends forward: checked")
# Six stages (ranks 0-5, pipeline the only axis): each loads some of the
# transformer's weights, and together all of them once.
stage = [r["weight_bytes"] - (vae if r["rank"] == 0 else 0)
         for r in sorted(json.load(open(f"{work}/pipe6.json"))["ranks"], key=lambda r: r["rank"])]
good = len(stage) == 6 and min(stage) > 0 and sum(stage) == total
print(f"pipe6 transformer bytes per stage {stage} of {total}: {'OK' if good else 'FAIL'}")
ok &= good
# Micro-batches: the same stages (each rank's weights as without them), the
# boundary values sent in M pieces (within 1% of the bytes: a few
# batch-wide scalars go too), the prediction broadcast once.
for name, base, m in [("pipe2mb2", "pipe2", 2), ("pipe2mb4", "pipe2", 4),
                      ("cfg2pipe2mb2", "cfg2pipe2", 2)]:
    got = {r["rank"]: r for r in json.load(open(f"{work}/{name}.json"))["ranks"]}
    for r in json.load(open(f"{work}/{base}.json"))["ranks"]:
        g = got[r["rank"]]
        sent, base_sent = g["comm_bytes_per_step"].get("send", 0), r["comm_bytes_per_step"].get("send", 0)
        calls, base_calls = g["comm_calls_per_step"].get("send", 0), r["comm_calls_per_step"].get("send", 0)
        good = (g["weight_bytes"] == r["weight_bytes"] and abs(sent - base_sent) <= 0.01 * base_sent
                and calls >= m * base_calls
                and g["comm_bytes_per_step"].get("broadcast") == r["comm_bytes_per_step"].get("broadcast"))
        if not good:
            print(f"{name} rank {r['rank']}: weights {g['weight_bytes']} vs {r['weight_bytes']}, "
                  f"sends {calls} calls {sent} bytes vs {base_calls} calls {base_sent} bytes: FAIL")
            ok = False
    print(f"{name:8s} stages as {base}, boundary values in {m} pieces: checked")
sys.exit(0 if ok else 1)
PY
