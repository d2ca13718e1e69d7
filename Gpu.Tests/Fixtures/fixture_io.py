"""What the fixture scripts write: safetensors files (a small writer of the format documented at
huggingface.co/docs/safetensors; the safetensors package is not available here) and data CSVs."""
import json
import struct

import torch


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def write_csv(path, x, y, x_names, y_names):
    with open(path, "w") as f:
        f.write(",".join(x_names + y_names) + "\n")
        for row_x, row_y in zip(x.tolist(), y.tolist()):
            f.write(",".join(format(v, ".9g") for v in row_x + row_y) + "\n")
