"""Checks a plan of dit-tiny-6heads-25tokens compiled for tp=2 x ulysses=2
(fresco-pad-uneven): read as JSON by flatc. The 6 heads of 4 are padded to 8
(tp x ulysses = 4), so each tp rank loads 16 rows of the [24, 24] q weight:
tp rank 1 rows [16, 32), of which 8 are past the checkpoint tensor (zeros);
the output projection loads the matching 16 columns. The 25 tokens are
padded to 26 (Pad) and attention masks the padded key (key_valid [25])."""
import json
import sys

plan = json.load(open(sys.argv[1]))
grid = dict(zip(plan["grid_axes"], plan["grid_shape"]))
assert grid == {"tp": 2, "ulysses": 2}, grid
for rank in plan["ranks"]:
    r = rank.get("rank", 0)
    tp = r // 2  # grid order: tp major
    w = {x["name"]: x for x in rank["weights"]}
    q = w["transformer_blocks.0.attn1.to_q.weight"]
    assert q["full_shape"] == [24, 24], q
    assert q["sizes"] == [16, 24], q
    assert q.get("offsets", [0, 0])[0] == 16 * tp, q
    o = w["transformer_blocks.0.attn1.to_out.0.weight"]
    assert o["full_shape"] == [24, 24] and o["sizes"] == [24, 16], o
    assert o.get("offsets", [0, 0])[1] == 16 * tp, o
    fn = next(f for f in rank["functions"] if f["name"] == "transformer")
    ops = [i.get("op", "Linear") for i in fn["instrs"]]
    assert ops.count("Pad") == 2, ops  # the tokens and the position table
    for i in fn["instrs"]:
        if i.get("op") == "Attention":
            a = i["attrs"]
            assert a["num_heads"] == 2 and a["key_valid"] == [25], a
    print(f"rank {r}: q rows [{16 * tp}, {16 * tp + 16}) of 24, "
          f"key_valid [25], {ops.count('Pad')} Pad")
