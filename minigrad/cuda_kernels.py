"""Fused CUDA kernels for the GPU path (CuPy ElementwiseKernel).

On the GPU each NumPy-style array operation is one kernel launch and one trip
through device memory. The kernels here do a whole update in one pass: the Adam
step reads the gradient and the two moments once and writes the weight and
moments once, instead of about ten passes; GELU computes the value (forward) or
the local derivative times the incoming gradient (backward) in one pass.

Compiled on first use; nothing here runs on the CPU path.
"""
import numpy as np

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


def dropout_mask(uniform, keep, dtype):
    """The dropout mask {0, 1/keep} in `dtype` from uniform draws in [0, 1) (float32), in
    one pass (for (uniform < keep).astype(dtype) * (1 / keep): three)."""
    cp = cupy_module()
    out = cp.empty(uniform.shape, dtype)
    kernel = _kernel("minigrad_dropout_mask", "float32 u, float32 keep, T scale", "T m",
                     "m = u < keep ? scale : (T)(0.0f);")
    return kernel(uniform, np.float32(keep), dtype.type(1.0 / keep), out)


# ------------------------------------------------------------------ layer norm
# One thread block per row: the row's mean, then its variance around that mean (two
# passes over the row, as ops/layer_norm.py's CPU code), then xhat and the affine output
# in a third, all in one launch; the backward likewise in one launch for dx. The
# reference (ops/layer_norm.py's layer_norm_reference) needs about ten launches a way.
_LAYER_NORM_SOURCE = r"""
__device__ ACC block_sum(ACC v, ACC* shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();                          // the previous sum's readers are done
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = (lane < (blockDim.x >> 5)) ? shared[lane] : (ACC)0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    return shared[0];
}

extern "C" __global__ void minigrad_layer_norm_fwd(
        const T* x, const T* w, const T* b, T* y, T* xhat, T* rstd,
        long long n, double eps, int has_w, int has_b) {
    __shared__ ACC shared[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * n;
    ACC s = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += (ACC)xr[i];
    const ACC mean = block_sum(s, shared) / (ACC)n;
    ACC s2 = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        ACC d = (ACC)xr[i] - mean;
        s2 += d * d;
    }
    const ACC r = (ACC)1 / sqrt(block_sum(s2, shared) / (ACC)n + (ACC)eps);
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        ACC h = ((ACC)xr[i] - mean) * r;
        xhat[row * n + i] = (T)h;
        if (has_w) h = (ACC)(T)h * (ACC)w[i];
        if (has_b) h += (ACC)b[i];
        y[row * n + i] = (T)h;
    }
    if (threadIdx.x == 0) rstd[row] = (T)r;
}

extern "C" __global__ void minigrad_layer_norm_bwd(
        const T* g, const T* xhat, const T* rstd, const T* w, T* dx, long long n, int has_w) {
    __shared__ ACC shared[32];
    const long long row = blockIdx.x;
    const T* gr = g + row * n;
    const T* hr = xhat + row * n;
    ACC a = 0, c = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        ACC dh = has_w ? (ACC)gr[i] * (ACC)w[i] : (ACC)gr[i];
        a += dh;
        c += dh * (ACC)hr[i];
    }
    const ACC mean_dh = block_sum(a, shared) / (ACC)n;
    const ACC mean_dh_xhat = block_sum(c, shared) / (ACC)n;
    const ACC r = (ACC)rstd[row];
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        ACC dh = has_w ? (ACC)gr[i] * (ACC)w[i] : (ACC)gr[i];
        dx[row * n + i] = (T)(r * (dh - mean_dh - (ACC)hr[i] * mean_dh_xhat));
    }
}
"""
_TYPES = {"float32": ("float", "float"), "float64": ("double", "double")}


def _layer_norm_kernel(name, dtype):
    key = (name, dtype.name)
    k = _kernels.get(key)
    if k is None:
        t, acc = _TYPES[dtype.name]
        source = "#define T " + t + "\n#define ACC " + acc + "\n" + _LAYER_NORM_SOURCE
        k = _kernels[key] = cupy_module().RawModule(code=source).get_function(name)
    return k


def _threads(n):
    """Threads per row: a multiple of 32 (the block sum works in whole warps), at most 256."""
    return int(min(256, max(32, -(-n // 32) * 32)))


def layer_norm_supported(x):
    """Whether the fused kernels take x: float32/float64 with rows of at least one element."""
    return x.dtype.name in _TYPES and x.size > 0


def layer_norm_forward(x, weight, bias, n, eps):
    """(y, xhat, rstd) of layer norm over the last n elements of each row of `x` (a CuPy
    array of any shape; its size a multiple of n); weight and bias of n elements or None.
    rstd has one value per row, shaped (rows,)."""
    cp = cupy_module()
    x = cp.ascontiguousarray(x)
    rows = x.size // n
    y, xhat = cp.empty_like(x), cp.empty_like(x)
    rstd = cp.empty(rows, x.dtype)
    w = x if weight is None else cp.ascontiguousarray(weight, dtype=x.dtype)
    b = x if bias is None else cp.ascontiguousarray(bias, dtype=x.dtype)
    _layer_norm_kernel("minigrad_layer_norm_fwd", x.dtype)(
        (rows,), (_threads(n),),
        (x, w, b, y, xhat, rstd, np.int64(n), np.float64(eps),
         np.int32(weight is not None), np.int32(bias is not None)))
    return y, xhat, rstd


def layer_norm_backward(grad, xhat, rstd, weight, n):
    """dx of layer norm from the incoming gradient, xhat and rstd of layer_norm_forward."""
    cp = cupy_module()
    g = cp.ascontiguousarray(grad, dtype=xhat.dtype)
    dx = cp.empty_like(xhat)
    w = xhat if weight is None else cp.ascontiguousarray(weight, dtype=xhat.dtype)
    _layer_norm_kernel("minigrad_layer_norm_bwd", xhat.dtype)(
        (xhat.size // n,), (_threads(n),),
        (g, xhat, rstd, w, dx, np.int64(n), np.int32(weight is not None)))
    return dx
