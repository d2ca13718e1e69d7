#!/usr/bin/python3
"""Writes PyTorch fixtures of layers for LayerTests, in the format of make_layer_fixtures.py but with
the references computed in float64: layers64.safetensors + layer64_cases.json hold, for each case,
a random float32 input x and output gradient g, the layer's parameters (drawn away from their
initial values), and PyTorch's output y, input gradient dx and parameter gradients.

The float32 inputs and parameters are run through the module in float64: normalisation cancels
(x - mean, g - mean(g)), and PyTorch's own float32 CPU kernel, which folds the mean into a bias
(y = x rstd w + (b - mean rstd w)), is off by up to 1e-4 relative where a row's variance is small;
its CUDA kernel is not. The float64 result is what both should approach.

Run by hand with Debian's python3-torch (1.13), one thread; the outputs are committed. Never run by
the build or CI.
"""
import json
from fixture_io import write_safetensors
import torch
from torch import nn

torch.set_num_threads(1)
tensors = {}
cases = {}


def case(name, spec, module, shape, low=-3.0, high=3.0):
    torch.manual_seed(2000 + len(cases))
    if hasattr(module, "weight"):
        with torch.no_grad():
            module.weight.uniform_(0.5, 1.5)
            module.bias.normal_()
    x = low + (high - low) * torch.rand(shape)
    g = torch.randn(shape)
    params = [pname for pname, _ in module.named_parameters()]
    for pname in params:
        tensors[f"{name}.{pname}"] = getattr(module, pname).detach().clone()
    module = module.double()
    x64 = x.double().requires_grad_(True)
    y = module(x64)
    y.backward(g.double())
    for key, value in {"x": x, "g": g, "y": y.detach().float(), "dx": x64.grad.float()}.items():
        tensors[f"{name}.{key}"] = value
    for pname in params:
        tensors[f"{name}.d{pname}"] = getattr(module, pname).grad.float()
    cases[name] = {"spec": spec, "input_shape": list(shape[1:]), "parameters": params}


def layer_norm(name, features, shape, eps=1e-5):
    case(name, {"type": "LayerNorm", "features": features, "eps": eps}, nn.LayerNorm(features, eps=eps), shape)


layer_norm("layernorm_7", 7, (5, 7))
layer_norm("layernorm_3d", 16, (2, 3, 16))
layer_norm("layernorm_wide_eps", 300, (3, 300), eps=1e-3)
layer_norm("layernorm_2", 2, (6, 2))
case("gelu_tanh", {"type": "GELU", "approximate": "tanh"}, nn.GELU(approximate="tanh"), (4, 9), -7, 7)
case("gelu_tanh_3d", {"type": "GELU", "approximate": "tanh"}, nn.GELU(approximate="tanh"), (2, 3, 5), -3, 3)

write_safetensors("layers64.safetensors", tensors, {"source": "torch " + torch.__version__})
with open("layer64_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", ", ".join(cases))
