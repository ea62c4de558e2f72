"""Sequential / ModuleDict / ParameterList / buffers; state_dict save and load through a temp file."""
import os
import tempfile
from collections import OrderedDict

import torch
import torch.nn as nn

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict([("fc", nn.Linear(4, 6)), ("act", nn.ReLU()), ("drop", nn.Dropout(0.5))]))
        self.heads = nn.ModuleDict({"a": nn.Linear(6, 2), "b": nn.Linear(6, 3, bias=False)})
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(2)), nn.Parameter(torch.full((3,), 2.0))])
        self.norm = nn.LayerNorm(6)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("tmp", torch.ones(1), persistent=False)

    def forward(self, x):
        self.steps += 1
        h = self.norm(self.body(x))
        return {k: head(h) * s for (k, head), s in zip(self.heads.items(), self.scales)}

torch.manual_seed(0)
net = Net()
R("param_names", [n for n, _ in net.named_parameters()], "equal", "-")
R("sd_keys", list(net.state_dict().keys()), "equal", "-")
R("buffers", [n for n, _ in net.named_buffers()], "equal", "-")
R("n_params", sum(p.numel() for p in net.parameters()), "equal", "-")
R("children", [n for n, _ in net.named_children()], "equal", "-")
R("modules_count", len(list(net.modules())), "equal", "-")
R("seq_index", type(net.body[0]).__name__, "equal", "-")
R("seq_attr", net.body.fc.out_features, "equal", "-")
R("seq_len", len(net.body), "equal", "-")
R("seq_slice", type(net.body[:2]).__name__ + str(len(net.body[:2])), "equal", "-")
R("moddict_keys", list(net.heads.keys()), "equal", "-")
R("in_dict", "a" in net.heads, "equal", "-")
R("plist_len", len(net.scales), "equal", "-")
x = torch.randn(5, 4)
net.eval()
out = net(x)
R("out_shapes", {k: tuple(v.shape) for k, v in out.items()}, "equal", "-")
R("steps_buffer", net.steps.item(), "equal", "-")
R("training_flag", [m.training for m in net.modules()][:3], "equal", "-")
net.train()
R("train_flag", net.body.drop.training, "equal", "-")
net.eval()
ref = net(x)["b"]
path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
torch.save({"model": net.state_dict(), "epoch": 7, "note": "hello"}, path)
ck = torch.load(path)
R("ck_epoch", ck["epoch"], "equal", "-")
R("ck_note", ck["note"], "equal", "-")
net2 = Net()
res = net2.load_state_dict(ck["model"])
R("missing", list(res.missing_keys), "equal", "-")
net2.eval()
R("reload_same", torch.allclose(net2(x)["b"], ref), "equal", "-")
R("steps_loaded", net2.steps.item(), "equal", "-")
sd = net.state_dict()
sd.pop("norm.bias")
sd["extra.w"] = torch.zeros(1)
res = net2.load_state_dict(sd, strict=False)
R("nonstrict", (list(res.missing_keys), list(res.unexpected_keys)), "equal", "-")
try:
    net2.load_state_dict(sd)
    R("strict_raises", False, "equal", "-")
except RuntimeError:
    R("strict_raises", True, "equal", "-")
# requires_grad_ on submodule, freezing
net.body.requires_grad_(False)
R("frozen", sum(p.requires_grad for p in net.parameters()), "equal", "-")
net.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
R("apply_zero", net.heads["a"].weight.abs().sum().item(), "equal", "-")
net.heads["c"] = nn.Linear(6, 1)
net.body.append(nn.Identity())
R("after_add", len(list(net.parameters())), "equal", "-")
torch.save(net.state_dict(), path)
R("reload_keys", len(torch.load(path)), "equal", "-")
R("get_submodule", net.get_submodule("body.fc").in_features, "equal", "-")
