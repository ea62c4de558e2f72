"""Random draws beyond rand/randn/randint: randperm, multinomial, bernoulli, normal, and
the in-place fills uniform_, normal_, bernoulli_, random_, exponential_ (torch's).

Every draw comes from the device's generator (seeded by `minigrad.manual_seed`) or from
the `generator=` given (a `minigrad.Generator`). The numbers differ from torch's for the
same seed; the distributions are the same. Results are constants (no gradient flows
through a draw: torch's gradients of bernoulli and normal are zero anyway).
"""
import numpy as np

from .backend import xp_of
from .creation import _float_dtype, _shape, draw
from .dtype import as_dtype
from .errors import DTypeError, MinigradError, ShapeError
from .tensor import Tensor, constant


def _permutation(gen, n):
    if isinstance(gen, np.random.Generator):
        return gen.permutation(n)
    return gen.random(n).argsort()            # CuPy's generator has no permutation


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    """torch.randperm: a random permutation of 0..n-1, int64 by default."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise MinigradError(f"randperm: n must be a non-negative int, got {n!r}")
    dtype = as_dtype(dtype) or np.dtype(np.int64)
    data = draw(generator, device, "randperm", lambda g: _permutation(g, int(n)))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


# ------------------------------------------------------------ multinomial
def _check_probabilities(op, p):
    xp = xp_of(p)
    if p.size and not bool(xp.all(xp.isfinite(p) & (p >= 0))):
        raise MinigradError(f"{op}: probability tensor contains either inf, nan or an "
                            "element < 0")
    if not bool(xp.all(p.sum(axis=-1) > 0)):               # (a row of 0 categories too)
        raise MinigradError(f"{op}: invalid multinomial distribution (a row's sum of "
                            "probabilities is <= 0)")


def multinomial(input, num_samples, replacement=False, generator=None):
    """torch.multinomial: `num_samples` category indices (int64) per row of `input`
    (1-d: one distribution over its entries; 2-d: one per row). The weights need not sum
    to one. Without replacement each row's samples are distinct (then num_samples must
    not exceed the number of categories; categories of weight 0 come last, as in torch).
    Raises DTypeError for a non-float input, ShapeError unless 1-d or 2-d, MinigradError
    for negative, inf or nan weights, an all-zero row, or a bad num_samples."""
    if input.dtype.kind != "f":
        raise DTypeError(f"multinomial: only floating point input is supported, got "
                         f"{input.dtype}")
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: input must be 1-d or 2-d, got shape "
                         f"{tuple(input.shape)}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or num_samples <= 0:
        raise MinigradError(f"multinomial: num_samples must be a positive int, got "
                            f"{num_samples!r}")
    k = input.shape[-1]
    if not replacement and num_samples > k:
        raise MinigradError(f"multinomial: cannot draw {num_samples} samples without "
                            f"replacement from {k} categories")
    # float64 weights: a float16/float32 cumulative sum over many categories would drift
    p = input.array.reshape(input.shape[0] if input.ndim == 2 else 1, k).astype(np.float64)
    _check_probabilities("multinomial", p)
    xp, rows = xp_of(p), p.shape[0]
    if rows == 0:
        out = xp.zeros((0, num_samples), dtype=np.int64)
    elif replacement:
        out = draw(generator, input.device, "multinomial",
                   lambda g: _inverse_cdf(p, g.random((rows, num_samples))))
    else:
        # Exponential races (as torch): category j wins at time E_j / p_j, E_j ~ Exp(1);
        # the first num_samples to arrive are a draw without replacement.
        e = draw(generator, input.device, "multinomial",
                 lambda g: g.standard_exponential((rows, k)))
        with np.errstate(divide="ignore"):
            times = e / p                                  # weight 0: never (inf), last
        out = times.argmin(axis=1)[:, None] if num_samples == 1 else \
            times.argsort(axis=1)[:, :num_samples]         # (one sample: no sort needed)
    return constant(out.reshape(input.shape[:-1] + (num_samples,)).astype(np.int64))


def _inverse_cdf(p, u):
    """Per row, the first category whose cumulative share exceeds u (one searchsorted
    over all rows: row r's cumulative shares and draws are both shifted by r)."""
    xp = xp_of(p)
    rows, k = p.shape
    cdf = xp.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    shift = xp.arange(rows, dtype=np.float64)[:, None]
    found = xp.searchsorted((cdf + shift).ravel(), (u + shift).ravel(), side="right")
    found = found.reshape(u.shape) - xp.arange(rows)[:, None] * k
    # rounding of u + r near a row's end must not pick a weight-0 category past the last
    last = k - 1 - (p[:, ::-1] > 0).argmax(axis=1)
    return xp.minimum(xp.maximum(found, 0), last[:, None])


# ------------------------------------------------------------ bernoulli, normal
def _probability(op, p, like):
    """`p` (a number or a tensor broadcastable to `like`'s shape) as an array in [0, 1]."""
    arr = p.array if isinstance(p, Tensor) else like.xp.asarray(p, dtype=np.float64)
    xp = xp_of(arr)
    if arr.dtype.kind not in "fiub" or not bool(xp.all((arr >= 0) & (arr <= 1))):
        got = f"p={float(arr.reshape(-1)[0])}" if arr.size == 1 else "values outside it"
        raise MinigradError(f"{op}: expects probabilities in [0, 1], got {got}")
    try:
        return xp.broadcast_to(arr, like.shape)
    except ValueError:
        raise ShapeError(f"{op}: p of shape {tuple(arr.shape)} does not broadcast to "
                         f"{tuple(like.shape)}") from None


def bernoulli(input, p=None, generator=None):
    """torch.bernoulli: 1 with probability input (or the number p), else 0, in input's
    (float) dtype and shape."""
    if input.dtype.kind != "f":
        raise DTypeError(f"bernoulli: input must be a float tensor of probabilities, got "
                         f"{input.dtype}")
    prob = _probability("bernoulli", input if p is None else p, input)
    u = draw(generator, input.device, "bernoulli", lambda g: g.random(input.shape))
    return constant((u < prob).astype(input.dtype))


def normal(mean, std=1.0, size=None, generator=None, dtype=None, device=None,
           requires_grad=False):
    """torch.normal: N(mean, std^2) draws. mean and std are tensors (broadcast together;
    the result has their shape and float dtype) or numbers (then `size` is needed).
    Raises MinigradError for a negative std."""
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if tensors:
        like = tensors[0]
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
        dtype = np.result_type(*(t.dtype for t in tensors))
        device = like.device
        if dtype.kind != "f":
            raise DTypeError(f"normal: mean and std must be float tensors, got {dtype}")
    else:
        if size is None:
            raise MinigradError("normal: with a number mean and std, give size=")
        shape, dtype = _shape((size,), "normal"), _float_dtype(dtype, "normal")
    s = std.array if isinstance(std, Tensor) else np.asarray(std)
    if bool((s < 0).any()):
        raise MinigradError(f"normal: expects std >= 0, got {float(s.min())}")
    z = draw(generator, device, "normal", lambda g: g.standard_normal(shape))
    m = mean.array if isinstance(mean, Tensor) else mean
    out = (z * (std.array if isinstance(std, Tensor) else std) + m).astype(dtype)
    return Tensor(out, requires_grad=requires_grad)


# ------------------------------------------------------------ in-place fills
def _fill(self, op, make, generator, floats_only=True):
    """Draw with `make(gen)` and write into self's memory (its version goes up)."""
    if floats_only and self.dtype.kind != "f":
        raise DTypeError(f"{op}: draws floating point numbers; the tensor's dtype "
                         f"{self.dtype} is not a float dtype")
    self._check_inplace(op)
    self.array[...] = draw(generator, self.device, op, make)
    return self


def uniform_(self, a=0.0, b=1.0, generator=None):
    """Tensor.uniform_(from, to): fill with U[a, b), in place."""
    if not a <= b:
        raise MinigradError(f"uniform_: expects a <= b, got a={a}, b={b}")
    dt = np.promote_types(self.dtype, np.float32) if self.dtype.kind == "f" else None
    return _fill(self, "uniform_", lambda g: g.random(self.shape, dtype=dt) * (b - a) + a,
                 generator)


def normal_(self, mean=0.0, std=1.0, generator=None):
    """Tensor.normal_(mean, std): fill with N(mean, std^2), in place."""
    if not std >= 0:
        raise MinigradError(f"normal_: expects std >= 0, got {std}")
    dt = np.promote_types(self.dtype, np.float32) if self.dtype.kind == "f" else None
    return _fill(self, "normal_",
                 lambda g: g.standard_normal(self.shape, dtype=dt) * std + mean, generator)


def exponential_(self, lambd=1.0, generator=None):
    """Tensor.exponential_(lambd): fill with Exp(lambd) draws (mean 1/lambd), in place."""
    if not lambd > 0:
        raise MinigradError(f"exponential_: expects lambd > 0, got {lambd}")
    return _fill(self, "exponential_",
                 lambda g: g.standard_exponential(self.shape) / lambd, generator)


def bernoulli_(self, p=0.5, generator=None):
    """Tensor.bernoulli_(p): each entry 1 with probability p (a number or a tensor that
    broadcasts to self), else 0, in place; any dtype."""
    prob = _probability("bernoulli_", p, self)
    return _fill(self, "bernoulli_", lambda g: g.random(self.shape) < prob, generator,
                 floats_only=False)


def _top(dtype):
    """The largest value random_() draws for a dtype: floats every integer they hold
    exactly (2**24 for float32), ints their maximum, bool 1."""
    if dtype.kind == "f":
        return 2 ** (np.finfo(dtype).nmant + 1)
    return 1 if dtype.kind == "b" else int(np.iinfo(dtype).max)


def random_(self, *args, generator=None, **kwargs):
    """Tensor.random_(), random_(to), random_(from, to): integers drawn uniformly from
    [from, to) (default [0, the dtype's top], see `_top`), in place."""
    low = kwargs.pop("from", 0)
    high = kwargs.pop("to", None)
    if kwargs or len(args) > 2:
        raise MinigradError(f"random_: expected (), (to) or (from, to), got {args} {kwargs}")
    if len(args) == 1:
        high = args[0]
    elif len(args) == 2:
        low, high = args
    top = _top(self.dtype)
    last = top if high is None else int(high) - 1
    if not low <= last:
        raise MinigradError(f"random_: expects 'from' to be less than 'to', got from={low}, "
                            f"to={high}")
    if self.dtype.kind in "iub" and not (_bottom(self.dtype) <= low and last <= top):
        raise MinigradError(f"random_: [{low}, {last}] is out of bounds for {self.dtype}")
    return _fill(self, "random_", lambda g: g.integers(
        int(low), last, size=self.shape, dtype=np.int64, endpoint=True), generator,
        floats_only=False)


def _bottom(dtype):
    return 0 if dtype.kind == "b" else int(np.iinfo(dtype).min)

