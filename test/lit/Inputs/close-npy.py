"""close-npy.py A.npy B.npy TOL: exits 0 when max|A - B| <= TOL * max|B|,
printing the ratio."""
import sys

import numpy as np

a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
tol = float(sys.argv[3])
ratio = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30) if a.shape == b.shape else np.inf
print(f"ratio {ratio:.3g} (tolerance {tol:g})")
sys.exit(0 if ratio <= tol else 1)
