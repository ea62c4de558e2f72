"""Adam's relatives, as torch.optim has them: NAdam (Dozat, 2016), RAdam (Liu et al., 2020),
Adamax (Kingma and Ba, 2015, section 7.1) and Adadelta (Zeiler, 2012).

Each follows PyTorch's single-tensor update, line for line, in the docstring's formula, so
a model trained with one of them takes the same steps here as under torch (to float32
rounding). Each parameter is updated in place on its own device; unlike Adam (adam.py)
there is no blocked CPU kernel: these are rarer and their updates are written plainly.
"""
import math

import numpy as np

from ..dtype import get_default_dtype
from ..errors import MinigradError
from .adam import check_betas
from .optimizer import Optimizer


class _BufferedOptimizer(Optimizer):
    """Per-parameter state made at the first step, in torch's layout (step, then the
    running buffers named in `buffers`, each zeros like the parameter), and torch's two
    kinds of weight decay."""

    buffers = ()

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        flag = group.get("decoupled_weight_decay", False)
        if not isinstance(flag, (bool, np.bool_)):
            raise MinigradError(f"{type(self).__name__}: decoupled_weight_decay must be True or "
                                f"False, got {flag!r}")

    def _param_state(self, p, **scalars):
        state = self._state.get(p)
        if state is None:
            state = self._state[p] = {"step": 0, **scalars}
            for name in self.buffers:
                state[name] = p.xp.zeros_like(p.array)
        state["step"] += 1
        return state

    def _updates(self, group, **scalars):
        """(w, xp, state, g) for each parameter of `group` that has a gradient: its array,
        state advanced by one step (made with `scalars` at the first), and its gradient
        with weight decay applied (`_decay`)."""
        for p, g in self._params_with_grad(group):
            state = self._param_state(p, **scalars)
            yield p.array, p.xp, state, self._decay(group, p.array, g)

    @staticmethod
    def _decay(group, w, g):
        """The gradient with weight decay: g + wd * w (a new array), or, with
        decoupled_weight_decay, w shrunk in place by 1 - lr * wd and g as it is."""
        wd = group["weight_decay"]
        if wd and group.get("decoupled_weight_decay", False):
            w *= 1.0 - group["lr"] * wd
        elif wd:
            g = g + wd * w
        return g


class _MomentOptimizer(_BufferedOptimizer):
    """NAdam, RAdam and Adamax: Adam's betas, eps and weight_decay, checked as Adam's."""

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        check_betas(self, group)


def _as_scalar_dtype(x):
    """x rounded as torch keeps a scalar state (a 0-d tensor of the default dtype)."""
    return float(np.dtype(get_default_dtype()).type(x))


class NAdam(_MomentOptimizer):
    """As `torch.optim.NAdam`: Adam with Nesterov momentum and a momentum schedule.

        g = grad + weight_decay * p        (decoupled_weight_decay: p *= 1 - lr * wd instead)
        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay));  mu_product *= mu_t
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2
        denom = sqrt(v / (1 - beta2^t)) + eps
        p -= lr * (1 - mu_t) / (1 - mu_product) * g / denom
        p -= lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom
    State per parameter: step, mu_product (a float), exp_avg, exp_avg_sq.
    """

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False,
                 **implementation):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize), **implementation)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        group["momentum_decay"] = self._check_number(group, "momentum_decay", low=0.0)

    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            psi = group["momentum_decay"]
            for w, xp, state, g in self._updates(group, mu_product=1.0):
                t = state["step"]
                mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
                mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
                mu_product = state["mu_product"] = _as_scalar_dtype(state["mu_product"] * mu)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m += (1.0 - b1) * (g - m)                  # torch's lerp
                v *= b2
                v += (1.0 - b2) * g * g
                denom = xp.sqrt(v / (1.0 - b2 ** t))
                denom += eps
                w += (-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
                w += (-lr * mu_next / (1.0 - mu_product * mu_next)) * m / denom


class RAdam(_MomentOptimizer):
    """As `torch.optim.RAdam`: Adam whose adaptive step is switched on gradually, by the
    rectification term r_t, once the variance of the adaptive rate is tractable (rho_t > 5).

        g = grad + weight_decay * p        (decoupled_weight_decay: p *= 1 - lr * wd instead)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        rho_t > 5:  p -= lr * m / (1 - beta1^t) * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t,
                    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        otherwise:  p -= lr * m / (1 - beta1^t)      (plain momentum SGD)
    State per parameter: step, exp_avg, exp_avg_sq.
    """

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False, **implementation):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize), **implementation)

    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for w, xp, state, g in self._updates(group):
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m += (1.0 - b1) * (g - m)                  # torch's lerp
                v *= b2
                v += (1.0 - b2) * g * g
                bias_correction1, bias_correction2 = 1.0 - b1 ** t, 1.0 - b2 ** t
                step = m / bias_correction1 * lr
                rho_inf = 2.0 / (1.0 - b2) - 1.0
                rho_t = rho_inf - 2.0 * t * b2 ** t / bias_correction2
                if rho_t > 5.0:
                    rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                    adaptive = xp.sqrt(v)
                    adaptive += eps
                    step *= math.sqrt(bias_correction2) / adaptive
                    step *= rect
                w -= step


class Adamax(_MomentOptimizer):
    """As `torch.optim.Adamax`: Adam with the infinity norm in place of the root mean square.

        g = grad + weight_decay * p
        m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps)
        p -= lr / (1 - beta1^t) * m / u
    State per parameter: step, exp_avg, exp_inf.
    """

    buffers = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False, **implementation):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **implementation)

    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for w, xp, state, g in self._updates(group):
                m, u = state["exp_avg"], state["exp_inf"]
                m += (1.0 - b1) * (g - m)                  # torch's lerp
                u *= b2
                xp.maximum(u, xp.abs(g) + eps, out=u)
                w -= (lr / (1.0 - b1 ** state["step"])) * m / u


class Adadelta(_BufferedOptimizer):
    """As `torch.optim.Adadelta`: steps scaled by the ratio of running RMS of past updates
    to running RMS of gradients, so no learning rate is needed in principle (lr=1.0).

        g = grad + weight_decay * p
        square_avg = rho * square_avg + (1 - rho) * g^2
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta^2
        p -= lr * delta
    State per parameter: step, square_avg, acc_delta.
    """

    buffers = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False,
                 **implementation):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **implementation)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        group["rho"] = self._check_number(group, "rho", 0.0, 1.0)
        for key in ("eps", "weight_decay"):
            group[key] = self._check_number(group, key, low=0.0)

    def step(self):
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            for w, xp, state, g in self._updates(group):
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg *= rho
                square_avg += (1.0 - rho) * g * g
                delta = xp.sqrt(acc_delta + eps)
                delta /= xp.sqrt(square_avg + eps)
                delta *= g
                acc_delta *= rho
                acc_delta += (1.0 - rho) * delta * delta
                delta *= lr
                w -= delta
