"""OFDM and SC-FDMA helpers: subcarrier grids, cyclic prefixes, Zadoff-Chu sequences.

Grids are (n_symbols, n_used) complex arrays over the used subcarriers, lowest
frequency first; `ofdm_modulate` places them around DC on an NFFT-point IFFT and adds
the cyclic prefixes. Output is at NFFT × subcarrier spacing samples per second.
LTE numerology (TS 36.211, unverified): 15 kHz subcarriers, NFFT 128…2048 for
1.4…20 MHz carriers, normal CP 160/144 samples at 30.72 MS/s (scaled with NFFT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft

from simulator.rf_emitters import phasor

ComplexArray = NDArray[np.complex128]

LTE_SCS_HZ = 15e3
LTE_PRB_HZ = 180e3
LTE_SUBFRAME_S = 1e-3
#: carrier bandwidth (Hz) → (resource blocks, NFFT)
LTE_CARRIERS: dict[float, tuple[int, int]] = {
    1.4e6: (6, 128),
    3e6: (15, 256),
    5e6: (25, 512),
    10e6: (50, 1024),
    15e6: (75, 1536),
    20e6: (100, 2048),
}


def lte_numerology(carrier_bandwidth_hz: float) -> tuple[int, int]:
    """(n_rb, nfft) of an LTE carrier; raises on a bandwidth LTE does not define."""
    try:
        return LTE_CARRIERS[carrier_bandwidth_hz]
    except KeyError:
        raise ValueError(
            f"{carrier_bandwidth_hz=} is not an LTE carrier ({sorted(LTE_CARRIERS)})"
        ) from None


def lte_cp_lengths(nfft: int, n_symbols: int = 14) -> list[int]:
    """Normal cyclic prefixes of one subframe: 160 then 6 × 144 per slot (at NFFT 2048)."""
    first, other = 160 * nfft // 2048, 144 * nfft // 2048
    return [first if i % 7 == 0 else other for i in range(n_symbols)]


def zadoff_chu(root: int, length: int) -> ComplexArray:
    """x_u(n) = exp(−jπ·u·n·(n+1)/N), n = 0…N−1 (N odd)."""
    n = np.arange(length, dtype=np.float64)
    return np.asarray(np.exp(-1j * np.pi * root * n * (n + 1) / length), dtype=np.complex128)


def centred_bins(n_used: int, nfft: int, *, dc_null: bool) -> NDArray[np.int64]:
    """FFT bins of n_used subcarriers around DC, lowest first; with dc_null DC is skipped."""
    if dc_null:
        half = n_used // 2
        k = np.concatenate([np.arange(-half, 0), np.arange(1, n_used - half + 1)])
    else:
        k = np.arange(n_used) - n_used // 2
    return np.asarray(k % nfft, dtype=np.int64)


def ofdm_modulate(
    grid: ComplexArray,
    nfft: int,
    cp_lengths: Sequence[int],
    *,
    dc_null: bool = True,
    first_bin: int | None = None,
) -> ComplexArray:
    """OFDM symbols with cyclic prefixes; unit-power carriers give unit mean power.

    grid: (n_symbols, n_used). Subcarriers sit around DC (`centred_bins`), or, when
    first_bin is given, on bins first_bin … first_bin + n_used − 1 (negative = below DC).
    """
    n_sym, n_used = grid.shape
    if first_bin is None:
        bins = centred_bins(n_used, nfft, dc_null=dc_null)
    else:
        bins = (np.arange(n_used) + first_bin) % nfft
    full = np.zeros((n_sym, nfft), dtype=np.complex128)
    full[:, bins] = grid
    body = np.fft.ifft(full, axis=1) * (nfft / math.sqrt(n_used))
    parts = [np.concatenate([body[i, nfft - cp :], body[i]]) for i, cp in enumerate(cp_lengths)]
    return np.asarray(np.concatenate(parts), dtype=np.complex128)


def sc_fdma_modulate(grid: ComplexArray, nfft: int, cp_lengths: Sequence[int]) -> ComplexArray:
    """LTE uplink symbols (TS 36.211 §5.6): subcarrier k of N_sc = grid width sits at
    (k − N_sc/2 + ½)·Δf, i.e. no DC subcarrier and a half-subcarrier shift.

    grid: (n_symbols, n_subcarriers) over the whole carrier; unused entries are 0.
    Power is normalised per occupied resource element, so a grid of unit-power
    entries gives mean power (occupied / n_subcarriers)·… — callers normalise.
    """
    n_sym, n_sc = grid.shape
    bins = (np.arange(n_sc) - n_sc // 2) % nfft
    full = np.zeros((n_sym, nfft), dtype=np.complex128)
    full[:, bins] = grid
    body = np.fft.ifft(full, axis=1) * nfft
    parts = []
    for i, cp in enumerate(cp_lengths):
        n = np.arange(-cp, nfft)
        parts.append(body[i, n % nfft] * np.exp(1j * np.pi * n / nfft))
    return np.asarray(np.concatenate(parts), dtype=np.complex128)


def dft_spread(symbols: ComplexArray) -> ComplexArray:
    """DFT precoding of SC-FDMA (transform precoding), unitary, along the last axis."""
    m = symbols.shape[-1]
    return np.asarray(np.fft.fft(symbols, axis=-1) / math.sqrt(m), dtype=np.complex128)


@lru_cache(maxsize=64)
def _largest_prime_at_most(n: int) -> int:
    return max(p for p in range(2, n + 1) if all(p % d for d in range(2, math.isqrt(p) + 1)))


def low_papr_sequence(root: int, length: int, cyclic_shift_rad: float = 0.0) -> ComplexArray:
    """A reference-signal sequence of `length` from a ZC of the largest prime ≤ length,
    extended cyclically (TS 36.211 §5.5.1, lengths ≥ 36; used here for all lengths)."""
    prime = _largest_prime_at_most(length)
    zc = zadoff_chu(root % prime or 1, prime)
    seq = zc[np.arange(length) % prime]
    return np.asarray(seq * np.exp(1j * cyclic_shift_rad * np.arange(length)), np.complex128)


def ofdm_synthesize(
    grid: ComplexArray,
    subcarriers: NDArray[np.float64],
    *,
    spacing_hz: float,
    cp_s: Sequence[float],
    sample_rate_hz: float,
) -> NDArray[np.complex64]:
    """OFDM / SC-FDMA symbols drawn directly on the sensor's sample grid, unit mean power.

    grid: (n_symbols, n_used) complex values of the subcarriers at `subcarriers` × spacing
    (indices relative to the centre frequency; half-integers allowed, as LTE uplink).
    Symbol i lasts cp_s[i] + 1/spacing_hz; its samples are s(t) = Σ_k a_k·exp(j2π k Δf t)
    for t ∈ [−cp, 1/Δf) measured from the end of its prefix: the exact continuous-time
    signal, sampled at any rate without resampling. One IFFT of P points per symbol, P the
    period (in samples) of the subcarrier grid at this rate, i.e. fs/Δf rounded to a
    fraction p/q (denominator ≤ 64); a fractional offset shared by all subcarriers is
    applied as a rotation in time.
    """
    n_sym = grid.shape[0]
    frac = Fraction(sample_rate_hz / spacing_hz).limit_denominator(64)
    p, q = frac.numerator, frac.denominator
    # a common fractional offset (LTE uplink's ½) becomes a time-domain rotation
    offset = float(subcarriers[0] - np.floor(subcarriers[0]))
    whole = subcarriers - offset
    if np.max(np.abs(whole - np.round(whole))) > 1e-6:
        raise ValueError(f"subcarriers must share one fractional part: {subcarriers[:4]=}")
    size = p
    bins = np.round(whole).astype(np.int64) * q % size
    cp = np.asarray(cp_s, dtype=np.float64)
    useful = 1.0 / spacing_hz
    starts = np.concatenate([[0.0], np.cumsum(cp + useful)[:-1]])  # symbol starts (s)
    origin = (starts + cp) * sample_rate_hz  # end of each prefix, in samples
    n0 = np.floor(origin)
    delta = origin - n0  # fractional part: a linear phase on the subcarriers
    ramp = phasor(-2.0 * np.pi * np.outer(delta / sample_rate_hz, subcarriers * spacing_hz))
    full = np.zeros((n_sym, size), dtype=np.complex64)
    full[:, bins] = grid * ramp
    body = sfft.ifft(full, axis=1, workers=1)
    total = math.ceil((starts[-1] + cp[-1] + useful) * sample_rate_hz - 1e-9)
    bounds = np.append(np.ceil(starts * sample_rate_hz - 1e-9).astype(np.int64), total)
    # symbol i's samples read its row at (n − n0_i) mod size: a run with at most one wrap
    out = np.empty(total, dtype=np.complex64)
    for i in range(n_sym):
        a, b = int(bounds[i]), int(bounds[i + 1])
        first = (a - int(n0[i])) % size
        if b - a > size:  # a prefix longer than the period: wraps more than once
            out[a:b] = np.take(body[i], np.arange(first, first + b - a), mode="wrap")
            continue
        head = min(b - a, size - first)
        out[a : a + head] = body[i, first : first + head]
        if head < b - a:
            out[a + head : b] = body[i, : b - a - head]
    if offset:  # a rotation by offset·Δf, from the table of exp(jφ)
        sym = np.repeat(np.arange(n_sym), np.diff(bounds))
        n = np.arange(total)
        out *= phasor((2.0 * np.pi * offset * spacing_hz / sample_rate_hz) * (n - origin[sym]))
    power = float(np.vdot(out, out).real) / max(len(out), 1)
    if power > 0:
        out *= np.float32(1.0 / math.sqrt(power))
    return np.asarray(out, dtype=np.complex64)
