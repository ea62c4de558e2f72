"""Tensor's operators and methods, bound to the ops and the engine.

tensor.py sits below the ops and the engine (they import it), so it cannot call
them; this module, above all three, gives Tensor its `+`, `@`, `.sum()`,
`.backward()` and the rest. Each entry is one line: the method name and the op
it calls. minigrad/__init__.py imports this module, so every Tensor has them.
"""
import numpy as np

from . import autograd
from .backend import data_address, parse_device
from .dtype import as_dtype, is_floating, kind_of
from .errors import AutogradError, DTypeError, MinigradError, ShapeError
from .ops import elementwise as ew
from .ops import gather_scatter as gs
from .ops import index, linalg, reduce, shape, triangular, unary
from .ops import division, norms, rearrange, scan, sorting  # ops15
from .ops.softmax import log_softmax, softmax
from . import creation, sampling, typeinfo  # noqa: E402  (create15)
from .ops import scatter  # noqa: E402  (create15)
from .ops import math_extra as mx, views_extra as vx  # noqa: E402  (alias15)
from .ops import more_torch as more  # noqa: E402
from .ops import more_math as mmath  # noqa: E402
from .ops import combine  # noqa: E402
from .tensor import Tensor


# ------------------------------------------------------------------ conversion
def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False,
       memory_format=None):
    """`.to("cuda")`, `.to(minigrad.float64)`, `.to("cpu", minigrad.float32)`,
    `.to(other_tensor)` (its dtype and device). non_blocking and memory_format are
    accepted and change nothing (copies here are synchronous; there are no channels-last
    layouts); copy=True returns a copy even when nothing changes."""
    if args and isinstance(args[0], Tensor):
        args = (args[0].device, args[0].dtype) + args[1:]
    for a in args:
        if isinstance(a, str) and not a.startswith(("float", "int", "uint", "bool", "half",
                                                     "double", "long", "bfloat16")):
            device = a
        else:
            dtype = a
    out = self
    if device is not None and parse_device(device) != self.device:
        out = shape.ToDevice.apply(out, device=parse_device(device))
    if dtype is not None and as_dtype(dtype) != out.dtype:
        out = out.astype(dtype)
    return clone(out) if copy and out is self else out


def astype(self, dtype):
    if dtype is None:
        raise DTypeError("astype: expected a dtype, got None")
    dtype = as_dtype(dtype)
    if dtype == self.dtype:
        return self
    if kind_of(dtype) != "f":        # integers and bools carry no gradient (as in PyTorch)
        return Tensor._make(self.array.astype(dtype), False, None)
    return ew.Cast.apply(self, dtype=dtype)


def type_(self, dtype=None):
    """`x.type(minigrad.uint8)`: `x` in that dtype (torch.Tensor.type); with no argument
    the dtype's name."""
    return str(self.dtype) if dtype is None else self.to(dtype)


def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradient of this tensor into every leaf's `.grad`, or only into
    `inputs`' (see minigrad/autograd/engine.py for the walk)."""
    autograd.backward(self, gradient, retain_graph, create_graph, inputs)


def setitem(self, index_, value):
    """self[index] = value, in place (recorded as index.index_put when autograd records)."""
    self._check_inplace("setitem")
    value = value.array if isinstance(value, Tensor) else value
    self.array[index.as_index(index_)] = value


def index_put_(self, indices, values, accumulate=False):
    """torch.Tensor.index_put_: self[indices] = values in place, `indices` a tuple of
    index tensors (integer or bool, one per leading axis); accumulate=True adds instead,
    repeated positions adding up. Returns self. As item assignment: the version goes up,
    and a tensor inside the autograd graph (or a leaf that requires grad, outside
    no_grad) is refused. Raises MinigradError when `indices` is not a tuple or list."""
    if not isinstance(indices, (tuple, list)):
        raise MinigradError(f"index_put_: indices must be a tuple of tensors, got "
                            f"{type(indices).__name__}")
    self._check_inplace("index_put_")
    where = index.as_index(tuple(indices))
    src = values.array if isinstance(values, Tensor) else values
    src = self.xp.asarray(src).astype(self.dtype, copy=False)
    if accumulate:
        gs.add_at(self.array, where, self.xp.broadcast_to(src, self.array[where].shape))
    else:
        self.array[where] = src
    return self


