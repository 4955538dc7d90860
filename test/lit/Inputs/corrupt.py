"""corrupt.py IN OUT [--at N]: copies IN to OUT with bytes overwritten.

Without --at, flips bytes through the middle of the file (for plans, whose
FlatBuffers offsets then point outside the buffer); with --at N, writes
0xFF over 16 bytes at offset N (e.g. inside a safetensors JSON header).
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("src")
p.add_argument("dst")
p.add_argument("--at", type=int)
a = p.parse_args()
data = bytearray(open(a.src, "rb").read())
if a.at is not None:
    data[a.at:a.at + 16] = b"\xff" * 16
else:
    # Offsets near the front: vtables and vector lengths of the root table.
    for i in range(8, min(len(data), 256), 3):
        data[i] ^= 0xA5
open(a.dst, "wb").write(bytes(data))
