"""Shape buckets: inputs are padded to a few fixed lengths so that jitted
functions compile once per bucket instead of once per input length."""

from __future__ import annotations

MIN_LENGTH_BUCKET = 8


def length_bucket(n: int, limit: int | None = None) -> int:
    """Smallest bucket >= n: powers of two from 8, and from 64 on the
    halfway points too (8, 16, 32, 64, 96, 128, 192, ...), capped at `limit`
    when given."""
    if n < 0:
        raise ValueError(f"length must be >= 0, got {n}")
    b = MIN_LENGTH_BUCKET
    while b < n:
        if b >= 64 and b + b // 2 >= n:
            b = b + b // 2
            break
        b *= 2
    if limit is not None:
        b = min(b, limit) if n <= limit else b
    return b


def batch_bucket(n: int) -> int:
    """Smallest power of two >= n (1, 2, 4, 8, ...)."""
    if n < 1:
        raise ValueError(f"batch size must be >= 1, got {n}")
    b = 1
    while b < n:
        b *= 2
    return b
