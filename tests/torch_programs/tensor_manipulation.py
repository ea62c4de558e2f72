"""Everyday tensor manipulation from tutorials: creation, shapes and views, indexing,
reductions with dim/keepdim, max returning (values, indices), in-place updates, dtypes,
broadcasting, gather/scatter, sorting, einsum."""
import numpy as np
import torch

torch.manual_seed(0)
a = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
b = torch.from_numpy(np.linspace(-1, 1, 12, dtype=np.float32)).view(3, 4)

print(f"RESULT size {a.size(1)} equal -")
print(f"RESULT shape {'x'.join(map(str, a.permute(2, 0, 1).shape))} equal -")
print(f"RESULT dim_numel {a.dim()},{a.numel()} equal -")
print(f"RESULT view {a.view(6, 4)[5, 3].item():.1f} equal -")
print(f"RESULT transpose {a.transpose(0, 2).contiguous().view(-1)[5].item():.1f} equal -")
print(f"RESULT flatten_unsqueeze {'x'.join(map(str, a.flatten(1).unsqueeze(0).shape))} equal -")
print(f"RESULT sum_dim {a.sum(dim=1).sum().item():.1f} equal -")
print(f"RESULT mean_keepdim {a.mean(dim=-1, keepdim=True).shape[-1]} equal -")
values, indices = a.max(dim=2)
print(f"RESULT max_values {values.sum().item():.1f} equal -")
print(f"RESULT max_indices {indices.sum().item()} equal -")
print(f"RESULT argmax {b.argmax().item()} equal -")
print(f"RESULT std {b.std().item():.5f} close 1e-5")
print(f"RESULT norm {b.norm(dim=1).sum().item():.5f} close 1e-5")
print(f"RESULT cat_stack {torch.cat([b, b], dim=0).shape[0]},{torch.stack([b, b]).shape[0]} equal -")
c = b.clone()
c[c < 0] = 0
c += 1
c.mul_(2)
print(f"RESULT inplace {c.sum().item():.4f} close 1e-4")
print(f"RESULT where {torch.where(b > 0, b, torch.zeros_like(b)).sum().item():.4f} close 1e-5")
print(f"RESULT clamp {b.clamp(min=-0.5, max=0.5).abs().sum().item():.4f} close 1e-5")
print(f"RESULT gather {torch.gather(b, 1, torch.tensor([[0], [1], [2]])).sum().item():.4f} close 1e-5")
print(f"RESULT topk {b.view(-1).topk(3).values.sum().item():.4f} close 1e-5")
print(f"RESULT sort {b[0].sort(descending=True).indices.tolist()[0]} equal -")
print(f"RESULT cumsum {b.cumsum(dim=1)[:, -1].sum().item():.4f} close 1e-5")
print(f"RESULT einsum {torch.einsum('ij,kj->ik', b, b).trace().item():.4f} close 1e-4")
print(f"RESULT long_float {(b > 0).long().dtype == torch.int64},{torch.ones(2).int().float().dtype == torch.float32} equal -")
print(f"RESULT tril {torch.tril(torch.ones(4, 4)).sum().item():.0f} equal -")
print(f"RESULT chunk {len(torch.arange(10).chunk(3))} equal -")
print(f"RESULT masked_fill {b.masked_fill(b > 0, -1.0).sum().item():.4f} close 1e-5")
print(f"RESULT broadcast {(a + b).sum().item():.4f} close 1e-3")
print(f"RESULT matmul {(b @ b.T).sum().item():.4f} close 1e-4")
print(f"RESULT intdiv_mod {(torch.arange(7) // 2).sum().item()},{(torch.arange(7) % 3).sum().item()} equal -")
