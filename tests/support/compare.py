"""Comparisons shared by the generation parity tests."""

import numpy as np


def assert_same(ours, ref):
    """Token ids equal to the reference's, shape included."""
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    assert np.array_equal(ours, ref), f"\nours:\n{ours}\ntransformers:\n{ref}"


def first_eos(row, eos):
    """Column of the first eos in `row`, else None."""
    hits = np.flatnonzero(np.asarray(row) == eos)
    return int(hits[0]) if len(hits) else None
