"""Draw every Transformer block's computation graph into one folder.

    python examples/render_graphs.py                       # runs/graphs/*.svg
    python examples/render_graphs.py --out docs --format png --d-model 64 --nhead 8
    python examples/render_graphs.py --backward            # the backward graphs too

One picture per block of minigrad.graph.BLOCKS (attention, ffn, encoder_layer,
decoder_layer, transformer), each made by minigrad.graph.render_block from a
small instance of the real module run once. Without Graphviz's `dot` program
the DOT text is written instead, with a note on how to install it. For one
block with every option, use `python -m minigrad.graph --help`.
"""
import argparse
import os
import sys

from support import cli, pictures
from support.checkpoints import Run

from minigrad.graph import BLOCKS


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Draw every Transformer block's graph.")
    parser.add_argument("--out", default=os.path.join("runs", "graphs"),
                        help="folder for the pictures (default runs/graphs)")
    parser.add_argument("--format", choices=("svg", "png", "pdf", "dot"), default="svg",
                        help="picture format (default svg; dot needs no Graphviz install)")
    parser.add_argument("--blocks", nargs="+", choices=BLOCKS, default=list(BLOCKS),
                        metavar="BLOCK", help=f"which blocks (default all: {', '.join(BLOCKS)})")
    parser.add_argument("--d-model", type=int, default=32, help="model width (default 32)")
    parser.add_argument("--nhead", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--backward", action="store_true",
                        help="also draw each block's backward graph (BLOCK_backward.FORMAT)")
    return parser.parse_args(argv)


def render_all(folder, blocks=BLOCKS, fmt="svg", d_model=32, nhead=4, backward=False):
    """Every picture asked for; [(name, path or None, note or None)]."""
    written = pictures.render_block_pictures(folder, blocks, fmt=fmt, d_model=d_model,
                                             nhead=nhead)
    if backward:
        written += pictures.render_block_pictures(folder, blocks, fmt=fmt, d_model=d_model,
                                                  nhead=nhead, backward=True,
                                                  suffix="_backward")
    return written


def main(argv=None):
    args = parse_args(argv)
    cli.check_positive(args, "d_model", "nhead")
    Run(args.out)
    notes = set()
    for name, path, note in render_all(args.out, args.blocks, args.format, args.d_model,
                                       args.nhead, args.backward):
        print(f"{name:<24} {path or '(not written)'}")
        if note:
            notes.add(note)
    for note in sorted(notes):
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    cli.one_blas_thread_unless_chosen()
    sys.exit(cli.run_main(main))
