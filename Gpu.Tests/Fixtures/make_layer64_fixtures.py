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
import math
from fixture_io import write_safetensors
import torch
from torch import nn
import torch.nn.functional as F

torch.set_num_threads(1)
tensors = {}
cases = {}


def case(name, spec, module, shape, low=-3.0, high=3.0, ids=None):
    """One layer's forward and backward; `ids` (a vocabulary size) makes the input integer token ids, which have no gradient."""
    torch.manual_seed(2000 + len(cases))
    if isinstance(module, nn.LayerNorm):
        with torch.no_grad():
            module.weight.uniform_(0.5, 1.5)
            module.bias.normal_()
    x = torch.randint(0, ids, shape).float() if ids else low + (high - low) * torch.rand(shape)
    params = [pname for pname, _ in module.named_parameters()]
    for pname in params:
        tensors[f"{name}.{pname}"] = module.get_parameter(pname).detach().clone()
    module = module.double()
    x64 = x.long() if ids else x.double().requires_grad_(True)
    y = module(x64)
    g = torch.randn(y.shape)
    y.backward(g.double())
    for key, value in {"x": x, "g": g, "y": y.detach().float()}.items():
        tensors[f"{name}.{key}"] = value
    if not ids:
        tensors[f"{name}.dx"] = x64.grad.float()
    for pname in params:
        tensors[f"{name}.d{pname}"] = module.get_parameter(pname).grad.float()
    cases[name] = {"spec": spec, "input_shape": list(shape[1:]), "parameters": params}


def layer_norm(name, features, shape, eps=1e-5):
    case(name, {"type": "LayerNorm", "features": features, "eps": eps}, nn.LayerNorm(features, eps=eps), shape)


layer_norm("layernorm_7", 7, (5, 7))
layer_norm("layernorm_3d", 16, (2, 3, 16))
layer_norm("layernorm_wide_eps", 300, (3, 300), eps=1e-3)
layer_norm("layernorm_2", 2, (6, 2))
case("gelu_tanh", {"type": "GELU", "approximate": "tanh"}, nn.GELU(approximate="tanh"), (4, 9), -7, 7)
case("gelu_tanh_3d", {"type": "GELU", "approximate": "tanh"}, nn.GELU(approximate="tanh"), (2, 3, 5), -3, 3)


class LSTMOut(nn.LSTM):
    """The output sequence alone (nn.LSTM also returns the final state)."""

    def forward(self, x):
        return super().forward(x)[0]


class GRUOut(nn.GRU):
    def forward(self, x):
        return super().forward(x)[0]


class Positions(nn.Module):
    """A learned position table added to each sample, its first T rows for a shorter sequence."""

    def __init__(self, context, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(context, dim) * 0.02)

    def forward(self, x):
        return x + self.weight[:x.shape[1]]


class LastStep(nn.Module):
    def forward(self, x):
        return x[:, -1]


# Sequences: (batch, T, features), batch_first, from a zero state.
case("linear_sequence", {"type": "Linear", "in_features": 4, "out_features": 3, "bias": True}, nn.Linear(4, 3), (2, 5, 4))
case("embedding", {"type": "Embedding", "vocabulary": 10, "dim": 4}, nn.Embedding(10, 4), (3, 6), ids=10)
case("posembedding", {"type": "PositionalEmbedding", "context": 6, "dim": 4}, Positions(6, 4), (2, 6, 4))
case("posembedding_shorter", {"type": "PositionalEmbedding", "context": 6, "dim": 4}, Positions(6, 4), (3, 4, 4))
case("last", {"type": "Last"}, LastStep(), (3, 5, 4))
case("lstm", {"type": "LSTM", "input_size": 3, "hidden_size": 5, "num_layers": 1}, LSTMOut(3, 5, batch_first=True), (2, 6, 3))
case("lstm_2layers", {"type": "LSTM", "input_size": 4, "hidden_size": 6, "num_layers": 2}, LSTMOut(4, 6, num_layers=2, batch_first=True), (3, 7, 4))
case("lstm_long", {"type": "LSTM", "input_size": 2, "hidden_size": 16, "num_layers": 1}, LSTMOut(2, 16, batch_first=True), (4, 40, 2))
case("gru", {"type": "GRU", "input_size": 3, "hidden_size": 5, "num_layers": 1}, GRUOut(3, 5, batch_first=True), (2, 6, 3))
case("gru_2layers", {"type": "GRU", "input_size": 4, "hidden_size": 6, "num_layers": 2}, GRUOut(4, 6, num_layers=2, batch_first=True), (3, 7, 4))



class SelfAttention(nn.Module):
    """nanoGPT's CausalSelfAttention (its non-flash path), causal or not, without dropout."""

    def __init__(self, dim, heads, causal=True):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.heads, self.causal = heads, causal

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if self.causal:
            att = att.masked_fill(torch.tril(torch.ones(t, t)) == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(n, t, d))


class Residual(nn.Sequential):
    """x + f(x), f the layers in order; parameters named j.* inside, as the project's residual."""

    def forward(self, x):
        return x + super().forward(x)


def attention_spec(dim, heads, causal=True):
    return {"type": "CausalSelfAttention", "dim": dim, "heads": heads, "causal": causal, "dropout": 0}


# Attention: causal and not, 1 and 4 heads, T not a multiple of the kernels' tiles (32) or the host's blocks (64).
case("attention_causal_4", attention_spec(16, 4), SelfAttention(16, 4), (2, 37, 16), -1, 1)
case("attention_full_4", attention_spec(16, 4, False), SelfAttention(16, 4, False), (2, 37, 16), -1, 1)
case("attention_causal_1", attention_spec(8, 1), SelfAttention(8, 1), (3, 5, 8), -1, 1)
case("attention_full_1", attention_spec(8, 1, False), SelfAttention(8, 1, False), (2, 9, 8), -1, 1)
case("attention_long", attention_spec(32, 2), SelfAttention(32, 2), (1, 70, 32), -1, 1)
case("residual_attention", {"type": "Residual", "layers": [{"type": "LayerNorm", "features": 16, "eps": 1e-5}, attention_spec(16, 4)]},
     Residual(nn.LayerNorm(16), SelfAttention(16, 4)), (2, 11, 16), -1, 1)
case("residual_mlp", {"type": "Residual", "layers": [
        {"type": "LayerNorm", "features": 8, "eps": 1e-5},
        {"type": "Linear", "in_features": 8, "out_features": 32, "bias": True},
        {"type": "GELU", "approximate": "tanh"},
        {"type": "Linear", "in_features": 32, "out_features": 8, "bias": True}]},
     Residual(nn.LayerNorm(8), nn.Linear(8, 32), nn.GELU(approximate="tanh"), nn.Linear(32, 8)), (2, 6, 8))

write_safetensors("layers64.safetensors", tensors, {"source": "torch " + torch.__version__})
with open("layer64_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", ", ".join(cases))
