"""Sequence classifier: nn.Embedding(padding_idx) + nn.TransformerEncoder(batch_first) with src_key_padding_mask."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

torch.manual_seed(0)
rng = np.random.default_rng(5)
V, D, PAD = 12, 32, 0

class Clf(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=PAD)
        self.pos = nn.Parameter(torch.zeros(1, 16, D))
        layer = nn.TransformerEncoderLayer(D, nhead=4, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2)
        self.out = nn.Linear(D, 2)

    def forward(self, tok):
        pad = tok == PAD
        h = self.enc(self.emb(tok) + self.pos[:, :tok.size(1)], src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.out((h * keep).sum(1) / keep.sum(1))

def batch(n):
    lens = rng.integers(3, 11, n)
    tok = np.zeros((n, 10), dtype=np.int64)
    for i, L in enumerate(lens):
        tok[i, :L] = rng.integers(1, V, L)
    y = (tok == 3).any(1).astype(np.int64)   # does token 3 appear?
    return torch.from_numpy(tok), torch.from_numpy(y)

model = Clf()
R("emb_pad_row_zero", model.emb.weight[PAD].abs().sum().item(), "equal", "-")
R("n_layers", len(model.enc.layers), "equal", "-")
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
first = None
for step in range(150):
    tok, y = batch(32)
    loss = F.cross_entropy(model(tok), y)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    first = first if first is not None else loss.item()
R("first_loss", first, "close", "0.3")
R("final_loss", loss.item(), "max", "0.3")
R("pad_grad_zero", model.emb.weight.grad[PAD].abs().sum().item(), "equal", "-")
model.eval()
with torch.no_grad():
    tok, y = batch(256)
    acc = (model(tok).argmax(-1) == y).float().mean().item()
    R("accuracy", acc, "min", "0.85")
    # padding invariance: changing padded positions' tokens must not change the output
    t2 = tok.clone()
    t2[t2 == PAD] = 5
    pad = tok == PAD
    h1 = model.enc(model.emb(tok) + model.pos[:, :10], src_key_padding_mask=pad)
    h2 = model.enc(model.emb(t2) + model.pos[:, :10], src_key_padding_mask=pad)
    diff = (h1 - h2)[~pad].abs().max().item()
    R("pad_invariance", diff, "max", "1e-5")
    R("enc_shape", tuple(h1.shape), "equal", "-")
    # eval is deterministic (dropout off)
    R("eval_deterministic", torch.equal(model(tok), model(tok)), "equal", "-")
    causal = nn.Transformer.generate_square_subsequent_mask(4)
    R("causal_mask", causal.tolist(), "equal", "-")
    h3 = model.enc(model.emb(tok[:4, :4]), mask=causal)
    h4 = model.enc(model.emb(tok[:4, :3]), mask=causal[:3, :3])
    R("causal_prefix", (h3[:, :3] - h4).abs().max().item(), "max", "1e-5")
model.train()
a, b = model(tok[:8]), model(tok[:8])
R("train_dropout_differs", int(not torch.equal(a, b)), "equal", "-")
