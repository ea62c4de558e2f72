"""examples/translate.py end to end on a tiny corpus written here: a short training
overfits a few pairs, beam search and greedy decoding agree with it, the scores
come from sacrebleu, and the translate command works from the command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sentencepiece")
pytest.importorskip("sacrebleu")

import minigrad as mg  # noqa: E402
import translate  # noqa: E402
from support import cli  # noqa: E402
from translation import corpus, scoring  # noqa: E402
from translation.tokenizer import Tokenizer, train_tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "translate.py")

PAIRS = [("the cat sleeps on the mat", "die Katze schläft auf der Matte"),
         ("the dog eats in the garden", "der Hund frisst im Garten"),
         ("a cat eats in the kitchen", "eine Katze frisst in der Küche"),
         ("the bird sings on the roof", "der Vogel singt auf dem Dach"),
         ("a dog sleeps in the garden", "ein Hund schläft im Garten"),
         ("the cat sings in the kitchen", "die Katze singt in der Küche")]


def write_data(folder, pairs=PAIRS):
    """A data folder as the data step writes it; valid and test hold the training pairs
    themselves (this corpus is for overfitting, not for measuring generalisation)."""
    pair_dir = folder / "en-de"
    pair_dir.mkdir(parents=True)
    items = [corpus.Pair(s, t, s) for s, t in pairs]
    for name in ("train", "valid", "test"):
        corpus.write_tsv(str(pair_dir / f"{name}.tsv"), items)
    train_tokenizer([s for s, _ in pairs] + [t for _, t in pairs], str(pair_dir / "spm.model"),
                    vocab_size=60)
    return str(folder)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short training run on the six pairs (shared by the tests below)."""
    folder = tmp_path_factory.mktemp("translate")
    data = write_data(folder / "data")
    out = str(folder / "run")
    status = cli.run_main(translate.main, [
        "train", "--data", data, "--out", out, "--size", "tiny", "--d-model", "32",
        "--steps", "300", "--minutes", "10", "--batch-size", "200", "--warmup", "30",
        "--lr-factor", "0.5", "--dropout", "0", "--label-smoothing", "0", "--valid-every", "100",
        "--checkpoint-every", "100", "--average", "2", "--no-progress", "--log-every", "50"])
    assert status == 0
    with open(os.path.join(out, "results.json")) as f:
        return out, json.load(f)


