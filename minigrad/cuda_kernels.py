"""Fused CUDA kernels for the GPU path (CuPy ElementwiseKernel).

On the GPU each NumPy-style array operation is one kernel launch and one trip
through device memory. The kernels here do a whole update in one pass: the Adam
step reads the gradient and the two moments once and writes the weight and
moments once, instead of about ten passes; GELU computes the value (forward) or
the local derivative times the incoming gradient (backward) in one pass.

Compiled on first use; nothing here runs on the CPU path.
"""
from .backend import cupy_module

_kernels = {}


def _kernel(name, in_params, out_params, body):
    k = _kernels.get(name)
    if k is None:
        k = _kernels[name] = cupy_module().ElementwiseKernel(in_params, out_params, body, name)
    return k


def adam_update(w, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, step_size, bc2_sqrt):
    """One Adam / AdamW step for one parameter, in place on w, m and v."""
    kernel = _kernel(
        "minigrad_adam",
        "T g, T lr, T b1, T b2, T eps, T wd, bool decoupled, T step_size, T bc2_sqrt",
        "T w, T m, T v",
        """
        T grad = g;
        if (wd != 0) {
            if (decoupled) { w = w * (1 - lr * wd); } else { grad = grad + wd * w; }
        }
        m = b1 * m + (1 - b1) * grad;
        v = b2 * v + (1 - b2) * grad * grad;
        w = w - step_size * m / (sqrt(v) / bc2_sqrt + eps);
        """)
    t = w.dtype.type
    kernel(g, t(lr), t(b1), t(b2), t(eps), t(weight_decay), bool(decoupled), t(step_size),
           t(bc2_sqrt), w, m, v)


def gelu_forward(x, approximate):
    if approximate == "tanh":
        body = "T u = 0.7978845608028654 * (x + 0.044715 * x * x * x); y = 0.5 * x * (1 + tanh(u));"
    else:
        body = "y = 0.5 * x * (1 + erf(x * 0.7071067811865476));"
    return _kernel(f"minigrad_gelu_{approximate}", "T x", "T y", body)(x)


def gelu_backward(x, grad, approximate):
    if approximate == "tanh":
        body = """
        T u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
        T t = tanh(u);
        T du = 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
        dx = g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du);
        """
    else:
        body = """
        T cdf = 0.5 * (1 + erf(x * 0.7071067811865476));
        T pdf = 0.3989422804014327 * exp(-0.5 * x * x);
        dx = g * (cdf + x * pdf);
        """
    return _kernel(f"minigrad_gelu_grad_{approximate}", "T x, T g", "T dx", body)(x, grad)
