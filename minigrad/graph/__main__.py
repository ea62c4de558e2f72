"""Command line: draw a Transformer block.

    python -m minigrad.graph attention -o attention.svg
    python -m minigrad.graph ffn -o ffn.png --d-model 64 --nhead 8
    python -m minigrad.graph encoder_layer --backward --format pdf
    python -m minigrad.graph transformer --layers 6 --d-model 512 --nhead 8 --d-ff 2048

Without `dot` installed, `--format dot` still works (and any other format leaves
the .dot file behind and says how to install Graphviz).
"""
import argparse
import sys

from minigrad.errors import MinigradError

from .blocks import BLOCKS, render_block
from .render import FORMATS


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.graph",
        description="Draw the computation graph of a Transformer block with Graphviz.")
    parser.add_argument("block", choices=BLOCKS, help="which block to draw")
    parser.add_argument("-o", "--output", help="file to write (default: BLOCK.FORMAT)")
    parser.add_argument("--format", choices=FORMATS,
                        help="svg, png, pdf or dot (default: from the output's suffix, else svg)")
    parser.add_argument("--d-model", type=int, default=32, help="model width (default 32)")
    parser.add_argument("--nhead", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--d-ff", type=int, default=None,
                        help="feed-forward width (default 4 * d_model)")
    parser.add_argument("--layers", type=int, default=2,
                        help="encoder and decoder layers, for 'transformer' (default 2)")
    parser.add_argument("--activation", choices=("relu", "gelu"), default="relu")
    parser.add_argument("--backward", action="store_true", help="draw the backward graph")
    parser.add_argument("--grad-norms", action="store_true",
                        help="write gradient norms on the edges (after one backward pass)")
    parser.add_argument("--collapse", nargs="*", default=None, metavar="MODULE",
                        help="modules to draw as single boxes: paths, globs or class names "
                             "(give the flag alone to expand everything)")
    parser.add_argument("--rankdir", choices=("TB", "LR", "BT", "RL"), default="TB",
                        help="direction of the flow (default TB: top to bottom)")
    parser.add_argument("--no-legend", action="store_true", help="leave out the colour key")
    parser.add_argument("--keep-dot", action="store_true",
                        help="keep the .dot file next to the rendered picture")
    args = parser.parse_args(argv)

    fmt = args.format
    output = args.output or f"{args.block}.{fmt or 'svg'}"
    try:
        path = render_block(args.block, d_model=args.d_model, nhead=args.nhead, path=output,
                            format=fmt, backward=args.backward, grad_norms=args.grad_norms,
                            collapse=args.collapse, rankdir=args.rankdir,
                            legend=not args.no_legend, dim_feedforward=args.d_ff,
                            num_layers=args.layers, activation=args.activation,
                            keep_dot=args.keep_dot)
    except MinigradError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
