"""Gaussian noise, fast: 16 random bits per value through an inverse-CDF table.

Thermal and ambient noise is most of what `record` writes, and numpy's ziggurat normal
costs ~9 ns per float32 on the reference machine; raw generator bits and a table lookup
cost ~2.5 ns. The table holds the 65,536 mid-quantiles Φ⁻¹((i + ½)/65536), so a value is
a Gaussian quantised to 16 bits of probability: the same (to 1e-4) mean, variance and
fourth moment, with tails cut at ±4.3σ per component (probability 1.5e-5 of landing
beyond). What the detectors see is unchanged: they look at STFT cells, sums of hundreds
of samples, which are Gaussian by the central limit theorem whatever the tail of one
sample; the only effect is on single-sample excursions past 4.3σ, which an ADC's own
16-bit quantisation and clipping already shape. Deterministic: the values come from the
generator's bit stream, so the same seed gives the same noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

_TABLE = ndtri((np.arange(65536, dtype=np.float64) + 0.5) / 65536.0)
_TABLE = _TABLE / np.sqrt(np.mean(_TABLE**2))  # unit variance exactly, after quantising
_TABLE32 = _TABLE.astype(np.float32)


def noise_indices(rng: np.random.Generator, size: int) -> NDArray[np.uint16]:
    """The table indices behind `gaussian32(rng, size, …)` (16 random bits each)."""
    raw = rng.bit_generator.random_raw((size + 3) // 4)
    return np.asarray(raw, dtype=np.uint64).view(np.uint16)[:size]


def gaussian_table32(sigma: float = 1.0) -> NDArray[np.float32]:
    """The 65,536 float32 values `gaussian32` draws from at this sigma."""
    return _TABLE32 if sigma == 1.0 else np.asarray(_TABLE32 * np.float32(sigma), np.float32)


def gaussian32(rng: np.random.Generator, size: int, sigma: float = 1.0) -> NDArray[np.float32]:
    """`size` independent N(0, sigma²) values as float32 (one table lookup each)."""
    return np.take(gaussian_table32(sigma), noise_indices(rng, size))


def gaussian(
    rng: np.random.Generator, shape: int | tuple[int, ...], sigma: float = 1.0
) -> NDArray[np.float64]:
    """N(0, sigma²) values as float64 in `shape`."""
    dims = (shape,) if isinstance(shape, int) else shape
    size = int(np.prod(dims))
    table = _TABLE if sigma == 1.0 else _TABLE * sigma
    return np.take(table, noise_indices(rng, size)).reshape(dims)


def complex_gaussian(
    rng: np.random.Generator, shape: int | tuple[int, ...], sigma: float = 1.0
) -> NDArray[np.complex128]:
    """Circular complex Gaussian with N(0, sigma²) real and imaginary parts, in `shape`."""
    dims = (shape,) if isinstance(shape, int) else shape
    pairs = gaussian(rng, (*dims, 2), sigma)
    return pairs.view(np.complex128).reshape(dims)
