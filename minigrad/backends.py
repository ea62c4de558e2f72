"""`torch.backends`, as far as CPU programs use it: the availability checks and the switches
that tuned scripts set (`torch.backends.cuda.matmul.allow_tf32 = True`,
`torch.backends.cudnn.benchmark = True`). The switches are stored and have no effect here
(minigrad has no TF32 or cuDNN paths); the checks answer for this machine.
"""
from types import SimpleNamespace

from .backend import cuda_is_available

cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False,
                                              allow_fp16_reduced_precision_reduction=True,
                                              allow_bf16_reduced_precision_reduction=True),
                       is_built=cuda_is_available)
cudnn = SimpleNamespace(enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
                        is_available=lambda: False)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
