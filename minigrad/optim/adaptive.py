"""RMSprop (Hinton's lecture 6e; centered as in Graves, 2013) and Adagrad (Duchi et al., 2011).

Both divide each weight's step by the root of a running sum (Adagrad) or running mean
(RMSprop) of its squared gradients, so weights with large, noisy gradients move less.
"""
from ..errors import MinigradError
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """As `torch.optim.RMSprop`, updating each parameter in place:

        g = grad + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g^2
        avg = sqrt(square_avg - grad_avg^2) + eps  (centered: grad_avg = running mean of g)
              sqrt(square_avg) + eps                (otherwise)
        buf = momentum * buf + g / avg;  p -= lr * buf   (momentum > 0)
        p -= lr * g / avg                                (otherwise)
    State per parameter: step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False, **implementation):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize),
                         **implementation)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            group[key] = self._check_number(group, key, low=0.0)
        if not isinstance(group["centered"], bool):
            raise MinigradError(f"RMSprop: centered must be True or False, got {group['centered']!r}")

    def step(self):
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, mu, centered = group["weight_decay"], group["momentum"], group["centered"]
            for p, g in self._params_with_grad(group):
                w, xp = p.array, p.xp
                state = self._state.get(p)
                if state is None:
                    state = self._state[p] = {"step": 0, "square_avg": xp.zeros_like(w)}
                    if mu > 0:
                        state["momentum_buffer"] = xp.zeros_like(w)
                    if centered:
                        state["grad_avg"] = xp.zeros_like(w)
                state["step"] += 1
                if wd:
                    g = g + wd * w                   # a new array: the grad stays as it was
                sq = state["square_avg"]
                sq *= alpha
                sq += (1.0 - alpha) * g * g
                if centered:
                    ga = state["grad_avg"]
                    ga += (1.0 - alpha) * (g - ga)   # torch's lerp
                    avg = xp.sqrt(sq - ga * ga)
                else:
                    avg = xp.sqrt(sq)
                avg += eps
                if mu > 0:
                    buf = state["momentum_buffer"]
                    buf *= mu
                    buf += g / avg
                    w -= lr * buf
                else:
                    w -= lr * (g / avg)


class Adagrad(Optimizer):
    """As `torch.optim.Adagrad`, updating each parameter in place:

        g = grad + weight_decay * p
        clr = lr / (1 + (step - 1) * lr_decay)
        sum = sum + g^2;  p -= clr * g / (sqrt(sum) + eps)
    State per parameter (made at construction, as torch does): step, sum.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False, **implementation):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize), **implementation)
        for group in self.param_groups:
            for p in group["params"]:
                self._state[p] = {"step": 0, "sum": p.xp.full_like(
                    p.array, group["initial_accumulator_value"])}

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[key] = self._check_number(group, key, low=0.0)

    def step(self):
        for group in self.param_groups:
            lr, decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
            for p, g in self._params_with_grad(group):
                w, xp = p.array, p.xp
                state = self._state.setdefault(p, {"step": 0, "sum": xp.zeros_like(w)})
                state["step"] += 1
                if wd:
                    g = g + wd * w
                clr = lr / (1.0 + (state["step"] - 1) * decay)
                state["sum"] += g * g
                w -= clr * (g / (xp.sqrt(state["sum"]) + eps))
