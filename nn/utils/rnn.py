"""`torch.nn.utils.rnn`: pad_sequence, the padding step of most sequence collate_fns."""
import minigrad
from minigrad.errors import ShapeError


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into one padded tensor, as torch's pad_sequence.

    Returns (B, max L_i, *) when batch_first, else (max L_i, B, *); positions past a
    sequence's length hold `padding_value` ("right" padding; "left" pads before). The
    trailing dimensions must agree. Differentiable (built from pad and stack). The dtype is
    the sequences' (they must share one, as in torch).
    Raises ShapeError for an empty list or trailing shapes that differ.
    """
    sequences = list(sequences)
    if not sequences:
        raise ShapeError("pad_sequence: got an empty list of sequences; expected at least one")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if tuple(s.shape[1:]) != trailing:
            raise ShapeError(f"pad_sequence: every sequence must have trailing shape {trailing} "
                             f"(as the first); got {tuple(s.shape)}")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        # F.pad's pairs run from the last dimension backwards; the first dim's pair is last.
        before, after = (0, missing) if padding_side == "right" else (missing, 0)
        pads = (0, 0) * len(trailing) + (before, after)
        padded.append(minigrad.nn.functional.pad(s, pads, value=padding_value) if missing else s)
    return minigrad.stack(padded, dim=0 if batch_first else 1)
