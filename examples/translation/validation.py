"""Validation during training: the loss over the validation split and greedy
BLEU/chrF of its first sentences, recorded in the run's History (history.evaluations,
saved with the checkpoint), so a resumed run extends its curve."""
import minigrad as mg
from support.data import PAD

from . import scoring
from .batching import TokenBatches, source_ids, target_ids


def validation_loss(model, batches, config):
    """Mean cross-entropy per target token over the validation batches (no smoothing)."""
    vocab, total, tokens = config["vocab_size"], 0.0, 0
    model.eval()
    with mg.no_grad():
        for batch in batches.in_order():
            logits = model(batch.src, batch.tgt_in)
            loss = mg.cross_entropy(logits.reshape(-1, vocab), batch.tgt_out.reshape(-1),
                                    ignore_index=PAD)
            total += loss.item() * batch.n_tokens
            tokens += batch.n_tokens
    return total / max(tokens, 1)


class Validation:
    """valid(model, step, seconds) -> log line: validation loss and greedy BLEU/chrF on
    the first --valid-sentences sentences, appended to history.evaluations (a resumed
    run's History brings the records up to its checkpoint's step)."""

    def __init__(self, tokenizer, sources, references, config, args, device, history):
        self.tokenizer, self.config, self.device = tokenizer, config, device
        n = args.valid_sentences
        self.sources, self.references = sources[:n], references[:n]
        ids_s, ids_t = tokenizer.encode(sources), tokenizer.encode(references)
        self.batches = TokenBatches([source_ids(s) for s in ids_s], [target_ids(t) for t in ids_t],
                                    config["batch_size"], config["seed"], device)
        self.records = history.evaluations
        self.offset = self.records[-1]["train_seconds"] if self.records else 0.0

    def __call__(self, model, step, seconds):
        if not self.sources:
            return f"step {step}: no validation pairs (the valid split is empty)"
        loss = validation_loss(model, self.batches, self.config)
        hyps = scoring.translate(model, self.tokenizer, self.sources, beam_size=1,
                                 device=self.device)
        scores = scoring.score(hyps, self.references)
        self.records.append({"step": step, "train_seconds": self.offset + seconds,
                             "valid_loss": loss, "bleu": scores["bleu"], "chrf": scores["chrf"]})
        return (f"validation at step {step}: loss {loss:.4f} | greedy BLEU {scores['bleu']:.2f} "
                f"| chrF {scores['chrf']:.2f} ({len(self.sources)} sentences)")
