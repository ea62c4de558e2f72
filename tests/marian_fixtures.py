"""Tiny Marian folders built offline, for the Marian model, tokenizer and example tests.

`make_marian_folder` saves a random transformers MarianMTModel (safetensors);
`write_tokenizer` trains SentencePiece models on a few sentences and writes
source.spm, target.spm and vocab.json as Marian's converter lays them out. The two
together make a folder that `MarianMT.from_pretrained`, `MarianTokenizer.from_pretrained`
and transformers all read. transformers / torch / sentencepiece are imported only
when a builder runs, so that importing this module never needs them.
"""
import io
import json

import numpy as np

KOREAN = ["개가 사람을 물었다.", "사람이 개를 물었다.", "나는 학교에 간다.", "고양이가 우유를 마신다.",
          "오늘은 날씨가 좋다.", "그는 책을 읽고 있다.", "우리는 내일 서울에 간다."]
ENGLISH = ["The dog bit the man.", "The man bit the dog.", "I go to school.",
           "The cat drinks milk.", "The weather is nice today.", "He is reading a book.",
           "We go to Seoul tomorrow.", "Don't worry, it's fine!"]

TINY = dict(vocab_size=40, d_model=16, encoder_layers=2, decoder_layers=2,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=32,
            decoder_ffn_dim=24, max_position_embeddings=64, pad_token_id=39,
            decoder_start_token_id=39, eos_token_id=0, forced_eos_token_id=0)


def make_marian_folder(folder, seed=0, generation=None, scale=0.5, **overrides):
    """Save a MarianMTModel with every weight random (layer norms and final_logits_bias
    included, so that none of them can be silently skipped) as safetensors, with the
    generation settings `generation`; returns the transformers model, in eval mode."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    config = MarianConfig(**{**TINY, **overrides})
    model = MarianMTModel(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name:             # fixed sinusoids, not saved
                continue
            p.copy_(torch.randn_like(p) * (0.1 if "norm" in name else scale)
                    + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
        model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias) * 0.5)
    if generation:
        for key, value in generation.items():
            setattr(model.generation_config, key, value)
    model.save_pretrained(folder, safe_serialization=True)
    return model.eval()


def source_batch(vocab_size, pad, rng, batch=3, length=7):
    """Token ids (B, S) with eos (0) at each sentence's end and padding after it."""
    ids = rng.integers(1, pad, size=(batch, length)).astype(np.int64)
    lengths = [length] + [int(x) for x in rng.integers(2, length, size=batch - 1)]
    for i, n in enumerate(lengths):
        ids[i, n - 1] = 0
        ids[i, n:] = pad
    return ids, (ids != pad).astype(np.int64)


def train_spm(sentences, size):
    """A SentencePiece unigram model (bytes) trained on `sentences`, ~`size` pieces."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model,
                                   vocab_size=size, character_coverage=1.0,
                                   hard_vocab_limit=False, model_type="unigram",
                                   minloglevel=2)
    return model.getvalue()


def spm_pieces(model_bytes):
    """The pieces of a SentencePiece model, without its control and unknown symbols."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    return [sp.IdToPiece(i) for i in range(sp.GetPieceSize())
            if not (sp.IsControl(i) or sp.IsUnknown(i))]


def write_tokenizer(path, source_sentences=KOREAN, target_sentences=ENGLISH, size=60,
                    drop_source_pieces=2):
    """source.spm, target.spm and one joint vocab.json in `path`, laid out as Marian's
    converter writes them: </s> 0, <unk> 1, a language code, the pieces, <pad> last.
    The last `drop_source_pieces` source pieces are left out of the vocabulary (they
    must become <unk>), and the vocabulary ids differ from the SentencePiece ids.
    Returns the vocabulary (dict piece -> id); <pad> is len(vocab) - 1."""
    source, target = train_spm(list(source_sentences) * 3, size), \
        train_spm(list(target_sentences) * 3, size)
    (path / "source.spm").write_bytes(source)
    (path / "target.spm").write_bytes(target)
    source_pieces = spm_pieces(source)
    if drop_source_pieces:
        source_pieces = source_pieces[:-drop_source_pieces]
    pieces = list(dict.fromkeys(spm_pieces(target) + source_pieces))
    pieces.reverse()                       # vocabulary ids unlike the SentencePiece ids
    vocab = {"</s>": 0, "<unk>": 1, ">>kor<<": 2}
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    vocab["<pad>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"source_lang": "ko",
                                                             "target_lang": "en"}))
    return vocab
