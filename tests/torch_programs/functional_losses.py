"""torch.nn.functional and its loss modules on fixed data: activations, normalisation,
padding, one-hot, every common loss (values and gradients), label smoothing, class weights,
ignore_index, probability targets, log-target KL, the legacy reduction flags."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(5)
logits_np = rng.normal(size=(6, 5)).astype(np.float32)
ids_np = np.array([0, 4, 2, 2, 1, 3])
x = torch.tensor(logits_np, requires_grad=True)
ids = torch.from_numpy(ids_np)
weights = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
target = torch.tensor(rng.normal(size=(6, 5)).astype(np.float32))
probs = F.softmax(torch.tensor(rng.normal(size=(6, 5)).astype(np.float32)), dim=1)

losses = {
    "ce": F.cross_entropy(x, ids),
    "ce_smooth": F.cross_entropy(x, ids, label_smoothing=0.1),
    "ce_weight": F.cross_entropy(x, ids, weight=weights),
    "ce_ignore": nn.CrossEntropyLoss(ignore_index=2)(x, ids),
    "ce_probs": F.cross_entropy(x, probs),
    "nll": F.nll_loss(F.log_softmax(x, dim=1), ids, reduction="sum"),
    "mse": F.mse_loss(x, target),
    "l1": nn.L1Loss(reduction="sum")(x, target),
    "kl": F.kl_div(F.log_softmax(x, dim=-1), probs, reduction="batchmean"),
    "kl_log": nn.KLDivLoss(reduction="sum", log_target=True)(F.log_softmax(x, -1), torch.log(probs)),
    "bce": F.binary_cross_entropy_with_logits(x, torch.sigmoid(target)),
    "bce_pos": nn.BCEWithLogitsLoss(pos_weight=torch.full((5,), 2.0))(x, torch.sigmoid(target)),
    "bce_probs": F.binary_cross_entropy(torch.sigmoid(x), torch.sigmoid(target)),
    "legacy_sum": F.mse_loss(x, target, size_average=False),
}
total = sum(losses.values())
total.backward()
for name, value in losses.items():
    print(f"RESULT loss_{name} {value.item():.6f} close 1e-5")
print(f"RESULT grad_sum {x.grad.sum().item():.6f} close 1e-5")
print(f"RESULT grad_abs {x.grad.abs().sum().item():.6f} close 1e-4")

with torch.no_grad():
    acts = {"relu": F.relu(x), "gelu": F.gelu(x), "gelu_tanh": F.gelu(x, approximate="tanh"),
            "silu": F.silu(x), "tanh": torch.tanh(x), "sigmoid": torch.sigmoid(x),
            "softmax": F.softmax(x, dim=0), "log_softmax": F.log_softmax(x, dim=-1),
            "normalize": F.normalize(x, dim=1), "pad": F.pad(x, (1, 2, 0, 1), value=0.5),
            "layer_norm": F.layer_norm(x, (5,)), "linear": F.linear(x, target[:3], weights[:3])}
    for name, value in acts.items():
        print(f"RESULT {name} {value.sum().item():.5f} close 1e-4")
    print(f"RESULT pad_shape {'x'.join(str(s) for s in acts['pad'].shape)} equal -")
    hot = F.one_hot(ids, num_classes=6)
    print(f"RESULT one_hot {hot.sum().item()} equal -")
    print(f"RESULT one_hot_dtype {str(hot.dtype).split('.')[-1]} equal -")
    modules = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (5, 1)), nn.Flatten(0), nn.Identity(),
                            nn.Softmax(dim=0), nn.LogSoftmax(dim=0), nn.SiLU(), nn.Tanh())
    print(f"RESULT modules {modules(x).sum().item():.5f} close 1e-4")
