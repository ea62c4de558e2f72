"""nanoGPT's checkpoint-and-resume: a checkpoint dict with model, optimizer, model_args, iter_num,
best_val_loss and config, written by torch.save and read back with map_location; the
'_orig_mod.' prefix stripped from the keys as train.py does; the RNG state saved with
torch.get_rng_state so dropout resumes identically; the device from torch.cuda.is_available() and
nullcontext as the autocast context on CPU; the resumed run must equal the uninterrupted one exactly."""
import math
import os
import tempfile
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

out_dir = tempfile.mkdtemp()
rng_np = np.random.default_rng(0)
data = torch.from_numpy(rng_np.integers(0, 11, size=2000).astype(np.int64))
block_size, batch_size = 8, 8
batches = [torch.from_numpy(rng_np.integers(0, len(data) - block_size - 1, size=batch_size))
           for _ in range(24)]


def get_batch(it):
    ix = batches[it]
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
    return x, y


class TinyGPT(nn.Module):
    def __init__(self, vocab_size, n_embd, n_head, dropout):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.block = nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout=dropout,
                                                activation="gelu", batch_first=True, norm_first=True)
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight
        mask = torch.triu(torch.ones(block_size, block_size, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", mask, persistent=False)

    def forward(self, idx, targets):
        t = idx.size(1)
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(t)))
        x = self.block(x, src_mask=self.causal[:t, :t])
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def init_model(model_args):
    torch.manual_seed(1337)
    model = TinyGPT(**model_args)
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            p.copy_(0.2 * torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (0.37 + 0.01 * i))
                    .view(p.shape))
    return model


def get_lr(it, learning_rate=2e-3, warmup_iters=5, lr_decay_iters=24, min_lr=2e-4):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) * (learning_rate - min_lr)


config = {"batch_size": batch_size, "block_size": block_size, "grad_clip": 1.0, "dtype": "float32"}
ctx = nullcontext()
device = "cuda" if torch.cuda.is_available() else "cpu"


def train(model, optimizer, iter_num, stop, losses):
    model.train()
    while iter_num < stop:
        lr = get_lr(iter_num)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        X, Y = get_batch(iter_num)
        with ctx:
            logits, loss = model(X, Y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
        optimizer.step()
        losses.append(loss.item())
        iter_num += 1
    return iter_num


model_args = dict(vocab_size=11, n_embd=16, n_head=2, dropout=0.1)
# uninterrupted
model = init_model(model_args)
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
torch.manual_seed(7)
straight = []
train(model, optimizer, 0, 24, straight)

# interrupted at 20, checkpointed the nanoGPT way, resumed
model = init_model(model_args)
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
torch.manual_seed(7)
first = []
iter_num = train(model, optimizer, 0, 12, first)
checkpoint = {
    "model": {"_orig_mod." + k: v for k, v in model.state_dict().items()},   # as torch.compile names them
    "optimizer": optimizer.state_dict(),
    "model_args": model_args,
    "iter_num": iter_num,
    "best_val_loss": min(first),
    "config": config,
    "rng_state": torch.get_rng_state(),
}
ckpt_path = os.path.join(out_dir, "ckpt.pt")
torch.save(checkpoint, ckpt_path)
del model, optimizer, checkpoint

checkpoint = torch.load(ckpt_path, map_location=device)
model = init_model(checkpoint["model_args"])
with torch.no_grad():
    for p in model.parameters():
        p.zero_()
state_dict = checkpoint["model"]
unwanted_prefix = "_orig_mod."
for k, v in list(state_dict.items()):
    if k.startswith(unwanted_prefix):
        state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
model.load_state_dict(state_dict)
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
optimizer.load_state_dict(checkpoint["optimizer"])
torch.set_rng_state(checkpoint["rng_state"])
resumed = list(first)
train(model, optimizer, checkpoint["iter_num"], 24, resumed)

print(f"RESULT ckpt_fields {','.join(sorted(checkpoint))} equal -")
print(f"RESULT model_args {checkpoint['model_args']['n_embd']},{checkpoint['model_args']['dropout']} equal -")
print(f"RESULT iter_num {checkpoint['iter_num']} equal -")
print(f"RESULT n_keys {len(state_dict)},{int('wte.weight' in state_dict)},{int('causal' in state_dict)} equal -")
print(f"RESULT still_tied {int(model.wte.weight is model.lm_head.weight)} equal -")
print(f"RESULT opt_groups {len(optimizer.state_dict()['param_groups'])},{len(optimizer.state_dict()['state'])} equal -")
print(f"RESULT best_val_loss {checkpoint['best_val_loss']:.3f} max 2.6")
print(f"RESULT first_loss {straight[0]:.4f} close 0.03")
print(f"RESULT final_loss {straight[-1]:.3f} max 2.5")
print(f"RESULT resume_exact {max(abs(a - b) for a, b in zip(straight, resumed)):.2e} max 1e-6")
