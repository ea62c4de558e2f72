"""Stochastic gradient descent with momentum (Polyak; Nesterov as in Sutskever et al., 2013)."""
from ..errors import MinigradError
from .optimizer import Optimizer


class SGD(Optimizer):
    """p <- p - lr * d, with d built from the gradient as in `torch.optim.SGD`:

        g = grad + weight_decay * p
        buf = g                                     (first step)
        buf = momentum * buf + (1 - dampening) * g  (later steps)
        d = g + momentum * buf if nesterov else buf  (or g when momentum is 0)
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, maximize=False, **implementation):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay,
                                      maximize=maximize), **implementation)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        for key, low in (("momentum", 0.0), ("dampening", None), ("weight_decay", 0.0)):
            group[key] = self._check_number(group, key, low=low)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise MinigradError("SGD: nesterov momentum needs momentum > 0 and dampening = 0, "
                                f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def step(self):
        for group in self.param_groups:
            lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p, g in self._params_with_grad(group):
                w, xp = p.array, p.xp
                d = self._scratch(w)                  # the step direction, built in place
                if wd:
                    xp.multiply(w, wd, out=d)
                    d += g
                else:
                    d[...] = g
                if mu:
                    state = self._state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d.copy()
                    else:
                        buf *= mu
                        buf += (1.0 - damp) * d if damp else d
                    if nesterov:
                        d += mu * buf
                    else:
                        d[...] = buf
                d *= lr
                w -= d
