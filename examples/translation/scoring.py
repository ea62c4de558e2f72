"""Translating a list of sentences with a trained model (greedy or beam search,
in batches of similar length) and scoring the detokenized output against the
raw references with sacrebleu (BLEU and chrF, with sacrebleu's signatures, so
the numbers can be compared with published ones)."""
import numpy as np

import minigrad as mg
from support.cli import ExampleError
from support.data import END, START, pad_sequences

from .batching import source_ids

MAX_EXTRA = 50           # an output may run this many pieces past 1.5x its source


def translate(model, tokenizer, sentences, beam_size=4, length_penalty=0.6, batch_size=64,
              device="cpu"):
    """Detokenized translations of `sentences` (list of str), in their order.

    beam_size 1 is greedy search; larger uses the paper's beam search with GNMT's
    length penalty (models.decoding.beam_search). Sentences are decoded in
    batches of similar length so little work goes to padding.
    """
    ids = [source_ids(s) for s in tokenizer.encode(sentences)]
    order = np.argsort([len(s) for s in ids], kind="stable")
    out = [None] * len(ids)
    for first in range(0, len(order), batch_size):
        rows = order[first:first + batch_size]
        result = decode_ids(model, pad_sequences([ids[i] for i in rows]), beam_size, device,
                            length_penalty)
        for i, row in zip(rows, result):
            out[i] = tokenizer.decode(row[1:])
    return out


def decode_ids(model, src, beam_size=4, device="cpu", length_penalty=0.6):
    """Output ids (B, L) int64, start symbol first, of padded source ids src (B, S)."""
    src = mg.tensor(np.asarray(src, dtype=np.int64), device=device)
    max_len = int(1.5 * src.shape[1]) + MAX_EXTRA
    with mg.no_grad():
        if beam_size == 1:
            return np.asarray(model.greedy_decode(src, max_len=max_len, start_symbol=START,
                                                  end_symbol=END))
        result, _ = model.beam_search(src, beam_size=beam_size, max_len=max_len,
                                      start_symbol=START, end_symbol=END,
                                      length_penalty=length_penalty)
    return np.asarray(result)


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise ExampleError("scoring needs sacrebleu: pip install -e \".[text]\"") from None
    return sacrebleu


def score(hypotheses, references):
    """{'bleu', 'chrf', 'bleu_signature', 'chrf_signature', 'brevity_penalty', 'length_ratio'}.

    BLEU uses sacrebleu's default 13a tokenization (for Korean too: its Korean
    tokenizer needs MeCab; chrF, on characters, is the main score there).
    """
    sacrebleu = _sacrebleu()
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": round(b.score, 2), "chrf": round(c.score, 2),
            "brevity_penalty": round(b.bp, 4),
            "length_ratio": round(b.sys_len / max(b.ref_len, 1), 4),
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


def main_score(target_lang):
    """The score a pair is judged by: chrF for Korean (BLEU is a poor measure there), else BLEU."""
    return "chrf" if target_lang == "ko" else "bleu"


def markdown_table(rows, columns):
    """A Markdown table of dicts (the example translations, for a README or an issue)."""
    def cell(text):
        return str(text).replace("|", "\\|")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
