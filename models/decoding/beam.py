"""Beam search: keep the `beam_size` most probable prefixes per sentence.

Two ways to rank and stop, chosen by `style`:

- "gnmt" (the default, as in the Transformer paper): hypotheses are ranked by
  log P(Y | X) / lp(Y) with GNMT's length penalty lp(Y) = ((5 + |Y|) / 6)^alpha
  (Wu et al., 2016). A sentence stops as soon as no live prefix can still beat its
  best finished hypothesis, so the result is the best hypothesis beam search can
  reach (with a beam wide enough, the exhaustive-search optimum).
- "hf": transformers' generate(num_beams=...) exactly: each sentence keeps the
  `beam_size` best finished hypotheses scored sum log P / |Y|^length_penalty (float32),
  with its `early_stopping` rule (False, True or "never"), every live prefix finished
  as it is at max_len, and the best of the kept ones returned. Tested against
  transformers' generate (tests/models/test_decoding_hf.py): same ids and scores. Known
  differences: transformers fills finished rows with the end symbol when pad_token_id is
  0 (a falsy id), minigrad with the pad symbol; torch.topk's order among exactly tied
  scores is unspecified, minigrad takes the lower index first.

Both expand every live prefix by every token, keep the 2 * beam_size best
candidates (those that end become finished, the best others stay live) and let
finished sentences leave the batch. Every step feeds only the newest token; the
model's caches follow the beams through reorder_decoding_state.
"""
import numpy as np

from . import arguments as check
from .processors import log_softmax
from .protocol import eval_mode, start

_NEG = np.float32(-1.0e9)         # transformers' "impossible" score (it adds, never -inf)


