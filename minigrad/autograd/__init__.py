"""minigrad.autograd: the engine and its public face (as torch.autograd).

    engine.py               Function, the topological order, the backward walk, grad, backward
    hooks.py                the one extension point the side features below hang off
    anomaly.py              detect_anomaly()
    grad_norms.py           record_grad_norms() for the graph pictures
    post_accumulate.py      register_post_accumulate_grad_hook, queue_callback (data parallel)
    once_differentiable.py  fused ops whose backward cannot be differentiated again
    function.py             torch-style Function (static forward(ctx, ...) / backward(ctx, ...))
    gradcheck.py            finite-difference gradient checks
    functional.py           jacobian, hessian, vjp (torch.autograd.functional)

Grad modes and the module scope live one level down, in minigrad/modes.py.
"""
from ..modes import (current_scope, enable_grad, fused_enabled, inference_mode,  # noqa: F401
                     is_grad_enabled, no_grad, scope, set_grad_enabled, state, use_fused)
from . import hooks  # noqa: F401
from .engine import Function, backward, grad, run_backward, topological_order  # noqa: F401
from .once_differentiable import once_differentiable  # noqa: F401
from .function import FunctionCtx  # noqa: F401
from .anomaly import detect_anomaly, set_detect_anomaly  # noqa: F401
from .grad_norms import record_grad_norms  # noqa: F401
from .post_accumulate import (hooked_leaves, queue_callback,  # noqa: F401
                              register_post_accumulate_grad_hook)
from .gradcheck import gradcheck  # noqa: F401
from . import functional  # noqa: F401,E402  (torch.autograd.functional: jacobian, hessian, vjp)
