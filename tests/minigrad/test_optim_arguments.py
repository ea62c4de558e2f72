"""Issue 20: every optimizer argument is checked with a clear MinigradError naming the
optimizer and the argument (types, ranges, NaN), also for values read from a state dict."""
import math

import pytest

import minigrad as mg
from minigrad import optim

BAD = [
    (optim.Adam, dict(lr=math.nan), "lr .* must be finite"),
    (optim.Adam, dict(lr="0.1"), "lr .* must be a number, got '0.1'"),
    (optim.Adam, dict(lr=-1e-3), "lr .* must be >= 0"),
    (optim.Adam, dict(betas=(0.9,)), r"betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
    (optim.Adam, dict(betas=0.9), "betas must be a pair"),
    (optim.Adam, dict(betas=(0.9, math.nan)), r"betas\[1\] must be finite"),
    (optim.AdamW, dict(betas=("0.9", 0.999)), r"betas\[0\] must be a number"),
    (optim.AdamW, dict(eps=-1.0), "eps must be >= 0"),
    (optim.AdamW, dict(weight_decay=math.inf), "weight_decay must be finite"),
    (optim.Adam, dict(amsgrad="yes"), "amsgrad must be True or False"),
    (optim.SGD, dict(lr=0.1, momentum=math.nan), "momentum must be finite"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), "momentum must be >= 0"),
    (optim.SGD, dict(lr=0.1, dampening=None), "dampening must be a number"),
    (optim.SGD, dict(lr=True), "lr .* must be a number, got True"),
]


@pytest.mark.parametrize("cls,kwargs,match", BAD, ids=[f"{c.__name__}-{list(k)[0]}-{i}"
                                                      for i, (c, k, _) in enumerate(BAD)])
def test_bad_hyperparameters_raise_named_errors(cls, kwargs, match):
    with pytest.raises(mg.MinigradError, match=match) as e:
        cls([mg.zeros(2, requires_grad=True)], **kwargs)
    assert str(e.value).startswith(cls.__name__)


def test_a_single_tensor_as_params_says_what_to_pass():
    with pytest.raises(mg.MinigradError, match=r"got a single Tensor of shape \(2, 3\).*\[tensor\]"):
        optim.Adam(mg.zeros(2, 3, requires_grad=True))
    with pytest.raises(mg.MinigradError, match="got an object of type int"):
        optim.SGD(3, lr=0.1)
    with pytest.raises(mg.MinigradError, match="parameter-group dicts"):
        optim.SGD({"params": [mg.zeros(1, requires_grad=True)]}, lr=0.1)


def test_a_zero_dim_tensor_learning_rate_is_a_number():
    opt = optim.SGD([mg.zeros(2, requires_grad=True)], lr=mg.tensor(0.5))
    assert opt.param_groups[0]["lr"] == 0.5 and isinstance(opt.param_groups[0]["lr"], float)


def test_state_dict_values_are_checked_like_arguments():
    p = mg.zeros(2, requires_grad=True)
    opt = optim.Adam([p], lr=1e-3)
    state = opt.state_dict()
    state["param_groups"][0]["lr"] = math.nan
    with pytest.raises(mg.MinigradError, match="group 0: Adam: lr .* must be finite"):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == 1e-3          # nothing changed
    state["param_groups"][0].update(lr=1e-3, betas=[0.9])
    with pytest.raises(mg.MinigradError, match="betas must be a pair"):
        opt.load_state_dict(state)
