"""Translate with a pretrained Marian (opus-mt) model on minigrad, and look at its attention.

    python examples/pretrained_translation.py --model opus-mt-en-de "The dog bit the man."
    echo "The dog bit the man." | python examples/pretrained_translation.py --model opus-mt-en-de
    python examples/pretrained_translation.py --model opus-mt-ko-en "개가 사람을 물었다." \
        --layer 2 --head 3 --attention-png dog.png

--model is a Hugging Face Marian folder (config.json, model.safetensors,
source.spm, target.spm, vocab.json; the README says how to download one). The
sentences come from the command line, or one per line from stdin. They are
translated with the folder's generation settings (generation_config.json: for
opus-mt, beam search with 4 or more beams, the pad token banned, the log-softmax
taken again after the bans), as transformers' `model.generate` translates them,
and the translations are printed, one per line.

Then the first sentence and its translation go through the model once more, by
teacher forcing (`forward(..., return_attention=True)`), and the cross-attention
of one decoder layer is saved as a heat map: a row per target piece the model
wrote (the attention of the decoder position that predicted it), a column per
source piece (</s> included), each head's weights or their mean over the heads.
It shows which source words the model read while writing each word.
"""
import argparse
import sys

import numpy as np

from minigrad.models import MarianMT
from minigrad.models.marian_tokenizer import MarianTokenizer
from support.cli import ExampleError, run_main
from support.plots import plot_attention_heads


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sentences", nargs="*", help="sentences to translate (default: stdin, "
                                                "one per line)")
    p.add_argument("--model", required=True, help="a Hugging Face Marian folder")
    p.add_argument("--num-beams", type=int, default=None,
                   help="override the folder's num_beams (1: greedy search)")
    p.add_argument("--max-length", type=int, default=None,
                   help="override the folder's max_length (start token included)")
    p.add_argument("--attention-png", default="attention.png",
                   help="where the cross-attention heat map of the first sentence goes "
                        "('' for none)")
    p.add_argument("--layer", type=int, default=-1,
                   help="the decoder layer of the heat map (default: the last)")
    p.add_argument("--head", type=int, default=None,
                   help="one attention head (default: the mean over the heads)")
    p.add_argument("--device", default=None, help="cpu (default) or cuda (needs CuPy)")
    return p.parse_args(argv)


def load(folder, device=None):
    """(MarianMT, MarianTokenizer) of a Hugging Face Marian folder."""
    return (MarianMT.from_pretrained(folder, device=device),
            MarianTokenizer.from_pretrained(folder))


def translate(model, tokenizer, sentences, **settings):
    """Sentences -> (output ids (B, L), translations); settings override the folder's."""
    batch = tokenizer(sentences)
    ids = model.generate(batch["input_ids"], batch["attention_mask"], **settings)
    return ids, tokenizer.batch_decode(ids, skip_special_tokens=True)


def cross_attention(model, tokenizer, sentence, output_ids, layer=-1, head=None):
    """The decoder's attention over the source for one translated sentence.

    output_ids: the generated ids (decoder start, pieces, </s>, maybe padding).
    Returns (weights (T, S) numpy, source labels (S,), target labels (T,)): row t is
    the attention of the decoder position that wrote target piece t.
    """
    n_layers = model.config.decoder_layers
    if not -n_layers <= layer < n_layers:
        raise ExampleError(f"--layer must be in [-{n_layers}, {n_layers}), got {layer}")
    nhead = model.config.decoder_attention_heads
    if head is not None and not 0 <= head < nhead:
        raise ExampleError(f"--head must be in [0, {nhead}), got {head}")
    src = np.asarray([tokenizer.encode(sentence)], dtype=np.int64)
    out = [int(t) for t in output_ids]
    eos = tokenizer.eos_token_id
    if eos in out[1:]:
        out = out[:out.index(eos, 1) + 1]             # up to its end; padding dropped
    decoder_input, written = np.asarray([out[:-1]], dtype=np.int64), out[1:]
    _, attentions = model(src, decoder_input, return_attention=True)
    weights = attentions[f"decoder.layers.{layer % n_layers}.multihead_attn"].numpy()[0]
    weights = weights.mean(axis=0) if head is None else weights[head]
    return (weights, tokenizer.tokenize(sentence) + [tokenizer.eos_token],
            tokenizer.convert_ids_to_tokens(written))


def main(argv=None):
    args = parse_args(argv)
    sentences = args.sentences or [line.strip() for line in sys.stdin if line.strip()]
    if not sentences:
        raise ExampleError("no sentences: give them as arguments or on stdin")
    model, tokenizer = load(args.model, args.device)
    settings = {k: v for k, v in (("num_beams", args.num_beams),
                                  ("max_length", args.max_length)) if v is not None}
    ids, translations = translate(model, tokenizer, sentences, **settings)
    for text in translations:
        print(text)
    if args.attention_png:
        weights, src_labels, tgt_labels = cross_attention(model, tokenizer, sentences[0],
                                                          ids[0], args.layer, args.head)
        which = "mean over heads" if args.head is None else f"head {args.head}"
        layer = args.layer % model.config.decoder_layers
        plot_attention_heads(weights[None], src_labels, tgt_labels, args.attention_png,
                             f"cross-attention, decoder layer {layer}", heads=[which],
                             xlabel="source pieces", ylabel="target pieces written")
        print(f"cross-attention of the first sentence: {args.attention_png}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_main(main))      # a bad folder or flag: one line on stderr, exit status 1