def contiguous(self, memory_format=None):
    """`self` if its memory is already in row-major (C) order, else a C-ordered copy that
    gradients flow through (torch.Tensor.contiguous; `memory_format` is accepted and
    ignored: minigrad has no channels-last layouts)."""
    if self.array.flags.c_contiguous:
        return self
    return ew.Clone.apply(self)


def clone(self):
    """A copy with its own memory; gradients flow back to `self` (torch.Tensor.clone)."""
    return ew.Clone.apply(self)


# ------------------------------------------------------------------ in place
def _in_place(name, op):
    """`x.add_(y)` and `x += y`: compute `op`, write the result into x's own memory.

    As in PyTorch the tensor keeps its dtype and shape (a result that would widen
    either is an error), its version goes up (a backward that saved it raises), and
    views sharing its memory see the change. On a leaf that requires grad it raises
    outside no_grad() (torch's "a leaf Variable that requires grad is being used in
    an in-place operation"). When autograd records (grad mode on, and x or an
    operand requires grad), the op is recorded on x's old value and x itself takes
    the new node (`x.grad_fn`), so gradients flow through the old value as in torch.
    """
    def method(self, *args, **kwargs):
        other = args[0] if args else None        # the operand (a Tensor may require grad)
        if _records(name, self, args, kwargs):
            return _record_in_place(name, op, self, other, args, kwargs)
        with autograd.no_grad():
            out = op(Tensor._make(self.array, False, None), *args, **kwargs)
        _check_result(name, self, out)
        self.array[...] = out.array
        self._version += 1
        return self

    method.__name__ = name
    return method


in_place = _in_place     # nn.functional's activations with inplace=True use it


def _records(name, self, args, kwargs):
    """Whether autograd records an in-place op on `self` with these operands: grad mode on
    and self or any Tensor operand requiring grad (addcmul_(t1, t2) records when only t2
    does). A leaf that requires grad is refused, as in torch."""
    if not autograd.is_grad_enabled():
        return False
    if self.requires_grad and self._ctx is None:
        raise AutogradError(f"{name}: a leaf Variable that requires grad is being used in "
                            "an in-place operation (as in PyTorch: change it under "
                            "minigrad.no_grad(), or through .data)")
    return self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad
                                     for a in args + tuple(kwargs.values()))


