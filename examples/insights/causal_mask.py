"""Masked decoder self-attention: no peeking at the future.

During training the decoder sees the whole target sentence at once (teacher
forcing), but at position i it must predict token i+1 from tokens 0..i only, as
it will when generating. The causal mask blocks every score above the diagonal,
so position i's output cannot depend on any later token. Change a future token
and, with the mask, every earlier output stays exactly the same; without it,
every output moves.

Why it matters: a decoder trained without the mask learns to read the answer
from its own input (the next target token is right there). It scores perfectly
under teacher forcing and then fails when it has to generate, where the future
does not exist yet. The script trains both on a copy task and measures both.

    python examples/insights/causal_mask.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import one_blas_thread, parse_args, print_table, pyplot, save_figure  # noqa: E402

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad.models.seq2seq import Seq2SeqTransformer  # noqa: E402
from minigrad.optim import Adam  # noqa: E402


def decoder_logits(model, src, tgt, causal):
    """Next-token logits for every target position, with or without the causal mask."""
    with mg.no_grad():
        memory = model.encode(src)
        x = model.positional_encoding(model.tgt_tok_emb(tgt))
        out = model.transformer.decoder(x, memory, tgt_is_causal=causal)
        return model.generator(out).numpy()[0]


def self_attention_weights(model, tgt, causal):
    """The first decoder layer's self-attention weights (averaged over heads), (T, T)."""
    with mg.no_grad():
        x = model.positional_encoding(model.tgt_tok_emb(tgt))
        _, weights = model.transformer.decoder.layers[0].self_attn(x, x, x, is_causal=causal)
    return weights.numpy()[0]


# ---------------------------------------------------------------- training: why it matters
BOS = 1


def copy_batch(rng, batch, length, vocab):
    """Copy task: the target is the source; the decoder input is BOS + target[:-1]."""
    src = rng.integers(3, vocab, size=(batch, length))
    return src, np.concatenate([np.full((batch, 1), BOS), src[:, :-1]], axis=1)


def teacher_forced_logits(model, src, tgt_in, causal):
    memory = model.encode(mg.tensor(src))
    x = model.positional_encoding(model.tgt_tok_emb(mg.tensor(tgt_in)))
    return model.generator(model.transformer.decoder(x, memory, tgt_is_causal=causal))


def generate(model, src, length, causal):
    """Greedy decoding, recomputing the whole prefix each step (as the model was trained)."""
    out = np.full((src.shape[0], 1), BOS)
    with mg.no_grad():
        for _ in range(length):
            logits = teacher_forced_logits(model, src, out, causal).numpy()[:, -1]
            out = np.concatenate([out, logits.argmax(-1)[:, None]], axis=1)
    return out[:, 1:]


