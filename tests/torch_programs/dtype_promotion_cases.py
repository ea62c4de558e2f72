"""Type promotion with ints/floats/bools, 0-d tensors, Python scalars; integer division; creation dtypes."""
import numpy as np
import torch

from _report import R, dt, section

def promotion():
    i32 = torch.tensor([1, 2, 3], dtype=torch.int32)
    i64 = torch.tensor([4, 5, 6])
    f16 = torch.tensor([0.5, 1.5, 2.5], dtype=torch.float16)
    f32 = torch.tensor([1.0, 2.0, 3.0])
    f64 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    b = torch.tensor([True, False, True])
    u8 = torch.tensor([250, 3, 7], dtype=torch.uint8)
    cases = {
        "i32+i64": i32 + i64, "i32+f16": i32 + f16, "f16+f32": f16 + f32, "f32+f64": f32 + f64,
        "b+b": b + b, "b*i32": b * i32, "b+1.5": b + 1.5, "b+1": b + 1,
        "i32*2": i32 * 2, "i32*2.0": i32 * 2.0, "f16*2.0": f16 * 2.0,
        "i32+0d_i64": i32 + torch.tensor(7), "i32+0d_f64": i32 + torch.tensor(1.5, dtype=torch.float64),
        "f16+0d_f64": f16 + torch.tensor(1.0, dtype=torch.float64), "f32+0d_i64": f32 + torch.tensor(3),
        "0d_f64+0d_f32": torch.tensor(1.0, dtype=torch.float64) + torch.tensor(1.0),
        "u8+1": u8 + 1, "i64/i64": i64 / i64, "i64//2": i64 // 2,
        "i32/2": i32 / 2, "b/b": b / torch.tensor([True, True, True]),
        "i32**2": i32 ** 2, "i32**0.5": i32 ** 0.5, "2**i32": 2 ** i32,
        "sum_b": b.sum(), "sum_i32": i32.sum(), "sum_u8": u8.sum(),
        "cumsum_i32": i32.cumsum(0), "mean_f16": f16.mean(), "max_i32": i32.max(),
        "i64>f32": i64 > f32, "clamp_int": i64.clamp(min=5), "clamp_int_float": i64.clamp(min=4.5),
        "neg_u8": -u8, "sqrt_int": i64.sqrt(), "exp_b": b.float().exp(),
        "argmax": f32.argmax(), "where_mix": torch.where(b, i32, f16),
        "minimum_mix": torch.minimum(i32, f32), "float_idx": f32[i32 - 1],
    }
    for k, v in cases.items():
        R(f"dtype_{k}", dt(v.dtype), "equal", "-")
        R(f"val_{k}", [round(float(e), 4) for e in v.reshape(-1).tolist()], "equal", "-")


def int8_ops():
    u8 = torch.tensor([250, 3, 7], dtype=torch.uint8)
    i8 = torch.tensor([-1, 2, -3], dtype=torch.int8)
    i16 = torch.tensor([1000, -2], dtype=torch.int16)
    for k, v in {"u8+i8": u8 + i8, "prod_i8": i8.prod(), "abs_i8": i8.abs(), "sign_i8": i8.sign(),
                 "i16*2": i16 * 2, "i16+i8": i16 + i8[:2]}.items():
        R(f"dtype_{k}", dt(v.dtype), "equal", "-")
        R(f"val_{k}", [round(float(e), 4) for e in v.reshape(-1).tolist()], "equal", "-")


