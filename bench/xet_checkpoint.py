"""Writes revision REV of a synthetic ~1 GiB safetensors checkpoint: 100 F32 tensors of
SIZE_MIB/100 MiB each, random (weights barely compress). Revision r is revision r-1 with 10 of
its tensors (10%) rewritten, chosen by a seeded draw, so consecutive revisions share 90%.

    python3 bench/xet_checkpoint.py OUT REV [SIZE_MIB]
"""
import json
import random
import struct
import sys

out, rev = sys.argv[1], int(sys.argv[2])
size_mib = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
n_tensors = 100
per = (size_mib << 20) // n_tensors // 4 * 4

# Which revision last wrote each tensor.
written = [1] * n_tensors
for r in range(2, rev + 1):
    for t in random.Random(r).sample(range(n_tensors), n_tensors // 10):
        written[t] = r

header = {"__metadata__": {"format": "pt"}}
for t in range(n_tensors):
    header[f"model.layers.{t}.weight"] = {
        "dtype": "F32",
        "shape": [per // 4],
        "data_offsets": [t * per, (t + 1) * per],
    }
raw = json.dumps(header, separators=(",", ":")).encode()
raw += b" " * (-len(raw) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(raw)))
    f.write(raw)
    for t in range(n_tensors):
        f.write(random.Random(written[t] * 1000 + t).randbytes(per))
