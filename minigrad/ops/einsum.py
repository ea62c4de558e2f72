"""torch.einsum: Einstein summation, with a gradient for every operand.

    einsum("ij,jk->ik", a, b)        einsum("bij,bjk", [a, b])
    einsum(a, [0, 1], b, [1, 2], [0, 2])          (the sublist form)

The equation is first made explicit: '...' becomes the same fresh letters in every
operand (operands whose '...' covers fewer dims are broadcast first, by broadcast_to,
whose backward sums the gradient back), and an implicit output ('ij,jk') becomes the
letters that appear once, in alphabetical order, after the ellipsis dims (torch's rule).

The gradient for operand k is itself an einsum: the output gradient times every other
operand, summed into operand k's letters. Two details make that one einsum work:
- a letter repeated in operand k ('ii->i', 'ii->') gets a fresh letter for each extra
  occurrence and an identity matrix operand linking the two (the gradient lands on
  the diagonal, zero elsewhere);
- a letter only operand k has (summed away, 'ij->i' for j) gets a ones vector
  operand, so the gradient is broadcast along it.
Because the backward calls einsum, gradients are differentiable again.
float16 operands are contracted in float32 and rounded once.
"""
import string

import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, constant
from .scan import accumulation_dtype

LETTERS = string.ascii_letters          # the labels NumPy's einsum accepts


class Einsum(Function):
    name = "einsum"
    saves_inputs = "others"      # operand k's gradient reads every other operand
    inputs_subs: tuple           # explicit subscripts per operand (no '...')
    output_subs: str

    def forward(self, *arrays):
        xp = xp_of(arrays[0])
        dtype = arrays[0].dtype
        acc = accumulation_dtype(dtype)
        eq = ",".join(self.inputs_subs) + "->" + self.output_subs
        out = xp.einsum(eq, *[a.astype(acc, copy=False) for a in arrays],
                        optimize=len(arrays) > 1)
        # one operand ('ii->i', 'ij->ji') can come back as a view of it: copy, as torch
        return xp.asarray(out).astype(dtype, copy=len(arrays) == 1)

    def backward(self, grad):
        grads = []
        for k, need in enumerate(self.needs_input_grad):
            grads.append(self._operand_grad(grad, k) if need else None)
        return tuple(grads)

    def _operand_grad(self, grad, k):
        subs, shape = self.inputs_subs[k], self.inputs[k].shape
        used = set("".join(self.inputs_subs) + self.output_subs)
        fresh = iter(c for c in LETTERS if c not in used)
        size = dict(zip(subs, shape))
        operands, op_subs = [grad], [self.output_subs]
        for j, (t, s) in enumerate(zip(self.inputs, self.inputs_subs)):
            if j != k:
                operands.append(t)
                op_subs.append(s)
        target, seen = "", set()
        for c in subs:
            if c in seen:        # a repeated label: a fresh one, tied to it by an identity
                f = next(fresh)
                target += f
                operands.append(constant(grad.xp.eye(size[c], dtype=grad.dtype)))
                op_subs.append(c + f)
            else:
                seen.add(c)
                target += c
        present = set("".join(op_subs))
        for c in sorted(seen - present):  # summed by operand k alone: broadcast along it
            operands.append(constant(grad.xp.ones(size[c], dtype=grad.dtype)))
            op_subs.append(c)
        return Einsum.apply(*operands, inputs_subs=tuple(op_subs), output_subs=target)


def _parse_sublists(args):
    """einsum(a, [0, 1], b, [1, 2], [0, 2]): the equation string and the operands."""
    def letters(sub):
        out = ""
        for s in sub:
            if s is Ellipsis:
                out += "..."
            elif isinstance(s, (int, np.integer)) and 0 <= s < len(LETTERS):
                out += LETTERS[s]
            else:
                raise ShapeError(f"einsum: sublist entries must be ints in [0, 52) or "
                                 f"Ellipsis, got {s!r}")
        return out
    n = len(args) // 2
    operands = list(args[0:2 * n:2])
    eq = ",".join(letters(s) for s in args[1:2 * n:2])
    if len(args) % 2:                 # a last sublist: the output
        eq += "->" + letters(args[-1])
    return eq, operands