def integer_division():
    a = torch.tensor([7, -7, 7, -7])
    b = torch.tensor([2, 2, -2, -2])
    R("floordiv", (a // b).tolist(), "equal", "-")
    R("div_trunc", torch.div(a, b, rounding_mode="trunc").tolist(), "equal", "-")
    R("div_floor", torch.div(a, b, rounding_mode="floor").tolist(), "equal", "-")
    R("remainder", (a % b).tolist(), "equal", "-")
    R("fmod", torch.fmod(a, b).tolist(), "equal", "-")
    R("truediv", (a / b).tolist(), "equal", "-")
    R("float_floordiv", (torch.tensor([7.5, -7.5]) // 2).tolist(), "equal", "-")
    R("int_mod_float", dt((a % 2.5).dtype), "equal", "-")


def creation():
    R("arange_int", dt(torch.arange(5).dtype), "equal", "-")
    R("arange_float", dt(torch.arange(0, 1, 0.25).dtype), "equal", "-")
    R("arange_len", len(torch.arange(0, 1, 0.1)), "equal", "-")
    R("arange_float_endpoint", torch.arange(1, 2.5, 0.5).tolist(), "equal", "-")
    R("linspace_dtype", dt(torch.linspace(0, 1, 5).dtype), "equal", "-")
    R("linspace_int", torch.linspace(0, 10, 4, dtype=torch.int64).tolist(), "equal", "-")
    R("full_int", dt(torch.full((2,), 3).dtype), "equal", "-")
    R("full_bool", dt(torch.full((2,), True).dtype), "equal", "-")
    R("full_float", dt(torch.full((2,), 3.0).dtype), "equal", "-")
    R("tensor_mixed", dt(torch.tensor([1, 2.5, True]).dtype), "equal", "-")
    R("tensor_int_bool", dt(torch.tensor([1, True]).dtype), "equal", "-")
    R("tensor_nested", dt(torch.tensor([[1, 2], [3, 4.0]]).dtype), "equal", "-")
    R("tensor_np_f64", dt(torch.tensor(np.array([1.0, 2.0])).dtype), "equal", "-")
    R("from_numpy_i32", dt(torch.from_numpy(np.array([1, 2], dtype=np.int32)).dtype), "equal", "-")
    R("tensor_np_scalar", dt(torch.tensor(np.float32(2.0)).dtype), "equal", "-")
    R("zeros_like_int", dt(torch.zeros_like(torch.arange(3), dtype=torch.float32).dtype), "equal", "-")
    R("ones_bool_sum", dt(torch.ones(3, dtype=torch.bool).sum().dtype), "equal", "-")
    R("to_roundtrip", torch.tensor([1.7, -1.7, 2.5]).to(torch.int32).to(torch.float32).tolist(), "equal", "-")
    R("to_uint8_wrap", torch.tensor([300.0, -1.0]).to(torch.int64).to(torch.uint8).tolist(), "equal", "-")
    R("bool_from_float", torch.tensor([0.0, 0.1, -2.0]).bool().tolist(), "equal", "-")
    R("item_type", type(torch.tensor(3).item()).__name__ + type(torch.tensor(3.0).item()).__name__, "equal", "-")
    R("double_method", dt(torch.tensor([1, 2]).double().dtype), "equal", "-")
    R("long_method", torch.tensor([1.9, -1.9]).long().tolist(), "equal", "-")


def default_dtype():
    torch.set_default_dtype(torch.float64)
    try:
        R("dd_tensor", dt(torch.tensor([1.0, 2.0]).dtype), "equal", "-")
        R("dd_zeros", dt(torch.zeros(2).dtype), "equal", "-")
        R("dd_arange", dt(torch.arange(0.0, 1.0, 0.5).dtype), "equal", "-")
        R("dd_int_div", dt((torch.tensor([1, 2]) / 2).dtype), "equal", "-")
        R("dd_linear", dt(torch.nn.Linear(2, 2).weight.dtype), "equal", "-")
        R("dd_get", dt(torch.get_default_dtype()), "equal", "-")
        R("dd_f32_plus_scalar", dt((torch.tensor([1.0], dtype=torch.float32) + 1.0).dtype), "equal", "-")
        R("dd_int_plus_float", dt((torch.tensor([1]) + 1.5).dtype), "equal", "-")
    finally:
        torch.set_default_dtype(torch.float32)
    R("dd_back", dt(torch.zeros(1).dtype), "equal", "-")


for name, fn in [("promotion", promotion), ("int8", int8_ops), ("intdiv", integer_division), ("creation", creation), ("default", default_dtype)]:
    section(name, fn)