def train_copy(causal, steps, d_model, nhead, length, vocab, eval_every):
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Seq2SeqTransformer(vocab, vocab, d_model=d_model, nhead=nhead, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=2 * d_model, dropout=0.0)
    opt = Adam(model.parameters(), lr=3e-3)
    test_src, test_in = copy_batch(np.random.default_rng(99), 128, length, vocab)
    curve = {"step": [], "teacher_forced": [], "generated": []}
    for step in range(1, steps + 1):
        src, tgt_in = copy_batch(rng, 32, length, vocab)
        logits = teacher_forced_logits(model, src, tgt_in, causal)
        loss = mg.cross_entropy(logits.reshape(-1, vocab), src.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            with mg.no_grad():
                forced = teacher_forced_logits(model, test_src, test_in, causal).numpy().argmax(-1)
            curve["step"].append(step)
            curve["teacher_forced"].append(float((forced == test_src).mean()))
            curve["generated"].append(float((generate(model, test_src, length, causal) == test_src).mean()))
    return curve


@one_blas_thread
def run(reduced=False):
    d_model, nhead, layers, length = (16, 2, 1, 6) if reduced else (32, 4, 2, 10)
    vocab = 12
    mg.manual_seed(0)
    model = Seq2SeqTransformer(vocab, vocab, d_model=d_model, nhead=nhead, num_encoder_layers=layers,
                               num_decoder_layers=layers, dim_feedforward=4 * d_model, dropout=0.0,
                               pad_idx=None).eval()
    rng = np.random.default_rng(0)
    src = mg.tensor(rng.integers(1, vocab, size=(1, length)))
    tgt_ids = rng.integers(1, vocab, size=(1, length))
    changed = length * 2 // 3                    # the "future" token we rewrite
    tgt_changed = tgt_ids.copy()
    tgt_changed[0, changed] = 1 + (tgt_ids[0, changed] % (vocab - 1))   # a different token
    assert tgt_changed[0, changed] != tgt_ids[0, changed]

    r = {"length": length, "changed_position": changed, "num_layers": layers}
    for name, causal in (("causal", True), ("unmasked", False)):
        before = decoder_logits(model, src, mg.tensor(tgt_ids), causal)
        after = decoder_logits(model, src, mg.tensor(tgt_changed), causal)
        r[f"change_{name}"] = np.abs(after - before).max(axis=-1).tolist()   # per position
        r[f"weights_{name}"] = self_attention_weights(model, mg.tensor(tgt_ids), causal)

    steps, eval_every = (150, 50) if reduced else (300, 50)
    r["copy"] = {"steps": steps, "length": 8, "vocab": 12}
    for name, causal in (("causal", True), ("unmasked", False)):
        r[f"copy_{name}"] = train_copy(causal, steps, 32, 4, 8, 12, eval_every)
    return r


def report(r):
    j = r["changed_position"]
    rows = [[i, "<- changed" if i == j else ("earlier" if i < j else "later"),
             r["change_causal"][i], r["change_unmasked"][i]] for i in range(r["length"])]
    print_table(f"Max |change| of each position's next-token logits when target token {j} is "
                f"replaced ({r['num_layers']}-layer decoder, eval, dropout 0)",
                ["position", "", "causal mask", "no mask"], rows)
    earlier_causal = max(r["change_causal"][:j])
    earlier_unmasked = min(r["change_unmasked"][:j])
    print(f"earlier positions: largest change with the mask {earlier_causal:.3g}, "
          f"smallest change without it {earlier_unmasked:.3g}")
    w = r["weights_causal"]
    print(f"attention weight above the diagonal: causal {np.triu(w, 1).sum():.3g}, "
          f"unmasked {np.triu(r['weights_unmasked'], 1).sum():.3g} (of {w.shape[0]} rows summing to 1)")
    c = r["copy"]
    print_table(f"Copy task ({c['length']} tokens, {c['steps']} Adam steps): token accuracy with the "
                "true previous tokens given (teacher forcing, as in training) and when generating",
                ["decoder", "teacher-forced", "generated", "gap"],
                [[name, r[f"copy_{name}"]["teacher_forced"][-1], r[f"copy_{name}"]["generated"][-1],
                  r[f"copy_{name}"]["teacher_forced"][-1] - r[f"copy_{name}"]["generated"][-1]]
                 for name in ("causal", "unmasked")])


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(19, 4))
    for ax, name, title in ((axes[0], "weights_causal", "with the causal mask"),
                            (axes[1], "weights_unmasked", "without a mask")):
        im = ax.imshow(r[name], cmap="viridis", vmin=0, vmax=max(r["weights_causal"].max(),
                                                                 r["weights_unmasked"].max()))
        ax.set_title(f"decoder self-attention, {title}")
        ax.set_xlabel("key position (attended to)")
        ax.set_ylabel("query position")
        fig.colorbar(im, ax=ax, fraction=0.046)
    j, pos = r["changed_position"], np.arange(r["length"])
    width = 0.4
    floor = 1e-9
    axes[2].bar(pos - width / 2, np.maximum(r["change_causal"], floor), width, label="causal mask")
    axes[2].bar(pos + width / 2, np.maximum(r["change_unmasked"], floor), width, label="no mask")
    axes[2].axvline(j, color="gray", ls=":", lw=1)
    axes[2].annotate("token changed here", (j, 1), textcoords="offset points", xytext=(4, 0), fontsize=8)
    axes[2].set_yscale("log")
    axes[2].set_ylim(floor / 2, 10)
    axes[2].set_xlabel("position")
    axes[2].set_title("max |change| of the logits (0 drawn at 1e-9)")
    axes[2].legend(fontsize=8, loc="center left")
    for name, color in (("causal", "C0"), ("unmasked", "C1")):
        c = r[f"copy_{name}"]
        axes[3].plot(c["step"], c["teacher_forced"], "o-", color=color, label=f"{name}: teacher-forced")
        axes[3].plot(c["step"], c["generated"], "s--", color=color, label=f"{name}: generating")
    axes[3].set_title("copy task accuracy")
    axes[3].set_xlabel("training step")
    axes[3].legend(fontsize=8)
    return save_figure(fig, "causal_mask", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()
