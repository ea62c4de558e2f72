"""Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019).

Adam keeps running means of the gradient (m) and of its square (v) and moves
each weight by lr * m_hat / (sqrt(v_hat) + eps): a per-weight step size that
is large where gradients are consistent and small where they are noisy. The
hats undo the bias of starting m and v at zero. AdamW applies weight decay to
the weights directly rather than through the gradient, so it is not rescaled
by the adaptive denominator.
"""
import math

import numpy as np

from .. import cuda_kernels, parallel

from ..errors import MinigradError
from .optimizer import Optimizer


def check_betas(optimizer, group):
    """Check (and normalise) an Adam-like group's betas (a pair in [0, 1)), eps and
    weight_decay (>= 0): a MinigradError naming the optimizer otherwise."""
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise MinigradError(f"{type(optimizer).__name__}: betas must be a pair (beta1, beta2), "
                            f"got {betas!r}")
    group["betas"] = tuple(optimizer._check_number(group, f"betas[{i}]", 0.0, 1.0, True, b)
                           for i, b in enumerate(betas))
    for key in ("eps", "weight_decay"):
        group[key] = optimizer._check_number(group, key, low=0.0)


class Adam(Optimizer):
    """As `torch.optim.Adam` (single-tensor path), updating each parameter in place:

        g = grad + weight_decay * p          (Adam; AdamW instead scales p by 1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2    (amsgrad: v_max = max(v_max, v), used below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, **implementation):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize), **implementation)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        check_betas(self, group)
        if not isinstance(group["amsgrad"], (bool, np.bool_)):
            raise MinigradError(f"{type(self).__name__}: amsgrad must be True or False, "
                                f"got {group['amsgrad']!r}")

    def step(self):
        jobs = []                                 # CPU parameters' blocks, run at the end
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            wd, amsgrad = group["weight_decay"], group["amsgrad"]
            for p, g in self._params_with_grad(group):
                w, xp = p.array, p.xp
                state = self._state.get(p)
                if state is None:
                    state = self._state[p] = {"step": 0, "exp_avg": xp.zeros_like(w),
                                             "exp_avg_sq": xp.zeros_like(w)}
                    if amsgrad:
                        state["max_exp_avg_sq"] = xp.zeros_like(w)
                state["step"] += 1
                t = state["step"]
                h = dict(lr=lr, b1=b1, b2=b2, eps=eps, wd=wd, step_size=lr / (1.0 - b1 ** t),
                         bc2_sqrt=math.sqrt(1.0 - b2 ** t))
                if xp is not np and not amsgrad:       # the GPU: one fused kernel
                    cuda_kernels.adam_update(w, g, state["exp_avg"], state["exp_avg_sq"],
                                             lr, b1, b2, eps, wd, self.decoupled_weight_decay,
                                             h["step_size"], h["bc2_sqrt"])
                    continue
                if xp is np:
                    jobs.extend(self._blocks(w, g, state, h))
                    continue
                self._update(xp, w, g, state["exp_avg"], state["exp_avg_sq"],
                             state.get("max_exp_avg_sq"), self._scratch(w), **h)
        self._run_blocks(jobs)

    # Optimisation (CPU): every parameter is updated in blocks of BLOCK elements, and the
    # blocks are spread over the CPU threads (minigrad/parallel.py). _update's dozen
    # passes then run over a block in the cache instead of over the whole parameter in
    # memory; the arithmetic is elementwise, so the numbers are the same bits. 28M
    # float32 parameters (the sizes of benchmarks/train_step.py's base), quiet 2-core
    # machine: 83 ms a step whole; blocked on 2 threads 119 / 92 / 47 / 40 / 31 / 38 ms
    # with blocks of 2^13 .. 2^18 elements (small blocks pay Python per block); 52 ms
    # blocked on one thread.
    BLOCK = 1 << 17
    PARALLEL_MIN = 1 << 22       # elements in all, from which the threads pay (1.3M: 3.7
                                 # ms on 2 threads, 3.6 on one; 28M: above)

    def _blocks(self, w, g, state, h):
        """(arrays, settings) jobs: flat slices of one parameter's w, g, m, v (, vmax)."""
        m, v, vmax = state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq")
        updated = [a for a in (w, m, v, vmax) if a is not None]
        if not all(a.flags.c_contiguous for a in updated):
            return [((w, g, m, v, vmax), h)]     # slices of a flat copy would update the copy
        g = np.ascontiguousarray(g)
        flat = [None if a is None else a.reshape(-1) for a in (w, g, m, v, vmax)]
        return [(tuple(None if a is None else a[i:i + self.BLOCK] for a in flat), h)
                for i in range(0, w.size, self.BLOCK)]

    def _run_blocks(self, jobs):
        if not jobs:
            return
        threads = parallel.threads_for(np, sum(arrays[0].size for arrays, _ in jobs),
                                       self.PARALLEL_MIN)

        def work(mine, _worker):
            tmp = np.empty(max(arrays[0].size for arrays, _ in mine), dtype=np.float64)
            for (w, g, m, v, vmax), h in mine:
                scratch = tmp.view(w.dtype)[:w.size].reshape(w.shape) \
                    if w.dtype.itemsize <= 8 else np.empty_like(w)
                self._update(np, w, g, m, v, vmax, scratch, **h)

        parallel.run(jobs, work, threads)

    def _update(self, xp, w, g, m, v, vmax, tmp, lr, b1, b2, eps, wd, step_size, bc2_sqrt):
        """One Adam step for one parameter, in place (tmp is a work array of its shape)."""
        if wd and self.decoupled_weight_decay:
            w *= 1.0 - lr * wd
        elif wd:
            g = g + wd * w                       # a new array: the grad stays as it was
        # m += (1 - b1) * (g - m): PyTorch's lerp, same rounding
        xp.subtract(g, m, out=tmp)
        tmp *= 1.0 - b1
        m += tmp
        # v = b2 * v + (1 - b2) * g * g
        v *= b2
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        if vmax is not None:                     # amsgrad: the largest v so far
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        xp.sqrt(v, out=tmp)
        tmp /= bc2_sqrt
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        w -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p * (1 - lr * weight_decay) before the Adam step."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, **implementation):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize,
                         **implementation)
