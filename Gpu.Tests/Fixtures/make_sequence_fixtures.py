#!/usr/bin/python3
"""Writes the fixtures of SequenceParityTests: whole `gpu train` runs of sequence models done the same
way in PyTorch.

- lstm_regressor: rows of 6 time steps of 3 features from CSV (x.view(N, 6, 3)), an LSTM, its last
  step, a linear layer; MSE, Adam.
- gru_classifier: a two-layer GRU over 5 steps of 2 features, its last step, 3 classes; cross-entropy, SGD
  with momentum.
- byte_lstm_lm: a byte-level language model from --text (sequence_text.txt): embedding, LSTM, a linear
  layer to 256 logits per position; cross-entropy over every position
  (F.cross_entropy(logits.view(-1, 256), targets.view(-1))), the last 10% of the windows for
  validation; then greedy generation from the trained model (nanoGPT's loop: the last `context`
  tokens in, argmax of the last position's logits).

For each case: <case>_init.safetensors (initial weights), <case>_final.safetensors (after training),
the data, and one entry in sequence_cases.json with the command line's flags and per-epoch training
(sample-weighted mean of the batch losses) and validation losses. No shuffling.
Run by hand with Debian's python3-torch (1.13), one thread; the outputs are committed. Never run by
the build or CI.
"""
import json
import math
from fixture_io import write_csv, write_safetensors
import torch
from torch import nn
from torch.optim import lr_scheduler as S
import torch.nn.functional as F

torch.set_num_threads(1)


class SequenceLSTM(nn.LSTM):
    """nn.LSTM(batch_first=True) returning the output sequence only (the `lstm` word)."""

    def forward(self, x):
        return super().forward(x)[0]


class SequenceGRU(nn.GRU):
    def forward(self, x):
        return super().forward(x)[0]


class Last(nn.Module):
    def forward(self, x):
        return x[:, -1]


def train(name, model, x, y, xv, yv, loss_of, opt, batch, epochs):
    write_safetensors(f"{name}_init.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
    n = x.shape[0]
    rows = []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for start in range(0, n, batch):
            count = min(batch, n - start)
            opt.zero_grad()
            loss = loss_of(model(x[start:start + count]), y[start:start + count])
            total += loss.item() * count
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = loss_of(model(xv), yv).item()
        rows.append({"epoch": epoch, "loss": total / n, "val_loss": val})
    write_safetensors(f"{name}_final.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
    return rows


cases = {}

# An LSTM regressor: the target is a smooth function of the whole sequence.
torch.manual_seed(21)
T, Fe = 6, 3
X = torch.randn(64, T, Fe)
Y = (X[:, :, 0].cumsum(1)[:, -1:] * 0.3 + torch.tanh(X[:, -1, 1:2]) - 0.2 * X[:, 0, 2:3])
XV = torch.randn(16, T, Fe)
YV = (XV[:, :, 0].cumsum(1)[:, -1:] * 0.3 + torch.tanh(XV[:, -1, 1:2]) - 0.2 * XV[:, 0, 2:3])
names = [f"t{t}f{f}" for t in range(T) for f in range(Fe)]
write_csv("lstm_regressor_train.csv", X.reshape(64, -1), Y, names, ["y"])
write_csv("lstm_regressor_val.csv", XV.reshape(16, -1), YV, names, ["y"])
model = nn.Sequential(SequenceLSTM(Fe, 8, batch_first=True), Last(), nn.Linear(8, 1))
epochs = train("lstm_regressor", model, X, Y, XV, YV, nn.MSELoss(), torch.optim.Adam(model.parameters(), lr=0.01, foreach=False), 16, 6)
cases["lstm_regressor"] = {
    "flags": ["--model", "lstm(8),last,linear(1)", "--input-shape", "6,3", "--target", "y", "--lr", "0.01", "--batch-size", "16", "--epochs", "6"],
    "data": "lstm_regressor", "epochs": epochs}

# A two-layer GRU classifier: which of three patterns the sequence follows.
torch.manual_seed(22)
T, Fe = 5, 2


def patterns(n):
    label = torch.randint(0, 3, (n,))
    t = torch.arange(T, dtype=torch.float32)
    base = torch.stack([torch.sin(t), torch.cos(t), t / T - 0.5])[label]
    x = torch.stack([base, base * 0.5 + 0.3 * torch.randn(n, T)], dim=2) + 0.3 * torch.randn(n, T, 2)
    return x, label


X, Y = patterns(60)
XV, YV = patterns(15)
names = [f"t{t}f{f}" for t in range(T) for f in range(Fe)]
write_csv("gru_classifier_train.csv", X.reshape(60, -1), Y.unsqueeze(1).float(), names, ["label"])
write_csv("gru_classifier_val.csv", XV.reshape(15, -1), YV.unsqueeze(1).float(), names, ["label"])
model = nn.Sequential(SequenceGRU(Fe, 10, num_layers=2, batch_first=True), Last(), nn.Linear(10, 3))
epochs = train("gru_classifier", model, X, Y, XV, YV, nn.CrossEntropyLoss(),
               torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=False), 12, 8)
cases["gru_classifier"] = {
    "flags": ["--model", "gru(10,layers=2),last,linear(3)", "--input-shape", "5,2", "--target", "label", "--loss", "ce",
              "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--batch-size", "12", "--epochs", "8"],
    "data": "gru_classifier", "epochs": epochs}

# A byte-level LSTM language model from --text: the windows as `gpu train --text` cuts them. The short
# run's final weights are compared; the longer one (more steps let float32 rounding drift by a few
# 1e-5 on both sides) is trained far enough to write varied text, and its greedy continuation is compared.
text = open("sequence_text.txt", "rb").read()
context = 16
tokens = torch.tensor(list(text), dtype=torch.long)
windows = (len(tokens) - 1) // context
inputs = torch.stack([tokens[i * context:i * context + context] for i in range(windows)])
targets = torch.stack([tokens[i * context + 1:i * context + context + 1] for i in range(windows)])
held = round(windows * 0.1)


def per_position(logits, y):
    return F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))