def length_penalty_gnmt(length, alpha):
    """lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al., 2016), used by the Transformer paper."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(model, src, beam_size=4, max_len=50, start_symbol=1, end_symbol=2,
                length_penalty=0.6, src_padding_mask=None, use_cache=True, *, style="gnmt",
                early_stopping=False, prompt=None, max_new_tokens=None, pad_symbol=None,
                bad_words_ids=None, min_length=0, forced_eos_token_id=None,
                renormalize_logits=False):
    """Keep the `beam_size` best prefixes per sentence; return each sentence's best ending.

    style="gnmt": ranked by log P(Y | X) / lp(Y), GNMT's penalty with alpha =
    `length_penalty` (0 ranks by plain log-probability; |Y| counts the generated
    tokens, end symbol included); stops when no live prefix can still win (with s <= 0,
    a prefix's normalised score can at most reach s / lp(L) for the most favourable
    length L still allowed). style="hf": transformers' beam search (module doc), with
    its `early_stopping`. Other arguments as greedy_decode (max_len counts the start
    symbol / prompt; end_symbol may be a list; None: hypotheses end only at max_len).
    renormalize_logits=True takes the log-softmax again after the constraints
    (bad_words_ids, min_length, forced eos), as transformers' option of that name.

    Returns (ids (B, L) int64, scores (B,)): the best hypothesis per sentence, prompt
    first and padded after its end, and its normalised score (float64 for "gnmt",
    float32 as transformers' sequences_scores for "hf").
    """
    op = "beam_search"
    k = check.integer(op, "beam_size", beam_size, minimum=1)
    alpha = check.real(op, "length_penalty", length_penalty)
    if style not in ("gnmt", "hf"):
        raise check.DecodingError(f"{op}: style must be 'gnmt' or 'hf', got {style!r}")
    if early_stopping not in (False, True, "never"):
        raise check.DecodingError(f"{op}: early_stopping must be False, True or 'never' (as "
                                  f"transformers), got {early_stopping!r}")
    early_stopping = early_stopping if isinstance(early_stopping, str) else bool(early_stopping)
    with eval_mode(model):
        stepper, ys, max_len, ends, fill, processors = start(
            op, model, src, src_padding_mask, use_cache, prompt, start_symbol, max_len,
            max_new_tokens, end_symbol, pad_symbol, bad_words_ids, min_length,
            forced_eos_token_id, renormalize_logits)
        b, prompt_len = ys.shape
        stepper.keep_rows(np.repeat(np.arange(b), k))        # k copies of every sentence
        search = _gnmt if style == "gnmt" else _hf
        best_ids, best_score = search(stepper, processors, np.repeat(ys, k, axis=0), b, k, alpha,
                                      max_len, np.asarray(ends or (), dtype=np.int64),
                                      early_stopping)
    width = max((len(x) for x in best_ids), default=prompt_len)
    out = np.full((b, width), -1 if fill is None else fill, dtype=np.int64)
    for s, x in enumerate(best_ids):
        out[s, :len(x)] = x
    return out, best_score


def _top(cand, width):
    """The `width` best columns of every row, best first (ties: lower index first)."""
    if width <= 16:
        # a beam's few candidates: `width` passes of argmax (0.16 ms for 8 of 32 x 4000)
        # beat NumPy's argpartition (2 ms there). -inf (impossible tokens) becomes the
        # lowest finite number and a taken column -inf, so a taken column never returns.
        work = np.where(cand == -np.inf, np.finfo(cand.dtype).min, cand)
        rows = np.arange(len(cand))
        top = np.empty((len(cand), width), dtype=np.int64)
        for i in range(width):
            top[:, i] = best = work.argmax(axis=1)    # first of equal maxima: lower index
            work[rows, best] = -np.inf
        return top
    top = np.argpartition(-cand, width - 1, axis=1)[:, :width]
    order = np.lexsort((top, -np.take_along_axis(cand, top, 1)), axis=1)
    return np.take_along_axis(top, order, 1)


def _expand(stepper, processors, ys, scores, n, k, dtype):
    """Every live prefix extended by every token: candidates (n, k * V) and V."""
    logits = stepper.next_logits(ys).astype(dtype)
    logp = processors(ys, log_softmax(logits))
    v = logp.shape[-1]
    return (scores[:, :, None] + logp.reshape(n, k, v)).reshape(n, k * v), v


def _gnmt(stepper, processors, ys, b, k, alpha, max_len, ends, early_stopping):
    max_new = max_len - ys.shape[1]                           # generated tokens at most

    def lp(length):
        return length_penalty_gnmt(length, alpha)

    scores = np.full((b, k), -np.inf)
    scores[:, 0] = 0.0                                        # one live prefix to start with
    active = np.arange(b)                                     # sentences still searching
    best_score = np.full(b, -np.inf)
    best_ids = [None] * b
    for length in range(1, max_new + 1):                      # generated tokens after this step
        n = len(active)
        cand, v = _expand(stepper, processors, ys, scores, n, k, np.float64)
        width = min(2 * k, k * v)
        top = _top(cand, width)
        top_score = np.take_along_axis(cand, top, 1)
        parent, token = top // v, top % v
        is_end = np.isin(token, ends) & np.isfinite(top_score)

        # finished: an end symbol within the first k candidates
        norm = np.where(is_end & (np.arange(width) < k), top_score / lp(length), -np.inf)
        j = norm.argmax(axis=1)
        for i in np.flatnonzero(norm[np.arange(n), j] > best_score[active]):
            best_score[active[i]] = norm[i, j[i]]
            best_ids[active[i]] = np.append(ys[i * k + parent[i, j[i]]], token[i, j[i]])

        # live: the first k candidates that do not end
        pick = np.argsort(is_end, axis=1, kind="stable")[:, :k]
        parent, token = np.take_along_axis(parent, pick, 1), np.take_along_axis(token, pick, 1)
        scores = np.take_along_axis(top_score, pick, 1)
        keep = (np.arange(n)[:, None] * k + parent).reshape(-1)
        ys = np.concatenate([ys[keep], token.reshape(-1, 1)], axis=1)
        stepper.keep_rows(keep)

        if length == max_new:                                 # out of room: finish live prefixes
            norm = scores / lp(length)
            j = norm.argmax(axis=1)
            for i in np.flatnonzero(norm[np.arange(n), j] > best_score[active]):
                best_score[active[i]] = norm[i, j[i]]
                best_ids[active[i]] = ys[i * k + j[i]]
            break

        # a live prefix can still win only if its best reachable normalised score beats
        # the best finished one (s <= 0, so s / lp(L) is largest at one end of L's range)
        reachable = np.maximum(scores / lp(length + 1), scores / lp(max_new)).max(axis=1)
        searching = reachable > best_score[active]
        if not searching.all():
            active, ys, scores = _leave(stepper, searching, active, ys, scores, k)
            if len(active) == 0:
                break
    return best_ids, best_score


def _leave(stepper, searching, active, ys, scores, k):
    """Drop the sentences that are done from the batch (and from the model's state)."""
    keep = (np.flatnonzero(searching)[:, None] * k + np.arange(k)).reshape(-1)
    stepper.keep_rows(keep)
    return active[searching], ys[keep], scores[searching]


def _hf(stepper, processors, ys, b, k, alpha, max_len, ends, early_stopping):
    """transformers' GenerationMixin._beam_search (v4.50+), for one returned sequence."""
    prompt_len = ys.shape[1]
    keep_k = max(2, 1 + len(ends)) * k                        # candidates kept per step
    scores = np.zeros((b, k), dtype=np.float32)
    scores[:, 1:] = _NEG                                      # copies 2..k start "impossible"
    fin_scores = np.full((b, k), _NEG, dtype=np.float32)      # the k kept finished hypotheses
    fin_done = np.zeros((b, k), dtype=bool)                   # slot holds a real hypothesis
    fin_ids = np.zeros((b, k, max_len), dtype=np.int64)      # their ids, and lengths
    fin_len = np.zeros((b, k), dtype=np.int64)
    active = np.arange(b)
    improvable = np.ones(b, dtype=bool)                       # early-stop heuristic not yet met
    for t in range(prompt_len, max_len):                      # t = current length
        n = len(active)
        cand, v = _expand(stepper, processors, ys, scores, n, k, np.float32)
        top = _top(cand, keep_k)
        top_score = np.take_along_axis(cand, top, 1)
        parent, token = top // v, top % v
        hits = np.isin(token, ends) | (t + 1 >= max_len)      # stopping criteria: end or length

        # the best k candidates that did not stop stay live
        live_score = top_score + hits.astype(np.float32) * _NEG
        pick = _top(live_score, k)
        rows = (np.arange(n)[:, None] * k + np.take_along_axis(parent, pick, 1)).reshape(-1)

        # finished candidates among the first k join the sentence's k best finished ones
        norm = top_score / np.float32((t + 1 - prompt_len) ** alpha)
        full = fin_done[active].all(axis=1) & (early_stopping is True)
        norm = norm + full[:, None].astype(np.float32) * _NEG
        norm = norm + (~improvable[active])[:, None].astype(np.float32) * _NEG
        just = hits & (np.arange(keep_k) < k)
        norm = norm + (~just).astype(np.float32) * _NEG
        merged = np.concatenate([fin_scores[active], norm], axis=1)
        slots = _top(merged, k)
        cand_ids = np.empty((n, keep_k, t + 1), dtype=np.int64)     # kept ones are <= t + 1 long
        cand_ids[:, :, :t] = ys.reshape(n, k, t)[np.arange(n)[:, None], parent]
        cand_ids[:, :, t] = token

        def merge(kept, new):
            both = np.concatenate([kept[active], new], axis=1)
            return np.take_along_axis(both, slots.reshape(slots.shape + (1,) * (both.ndim - 2)), 1)
        fin_ids[active, :, :t + 1] = merge(fin_ids[:, :, :t + 1], cand_ids)
        fin_len[active] = merge(fin_len, np.full((n, keep_k), t + 1))
        fin_done[active] = merge(fin_done, just)
        fin_scores[active] = np.take_along_axis(merged, slots, 1)

        ys = np.concatenate([ys[rows], np.take_along_axis(token, pick, 1).reshape(-1, 1)], axis=1)
        scores = np.take_along_axis(live_score, pick, 1)
        stepper.keep_rows(rows)

        # can a live prefix still beat the worst kept hypothesis? (transformers' heuristic)
        length = (max_len if early_stopping == "never" and alpha > 0.0 else t + 1) - prompt_len
        best_live = scores[:, 0] / np.float32(length ** alpha)
        worst = np.where(fin_done[active], fin_scores[active].min(axis=1, keepdims=True), _NEG)
        improvable[active] &= np.any(best_live[:, None] > worst, axis=1)
        searching = improvable[active] & ~(fin_done[active].all(axis=1) & (early_stopping is True))
        if t + 1 >= max_len:
            break
        if not searching.all():
            active, ys, scores = _leave(stepper, searching, active, ys, scores, k)
            if len(active) == 0:
                break
    return [fin_ids[s, 0, :fin_len[s, 0]] for s in range(b)], fin_scores[:, 0].copy()
