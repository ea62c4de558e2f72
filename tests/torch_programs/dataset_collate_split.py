"""Custom Dataset, DataLoader with collate_fn / drop_last / samplers, random_split, seed reproducibility."""
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split, Subset, ConcatDataset

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

class Words(Dataset):
    def __init__(self, n):
        self.items = [list(range(1, 2 + i % 5)) for i in range(n)]
    def __len__(self):
        return len(self.items)
    def __getitem__(self, i):
        return {"ids": torch.tensor(self.items[i]), "label": i % 3, "w": float(i)}

def collate(batch):
    ids = pad_sequence([b["ids"] for b in batch], batch_first=True, padding_value=0)
    return ids, torch.tensor([b["label"] for b in batch]), torch.tensor([len(b["ids"]) for b in batch])

ds = Words(23)
dl = DataLoader(ds, batch_size=4, collate_fn=collate)
R("n_batches", len(dl), "equal", "-")
shapes = [tuple(x.shape) for x, _, _ in dl]
R("batch_shapes", shapes, "equal", "-")
x, y, l = next(iter(dl))
R("first_batch", x.tolist(), "equal", "-")
R("first_labels", (y.tolist(), y.dtype == torch.int64), "equal", "-")
R("drop_last", len(DataLoader(ds, batch_size=4, drop_last=True, collate_fn=collate)), "equal", "-")
# default collate on dicts
b = next(iter(DataLoader(ds, batch_size=3, collate_fn=lambda s: {k: [d[k] for d in s] for k in s[0]})))
R("dict_collate", b["label"], "equal", "-")
dflt = next(iter(DataLoader(TensorDataset(torch.arange(10.0), torch.arange(10)), batch_size=4)))
R("default_collate", (type(dflt).__name__, dflt[0].tolist(), dflt[1].tolist()), "equal", "-")
class Pairs(Dataset):
    def __len__(self): return 5
    def __getitem__(self, i): return torch.full((2,), float(i)), i, float(i) / 2
p = next(iter(DataLoader(Pairs(), batch_size=5)))
R("default_collate_tuple", (p[0].shape[0], p[1].tolist(), p[2].dtype == torch.float64), "equal", "-")
# shuffle: order differs from torch's (documented), but a permutation; reproducible with same seed
torch.manual_seed(1)
o1 = [int(v) for xb, _ in DataLoader(TensorDataset(torch.arange(12), torch.arange(12)), batch_size=5, shuffle=True) for v in xb]
torch.manual_seed(1)
o2 = [int(v) for xb, _ in DataLoader(TensorDataset(torch.arange(12), torch.arange(12)), batch_size=5, shuffle=True) for v in xb]
R("shuffle_perm", sorted(o1) == list(range(12)), "equal", "-")
R("shuffle_repro", o1 == o2, "equal", "-")
tr, va = random_split(TensorDataset(torch.arange(10)), [7, 3])
R("split_lens", (len(tr), len(va)), "equal", "-")
R("split_disjoint", len(set(int(tr[i][0]) for i in range(7)) | set(int(va[i][0]) for i in range(3))), "equal", "-")
R("subset", int(Subset(ds, [5, 9])[1]["label"]), "equal", "-")
R("concat", len(ConcatDataset([ds, ds])), "equal", "-")
# seed reproducibility of random ops
torch.manual_seed(42)
a = torch.randn(3, 4); b = torch.rand(2); c = torch.randint(0, 10, (5,)); perm = torch.randperm(6)
torch.manual_seed(42)
a2 = torch.randn(3, 4); b2 = torch.rand(2); c2 = torch.randint(0, 10, (5,)); perm2 = torch.randperm(6)
R("seed_repro", all([torch.equal(a, a2), torch.equal(b, b2), torch.equal(c, c2), torch.equal(perm, perm2)]), "equal", "-")
R("randint_dtype", c.dtype == torch.int64, "equal", "-")
R("randperm_sorted", sorted(perm.tolist()), "equal", "-")
R("rand_range", float(torch.rand(1000).max()), "max", "1.0")
big = torch.randn(20000)
R("randn_mean", big.mean().item(), "close", "0.05")
R("randn_std", big.std().item(), "close", "0.05")
g = torch.Generator().manual_seed(3)
R("gen_repro", torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(3))), "equal", "-")
