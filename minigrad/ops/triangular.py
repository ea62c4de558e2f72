"""tril and triu: keep the lower / upper triangle of the last two dims, zero the rest
(torch.tril, torch.triu). `diagonal` shifts the edge: 0 the main diagonal, > 0 above it,
< 0 below it. The gradient passes through the kept entries only."""
from ..autograd import Function
from ..backend import xp_of
from ..errors import ShapeError
from ..tensor import Tensor


class Triangle(Function):
    name = "tril"
    diagonal: int
    upper: bool                  # True: triu

    def forward(self, a):
        xp = xp_of(a)
        return xp.triu(a, self.diagonal) if self.upper else xp.tril(a, self.diagonal)

    def backward(self, grad):
        return triangle(grad, self.diagonal, self.upper)


def triangle(a, diagonal, upper):
    op = "triu" if upper else "tril"
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if a.ndim < 2:
        raise ShapeError(f"{op}: expected a tensor of at least 2 dimensions, got shape "
                         f"{tuple(a.shape)}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, int):
        raise ShapeError(f"{op}: diagonal must be an int, got {diagonal!r}")
    return Triangle.apply(a, diagonal=diagonal, upper=upper)


def tril(a, diagonal=0):
    """The lower triangle of the last two dims (torch.tril); same shape and dtype."""
    return triangle(a, diagonal, False)


def triu(a, diagonal=0):
    """The upper triangle of the last two dims (torch.triu); same shape and dtype."""
    return triangle(a, diagonal, True)
