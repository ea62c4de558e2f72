"""The core imports downward only: tensor.py below the engine, the engine below the ops.

Each core module imports in a fresh interpreter on its own, and the module-level
imports among core modules form layers with no cycle (a cycle hidden by import
order breaks the day someone imports a different module first)."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "minigrad")

# Lower layers first; a module may import only modules of its own or a lower layer.
LAYERS = [
    {"errors"},
    {"dtype", "backend"},
    {"modes"},
    {"tensor"},
    {"autograd.hooks"},
    {"autograd.engine"},
    {"autograd.once_differentiable", "autograd.function", "autograd.anomaly",
     "autograd.grad_norms", "autograd.post_accumulate", "autograd.gradcheck",
     "autograd.functional"},
    {"autograd"},
    {"ops.special", "ops.elementwise"},
    {"ops.reduce"},
    {"ops.shape", "ops.index", "ops.linalg"},
]
CORE = sorted(m for layer in LAYERS for m in layer) + ["methods", "creation", "gradcheck", "profiler"]


@pytest.mark.parametrize("module", CORE)
def test_each_core_module_imports_alone_in_a_fresh_interpreter(module):
    out = subprocess.run([sys.executable, "-c", f"import minigrad.{module}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def _module_path(name):
    base = os.path.join(ROOT, *name.split("."))
    return os.path.join(base, "__init__.py") if os.path.isdir(base) else base + ".py"


def _core_imports(name):
    """Core modules `name` imports at module level (relative imports, resolved)."""
    tree = ast.parse(open(_module_path(name)).read())
    package = name.split(".")[:-1] if not os.path.isdir(os.path.join(ROOT, *name.split("."))) \
        else name.split(".")
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}" if target else alias.name
                found.add(full if full in CORE else target)
    return {m for m in found if m in CORE}


def test_core_modules_import_downward_only():
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    for name, layer in layer_of.items():
        for dep in _core_imports(name):
            if dep in layer_of:
                assert layer_of[dep] <= layer, f"minigrad.{name} imports minigrad.{dep}, a higher layer"
                if layer_of[dep] == layer:
                    assert name not in _core_imports(dep), f"{name} and {dep} import each other"


def test_no_module_rebinds_a_global_to_break_a_cycle():
    for name in CORE:
        src = open(_module_path(name)).read()
        assert "global _make_tensor" not in src, name
