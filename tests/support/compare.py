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


def assert_results_close(ours, ref, tol: float, close=("score", "scores"), check=None):
    """A pipeline's results against the reference's: the same structure (lists
    of the same length, dicts with the same keys), the values under `close`
    within `tol` (floats, or lists of floats), every other value equal, of the
    same type. `check(ours_dict, ref_dict)` adds a test's own assertions."""
    if isinstance(ref, list):
        assert isinstance(ours, list) and len(ours) == len(ref), (ours, ref)
        for o, r in zip(ours, ref):
            assert_results_close(o, r, tol, close, check)
        return
    assert isinstance(ours, dict) and set(ours) == set(ref), (ours, ref)
    for key, value in ref.items():
        if key in close:
            got = ours[key]
            assert isinstance(got, float) or (isinstance(got, list) and all(isinstance(x, float) for x in got)), ours
            np.testing.assert_allclose(got, value, atol=tol, rtol=0, err_msg=f"{key}: {ours} vs {ref}")
        else:
            assert ours[key] == value and type(ours[key]) is type(value), (key, ours, ref)
    if check is not None:
        check(ours, ref)
