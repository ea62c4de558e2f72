# Variable-length token data: Dataset, DataLoader, collate_fn with pad_sequence, random_split
import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split, Subset

torch.manual_seed(0)
PAD = 0
rng = np.random.default_rng(2)
seqs = [rng.integers(1, 50, size=int(n)).tolist() for n in rng.integers(2, 9, size=23)]


class TokenDataset(Dataset):
    def __init__(self, seqs):
        self.seqs = seqs

    def __len__(self):
        return len(self.seqs)

    def __getitem__(self, i):
        s = torch.tensor(self.seqs[i], dtype=torch.long)
        return {"input": s[:-1], "target": s[1:], "idx": i}


def collate(batch):
    inputs = pad_sequence([b["input"] for b in batch], batch_first=True, padding_value=PAD)
    targets = pad_sequence([b["target"] for b in batch], batch_first=True, padding_value=-100)
    lengths = torch.tensor([len(b["input"]) for b in batch])
    mask = torch.arange(inputs.size(1))[None, :] < lengths[:, None]
    return inputs, targets, mask, [b["idx"] for b in batch]


ds = TokenDataset(seqs)
loader = DataLoader(ds, batch_size=5, shuffle=False, collate_fn=collate)
print("RESULT n_batches", len(loader), "equal -")
shapes, pads, ign = [], 0, 0
for inputs, targets, mask, idx in loader:
    shapes.append("x".join(map(str, inputs.shape)))
    pads += int((inputs == PAD).sum())
    ign += int((targets == -100).sum())
    assert bool((mask.sum(1) == (inputs != PAD).sum(1)).all())
print("RESULT shapes", ",".join(shapes), "equal -")
print("RESULT pads", pads, "equal -")
print("RESULT ignored", ign, "equal -")
print("RESULT mask_dtype", str(mask.dtype).replace("torch.", ""), "equal -")

# pad_sequence default: (T, B) layout
ps = pad_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])])
print("RESULT pad_seq_first", "x".join(map(str, ps.shape)), "equal -")
print("RESULT pad_seq_vals", str(ps.tolist()).replace(" ", ""), "equal -")
ps_left = pad_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])], batch_first=True, padding_side="left")
print("RESULT pad_left", str(ps_left.tolist()).replace(" ", ""), "equal -")

# default collate of dict samples
plain = DataLoader(ds, batch_size=1)
first = next(iter(plain))
print("RESULT default_collate_keys", ",".join(sorted(first.keys())), "equal -")
print("RESULT default_collate_idx", str(first["idx"].tolist()), "equal -")
print("RESULT default_collate_shape", "x".join(map(str, first["input"].shape)), "equal -")

# shuffle with a generator: order differs per framework, so check it is a permutation
g = torch.Generator().manual_seed(42)
sh = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate, generator=g, drop_last=True)
seen = [i for _, _, _, idx in sh for i in idx]
print("RESULT drop_last_len", len(sh), "equal -")
print("RESULT shuffled_unique", len(set(seen)) == len(seen) == 20, "equal -")
print("RESULT epoch_differs", seen != [i for _, _, _, idx in sh for i in idx], "equal -")

# random_split with fractions and a generator
train, val = random_split(ds, [0.8, 0.2], generator=torch.Generator().manual_seed(0))
print("RESULT split_lens", f"{len(train)},{len(val)}", "equal -")
print("RESULT split_disjoint", len(set(train.indices) & set(val.indices)) == 0, "equal -")
sub = Subset(ds, [3, 1, 4])
print("RESULT subset", sub[1]["idx"], "equal -")

# TensorDataset + DataLoader over fixed-length windows
x = torch.arange(40).view(10, 4)
y = torch.arange(10) % 3
tl = DataLoader(TensorDataset(x, y), batch_size=4)
sizes = [tuple(xb.shape) + (int(yb.sum()),) for xb, yb in tl]
print("RESULT tensordataset", str(sizes).replace(" ", ""), "equal -")
print("RESULT batch_dtype", str(next(iter(tl))[0].dtype).replace("torch.", ""), "equal -")

# numpy arrays and python floats through default collate
class NpDs(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return np.full(3, i, dtype=np.float32), float(i) * 0.5, i


xb, fb, ib = next(iter(DataLoader(NpDs(), batch_size=3)))
print("RESULT np_collate", f"{type(xb).__name__},{str(xb.dtype).replace('torch.', '')},{str(fb.dtype).replace('torch.', '')},{str(ib.dtype).replace('torch.', '')}", "equal -")
print("RESULT np_collate_vals", f"{float(xb.sum())},{float(fb.sum())}", "equal -")

# a loader with a sampler of precomputed buckets (length-bucketed batches)
order = sorted(range(len(ds)), key=lambda i: len(seqs[i]))
buckets = [order[i:i + 6] for i in range(0, len(order), 6)]
bl = DataLoader(ds, batch_sampler=buckets, collate_fn=collate)
print("RESULT bucket_widths", ",".join(str(b[0].size(1)) for b in bl), "equal -")

# the usual device-transfer line in a training loop
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
for xb, yb in tl:
    xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
print("RESULT moved", xb.device.type, "equal -")
