"""Decoding speed: tokens/s of greedy and beam-4 search, minigrad beside PyTorch.

    python benchmarks/decode.py                                   # small and base, batch 1 and 32
    python benchmarks/decode.py --configs small --batches 1 --tokens 8 --reps 1   # a quick look

minigrad decodes with models.decoding (greedy_decode, beam_search) on the
Seq2SeqTransformer of benchmarks/train_step.py; PyTorch runs the same algorithm on the
same weights (copied with the converter into torch.nn.Transformer), with the
key/value cache written here: per decoder layer the self-attention keys and values
grow by one position a step, and the encoder memory's keys and values are projected
once. No end symbol is given, so every run generates exactly --tokens tokens per
sentence and both frameworks do the same work; beam search (GNMT style, 4 beams)
then keeps the 4 best prefixes a step and returns the best. tokens/s counts the
generated tokens of the returned sequences (batch x tokens), not of every beam.
The two frameworks alternate and the table shows medians; it also says whether
their outputs agree (they may differ where two candidates tie to float rounding).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import CONFIGS, build_minigrad, build_torch  # noqa: E402  (the same models)

START = 1


# ------------------------------------------------------------------ PyTorch, with a cache
class TorchDecoder:
    """Incremental decoding of train_step's TorchSeq2Seq (post-norm nn.Transformer, eval)."""

    def __init__(self, torch, model, src):
        self.torch, self.model = torch, model
        self.layers = model.transformer.decoder.layers
        self.nhead = self.layers[0].self_attn.num_heads
        with torch.no_grad():
            s = model.src_tok_emb(src) + model.pe[: src.shape[1]]
            memory = model.transformer.encoder(s)
            # cross-attention keys and values, once per layer: (B, h, S, d_k)
            self.memory_kv = [self._heads(self._project(memory, layer.multihead_attn, 1, 3))
                              for layer in self.layers]
        self.cache = [None] * len(self.layers)        # per layer: self-attention (K, V)
        self.length = 0

    def _project(self, x, mha, start, stop):
        """x @ W^T + b for the parts start..stop of a MultiheadAttention's in-projection."""
        d = mha.embed_dim
        return self.torch.nn.functional.linear(x, mha.in_proj_weight[start * d: stop * d],
                                               mha.in_proj_bias[start * d: stop * d])

    def _heads(self, x):
        """(B, n, parts * d) -> parts tensors (B, h, n, d_k)."""
        b, n, width = x.shape
        d_k = self.layers[0].self_attn.head_dim
        x = x.view(b, n, width // (self.nhead * d_k), self.nhead, d_k).permute(2, 0, 3, 1, 4)
        return tuple(x)

    def _attend(self, q, k, v, mha):
        out = self.torch.nn.functional.scaled_dot_product_attention(q, k, v)
        b, _, n, _ = out.shape
        return mha.out_proj(out.transpose(1, 2).reshape(b, n, -1))

    def step(self, tokens):
        """tokens (B, 1) -> logits (B, V); the caches grow by one position."""
        torch, m = self.torch, self.model
        x = m.tgt_tok_emb(tokens) + m.pe[self.length: self.length + tokens.shape[1]]
        for i, layer in enumerate(self.layers):
            q, k, v = self._heads(self._project(x, layer.self_attn, 0, 3))
            if self.cache[i] is not None:
                k, v = torch.cat([self.cache[i][0], k], 2), torch.cat([self.cache[i][1], v], 2)
            self.cache[i] = (k, v)
            x = layer.norm1(x + self._attend(q, k, v, layer.self_attn))
            q, = self._heads(self._project(x, layer.multihead_attn, 0, 1))
            x = layer.norm2(x + self._attend(q, *self.memory_kv[i], layer.multihead_attn))
            x = layer.norm3(x + layer.linear2(torch.relu(layer.linear1(x))))
        self.length += tokens.shape[1]
        return m.generator(m.transformer.decoder.norm(x))[:, -1]

    def reorder(self, rows):
        self.cache = [(k[rows], v[rows]) for k, v in self.cache]
        self.memory_kv = [(k[rows], v[rows]) for k, v in self.memory_kv]


def torch_greedy(torch, model, src, tokens):
    with torch.no_grad():
        dec = TorchDecoder(torch, model, src)
        ys = torch.full((src.shape[0], 1), START, dtype=torch.int64)
        for _ in range(tokens):
            ys = torch.cat([ys, dec.step(ys[:, -1:]).argmax(-1, keepdim=True)], 1)
    return ys.numpy()


def torch_beam(torch, model, src, tokens, k=4, alpha=0.6):
    """models.decoding.beam_search (style 'gnmt') without an end symbol: the k best
    prefixes by log-probability every step; the best at the end (its length penalty
    is the same for every prefix, so it does not change the choice)."""
    with torch.no_grad():
        b = src.shape[0]
        dec = TorchDecoder(torch, model, src.repeat_interleave(k, 0))
        ys = torch.full((b * k, 1), START, dtype=torch.int64)
        scores = torch.full((b, k), -math.inf, dtype=torch.float64)
        scores[:, 0] = 0.0
        for _ in range(tokens):
            logp = torch.log_softmax(dec.step(ys[:, -1:]).double(), -1)
            v = logp.shape[-1]
            cand = (scores[:, :, None] + logp.view(b, k, v)).view(b, k * v)
            scores, top = cand.topk(k, dim=1)
            rows = (torch.arange(b)[:, None] * k + top // v).reshape(-1)
            ys = torch.cat([ys[rows], (top % v).reshape(-1, 1)], 1)
            dec.reorder(rows)
        best = scores.argmax(1)
    return ys.view(b, k, -1)[torch.arange(b), best].numpy()


# ------------------------------------------------------------------ the table
def run(name, batch, args):
    cfg = dict(CONFIGS[name], batch=batch, length=args.src_len + args.tokens + 1)
    mg, m_model, _ = build_minigrad(cfg, "cpu")
    torch, t_model, _ = build_torch(cfg, m_model.state_dict(), "cpu")
    t_model.eval()
    from minigrad.models.decoding import beam_search, greedy_decode
    src = np.random.default_rng(0).integers(3, cfg["vocab"], (batch, args.src_len))
    t_src = torch.from_numpy(src)
    max_len = args.tokens + 1
    runs = {
        "greedy": (lambda: greedy_decode(m_model, src, max_len, start_symbol=START),
                   lambda: torch_greedy(torch, t_model, t_src, args.tokens)),
        "beam-4": (lambda: beam_search(m_model, src, 4, max_len, start_symbol=START,
                                       end_symbol=None)[0],
                   lambda: torch_beam(torch, t_model, t_src, args.tokens)),
    }
    for search, (m_run, t_run) in runs.items():
        same = np.array_equal(m_run(), t_run())              # also the warm-up
        times = ([], [])
        for _ in range(args.reps):
            for i, fn in enumerate((m_run, t_run)):
                start = time.perf_counter()
                fn()
                times[i].append(time.perf_counter() - start)
        m_rate, t_rate = (batch * args.tokens / float(np.median(t)) for t in times)
        print(f"{name:<6}{search:>8}{batch:>7}{m_rate:>16.1f}{t_rate:>15.1f}"
              f"{m_rate / t_rate:>9.2f}x{'yes' if same else 'no':>11}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="small,base")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per sentence")
    parser.add_argument("--src-len", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        import torch
        torch.set_grad_enabled(False)
    except ImportError:
        sys.exit("decode: PyTorch is needed for the side-by-side benchmark: pip install torch")
    print(f"source length {args.src_len}, {args.tokens} new tokens per sentence, no end symbol; "
          f"median of {args.reps}; tokens/s = batch x new tokens / seconds")
    print(f"{'config':<6}{'search':>8}{'batch':>7}{'minigrad tok/s':>16}{'pytorch tok/s':>15}"
          f"{'ratio':>10}{'same ids':>11}")
    for name in args.configs.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            run(name, batch, args)


if __name__ == "__main__":
    main()
