"""benchmarks/shakespeare_torch.py follows the example: the same schedule step for step,
the same batches, and a falling validation loss, in the same output format."""
import json
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import shakespeare  # noqa: E402  (examples/ is on sys.path through conftest.py)
import shakespeare_torch  # noqa: E402

FLAGS = ["--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "32",
         "--batch-size", "8", "--warmup", "10", "--steps", "40", "--eval-every", "20",
         "--eval-batches", "2", "--log-every", "20", "--sample-length", "10", "--no-progress"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    words = "the king queen lord love night day sword crown heart".split()
    lines = [f"{rng.choice(['ROMEO', 'JULIET'])}:\n" + " ".join(rng.choice(words, size=8)) + "."
             for _ in range(1000)]
    path = tmp_path_factory.mktemp("text") / "play.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_reference_learns_with_the_example_schedule_and_format(capsys, tmp_path, text_file):
    status = shakespeare_torch.main(["--data", text_file, "--out", str(tmp_path / "torch"),
                                     *FLAGS])
    out = capsys.readouterr().out
    assert status == 0
    assert "step 20/40 | loss" in out and "tok/s" in out and "bits/char" in out
    with open(tmp_path / "torch" / "results.json") as f:
        torch_run = json.load(f)
    assert torch_run["validation"][-1]["loss"] < torch_run["validation"][0]["loss"]

    status = shakespeare.main(["--data", text_file, "--out", str(tmp_path / "mg"), *FLAGS])
    assert status == 0
    with open(tmp_path / "mg" / "results.json") as f:
        mg_run = json.load(f)
    import minigrad as mg            # the learning rates of both, read from the checkpoint
    lrs = json.loads(mg.io.load_metadata(str(tmp_path / "mg" / "checkpoint.safetensors"))
                     ["extra"])["history"]["lrs"]
    factor = shakespeare_torch.cosine_with_warmup(10, 40, 1e-4 / 1e-3)
    np.testing.assert_allclose(lrs, [1e-3 * factor(s) for s in range(40)], rtol=1e-12)
    assert mg_run["config"] == torch_run["config"]
    # the same model on the same batches: close validation losses (different random weights)
    assert abs(mg_run["val_loss"] - torch_run["val_loss"]) < 0.3
    # the side-by-side table and picture of the two runs
    capsys.readouterr()
    assert shakespeare_torch.main(["--compare", str(tmp_path / "mg"), str(tmp_path / "torch")]) == 0
    out = capsys.readouterr().out
    assert "(minigrad)" in out and "(torch " in out and out.count("validation loss") == 4
    assert (tmp_path / "torch" / "compare.png").stat().st_size > 0


def test_compare_of_a_folder_without_results_is_an_error(tmp_path):
    with pytest.raises(shakespeare_torch.ExampleError, match="results.json"):
        shakespeare_torch.compare([str(tmp_path)])