@pytest.mark.slow
def test_short_training_overfits_and_scores_with_sacrebleu(trained):
    out, results = trained
    assert results["steps"] == 300 and results["averaged_snapshots"] == 2
    for name in ("greedy", "beam4"):
        assert results["test"][name]["bleu"] > 90, results["test"]
        assert results["test"][name]["bleu_signature"].startswith("nrefs:1|")
    losses = [r["valid_loss"] for r in results["validation"]]
    assert [r["step"] for r in results["validation"]] == [100, 200, 300]
    assert losses[-1] < losses[0]
    for name in ("loss.png", "bleu.png", "cross_attention.png", "test_translations.tsv",
                 "tokenizer.model", "examples.md"):
        assert os.path.exists(os.path.join(out, name)), name
    averaged = os.path.join(out, "averaged.safetensors")       # the translate command's model
    run = subprocess.run([sys.executable, SCRIPT, "translate", "--checkpoint", averaged,
                          PAIRS[0][0]], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0 and run.stdout.strip() == PAIRS[0][1], run.stderr
    snapshots = sorted(n for n in os.listdir(out) if n.startswith("snapshot-"))
    assert snapshots == ["snapshot-200.safetensors", "snapshot-300.safetensors"]


@pytest.mark.slow
def test_beam_and_greedy_agree_on_a_learnt_pair(trained):
    out, _ = trained
    config = json.loads(mg.io.load_metadata(os.path.join(out, "checkpoint.safetensors"))["extra"])
    model = translate.build_model(config["config"])
    mg.io.Checkpoint(model).load(os.path.join(out, "checkpoint.safetensors"), restore_rng=False)
    tokenizer = Tokenizer(os.path.join(out, "tokenizer.model"))
    sources = [s for s, _ in PAIRS]
    greedy = scoring.translate(model, tokenizer, sources, beam_size=1)
    beam = scoring.translate(model, tokenizer, sources, beam_size=4)
    assert greedy == beam == [t for _, t in PAIRS]
    # a padded batch decodes as its sentences alone (the padding mask works)
    ids = [[5, 6, 7, 2], [8, 2, 0, 0]]
    batched = scoring.decode_ids(model, ids, 4)
    alone = scoring.decode_ids(model, [ids[1][:2]], 4)
    assert np.array_equal(batched[1, :alone.shape[1]], alone[0])


@pytest.mark.slow
def test_translate_command(trained):
    out, _ = trained
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    run = subprocess.run([sys.executable, SCRIPT, "translate", "--checkpoint", checkpoint,
                          PAIRS[1][0], PAIRS[2][0]], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [PAIRS[1][1], PAIRS[2][1]]
    piped = subprocess.run([sys.executable, SCRIPT, "translate", "--checkpoint", checkpoint,
                            "--beam", "1"], input=PAIRS[3][0] + "\n", capture_output=True,
                           text=True, timeout=120, cwd=ROOT)
    assert piped.returncode == 0 and piped.stdout.strip() == PAIRS[3][1]


def test_scores_are_sacrebleus():
    import sacrebleu
    refs = [t for _, t in PAIRS]
    hyps = ["der Hund frisst im Garten"] + refs[1:]
    s = scoring.score(hyps, refs)
    assert s["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    assert s["chrf"] == round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)
    assert scoring.score(refs, refs)["bleu"] == 100.0
    assert scoring.main_score("ko") == "chrf" and scoring.main_score("de") == "bleu"


def test_missing_data_and_unknown_command_are_one_line_errors(tmp_path, capsys):
    assert cli.run_main(translate.main, ["train", "--data", str(tmp_path / "none"),
                                         "--out", str(tmp_path / "run")]) == 1
    assert "run the data step first" in capsys.readouterr().err
    assert cli.run_main(translate.main, ["fly"]) == 1
    err = capsys.readouterr().err
    assert "unknown command 'fly'" in err and "data, train, translate" in err
    assert not (tmp_path / "run").exists()          # no empty run folder is left behind


def test_size_presets_and_explicit_flags():
    args = translate.parse_train_args(["--size", "base"])
    assert (args.d_model, args.layers, args.d_ff) == (256, 3, 1024)
    args = translate.parse_train_args(["--size", "base", "--d-model", "128"])
    assert (args.d_model, args.layers) == (128, 3)
    args = translate.parse_train_args([])
    assert (args.d_model, args.layers, args.d_ff, args.norm, args.dropout) == \
        (128, 2, 512, "post", 0.1)
    model = translate.build_model(dict(vars(args), vocab_size=50))
    assert model.src_tok_emb.embedding.weight is model.tgt_tok_emb.embedding.weight \
        is model.generator.weight


@pytest.mark.slow
def test_resume_extends_the_run(tmp_path):
    data = write_data(tmp_path / "data")
    out = str(tmp_path / "run")
    flags = ["--data", data, "--size", "tiny", "--d-model", "32", "--batch-size", "100",
             "--warmup", "30", "--valid-every", "20", "--valid-sentences", "2",
             "--test-sentences", "2", "--no-progress", "--log-every", "20"]
    assert cli.run_main(translate.main, ["train", "--out", out, "--steps", "40", *flags]) == 0
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    assert cli.run_main(translate.main, ["train", "--out", out, "--steps", "60",
                                         "--resume", checkpoint, *flags]) == 0
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    assert results["steps"] == 60 and results["trained_steps_this_run"] == 20
    assert [r["step"] for r in results["validation"]] == [20, 40, 60]
    seconds = [r["train_seconds"] for r in results["validation"]]
    assert seconds == sorted(seconds)                # the time axis goes on, not from zero


def test_translate_command_errors(tmp_path, capsys):
    assert cli.run_main(translate.main, ["translate", "--checkpoint",
                                         str(tmp_path / "none.safetensors"), "hello"]) == 1
    assert "--checkpoint: no such file" in capsys.readouterr().err


def test_markdown_table_escapes_bars():
    table = scoring.markdown_table([{"a": "x | y", "b": "z"}], ("a", "b"))
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x \\| y | z |"]


def test_korean_attention_labels_draw_without_glyph_warnings(tmp_path):
    import warnings

    from support import plots
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_attention_heads(np.full((1, 2, 2), 0.5), ["▁a", "</s>"],
                                   ["▁패키지는", "▁이"], str(tmp_path / "ko.png"))
        with plots.font_for(["▁패키지는"]) as note:
            pass
    assert note is None or "fonts-noto-cjk" in note
    assert (tmp_path / "ko.png").exists()


# ------------------------------------------------------------------ the run's own tokenizer
TINY_RUN = ["--size", "tiny", "--d-model", "16", "--d-ff", "32", "--batch-size", "100",
            "--warmup", "10", "--valid-every", "1000", "--valid-sentences", "1",
            "--test-sentences", "1", "--beam", "1", "--no-progress", "--log-every", "1000"]


def test_resume_uses_the_runs_own_tokenizer_when_the_data_step_ran_again(tmp_path, capsys):
    data = write_data(tmp_path / "data")
    out = tmp_path / "run"
    assert cli.run_main(translate.main, ["train", "--data", data, "--out", str(out),
                                         "--steps", "2", *TINY_RUN]) == 0
    own = (out / "tokenizer.model").read_bytes()
    data_model = tmp_path / "data" / "en-de" / "spm.model"
    assert data_model.read_bytes() == own
    # the data step run again: another vocabulary in the data folder
    train_tokenizer([s for s, _ in PAIRS] + [t for _, t in PAIRS], str(data_model),
                    vocab_size=45)
    assert len(Tokenizer(str(data_model))) != len(Tokenizer(str(out / "tokenizer.model")))
    capsys.readouterr()
    checkpoint = str(out / "checkpoint.safetensors")
    status = cli.run_main(translate.main, ["train", "--data", data, "--out", str(out),
                                           "--steps", "4", "--resume", checkpoint, *TINY_RUN])
    printed, err = capsys.readouterr()
    assert status == 0, err
    notes = [line for line in printed.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and str(data_model) in notes[0], printed
    assert str(out / "tokenizer.model") in notes[0] and "its own tokenizer" in notes[0]
    assert (out / "tokenizer.model").read_bytes() == own          # not replaced
    with open(out / "results.json") as f:
        results = json.load(f)
    assert results["steps"] == 4 and results["config"]["vocab_size"] == len(
        Tokenizer(str(out / "tokenizer.model")))


def test_resume_without_the_runs_tokenizer_is_one_line_error(tmp_path, capsys):
    data = write_data(tmp_path / "data")
    out = tmp_path / "run"
    assert cli.run_main(translate.main, ["train", "--data", data, "--out", str(out),
                                         "--steps", "1", *TINY_RUN]) == 0
    os.remove(out / "tokenizer.model")
    capsys.readouterr()
    elsewhere = tmp_path / "new" / "run"
    status = cli.run_main(translate.main, ["train", "--data", data, "--out", str(elsewhere),
                                           "--steps", "2", "--resume",
                                           str(out / "checkpoint.safetensors"), *TINY_RUN])
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1, err
    assert str(out / "tokenizer.model") in err and "missing" in err
    assert not (tmp_path / "new").exists()            # no empty run folder left behind


def test_the_data_step_does_not_replace_a_tokenizer_unless_asked(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS * 20), encoding="utf-8")
    command = ["data", "--tsv", str(pairs), "--pair", "en-de", "--data", str(tmp_path / "d"),
               "--vocab-size", "60"]
    assert cli.run_main(translate.main, command) == 0
    model = tmp_path / "d" / "en-de" / "spm.model"
    before = model.read_bytes()
    capsys.readouterr()
    assert cli.run_main(translate.main, command[:-1] + ["50"]) == 1
    err = capsys.readouterr().err
    assert str(model) in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert model.read_bytes() == before
    assert cli.run_main(translate.main, command[:-1] + ["50", "--overwrite"]) == 0
    assert model.read_bytes() != before


def test_help_has_a_usage_line_and_the_translate_flags_are_checked(capsys):
    assert translate.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: translate.py {data,train,translate}")
    assert cli.run_main(translate.main, ["translate", "--checkpoint", "x", "--length-penalty",
                                         "nan", "hello"]) == 1
    assert "--length-penalty must be a finite number, got nan" in capsys.readouterr().err
