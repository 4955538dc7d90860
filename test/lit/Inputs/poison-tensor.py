"""poison-tensor.py FILE.safetensors NAME: overwrites f32 tensor NAME in
place with +inf (a damaged checkpoint, for the non-finite output tests)."""
import json
import struct
import sys

path, name = sys.argv[1], sys.argv[2]
with open(path, "r+b") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    entry = header[name]
    assert entry["dtype"] == "F32", entry["dtype"]
    begin, end = entry["data_offsets"]
    f.seek(8 + n + begin)
    f.write(struct.pack("<f", float("inf")) * ((end - begin) // 4))
