"""The translation example's parts (examples/translate.py shows the training loop):

    fetch      the DDTP Translation indexes, fetched with apt privately; their hashes
    corpus     parsing, pairing by Description-md5, filtering, dedupe, the split
    prepare    the data step: split TSV files and the joint SentencePiece model
    tokenizer  the joint SentencePiece model (shared vocabulary)
    batching   token-budget batches by length, reproducible from the seed
    validation the validation loss and greedy score during training (kept in the run's History)
    scoring    decoding a test set (greedy, beam) and sacrebleu's BLEU and chrF
    averaging  snapshots and the average of the last N (the paper, section 6.1)
    figures    loss curves (training and validation) and the score over training time
"""
