"""`torch.nn.utils.parameters_to_vector` / `vector_to_parameters`."""
import minigrad
from minigrad.errors import ShapeError


def parameters_to_vector(parameters):
    """One flat tensor of every parameter's values, in order (differentiable), as torch's."""
    return minigrad.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D `vec` into the parameters' data, as torch's.

    Raises ShapeError when `vec` is not 1-D or its length differs from the parameters' total.
    """
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.dim() != 1 or vec.numel() != total:
        raise ShapeError(f"vector_to_parameters: expected a 1-D vector of {total} values "
                         f"(the parameters' total); got shape {tuple(vec.shape)}")
    offset = 0
    for p in parameters:
        n = p.numel()
        p.data = vec[offset:offset + n].view_as(p).data
        offset += n
