"""check-predict.py RELATION A.json B.json: compares the step_seconds of
two fresco-inspect --predict --json outputs; RELATION is lt, le or eq
(A < B, A <= B, A == B to 1e-12 relative). Prints both."""
import json
import sys

rel, a, b = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
x, y = a["step_seconds"], b["step_seconds"]
print(f"{x:.6g} {rel} {y:.6g}")
ok = {"lt": x < y, "le": x <= y * (1 + 1e-12),
      "eq": abs(x - y) <= 1e-12 * max(abs(y), 1e-30)}[rel]
sys.exit(0 if ok else 1)
