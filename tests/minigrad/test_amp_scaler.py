"""minigrad.amp.GradScaler against torch.amp.GradScaler: the same scales, the same skipped
steps and the same parameters over runs with injected inf/NaN gradients; call order
errors; state_dict round trips; the disabled pass-through."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.amp import GradScaler, GradScalerError
from minigrad.errors import MinigradError

torch = pytest.importorskip("torch")

BAD = {3: np.inf, 4: np.nan, 9: -np.inf, 10: np.inf, 17: np.nan}   # step -> injected value


def _runs(settings, steps=24, bad=BAD, unscale_first=False):
    """Train w by SGD on sum(w * c) with c made inf/NaN at the `bad` steps, in both
    frameworks; return (minigrad scales, torch scales, minigrad w, torch w) per step."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5).astype(np.float32)
    mw, tw = mg.tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)
    mopt, topt = mg.optim.SGD([mw], lr=0.1), torch.optim.SGD([tw], lr=0.1)
    ms, ts = GradScaler("cpu", **settings), torch.amp.GradScaler("cpu", **settings)
    out = ([], [], [], [])
    for step in range(steps):
        c = rng.standard_normal(5).astype(np.float32)
        if step in bad:
            c[step % 5] = bad[step]
        for opt, scaler, w, lib in ((mopt, ms, mw, mg), (topt, ts, tw, torch)):
            opt.zero_grad()
            loss = (w * lib.tensor(c)).sum()
            with np.errstate(over="ignore", invalid="ignore"):   # overflows are the test
                scaler.scale(loss).backward()
            if unscale_first:
                scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
        out[0].append(ms.get_scale())
        out[1].append(ts.get_scale())
        out[2].append(mw.numpy().copy())
        out[3].append(tw.detach().numpy().copy())
    return out


@pytest.mark.parametrize("settings", [
    dict(init_scale=2.0 ** 10, growth_interval=3),
    dict(init_scale=1000.0, growth_factor=3.0, backoff_factor=0.3, growth_interval=2),
    dict(init_scale=2.0 ** 127, growth_interval=1),            # growth would overflow: kept
    dict(init_scale=3.0, growth_factor=1.5, backoff_factor=0.125, growth_interval=1),
])
@pytest.mark.parametrize("unscale_first", [False, True])
def test_same_scales_skips_and_parameters_as_torch(settings, unscale_first):
    m_scales, t_scales, m_w, t_w = _runs(settings, unscale_first=unscale_first)
    assert m_scales == t_scales
    for step, (a, b) in enumerate(zip(m_w, t_w)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f"step {step}")
        if step in BAD:              # the step was skipped: nothing moved
            np.testing.assert_array_equal(a, m_w[step - 1] if step else a)
            assert np.isfinite(a).all()


def test_state_dict_matches_torch_and_resumes_exactly():
    settings = dict(init_scale=2.0 ** 10, growth_interval=3)
    ms, ts = GradScaler("cpu", **settings), torch.amp.GradScaler("cpu", **settings)
    assert set(ms.state_dict()) == set(ts.state_dict())
    # a scaler restored from a state_dict continues with the same scales
    first = GradScaler("cpu", **settings)
    w = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.1)
    for step in range(5):
        opt.zero_grad()
        first.scale((w * (np.inf if step == 2 else 1.0)).sum()).backward()
        first.step(opt)
        first.update()
    state = first.state_dict()
    second = GradScaler("cpu")
    second.load_state_dict(state)
    assert second.state_dict() == state and second.get_scale() == first.get_scale()
    assert second._growth_tracker == first._growth_tracker == 2


def test_call_order_errors():
    w = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.1)
    scaler = GradScaler("cpu")
    with pytest.raises(GradScalerError, match="no inf checks"):
        scaler.update()
    scaler.scale(w.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(GradScalerError, match="already called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(GradScalerError, match="after step"):
        scaler.unscale_(opt)
    with pytest.raises(GradScalerError, match="already called"):
        scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.numpy(), 0.9)            # the gradient was unscaled to 1


def test_unscale_gives_the_true_gradient_before_clipping():
    w = mg.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = mg.optim.SGD([w], lr=1.0)
    scaler = GradScaler("cpu", init_scale=2.0 ** 20)
    scaler.scale((w * 3.0).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), 3.0 * 2 ** 20)
    scaler.unscale_(opt)
    np.testing.assert_allclose(w.grad.numpy(), 3.0)
    mg.optim.clip_grad_norm_([w], 1.0)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.numpy(), 0.5, rtol=1e-5)  # 1 - 3/6


def test_two_optimizers_skip_together():
    a, b = (mg.tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(2))
    oa, ob = mg.optim.SGD([a], lr=0.1), mg.optim.SGD([b], lr=0.1)
    scaler = GradScaler("cpu", init_scale=8.0)
    scaler.scale((a * np.inf).sum() + b.sum()).backward()
    scaler.step(oa)
    scaler.step(ob)
    scaler.update()
    np.testing.assert_array_equal(a.numpy(), 1.0)         # a's step skipped, b's taken
    np.testing.assert_allclose(b.numpy(), 0.9)
    assert scaler.get_scale() == 4.0                      # backoff: one optimizer saw inf


def test_float16_gradients_are_unscaled_in_float32():
    w = mg.tensor(np.ones(3, np.float16), requires_grad=True)
    opt = mg.optim.SGD([w], lr=1.0)
    scaler = GradScaler("cpu", init_scale=2.0 ** 14)
    scaler.scale((w.astype(mg.float32) * 1e-7).sum()).backward()
    scaled = w.grad.numpy().astype(np.float32)
    scaler.unscale_(opt)
    assert w.grad.dtype == np.float16      # the product in float32, rounded once to float16
    np.testing.assert_array_equal(w.grad.numpy(), (scaled * np.float32(2.0 ** -14)).astype(np.float16))
    assert (w.grad.numpy() > 0).all()


def test_disabled_is_a_pass_through():
    w = mg.tensor(np.ones(2, np.float32), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.5)
    scaler = GradScaler("cpu", enabled=False)
    loss = w.sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and not scaler.is_enabled()
    loss.backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.numpy(), 0.5)
    assert scaler.state_dict() == {}
    scaler.load_state_dict({})       # nothing to restore


def test_scale_lists_and_bad_inputs():
    scaler = GradScaler("cpu", init_scale=4.0)
    a, b = scaler.scale([mg.tensor(1.0), mg.tensor(2.0)])
    assert (a.item(), b.item()) == (4.0, 8.0)
    with pytest.raises(MinigradError, match="scale"):
        scaler.scale(3.0)
    with pytest.raises(MinigradError, match="growth_factor"):
        GradScaler(growth_factor=1.0)
    with pytest.raises(MinigradError, match="backoff_factor"):
        GradScaler(backoff_factor=1.5)
    with pytest.raises(MinigradError, match="growth_interval"):
        GradScaler(growth_interval=0)
    with pytest.raises(GradScalerError, match="empty"):
        scaler.load_state_dict({})
    with pytest.raises(GradScalerError, match="missing"):
        scaler.load_state_dict({"scale": 2.0})
    bad = dict(scaler.state_dict(), _growth_tracker=1.5)
    with pytest.raises(GradScalerError, match="_growth_tracker"):
        scaler.load_state_dict(bad)
