"""nn.Transformer (batch_first) on a copy task with padded batches: src/tgt key padding masks,
the causal mask from nn.Transformer.generate_square_subsequent_mask, properties that must hold
whatever the weights (padding and future positions change nothing they must not), and training
to a stated loss, with Adam and label-smoothed cross-entropy ignoring the padding."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
rng = np.random.default_rng(0)
PAD, BOS, vocab, d_model = 0, 1, 8, 32


class Copier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.pos = nn.Embedding(16, d_model)
        self.transformer = nn.Transformer(d_model=d_model, nhead=4, num_encoder_layers=1,
                                          num_decoder_layers=1, dim_feedforward=64, dropout=0.0,
                                          batch_first=True)
        self.out = nn.Linear(d_model, vocab)

    def embed_at(self, tokens):
        positions = torch.arange(tokens.shape[1])
        return self.embed(tokens) * d_model ** 0.5 + self.pos(positions)

    def forward(self, src, tgt):
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        hidden = self.transformer(self.embed_at(src), self.embed_at(tgt), tgt_mask=tgt_mask,
                                  src_key_padding_mask=src == PAD,
                                  tgt_key_padding_mask=tgt == PAD,
                                  memory_key_padding_mask=src == PAD)
        return self.out(hidden)


def padded_batch(n, max_len=6):
    lengths = rng.integers(2, max_len + 1, n)
    src = np.full((n, max_len), PAD)
    for row, length in enumerate(lengths):
        src[row, :length] = rng.integers(2, vocab, length)
    tgt_in = np.concatenate([np.full((n, 1), BOS), src[:, :-1]], axis=1)
    tgt_in[src == PAD] = PAD           # no input after the end either
    return torch.from_numpy(src), torch.from_numpy(tgt_in), torch.from_numpy(src)


model = Copier()
model.eval()
src, tgt_in, _ = padded_batch(4)
with torch.no_grad():
    base = model(src, tgt_in)
    # 1. changing what sits in padded source positions changes nothing
    noisy = src.clone()
    noisy[src == PAD] = 5
    keep = model.transformer(model.embed_at(noisy), model.embed_at(tgt_in),
                             tgt_mask=nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1]),
                             src_key_padding_mask=src == PAD, tgt_key_padding_mask=tgt_in == PAD,
                             memory_key_padding_mask=src == PAD)
    diff_pad = (model.out(keep) - base).abs().max().item()
    # 2. a later target token changes no earlier position's output
    later = tgt_in.clone()
    later[:, 4] = 7
    changed = model(src, later)
    diff_causal = (changed[:, :4] - base[:, :4]).abs().max().item()
    moved = (changed[:, 4:] - base[:, 4:]).abs().max().item()
print(f"RESULT padding_invariance {diff_pad:.2e} max 1e-5")
print(f"RESULT causal_invariance {diff_causal:.2e} max 1e-5")
print(f"RESULT later_positions_move {int(moved > 1e-4)} equal -")
print(f"RESULT output_shape {'x'.join(str(s) for s in base.shape)} equal -")
mask = nn.Transformer.generate_square_subsequent_mask(3)
print(f"RESULT mask_row0 {','.join(str(v) for v in mask[0].tolist())} equal -")

model.train()
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
for step in range(120):
    src, tgt_in, tgt_out = padded_batch(32)
    logits = model(src, tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, vocab), tgt_out.reshape(-1), ignore_index=PAD,
                           label_smoothing=0.05)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    src, tgt_in, tgt_out = padded_batch(64)
    pred = model(src, tgt_in).argmax(-1)
    real = tgt_out != PAD
    accuracy = ((pred == tgt_out) & real).sum().item() / real.sum().item()
print(f"RESULT trained_loss {loss.item():.3f} max 0.8")
print(f"RESULT copy_accuracy {accuracy:.3f} min 0.7")