def _recorded_as(name, functional, direct):
    """An in-place method that writes straight into memory (`direct`, which refuses a
    tensor autograd records) and, when autograd records (`_records`), is recorded instead
    as `functional` (its out-of-place form, with gradients) applied to self's old value:
    torch's CopySlices. So `buf = zeros(3); buf[0] = x * 10` puts buf on x's graph, and
    `out.index_add_(0, idx, expert(h))` hands the expert its gradient."""
    def method(self, *args, **kwargs):
        if _records(name, self, args, kwargs):
            src = next((a for a in args + tuple(kwargs.values())
                        if isinstance(a, Tensor) and a.requires_grad), None)
            return _record_in_place(name, functional, self, src, args, kwargs)
        return direct(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = direct.__doc__
    return method


def _copied(self, other, non_blocking=False):
    """copy_'s out-of-place form: `other` broadcast to self's shape, dtype and device."""
    if not isinstance(other, Tensor):
        other = Tensor(self.xp.asarray(other))
    return shape.broadcast_to(other.to(self.device, self.dtype), self.shape)


def _record_in_place(name, op, self, other, args, kwargs):
    """The recorded in-place op: `old` stands for self's value before the change (its
    graph identity: the same memory and creator); the op is recorded on it, and self
    takes the result's node. The old value is copied only if a backward reads it."""
    old = Tensor._make(self.array, self.requires_grad, self._ctx)
    out = op(old, *args, **kwargs)
    _check_result(name, self, out)
    if out.dtype != self.dtype:                  # float32 result into a float16 tensor
        out = out.astype(self.dtype)
    if _backward_reads(out, old, other):
        old.array = old.array.copy()             # the node keeps the value it saw
    self.array[...] = out.array
    self._ctx, self.requires_grad = out._ctx, out.requires_grad
    self._version += 1
    return self


def _backward_reads(out, old, other):
    """Whether a node recorded between `old` and `out` reads `old`'s value in backward
    (Mul reads it for the other operand's gradient; Add never does)."""
    stack, seen = [out._ctx], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        for i, t in enumerate(fn.inputs):
            stands_for = t.__dict__.get("stands_for")        # engine._stand_in
            if t is old or (stands_for is not None and stands_for() is old):
                if fn.saves_inputs and autograd.engine.reads_saved(fn, i):
                    return True
            elif t is not other and t._ctx is not None:
                stack.append(t._ctx)
    return False


def _check_result(name, self, out):
    """PyTorch's rules for writing `out` into `self`: same shape, and a dtype that casts
    (no float into an integer tensor, no number into a bool tensor)."""
    if out.shape != self.shape:
        raise ShapeError(f"{name}: the result's shape {tuple(out.shape)} differs from the "
                         f"tensor's {tuple(self.shape)} (in-place ops cannot broadcast it)")
    if (is_floating(out.dtype) and not is_floating(self.dtype)) or \
            (out.dtype != np.bool_ and self.dtype == np.bool_):
        raise DTypeError(f"{name}: result type {out.dtype} can't be cast to the tensor's "
                         f"dtype {self.dtype}")


def _add(a, b, alpha=1):
    return ew.add(a, b if alpha == 1 else b * alpha)


def _sub(a, b, alpha=1):
    return ew.sub(a, b if alpha == 1 else b * alpha)


add_ = _in_place("add_", _add)
sub_ = _in_place("sub_", _sub)
mul_ = _in_place("mul_", ew.mul)
div_ = _in_place("div_", ew.div)
clamp_ = _in_place("clamp_", ew.clip)
masked_fill_ = _in_place("masked_fill_", ew.masked_fill)

def _stride(self, dim=None):
    """torch.Tensor.stride(): the step between neighbours along each dim, in elements
    (alias15)."""
    steps = tuple(s // self.dtype.itemsize for s in self.array.strides)
    return steps if dim is None else steps[dim]


METHODS = {
    "add_": add_, "sub_": sub_, "mul_": mul_, "div_": div_, "clamp_": clamp_, "clip_": clamp_,
    "masked_fill_": masked_fill_,
    # x += y is x.add_(y) (Python then rebinds x to the same object)
    "__iadd__": add_, "__isub__": sub_, "__imul__": mul_, "__itruediv__": div_,
    "to": to, "astype": astype, "type": type_,
    "type_as": lambda self, other: self.to(other.dtype), "backward": backward, "__setitem__": setitem, "clone": clone,
    "cpu": lambda self: self.to("cpu"),
    "cuda": lambda self, index=0: self.to(f"cuda:{index}"),
    "float": lambda self: self.astype(np.float32),
    "double": lambda self: self.astype(np.float64),
    "half": lambda self: self.astype(np.float16),
    "bfloat16": lambda self: self.astype("bfloat16"),    # DTypeError without ml_dtypes
    "long": lambda self: self.astype(np.int64),
    "int": lambda self: self.astype(np.int32),
    "bool": lambda self: self.astype(np.bool_),
    "byte": lambda self: self.astype(np.uint8), "char": lambda self: self.astype(np.int8),
    "short": lambda self: self.astype(np.int16),
    "T": property(lambda self: self.permute(*reversed(range(self.ndim)))),
    # operators
    "__add__": ew.add, "__radd__": lambda self, other: ew.add(other, self),
    "__sub__": ew.sub, "__rsub__": lambda self, other: ew.sub(other, self),
    "__mul__": ew.mul, "__rmul__": lambda self, other: ew.mul(other, self),
    "__truediv__": ew.div, "__rtruediv__": lambda self, other: ew.div(other, self),
    "__pow__": ew.pow, "__rpow__": lambda self, other: ew.pow(other, self),
    "__neg__": ew.neg, "__abs__": ew.abs,
    "__matmul__": linalg.matmul, "__rmatmul__": lambda self, other: linalg.matmul(other, self),
    "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt, "__ge__": ew.ge,
    "__eq__": ew.eq, "__ne__": ew.ne,
    "__invert__": ew.bitwise_not,
    "__and__": ew.bitwise_and, "__rand__": lambda self, other: ew.bitwise_and(other, self),
    "__or__": ew.bitwise_or, "__ror__": lambda self, other: ew.bitwise_or(other, self),
    "__xor__": more.bitwise_xor, "__rxor__": lambda self, other: more.bitwise_xor(other, self),
    "bitwise_xor": more.bitwise_xor, "logical_xor": more.logical_xor,
    "unbind": more.unbind, "repeat_interleave": more.repeat_interleave,
    "nan_to_num": more.nan_to_num, "diff": more.diff, "median": more.median,
    "bincount": more.bincount, "index_put_": index_put_,
    "data_ptr": lambda self: data_address(self.array),
    "__getitem__": index.getitem,
    # elementwise
    "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt, "tanh": ew.tanh, "sigmoid": ew.sigmoid,
    "relu": ew.relu, "abs": ew.abs,
    "clip": ew.clip, "clamp": ew.clip, "maximum": ew.maximum, "minimum": ew.minimum,
    "masked_fill": ew.masked_fill, "matmul": linalg.matmul,
    # reductions
    "sum": reduce.sum, "mean": reduce.mean, "var": reduce.var, "max": reduce.max,
    "min": reduce.min, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "any": reduce.any, "all": reduce.all, "std": reduce.std, "amax": reduce.amax,
    "amin": reduce.amin,
    # gather / scatter
    "gather": gs.gather, "index_fill_": gs.index_fill_, "nonzero": gs.nonzero,
    "softmax": softmax, "log_softmax": log_softmax,
    "sin": unary.sin, "cos": unary.cos, "rsqrt": unary.rsqrt,
    "tril": triangular.tril, "triu": triangular.triu,
    "scatter_": gs.scatter_, "scatter_add_": gs.scatter_add_,
    # shape
    "reshape": shape.reshape, "view": shape.view, "flatten": shape.flatten,
    "permute": shape.permute,
    "transpose": shape.transpose,
    "swapaxes": shape.swapaxes, "expand": shape.expand, "broadcast_to": shape.broadcast_to,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "split": shape.split,
    "chunk": shape.chunk, "contiguous": contiguous,
    "view_as": lambda self, other: shape.view(self, tuple(other.shape)),
    "sum_to_size": lambda self, *size: shape.sum_to(self, shape._shape_arg(size)),
    # ops15: sorting, scans and products, norms, rearranging, selection, // and %
    "sort": sorting.sort, "argsort": sorting.argsort, "msort": sorting.msort, "topk": sorting.topk,
    "cumsum": scan.cumsum, "cumprod": scan.cumprod, "prod": scan.prod,
    "norm": norms.norm, "trace": rearrange.trace, "flip": rearrange.flip, "roll": rearrange.roll,
    "repeat": rearrange.repeat, "unflatten": rearrange.unflatten, "expand_as": rearrange.expand_as,
    "mT": property(rearrange.matrix_transpose), "mH": property(rearrange.matrix_transpose),
    "index_select": rearrange.index_select, "masked_select": rearrange.masked_select,
    "floor_divide": division.floor_divide, "remainder": division.remainder, "fmod": division.fmod,
    "__floordiv__": division.floor_divide,
    "__rfloordiv__": lambda self, other: division.floor_divide(other, self),
    "__mod__": division.remainder, "__rmod__": lambda self, other: division.remainder(other, self),
    "floor_divide_": _in_place("floor_divide_", division.floor_divide),
    "remainder_": _in_place("remainder_", division.remainder),
    "__ifloordiv__": _in_place("floor_divide_", division.floor_divide),
    "__imod__": _in_place("remainder_", division.remainder),
    # create15: new_* (creation.py), random fills and draws (sampling.py), out-of-place
    # scatter / index ops (ops/scatter.py)
    "new_zeros": creation.new_zeros, "new_ones": creation.new_ones,
    "new_full": creation.new_full, "new_empty": creation.new_empty,
    "new_tensor": creation.new_tensor,
    "uniform_": sampling.uniform_, "normal_": sampling.normal_,
    "bernoulli_": sampling.bernoulli_, "random_": sampling.random_,
    "exponential_": sampling.exponential_, "bernoulli": sampling.bernoulli,
    "multinomial": sampling.multinomial, "is_floating_point": typeinfo.is_floating_point,
    "scatter": scatter.scatter, "scatter_add": scatter.scatter_add,
    "index_fill": scatter.index_fill, "index_add": scatter.index_add,
    "index_add_": scatter.index_add_, "index_copy": scatter.index_copy,
    "index_copy_": scatter.index_copy_,
    # alias15: everyday torch methods (issue 15): arithmetic and comparison by name, more
    # unary math and rounding (ops/math_extra.py), views and products (ops/views_extra.py),
    # more in-place forms, and memory layout queries
    "add": mx.add_alpha, "sub": mx.sub_alpha, "mul": ew.mul, "pow": ew.pow, "neg": ew.neg,
    "div": mx.div_mode, "reciprocal": ew.reciprocal, "square": mx.square,
    "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
    "where": lambda self, condition, other: ew.where(condition, self, other),
    "log1p": mx.log1p, "expm1": mx.expm1, "log2": mx.log2, "erf": mx.erf,
    "floor": mx.floor, "ceil": mx.ceil, "round": mx.round, "sign": mx.sign, "trunc": mx.trunc,
    "isnan": mx.isnan, "isinf": mx.isinf, "isfinite": ew.isfinite,
    "logical_not": ew.logical_not, "logical_and": ew.logical_and, "logical_or": ew.logical_or,
    "allclose": mx.allclose, "isclose": mx.isclose, "equal": mx.equal,
    "logsumexp": mx.logsumexp, "lerp": mx.lerp, "clamp_min": mx.clamp_min,
    "clamp_max": mx.clamp_max, "count_nonzero": mx.count_nonzero,
    "t": vx.t, "narrow": vx.narrow, "select": vx.select, "mm": vx.mm, "bmm": vx.bmm,
    "dot": vx.dot, "outer": vx.outer, "unique": vx.unique, "diag": vx.diag,
    "diagonal": vx.diagonal, "tile": vx.tile, "movedim": vx.movedim,
    "masked_scatter": vx.masked_scatter, "argwhere": vx.argwhere,
    "pow_": _in_place("pow_", ew.pow), "neg_": _in_place("neg_", ew.neg),
    "exp_": _in_place("exp_", ew.exp), "sqrt_": _in_place("sqrt_", ew.sqrt),
    "abs_": _in_place("abs_", ew.abs),
    "element_size": lambda self: self.dtype.itemsize, "nelement": lambda self: self.numel(),
    "is_contiguous": lambda self, memory_format=None: bool(self.array.flags.c_contiguous),
    "stride": _stride,
}


def _view_in_place(name, op):
    """`x.squeeze_()`, `x.t_()`, ...: x itself becomes op(x), a view of its own memory with
    another shape. On a tensor autograd records, x takes the view op's node (as torch);
    on a leaf that requires grad it raises, as torch."""
    def method(self, *args, **kwargs):
        if _records(name, self, (), {}):
            out = op(self, *args, **kwargs)
            self._ctx = out._ctx
        else:
            out = op(Tensor._make(self.array, False, None), *args, **kwargs)
        self.array = out.array
        self._version += 1
        return self
    method.__name__ = name
    return method


def _detach_(self):
    """torch.Tensor.detach_: this tensor cut from the graph, in place (no grad_fn, does not
    require grad); returns it."""
    self._ctx, self.requires_grad = None, False
    return self


def _get_device(self):
    """torch.Tensor.get_device: -1 on the CPU, else the GPU's index."""
    if self.device == "cpu":
        return -1
    return int(self.device.partition(":")[2] or 0)


def _is_nonzero(self):
    """torch.Tensor.is_nonzero: the truth of a one-element tensor (RuntimeError otherwise)."""
    if self.numel() != 1:
        raise ShapeError(f"is_nonzero: a tensor with {self.numel()} elements is ambiguous; "
                         "expected exactly one element")
    return bool(self.array.reshape(()))


def _ravel(self):
    """torch.Tensor.ravel: flattened to 1-D, a view when the memory allows."""
    return shape.reshape(self, -1)


# Second round of everyday methods (ops/more_math.py, ops/unary.py): trigonometry,
# logs, nan-reductions, addcmul/addcdiv, more in-place forms, torch's alias names, and
# device/size queries.
METHODS.update({
    "tan": unary.tan, "sinh": unary.sinh, "cosh": unary.cosh, "asin": unary.asin,
    "acos": unary.acos, "atan": unary.atan, "atan2": unary.atan2,
    "arcsin": unary.asin, "arccos": unary.acos, "arctan": unary.atan, "arctan2": unary.atan2,
    "log10": mmath.log10, "exp2": mmath.exp2, "xlogy": mmath.xlogy, "logaddexp": mmath.logaddexp,
    "hypot": mmath.hypot, "logit": mmath.logit, "nansum": mmath.nansum, "nanmean": mmath.nanmean,
    "addcmul": mmath.addcmul, "addcdiv": mmath.addcdiv, "take_along_dim": mmath.take_along_dim,
    "tensor_split": mmath.tensor_split,
    "addcmul_": _in_place("addcmul_", mmath.addcmul), "addcdiv_": _in_place("addcdiv_", mmath.addcdiv),
    "lerp_": _in_place("lerp_", mx.lerp),
    **{f"{n}_": _in_place(f"{n}_", f) for n, f in [
        ("relu", ew.relu), ("sigmoid", ew.sigmoid), ("tanh", ew.tanh), ("log", ew.log),
        ("sin", unary.sin), ("cos", unary.cos), ("tan", unary.tan), ("rsqrt", unary.rsqrt),
        ("atan2", unary.atan2), ("clamp_min", mx.clamp_min), ("clamp_max", mx.clamp_max),
        ("square", mx.square), ("reciprocal", ew.reciprocal), ("floor", mx.floor),
        ("ceil", mx.ceil), ("round", mx.round), ("trunc", mx.trunc), ("sign", mx.sign),
        ("log1p", mx.log1p), ("expm1", mx.expm1), ("log2", mx.log2), ("log10", mmath.log10),
        ("exp2", mmath.exp2), ("erf", mx.erf), ("xlogy", mmath.xlogy), ("hypot", mmath.hypot),
        ("logit", mmath.logit),
        ("multiply", ew.mul), ("subtract", _sub), ("divide", mx.div_mode),
        ("true_divide", ew.div), ("negative", ew.neg), ("absolute", ew.abs)]},
    "multiply": ew.mul, "subtract": mx.sub_alpha, "divide": mx.div_mode,
    "true_divide": ew.div, "negative": ew.neg, "absolute": ew.abs,
    "greater": ew.gt, "greater_equal": ew.ge, "less": ew.lt, "less_equal": ew.le,
    "not_equal": ew.ne,
    "swapdims": shape.swapaxes,
    "moveaxis": vx.movedim,
    "reshape_as": lambda self, other: shape.reshape(self, other.shape),
    "ravel": _ravel, "ndimension": lambda self: self.ndim,
    "get_device": _get_device, "is_nonzero": _is_nonzero,
    "is_signed": lambda self: kind_of(self.dtype) in "fi",
    "is_complex": lambda self: False,
    "is_same_size": lambda self, other: tuple(self.shape) == tuple(other.shape),
    "squeeze_": _view_in_place("squeeze_", shape.squeeze),
    "unsqueeze_": _view_in_place("unsqueeze_", shape.unsqueeze),
    "t_": _view_in_place("t_", vx.t), "transpose_": _view_in_place("transpose_", shape.transpose),
    "swapdims_": _view_in_place("swapdims_", shape.swapaxes),
    "swapaxes_": _view_in_place("swapaxes_", shape.swapaxes),
    "detach_": _detach_, "is_inference": lambda self: False,
    "register_post_accumulate_grad_hook":
        lambda self, hook: autograd.register_post_accumulate_grad_hook(self, hook),
    "is_cuda": property(lambda self: self.device != "cpu"),
    "is_cpu": property(lambda self: self.device == "cpu"),
    "nbytes": property(lambda self: self.array.nbytes),
    "pin_memory": lambda self, device=None: self, "is_pinned": lambda self, device=None: False,
    "addmm": mmath.addmm, "baddbmm": mmath.baddbmm,
    "frac": mmath.frac, "fmax": mmath.fmax, "fmin": mmath.fmin, "dist": mmath.dist,
    "kthvalue": mmath.kthvalue, "cummax": mmath.cummax, "cummin": mmath.cummin,
    "quantile": mmath.quantile, "unique_consecutive": mmath.unique_consecutive,
    "fliplr": combine.fliplr, "flipud": combine.flipud, "rot90": combine.rot90,
    "kron": combine.kron,
    "itemsize": property(lambda self: self.dtype.itemsize),
})

# In-place writes that autograd records when the tensor or a written value requires
# grad (_recorded_as): item assignment and the index/scatter/copy family.
METHODS.update({
    "__setitem__": _recorded_as("setitem", index.index_put, setitem),
    "index_put_": _recorded_as("index_put_", index.index_put, index_put_),
    "copy_": _recorded_as("copy_", _copied, Tensor.copy_),
    "index_add_": _recorded_as("index_add_", scatter.index_add, scatter.index_add_),
    "index_copy_": _recorded_as("index_copy_", scatter.index_copy, scatter.index_copy_),
    "index_fill_": _recorded_as("index_fill_", scatter.index_fill, gs.index_fill_),
    "scatter_": _recorded_as("scatter_", scatter.scatter, gs.scatter_),
    "scatter_add_": _recorded_as("scatter_add_", scatter.scatter_add, gs.scatter_add_),
    "masked_scatter_": _in_place("masked_scatter_", vx.masked_scatter),
    "index_put": index.index_put,
})

for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)
