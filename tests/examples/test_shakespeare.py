"""examples/shakespeare.py on a tiny text the test writes: training lowers the loss,
a resumed run equals the uninterrupted one bit for bit, --generate works from a
checkpoint, BPE through sentencepiece works, and mistakes are one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")         # on sys.path through conftest.py

import shakespeare  # noqa: E402
from shakespeare_data import BPETokenizer, CharTokenizer, DataError, tokenizer_from_dict  # noqa: E402
from support import cli  # noqa: E402

WORDS = "the king queen lord love night day sword crown heart death sweet fair good".split()
SMALL = ["--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "32",
         "--batch-size", "8", "--warmup", "10", "--eval-every", "30", "--eval-batches", "2",
         "--log-every", "20", "--sample-length", "20", "--no-progress"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """A play of three speakers saying random words (about 80 kB)."""
    rng = np.random.default_rng(0)
    speeches = [f"{rng.choice(['ROMEO', 'JULIET', 'HAMLET'])}:\n"
                + " ".join(rng.choice(WORDS, size=8)) + ".\n" for _ in range(1500)]
    path = tmp_path_factory.mktemp("text") / "play.txt"
    path.write_text("\n".join(speeches), encoding="utf-8")
    return str(path)


def run_main(capsys, *args):
    status = cli.run_main(shakespeare.main, [str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def results(folder):
    with open(os.path.join(folder, "results.json")) as f:
        return json.load(f)


def test_training_lowers_the_loss_and_writes_its_files(capsys, tmp_path, text_file):
    out_dir = tmp_path / "run"
    status, out, err = run_main(capsys, "--data", text_file, "--out", out_dir, "--steps", 60,
                                *SMALL)
    assert status == 0, err
    r = results(out_dir)
    losses = r["validation"]
    assert [v["step"] for v in losses] == [30, 60]
    chance = np.log(35)                     # 35 distinct characters in the text
    assert losses[-1]["loss"] < losses[0]["loss"] < chance
    assert r["val_bpc"] == pytest.approx(r["val_loss"] / np.log(2))    # one char per token
    for name in ("checkpoint.safetensors", "loss.png", "attention.png"):
        assert (out_dir / name).stat().st_size > 0
    assert "validation loss" in out and "bits/char" in out and "sample:" in out
    assert "ms/step" in out and "tok/s" in out


def test_resume_continues_bit_for_bit(capsys, tmp_path, text_file):
    flags = ["--data", text_file, "--steps", 40, *SMALL, "--sample-length", 0]
    assert run_main(capsys, *flags, "--out", tmp_path / "whole")[0] == 0
    assert run_main(capsys, *flags, "--out", tmp_path / "parts", "--steps", 40,
                    "--minutes", 1e-5)[0] == 0           # time is up after the first step
    first = results(tmp_path / "parts")["steps"]
    assert first < 40
    status, out, _ = run_main(capsys, *flags, "--out", tmp_path / "parts", "--resume",
                              tmp_path / "parts" / "checkpoint.safetensors")
    assert status == 0 and f"at step {first}" in out
    whole = mg.io.load(str(tmp_path / "whole" / "checkpoint.safetensors"))
    parts = mg.io.load(str(tmp_path / "parts" / "checkpoint.safetensors"))
    assert sorted(whole) == sorted(parts)
    for name in whole:                      # model and optimizer state alike
        np.testing.assert_array_equal(whole[name].numpy(), parts[name].numpy(), err_msg=name)
    assert results(tmp_path / "parts")["steps"] == 40


def test_a_run_folder_with_a_checkpoint_is_not_overwritten(capsys, tmp_path, text_file):
    flags = ["--data", text_file, "--out", tmp_path, "--steps", 12, *SMALL, "--sample-length", 0]
    assert run_main(capsys, *flags)[0] == 0
    status, _, err = run_main(capsys, *flags)
    assert status == 1 and "--overwrite" in err and "Traceback" not in err
    assert run_main(capsys, *flags, "--overwrite")[0] == 0


def test_generate_from_a_checkpoint_as_a_user_would(capsys, tmp_path, text_file):
    assert run_main(capsys, "--data", text_file, "--out", tmp_path, "--steps", 30, *SMALL)[0] == 0
    command = [sys.executable, os.path.join(EXAMPLES, "shakespeare.py"), "--generate",
               str(tmp_path / "checkpoint.safetensors"), "--prompt", "ROMEO:",
               "--max-new-tokens", "50", "--top-k", "5", "--seed", "3"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("ROMEO:")
    assert len(first.stdout.rstrip("\n")) >= len("ROMEO:") + 10   # 50 new characters
    assert (tmp_path / "attention_generated.png").stat().st_size > 0
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert again.stdout == first.stdout                 # a fixed seed gives the same text


def test_generation_longer_than_the_context(tmp_path, text_file):
    config = dict(shakespeare.DEFAULTS, n_layer=1, n_embd=16, n_head=2, block_size=16)
    tokenizer = CharTokenizer("ROMEO: abcdefghijklmnopqrstuvwxyz\n.")
    model = shakespeare.build_model(config, tokenizer.vocab_size)
    text = shakespeare.generate(model, tokenizer, "ROMEO:", 50, top_k=3, seed=1)
    assert len(text) == 50                  # three pieces, each within the 16 positions
    assert text == shakespeare.generate(model, tokenizer, "ROMEO:", 50, top_k=3, seed=1)


def test_generate_errors_are_one_line(capsys, tmp_path):
    status, _, err = run_main(capsys, "--generate", tmp_path / "missing.safetensors")
    assert status == 1 and "no such file" in err and len(err.strip().splitlines()) == 1
    plain = tmp_path / "plain.safetensors"
    mg.io.save({"x": mg.zeros(2)}, str(plain))
    status, _, err = run_main(capsys, "--generate", plain)
    assert status == 1 and "not a checkpoint of examples/shakespeare.py" in err


@pytest.mark.parametrize("flag", [["--n-embd", "0"], ["--dropout", "1.5"], ["--minutes", "0"],
                                  ["--steps", "5", "--warmup", "10"], ["--block-size", "1"],
                                  ["--attention-head", "4"], ["--attention-layer", "-5"]])
def test_bad_flags_are_one_line_errors(capsys, tmp_path, flag):
    status, _, err = run_main(capsys, "--out", tmp_path, *flag)
    assert status == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_text_too_short_for_the_context_is_an_error(capsys, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("to be or not to be " * 10)
    status, _, err = run_main(capsys, "--data", path, "--out", tmp_path / "run")
    assert status == 1 and "--block-size" in err


# ------------------------------------------------------------------ BPE through sentencepiece
def test_bpe_tokenizer_round_trips_and_survives_json(text_file):
    text = open(text_file, encoding="utf-8").read()
    tokenizer = BPETokenizer.train(text, 300)
    assert tokenizer.vocab_size == 300
    sample = text[:2000] + "\n\n  odd   spacing\t\u00e9\u4e2d\n"      # unseen characters: bytes
    ids = tokenizer.encode(sample)
    assert ids.dtype == np.int64 and len(ids) < len(sample)
    assert tokenizer.decode(ids) == sample
    again = tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    np.testing.assert_array_equal(again.encode(sample), ids)
    with pytest.raises(DataError, match="BPETokenizer.decode"):
        tokenizer.decode([300])
    with pytest.raises(DataError, match="unknown tokenizer type"):
        tokenizer_from_dict({"type": "wordpiece"})
    with pytest.raises(DataError, match="cannot train"):
        BPETokenizer.train("ab\n" * 50, 100_000)


def test_bpe_option_trains_resumes_and_generates(capsys, tmp_path, text_file):
    flags = ["--data", text_file, "--tokenizer", "bpe", "--vocab-size", 300, "--steps", 30,
             *SMALL]
    status, out, err = run_main(capsys, *flags, "--out", tmp_path)
    assert status == 0, err
    assert "bpe tokens (vocabulary 300)" in out
    r = results(tmp_path)
    assert r["val_bpc"] < r["val_loss"] / np.log(2)      # several characters per token
    status, out, err = run_main(capsys, *flags, "--steps", 35, "--resume",
                                tmp_path / "checkpoint.safetensors", "--out", tmp_path)
    assert status == 0, err
    assert results(tmp_path)["steps"] == 35
    status, out, err = run_main(capsys, "--generate", tmp_path / "checkpoint.safetensors",
                                "--prompt", "JULIET:", "--max-new-tokens", 20)
    assert status == 0, err
    assert out.startswith("JULIET:")


def test_temperature_zero_is_greedy_whatever_the_seed():
    config = dict(shakespeare.DEFAULTS, n_layer=1, n_embd=16, n_head=2, block_size=16)
    tokenizer = CharTokenizer("abcdefgh \n")
    model = shakespeare.build_model(config, tokenizer.vocab_size)
    texts = {shakespeare.generate(model, tokenizer, "abc", 20, temperature=0, seed=s)
             for s in (0, 1, 2)}
    assert len(texts) == 1
    ids = tokenizer.encode("abc")[None]
    greedy = mg.models.decoding.greedy_decode(model, ids, prompt=ids, max_new_tokens=13)
    assert texts.pop()[:13] == tokenizer.decode(np.asarray(greedy)[0, 3:])


def test_sigterm_saves_and_the_run_resumes(capsys, tmp_path, text_file):
    """A SIGTERM mid-run finishes the step, saves, exits 143; --resume goes on from there."""
    import signal
    command = [sys.executable, os.path.join(EXAMPLES, "shakespeare.py"), "--data", text_file,
               "--out", str(tmp_path), "--steps", "100000", "--checkpoint-every", "0",
               *SMALL, "--eval-every", "100000", "--sample-length", "0", "--log-every", "5"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        for line in proc.stdout:                  # the first log line: training is under way
            if line.startswith("step"):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in out
    checkpoint = tmp_path / "checkpoint.safetensors"
    step = int(mg.io.load_metadata(str(checkpoint))["step"])
    assert step >= 5
    flags = ["--data", text_file, "--out", tmp_path, *SMALL, "--sample-length", 0]
    status, out, err = run_main(capsys, *flags, "--steps", step + 3, "--resume", checkpoint)
    assert status == 0, err
    assert results(tmp_path)["steps"] == step + 3
