"""Small exact array helpers shared by the detectors."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T", bound=np.generic)


def median(values: NDArray[Any]) -> float:
    """`np.median` of a 1-D array (the same value for finite input) from one partition,
    without its generic overhead."""
    n = values.shape[0]
    mid = n // 2
    if n % 2:
        return float(np.partition(values, mid)[mid])
    part = np.partition(values, (mid - 1, mid))
    return (float(part[mid - 1]) + float(part[mid])) / 2.0


def cumsum0(values: NDArray[T]) -> NDArray[T]:
    """[0, v0, v0 + v1, ...]: (n + 1,), the dtype of `values` (range sums by two reads:
    csum[hi + 1] - csum[lo])."""
    out: NDArray[T] = np.empty(values.shape[0] + 1, dtype=values.dtype)
    out[0] = 0
    np.cumsum(values, out=out[1:])
    return out
