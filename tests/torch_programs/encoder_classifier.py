"""Sequence classification with nn.TransformerEncoder (batch_first, norm_first) on variable-length
sequences: a Dataset subclass of token lists, a collate_fn that pads with pad_sequence and builds
the src_key_padding_mask, masked mean pooling, a learned [CLS]-free head, AdamW + OneCycleLR per
batch, accuracy with argmax, and a check that padding a sequence further changes nothing."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

torch.manual_seed(0)
rng = np.random.default_rng(0)
PAD, VOCAB, D = 0, 12, 32


class MajorityDataset(Dataset):
    """Label: whether token 1 occurs more often than token 2 (ties excluded)."""

    def __init__(self, n):
        self.items = []
        while len(self.items) < n:
            length = int(rng.integers(3, 11))
            seq = rng.integers(1, VOCAB, size=length)
            ones, twos = int((seq == 1).sum()), int((seq == 2).sum())
            if ones == twos:
                continue
            self.items.append((torch.tensor(seq, dtype=torch.long), int(ones > twos)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def collate(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(list(seqs), batch_first=True, padding_value=PAD)
    mask = padded == PAD
    return padded, mask, lengths, torch.tensor(labels)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D, padding_idx=PAD)
        self.pos = nn.Parameter(torch.zeros(1, 16, D))
        layer = nn.TransformerEncoderLayer(d_model=D, nhead=4, dim_feedforward=64, dropout=0.1,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2))

    def forward(self, tokens, pad_mask):
        x = self.embed(tokens) + self.pos[:, :tokens.size(1)]
        x = self.encoder(x, src_key_padding_mask=pad_mask)
        keep = (~pad_mask).unsqueeze(-1).float()
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


train_ds, test_ds = MajorityDataset(256), MajorityDataset(128)
train_loader = DataLoader(train_ds, batch_size=32, shuffle=True, collate_fn=collate)
test_loader = DataLoader(test_ds, batch_size=64, shuffle=False, collate_fn=collate)
model = Classifier()
epochs = 6
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=epochs,
                                                steps_per_epoch=len(train_loader))
criterion = nn.CrossEntropyLoss()
n_layers = len(model.encoder.layers)
lrs = []
for epoch in range(epochs):
    model.train()
    total, count = 0.0, 0
    for tokens, mask, lengths, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(tokens, mask), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        total += loss.item() * labels.size(0)
        count += labels.size(0)


def accuracy(loader):
    model.eval()
    correct = n = 0
    with torch.no_grad():
        for tokens, mask, lengths, labels in loader:
            pred = model(tokens, mask).argmax(dim=1)
            correct += (pred == labels).sum().item()
            n += labels.numel()
    return correct / n


train_acc, test_acc = accuracy(train_loader), accuracy(test_loader)

model.eval()
with torch.no_grad():
    seq = torch.tensor([[3, 1, 1, 2, 5]])
    short = model(seq, seq == PAD)
    longer = F.pad(seq, (0, 4), value=PAD)
    padded_out = model(longer, longer == PAD)
pad_change = (short - padded_out).abs().max().item()
tokens, mask, lengths, labels = next(iter(test_loader))

print(f"RESULT n_layers {n_layers} equal -")
print(f"RESULT collate_shape {tuple(tokens.shape)[0]},{int(mask.sum().item() == (tokens == PAD).sum().item())} equal -")
print(f"RESULT mask_is_bool {int(mask.dtype == torch.bool)} equal -")
print(f"RESULT max_len_matches {int(tokens.size(1) == lengths.max().item())} equal -")
print(f"RESULT lr_peak {max(lrs):.6f} close 1e-6")
print(f"RESULT lr_final {lrs[-1]:.3e} close 1e-9")
print(f"RESULT train_loss {total / count:.3f} max 0.35")
print(f"RESULT train_acc {train_acc:.3f} min 0.9")
print(f"RESULT test_acc {test_acc:.3f} min 0.85")
print(f"RESULT padding_invariant {pad_change:.2e} max 1e-5")
