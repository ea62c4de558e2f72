"""What happens to next-token scores between the model and the choice of a token.

`Processors` applies, in transformers' order, the constraints all decoders share:
banned words (`bad_words_ids`), no end symbol before `min_length`, and the end
symbol forced at the last position (`forced_eos_token_id`). They work on raw
logits (greedy, sampling) or on log-probabilities (beam search) alike: a banned
token gets -inf, a forced one keeps 0 while every other gets -inf, as
transformers' NoBadWords, MinLength and ForcedEOSToken logits processors do.
With `renormalize_logits` the result is turned into log-probabilities again,
last (transformers' LogitNormalization): beam search, which adds the scores of
the steps, then ranks with the probability mass of banned tokens spread over
the others; greedy choices and sampling distributions do not change.
`warp` then shapes logits for sampling: temperature, top-k, top-p (nucleus).
"""
import numpy as np


def log_softmax(x):
    """log softmax over the last axis, in x's dtype, stable (max subtracted first).
    A row that is -inf everywhere (every token banned) stays -inf, not NaN."""
    top = x.max(axis=-1, keepdims=True)
    z = x - np.where(np.isfinite(top), top, 0).astype(x.dtype, copy=False)
    with np.errstate(divide="ignore"):
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class Processors:
    """Constraints on the next token, given the prefixes so far and the length limit."""

    def __init__(self, ends, bad_words_ids=(), min_length=0, forced_eos_token_id=(),
                 max_len=None, renormalize_logits=False):
        self.ends = np.asarray(ends or (), dtype=np.int64)
        self.single = np.asarray([w[0] for w in bad_words_ids if len(w) == 1], dtype=np.int64)
        self.longer = [np.asarray(w, dtype=np.int64) for w in bad_words_ids if len(w) > 1]
        self.min_length = min_length
        self.forced = list(forced_eos_token_id or ())
        self.max_len = max_len
        self.renormalize = bool(renormalize_logits)

    def __call__(self, ys, scores):
        """ys (n, t) prefixes, scores (n, V) for the token after them; changed in place."""
        t = ys.shape[1]
        if self.single.size:
            scores[:, self.single] = -np.inf
        for word in self.longer:                    # banned when the prefix ends with word[:-1]
            k = len(word) - 1
            if t >= k:
                hit = np.all(ys[:, t - k:] == word[:-1], axis=1)
                scores[hit, word[-1]] = -np.inf
        if t < self.min_length and self.ends.size:
            scores[:, self.ends] = -np.inf
        if self.forced and t == self.max_len - 1:
            scores[:] = -np.inf
            scores[:, self.forced] = 0
        if self.renormalize:                        # LogitNormalization: always the last step
            scores[:] = log_softmax(scores)
        return scores


def warp(logits, temperature=1.0, top_k=None, top_p=None):
    """Logits for sampling: divided by temperature, then all but the top_k largest and
    all outside the smallest set whose probability reaches top_p set to -inf (as
    transformers' Temperature, TopK and TopP logits warpers; ties at the k-th value
    are kept, and the most likely token always is). logits (n, V), changed in place."""
    if temperature != 1.0:
        logits /= logits.dtype.type(temperature)
    v = logits.shape[-1]
    if top_k and top_k < v:
        kth = -np.partition(-logits, top_k - 1, axis=-1)[:, top_k - 1:top_k]
        logits[logits < kth] = -np.inf
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-logits, axis=-1, kind="stable")
        probs = np.take_along_axis(softmax(logits), order, axis=-1)
        before = np.cumsum(probs, axis=-1) - probs          # mass of the more likely tokens
        drop = before >= top_p
        drop[:, 0] = False
        np.put_along_axis(logits, order, np.where(drop, -np.inf, np.take_along_axis(
            logits, order, axis=-1)), axis=-1)
    return logits


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sample_from(logits, generator):
    """One token per row, drawn from softmax(logits) by inverting its CDF with
    uniform numbers from `generator` (a numpy.random.Generator)."""
    cdf = np.cumsum(softmax(logits.astype(np.float64)), axis=-1)
    u = generator.random(len(logits))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), logits.shape[-1] - 1).astype(np.int64)
