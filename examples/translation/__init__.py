"""The translation example's parts (examples/translate.py shows the training loop):

    fetch      the DDTP Translation indexes, fetched with apt privately; their hashes
    corpus     parsing, pairing by Description-md5, filtering, dedupe, the split
    prepare    the data step: split TSV files and the joint SentencePiece model
    tokenizer  the joint SentencePiece model (shared vocabulary)
    batching   token-budget batches by length, reproducible from the seed
    scoring    decoding a test set (greedy, beam) and sacrebleu's BLEU and chrF
"""
