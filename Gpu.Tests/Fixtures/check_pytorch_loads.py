#!/usr/bin/python3
"""Checks that PyTorch loads a model saved by `gpu train --save` and computes the same predictions.

Usage (by hand, never by CI): check_pytorch_loads.py MODEL.safetensors [FEATURES.csv PREDICTIONS.csv]
Rebuilds the nn.Sequential from the file's __metadata__ architecture (every layer type the project
trains), loads the weights with load_state_dict(strict=True) (through safetensors.torch.load_file
when the package is installed, else through the format's 20-line reader below), and, given the CSV
that `gpu predict` read and the CSV it wrote, compares the outputs: values for mse models,
probabilities for bce, predicted classes for ce (standardisation applied from the metadata).
"""
import json
import struct
import sys

import torch
from torch import nn


def load_file(path):
    try:
        from safetensors.torch import load_file as st_load
        return st_load(path), json.loads(open(path, "rb").read(8 + struct.unpack("<Q", open(path, "rb").read(8))[0])[8:])["__metadata__"]
    except ImportError:
        pass
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(body[b:e]), dtype=torch.float32).reshape(info["shape"])
    return tensors, meta


state, meta = load_file(sys.argv[1])
BUILD = {
    "Linear": lambda s: nn.Linear(s["in_features"], s["out_features"], bias=s["bias"]),
    "Conv2d": lambda s: nn.Conv2d(s["in_channels"], s["out_channels"], s["kernel_size"], stride=s["stride"], padding=s["padding"], bias=s["bias"]),
    "MaxPool2d": lambda s: nn.MaxPool2d(s["kernel_size"], stride=s.get("stride")),
    "AvgPool2d": lambda s: nn.AvgPool2d(s["kernel_size"], stride=s.get("stride")),
    "Flatten": lambda s: nn.Flatten(),
    "Dropout": lambda s: nn.Dropout(s["p"]),
    "ReLU": lambda s: nn.ReLU(),
    "Tanh": lambda s: nn.Tanh(),
    "Sigmoid": lambda s: nn.Sigmoid(),
    "GELU": lambda s: nn.GELU(),
    "LeakyReLU": lambda s: nn.LeakyReLU(s["negative_slope"]),
}
model = nn.Sequential(*[BUILD[spec["type"]](spec) for spec in json.loads(meta["architecture"])])
model.eval()
input_shape = json.loads(meta.get("input_shape", "null")) or [len(json.loads(meta["feature_names"]))]
model.load_state_dict(state, strict=True)
print(f"loaded {sys.argv[1]} into {model} with load_state_dict(strict=True)")

if len(sys.argv) > 3:
    features = json.loads(meta["feature_names"])
    rows = [line.strip().split(",") for line in open(sys.argv[2])]
    index = [rows[0].index(f) for f in features]
    x = torch.tensor([[float(r[i]) for i in index] for r in rows[1:]])
    if "standardize_mean" in meta:
        x = (x - torch.tensor(json.loads(meta["standardize_mean"]))) / torch.tensor(json.loads(meta["standardize_std"]))
    x = x.reshape([x.shape[0]] + input_shape)
    with torch.no_grad():
        ours = torch.tensor([[float(v) for v in line.strip().split(",")] for line in list(open(sys.argv[3]))[1:]])
        out = model(x)
        if meta["loss"] == "ce":
            agree = (out.argmax(dim=1) == ours[:, 0].long()).float().mean().item()
            print(f"PyTorch and gpu predict agree on the class of {agree:.4%} of {len(rows) - 1} rows")
            sys.exit(0 if agree == 1.0 else 1)
        if meta["loss"] == "bce":
            out = torch.sigmoid(out)
        diff = (out - ours).abs().max().item()
    print(f"max |PyTorch - gpu predict| = {diff:.3g} over {len(rows) - 1} rows")
    sys.exit(0 if diff < 1e-4 else 1)
