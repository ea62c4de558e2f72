"""The wheel installs one import name, `minigrad`: nn/ and models/ go inside it as
minigrad.nn and minigrad.models, and nothing else lands at the top level."""
import importlib.util
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# source folder -> where its files sit in the wheel (pyproject.toml's package-dir)
SOURCES = {"minigrad": "minigrad", "nn": "minigrad/nn", "models": "minigrad/models"}


def _build_requirements_installed():
    """pyproject's build-system requires (setuptools>=68, wheel) are importable here:
    a fresh venv has an older setuptools and no wheel, and must build in isolation."""
    if importlib.util.find_spec("wheel") is None or importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools
    return int(setuptools.__version__.split(".")[0]) >= 68


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    """Build the wheel from a copy of the packaging inputs (the work tree stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in SOURCES:
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)]
    if _build_requirements_installed():
        cmd.insert(4, "--no-build-isolation")     # offline and fast; else pip fetches setuptools
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = out.glob("minigrad-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


pytestmark = pytest.mark.slow


def test_every_file_is_under_minigrad_or_the_dist_info(wheel_names):
    stray = [n for n in wheel_names
             if not n.startswith("minigrad/") and not n.split("/")[0].endswith(".dist-info")]
    assert not stray, f"files outside minigrad/: {stray}"


def test_no_top_level_nn_or_models(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names}
    assert "nn" not in tops and "models" not in tops
    assert {t for t in tops if not t.endswith(".dist-info")} == {"minigrad"}


def test_nn_and_models_are_inside_minigrad(wheel_names):
    assert "minigrad/nn/__init__.py" in wheel_names
    assert "minigrad/models/__init__.py" in wheel_names
    assert "minigrad/__init__.py" in wheel_names


def test_every_source_module_is_packaged(wheel_names):
    """A sub-package missing from pyproject's explicit `packages` list would be left out."""
    names = set(wheel_names)
    missing = []
    for folder, target in SOURCES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).as_posix()
            if "__pycache__" not in rel and f"{target}/{rel}" not in names:
                missing.append(f"{folder}/{rel}")
    assert not missing, f"not in the wheel (add the sub-package to pyproject.toml): {missing}"
