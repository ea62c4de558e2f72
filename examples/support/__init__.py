"""What the example scripts share, one module per concern. Each script shows its
own data, model and training loop; these modules hold the rest:

    cli          the common flags, their checks, devices, one-line errors (run_main)
    parallel     --distributed: joining the mpirun job, the model inside DDP
    data         special token ids, per-step random streams, padded teacher-forcing batches
    checkpoints  the run folder, History, building or resuming model/optimizer/schedule,
                 saving and loading checkpoints
    progress     the progress bar, the log line every N steps, the throughput line
    evaluation   exact match and token accuracy, cross-attention weights of one example
    plots        the loss curve and attention heat maps (matplotlib)
    pictures     computation-graph pictures of Transformer blocks (Graphviz)
    report       results.json and the closing summary

The scripts are run as `python examples/NAME.py`, so Python finds this package
next to them (the tests put examples/ on sys.path the same way).
"""
