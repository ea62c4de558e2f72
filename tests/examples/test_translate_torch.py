"""benchmarks/translate_torch.py trains the same model as examples/translate.py: given
the same weights, its PyTorch model computes minigrad's logits, and it runs end to
end on a tiny corpus."""
import json
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentencepiece")
pytest.importorskip("sacrebleu")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))     # the tiny corpus

import minigrad as mg  # noqa: E402
import translate_torch  # noqa: E402
from test_translate import write_data  # noqa: E402

# torch.nn.Transformer warns about its own nested-tensor fast path in eval mode
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::UserWarning:torch")]


def config(**kw):
    return dict(dict(vocab_size=40, d_model=32, nhead=4, layers=2, d_ff=64, dropout=0.0,
                     norm="post"), **kw)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_same_model_same_logits(norm):
    c = config(norm=norm)
    torch.manual_seed(0)
    reference = translate_torch.Seq2Seq(c).eval()
    model = translate_torch.to_minigrad(reference, c)
    assert model.num_parameters() == sum(p.numel() for p in reference.parameters())
    src = np.array([[5, 6, 7, 2, 0], [8, 9, 10, 11, 2]])
    tgt = np.array([[1, 12, 13, 0], [1, 14, 15, 16]])
    with torch.no_grad():
        expected = reference(torch.from_numpy(src), torch.from_numpy(tgt)).numpy()
    model.eval()
    with mg.no_grad():
        got = model(mg.tensor(src), mg.tensor(tgt)).numpy()
    real = tgt != 0                        # padded positions are free to differ
    np.testing.assert_allclose(got[real], expected[real], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_reference_runs_end_to_end(tmp_path):
    data = write_data(tmp_path / "data")
    out = tmp_path / "run"
    assert translate_torch.main(["--data", data, "--out", str(out), "--size", "tiny",
                                 "--d-model", "32", "--steps", "60", "--batch-size", "200",
                                 "--warmup", "30", "--valid-every", "30", "--no-progress",
                                 "--log-every", "30"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == 60 and results["tokens_per_second"] > 0
    assert set(results["test"]) == {"greedy", "beam4"}
    assert [r["step"] for r in results["validation"]] == [30, 60]


@pytest.mark.slow
def test_compare_prints_both_runs_and_draws_their_curves(tmp_path, capsys):
    import translate
    data = write_data(tmp_path / "data")
    common = ["--data", data, "--size", "tiny", "--d-model", "32", "--steps", "40",
              "--batch-size", "200", "--warmup", "20", "--valid-every", "20", "--no-progress",
              "--log-every", "20", "--beam", "2"]
    assert translate_torch.main(common + ["--out", str(tmp_path / "torch")]) == 0
    assert translate.main(["train"] + common + ["--out", str(tmp_path / "minigrad")]) == 0
    capsys.readouterr()
    path = translate_torch.compare([str(tmp_path / "minigrad"), str(tmp_path / "torch")])
    out = capsys.readouterr().out
    assert path == str(tmp_path / "torch" / "compare.png") and os.path.getsize(path) > 1000
    assert "(minigrad" in out and "(torch " in out
    assert out.count("test   beam2: BLEU") == 2 and out.count("validation loss") == 4
    with pytest.raises(Exception, match="cannot read"):
        translate_torch.compare([str(tmp_path / "nowhere")])
