"""examples/pretrained_translation.py on a tiny random Marian folder built offline: the
printed translations equal transformers' generate + MarianTokenizer.batch_decode, and the
cross-attention heat map is a PNG."""
import os
import subprocess
import sys

import numpy as np
import pytest

from marian_fixtures import ENGLISH, KOREAN, make_marian_folder, write_tokenizer

pytest.importorskip("sentencepiece")
pytest.importorskip("matplotlib")
transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "pretrained_translation.py")
SENTENCES = [KOREAN[0], KOREAN[3] + " " + KOREAN[5], "개"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A Korean -> English folder: tokenizer files, and a random model over its vocabulary
    with opus-mt's generation settings (beam search, the pad banned, renormalized)."""
    path = tmp_path_factory.mktemp("opus-mt-tiny")
    vocab = write_tokenizer(path, KOREAN, ENGLISH)
    pad = len(vocab) - 1
    make_marian_folder(path, seed=3, scale=0.3, vocab_size=len(vocab), pad_token_id=pad,
                       decoder_start_token_id=pad, activation_function="swish",
                       scale_embedding=True,
                       generation=dict(num_beams=4, max_length=10, bad_words_ids=[[pad]],
                                       renormalize_logits=True, forced_eos_token_id=0))
    return path


def _reference(folder, sentences, **settings):
    """transformers' translations: MarianTokenizer, generate, batch_decode."""
    tokenizer = transformers.MarianTokenizer.from_pretrained(str(folder))
    model = transformers.MarianMTModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        ids = model.generate(**tokenizer(sentences, return_tensors="pt", padding=True),
                             **settings)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def _run(args, stdin=None):
    result = subprocess.run([sys.executable, EXAMPLE, *args], input=stdin, capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result


def test_translations_and_heat_map(folder, tmp_path):
    png = tmp_path / "attention.png"
    result = _run(["--model", str(folder), "--attention-png", str(png), *SENTENCES])
    want = _reference(folder, SENTENCES)
    assert result.stdout.splitlines() == want
    assert any(want), "a degenerate case: every translation is empty"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert os.path.getsize(png) > 1000


@pytest.mark.slow
def test_stdin_greedy_and_one_head(folder, tmp_path):
    png = tmp_path / "head.png"
    result = _run(["--model", str(folder), "--num-beams", "1", "--layer", "0", "--head", "2",
                   "--attention-png", str(png)], stdin="\n".join(SENTENCES[:2]) + "\n\n")
    assert result.stdout.splitlines() == _reference(folder, SENTENCES[:2], num_beams=1)
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_heat_map_weights_are_the_models_cross_attention(folder):
    """The plotted matrix: one row per written piece, each a distribution over the source."""
    sys.path.insert(0, os.path.dirname(EXAMPLE))
    try:
        import pretrained_translation as example
    finally:
        sys.path.remove(os.path.dirname(EXAMPLE))
    from minigrad.models import MarianMT
    from minigrad.models.marian_tokenizer import MarianTokenizer

    model, tokenizer = MarianMT.from_pretrained(folder), MarianTokenizer.from_pretrained(folder)
    ids, _ = example.translate(model, tokenizer, SENTENCES[:1])
    weights, src_labels, tgt_labels = example.cross_attention(model, tokenizer, SENTENCES[0],
                                                              ids[0], layer=1, head=None)
    written = [int(t) for t in ids[0][1:]]
    written = written[:written.index(0) + 1] if 0 in written else written
    assert weights.shape == (len(written), len(tokenizer.encode(SENTENCES[0])))
    assert src_labels[-1] == "</s>" and len(src_labels) == weights.shape[1]
    assert tgt_labels == tokenizer.convert_ids_to_tokens(written)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(example.ExampleError, match="--head"):
        example.cross_attention(model, tokenizer, SENTENCES[0], ids[0], head=4)


def test_translate_command_runs_a_marian_folder(folder, tmp_path):
    """examples/translate.py translate --model FOLDER (issue 18): the folder's model,
    tokenizer and generation settings, the same translations as transformers'."""
    translate = os.path.join(ROOT, "examples", "translate.py")
    result = subprocess.run([sys.executable, translate, "translate", "--model", str(folder),
                             *SENTENCES], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == _reference(folder, SENTENCES)
    greedy = subprocess.run([sys.executable, translate, "translate", "--model", str(folder),
                             "--beam", "1"], input=SENTENCES[0] + "\n", capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert greedy.stdout.splitlines() == _reference(folder, SENTENCES[:1], num_beams=1)
    missing = subprocess.run([sys.executable, translate, "translate", "--model",
                              str(tmp_path / "none"), "hello"], capture_output=True, text=True,
                             timeout=120, cwd=ROOT)
    assert missing.returncode == 1 and "--model" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_bad_folder_or_head_is_one_line_error(folder, tmp_path):
    cases = [([ "--model", str(tmp_path / "none"), "hello"], "no such folder"),
             (["--model", str(folder), "--head", "99", "hello"], "--head must be in")]
    for args, message in cases:
        result = subprocess.run([sys.executable, EXAMPLE, *args], capture_output=True,
                                text=True, timeout=300, cwd=ROOT)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr


def test_translate_help_lists_the_commands():
    translate = os.path.join(ROOT, "examples", "translate.py")
    for flag in ("--help", "-h"):
        result = subprocess.run([sys.executable, translate, flag], capture_output=True,
                                text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert "translate.py data" in result.stdout and "translate.py train" in result.stdout