def language_model(name, seed, lr, epochs):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Embedding(256, 16), SequenceLSTM(16, 32, batch_first=True), nn.Linear(32, 256))
    rows = train(name, model, inputs[:-held], targets[:-held], inputs[-held:], targets[-held:], per_position,
                 torch.optim.Adam(model.parameters(), lr=lr, foreach=False), 8, epochs)
    prompt = "First Citizen:"
    idx = list(prompt.encode("utf-8"))
    generated = []
    model.eval()
    with torch.no_grad():
        for _ in range(40):
            logits = model(torch.tensor([idx[-context:]]))[0, -1]
            nxt = int(torch.argmax(logits))
            idx.append(nxt)
            generated.append(nxt)
    return {
        "flags": ["--model", "embedding(16),lstm(32),linear(256)", "--context", str(context), "--loss", "ce", "--val-split", "0.1",
                  "--lr", str(lr), "--batch-size", "8", "--epochs", str(epochs)],
        "text": "sequence_text.txt", "windows": windows, "validation_windows": held, "epochs": rows,
        "prompt": prompt, "greedy": generated}


cases["byte_lstm_lm"] = language_model("byte_lstm_lm", 23, 0.01, 3)
cases["byte_lstm_lm_long"] = language_model("byte_lstm_lm_long", 24, 0.02, 8)



class Positions(nn.Module):
    """The posembedding word: a learned (context, dim) table added at each position."""

    def __init__(self, context, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(context, dim) * 0.02)

    def forward(self, x):
        return x + self.weight[:x.shape[1]]


class SelfAttention(nn.Module):
    """nanoGPT's CausalSelfAttention, its non-flash path, without dropout."""

    def __init__(self, dim, heads):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(torch.tril(torch.ones(t, t)) == 0, float("-inf"))
        y = torch.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(n, t, d))


class Residual(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


def gpt(dim, heads, blocks, context, vocabulary):
    layers = [nn.Embedding(vocabulary, dim), Positions(context, dim)]
    for _ in range(blocks):
        layers.append(Residual(nn.LayerNorm(dim), SelfAttention(dim, heads)))
        layers.append(Residual(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim)))
    layers += [nn.LayerNorm(dim), nn.Linear(dim, vocabulary)]
    return nn.Sequential(*layers)


# A two-block GPT on the same windows: AdamW, linear warmup then cosine decay per step, the
# gradient clipped to norm 1 (nanoGPT's recipe), the loop of make_toolkit_fixtures.py.
torch.manual_seed(25)
model = gpt(16, 2, 2, context, 256)
write_safetensors("gpt_init.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
X, Y, XV, YV = inputs[:-held], targets[:-held], inputs[-held:], targets[-held:]
batch, epochs, warmup = 8, 2, 5
steps = epochs * math.ceil(X.shape[0] / batch)
opt = torch.optim.AdamW(model.parameters(), lr=0.003, foreach=False)
sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
                             S.CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=1e-4)], milestones=[warmup])
rows = []
for epoch in range(epochs):
    model.train()
    total = 0.0
    for start in range(0, X.shape[0], batch):
        count = min(batch, X.shape[0] - start)
        opt.zero_grad()
        loss = per_position(model(X[start:start + count]), Y[start:start + count])
        total += loss.item() * count
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        val = per_position(model(XV), YV).item()
    rows.append({"epoch": epoch, "loss": total / X.shape[0], "val_loss": val, "lr": lr, "grad_norm": norm})
write_safetensors("gpt_final.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
cases["gpt"] = {
    "flags": ["--model", "embedding(16),posembedding," + ",".join(["residual(layernorm,attention(2)),residual(layernorm,linear(64),gelu(tanh),linear(16))"] * 2)
              + ",layernorm,linear(256)", "--context", str(context), "--loss", "ce", "--val-split", "0.1", "--optimizer", "adamw", "--lr", "0.003",
              "--lr-schedule", f"cosine(min=0.0001,warmup={warmup})", "--clip-grad-norm", "1", "--batch-size", str(batch), "--epochs", str(epochs)],
    "text": "sequence_text.txt", "windows": windows, "validation_windows": held, "epochs": rows}

with open("sequence_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", ", ".join(cases))