def _explicit(equation, operands):
    """Parse `equation` into explicit subscripts (ellipsis expanded), broadcasting
    the operands' ellipsis dims to one shape. Returns (operands, subscripts, output)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ShapeError(f"einsum: the equation {equation!r} names {len(terms)} operands, "
                         f"got {len(operands)}")
    named = set(c for c in lhs + rhs if c.isalpha())
    for c in lhs + "," + rhs:
        if not (c in LETTERS or c in ".,"):
            raise ShapeError(f"einsum: invalid subscript {c!r} in {equation!r} (use letters "
                             "a-z, A-Z and '...')")
    fresh = [c for c in LETTERS if c not in named]
    # the ellipsis dims of each operand, then their common (broadcast) shape
    ell_shapes = []
    for t, term in zip(operands, terms):
        n_named = len(term.replace("...", ""))
        n_ell = t.ndim - n_named
        if ("..." in term and n_ell < 0) or ("..." not in term and n_ell != 0) or \
                term.count("...") > 1 or term.replace("...", "").count(".") or \
                (rhs and rhs.count("...") > 1):
            raise ShapeError(f"einsum: subscripts {term!r} do not fit an operand of shape "
                             f"{tuple(t.shape)}")
        if "..." in term:
            start = term.index("...")
            ell_shapes.append(tuple(t.shape[start:start + n_ell]))
    try:
        ell = np.broadcast_shapes(*ell_shapes) if ell_shapes else ()
    except ValueError:
        raise ShapeError(f"einsum: the '...' dims {ell_shapes} do not broadcast") from None
    ell_letters = "".join(fresh[:len(ell)])
    new_ops, subs = [], []
    for t, term in zip(operands, terms):
        if "..." in term:
            start = term.index("...")
            n_ell = t.ndim - len(term.replace("...", ""))
            shape = t.shape[:start] + (1,) * (len(ell) - n_ell) + t.shape[start:]
            t = t.reshape(shape).broadcast_to(t.shape[:start] + ell + t.shape[start + n_ell:])
            term = term.replace("...", ell_letters)
        new_ops.append(t)
        subs.append(term)
    if arrow:
        if "..." not in rhs and ell:      # torch sums the ellipsis dims away
            out = rhs
        else:
            out = rhs.replace("...", ell_letters)
    else:
        counts = {c: lhs.count(c) for c in named}
        out = ell_letters + "".join(sorted(c for c in named if counts[c] == 1))
    if len(set(out)) != len(out) or any(c not in "".join(subs) for c in out):
        raise ShapeError(f"einsum: output subscripts {rhs!r} must be distinct letters that "
                         f"appear in the inputs ({equation!r})")
    sizes = {}                        # a label's size; size 1 broadcasts, as in torch
    for t, term in zip(new_ops, subs):
        for c, n in zip(term, t.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise ShapeError(f"einsum: subscript {c!r} has size {n} in one operand and "
                                 f"{sizes[c]} in another ({equation!r})")
            sizes[c] = max(n, sizes[c])
    new_ops = [t if t.shape == tuple(sizes[c] for c in term)
               else t.broadcast_to(tuple(sizes[c] for c in term))
               for t, term in zip(new_ops, subs)]
    return new_ops, subs, out


def einsum(equation, *operands):
    """torch.einsum(equation, *operands): sums of products of the operands' entries,
    labelled by `equation` ('ij,jk->ik'; '...' for broadcast dims; no '->' gives the
    letters used once, sorted). Operands may also come as one list, or in the sublist form
    einsum(a, [0, 1], b, [1, 2], [0, 2]). Operands of different float dtypes are promoted
    (torch requires one dtype). Raises ShapeError for a malformed equation or mismatched
    sizes. Every operand gets a gradient (repeated and summed-out labels included)."""
    if not isinstance(equation, str):
        equation, operands = _parse_sublists((equation,) + operands)
    elif len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [t if isinstance(t, Tensor) else Tensor(t) for t in operands]
    if not operands:
        raise ShapeError("einsum: expected at least one operand")
    dtype = np.result_type(*[t.dtype for t in operands])
    if dtype == np.bool_:
        raise DTypeError("einsum: bool operands are not supported")
    operands = [t if t.dtype == dtype else t.astype(dtype) for t in operands]
    ops, subs, out = _explicit(equation, operands)
    return Einsum.apply(*ops, inputs_subs=tuple(subs), output_subs=out)
