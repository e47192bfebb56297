"""Building blocks shared by the waveform-level RF emitters (rf_drones, rf_handsets, rf_site).

Four ways to turn a burst into a `Waveform` (see `simulator.rf_emitters.Waveform`):

- `rate_cached_waveform`: samples drawn directly at the sensor's rate by a callable
  (OFDM and SC-FDMA through `simulator.ofdm.ofdm_synthesize`), cached per rate.
- `resampled_waveform`: samples drawn at the protocol's native rate, generated lazily
  on first use and polyphase-resampled to the sensor's rate (cached per rate).
- `interpolated_waveform`: complex samples at a heavily oversampled native rate
  (≥ 16 samples per symbol), linearly interpolated onto the sensor grid. For narrowband
  linear modulations (π/4-DQPSK) seen by a wideband sensor, where polyphase resampling
  by a factor of hundreds would be wasteful.
- `phase_waveform`: a constant-envelope signal given its phase as a function of time
  from the burst start (FM, FSK, chirps): exact on any grid, cost ∝ samples requested.

Generation is never done for a burst no sensor renders: closures hold a thunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

from simulator.rf_emitters import Complex64Array, Waveform, phasor, resampling_filter

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]
PhaseFn = Callable[[FloatArray], FloatArray]
Fading = Literal["none", "rayleigh"]

TWO_PI = 2.0 * math.pi


# ---------------------------------------------------------------- resampling


def resample_to(x: ComplexArray, native_rate_hz: float, sample_rate_hz: float) -> Complex64Array:
    """(n,) complex at native_rate_hz → complex64 at sample_rate_hz (ratio to 1/1000)."""
    ratio = Fraction(sample_rate_hz / native_rate_hz).limit_denominator(1000)
    if ratio == 1:
        return x.astype(np.complex64)
    h = resampling_filter(ratio.numerator, ratio.denominator)
    y = resample_poly(x, ratio.numerator, ratio.denominator, window=h)
    return np.asarray(y, dtype=np.complex64)


def _place(y: Complex64Array, t_first_s: float, sample_rate_hz: float, n: int) -> Complex64Array:
    i0 = max(round(t_first_s * sample_rate_hz), 0)
    out = np.zeros(n, dtype=np.complex64)
    seg = y[i0 : i0 + n]
    out[: len(seg)] = seg
    return out


def _shift(out: Complex64Array, t_first_s: float, sample_rate_hz: float, offset_hz: float) -> None:
    if offset_hz != 0.0:
        tt = t_first_s + np.arange(len(out), dtype=np.float64) / sample_rate_hz
        out *= phasor((TWO_PI * offset_hz) * tt)


def rate_cached_waveform(make_at: Callable[[float], Complex64Array]) -> Waveform:
    """A burst drawn by `make_at(sample_rate_hz)` (unit power while keyed), generated on
    first use and cached per sample rate; windows of it are sliced and shifted."""
    cache: dict[float, Complex64Array] = {}

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        y = cache.get(sample_rate_hz)
        if y is None:
            y = cache[sample_rate_hz] = make_at(sample_rate_hz)
        out = _place(y, t_first_s, sample_rate_hz, n)
        _shift(out, t_first_s, sample_rate_hz, offset_hz)
        return out

    return waveform


def resampled_waveform(make: Callable[[], ComplexArray], native_rate_hz: float) -> Waveform:
    """A burst drawn by `make()` at native_rate_hz (unit power while keyed), resampled lazily."""
    native: list[ComplexArray] = []

    def make_at(sample_rate_hz: float) -> Complex64Array:
        if not native:
            native.append(make())
        return resample_to(native[0], native_rate_hz, sample_rate_hz)

    return rate_cached_waveform(make_at)


def interpolated_waveform(make: Callable[[], ComplexArray], native_rate_hz: float) -> Waveform:
    """A narrowband burst drawn by `make()` at a rate ≥ 16× its bandwidth, interpolated."""
    native: list[ComplexArray] = []

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        if not native:
            native.append(make())
        x = native[0]
        pos = (t_first_s + np.arange(n, dtype=np.float64) / sample_rate_hz) * native_rate_hz
        grid = np.arange(len(x), dtype=np.float64)
        out = np.empty(n, dtype=np.complex64)
        out.real = np.interp(pos, grid, x.real, left=0.0, right=0.0)
        out.imag = np.interp(pos, grid, x.imag, left=0.0, right=0.0)
        _shift(out, t_first_s, sample_rate_hz, offset_hz)
        return out

    return waveform


def phase_waveform(phase_at: PhaseFn, duration_s: float) -> Waveform:
    """Constant envelope exp(j·phase_at(t)), t in s from the burst start, keyed on [0, duration)."""

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        tt = t_first_s + np.arange(n, dtype=np.float64) / sample_rate_hz
        keyed = (tt >= 0.0) & (tt < duration_s)
        phase = phase_at(np.clip(tt, 0.0, duration_s)) + (TWO_PI * offset_hz) * tt
        out = phasor(phase)
        out[~keyed] = 0.0
        return out

    return waveform


def interpolated_phase(phase: FloatArray, native_rate_hz: float) -> PhaseFn:
    """A PhaseFn that linearly interpolates a phase track sampled at native_rate_hz."""
    grid = np.arange(len(phase), dtype=np.float64) / native_rate_hz

    def phase_at(t: FloatArray) -> FloatArray:
        return np.asarray(np.interp(t, grid, phase), dtype=np.float64)

    return phase_at


# ---------------------------------------------------------------- modulation


def gaussian_taps(bt: float, samples_per_symbol: int) -> FloatArray:
    """Unit-sum Gaussian frequency-pulse filter of bandwidth-time product bt, ±3σ."""
    sigma = math.sqrt(math.log(2.0)) / (TWO_PI * bt) * samples_per_symbol
    half = max(1, math.ceil(3.0 * sigma))
    t = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return np.asarray(g / g.sum(), dtype=np.float64)


def fsk_phase(
    levels: NDArray[Any],
    *,
    symbol_rate_hz: float,
    deviation_hz: float,
    bt: float,
    samples_per_symbol: int = 16,
) -> tuple[FloatArray, float]:
    """Phase track (rad) of Gaussian-filtered FSK; returns (phase, native rate in Hz).

    levels: (n_symbols,) frequency levels in units of `deviation_hz` (±1 for 2-FSK,
    ±1/3, ±1 for 4-FSK); the instantaneous frequency is levels ⊛ Gaussian(bt) · deviation.
    """
    nrz = np.repeat(np.asarray(levels, dtype=np.float64), samples_per_symbol)
    freq = np.convolve(nrz, gaussian_taps(bt, samples_per_symbol), mode="same") * deviation_hz
    rate = symbol_rate_hz * samples_per_symbol
    phase = np.concatenate([[0.0], np.cumsum(freq)[:-1]]) * (TWO_PI / rate)
    return np.asarray(phase, dtype=np.float64), rate


def rrc_taps(alpha: float, samples_per_symbol: int, span_symbols: int = 8) -> FloatArray:
    """Root-raised-cosine impulse response, unit energy."""
    n = np.arange(-span_symbols * samples_per_symbol, span_symbols * samples_per_symbol + 1)
    t = n.astype(np.float64) / samples_per_symbol
    h = np.empty_like(t)
    for i, ti in enumerate(t):
        if abs(ti) < 1e-12:
            h[i] = 1.0 - alpha + 4.0 * alpha / math.pi
        elif alpha > 0 and abs(abs(ti) - 1.0 / (4.0 * alpha)) < 1e-9:
            h[i] = (alpha / math.sqrt(2.0)) * (
                (1 + 2 / math.pi) * math.sin(math.pi / (4 * alpha))
                + (1 - 2 / math.pi) * math.cos(math.pi / (4 * alpha))
            )
        else:
            num = math.sin(math.pi * ti * (1 - alpha)) + 4 * alpha * ti * math.cos(
                math.pi * ti * (1 + alpha)
            )
            h[i] = num / (math.pi * ti * (1 - (4 * alpha * ti) ** 2))
    return np.asarray(h / math.sqrt(np.sum(h * h)), dtype=np.float64)


def pulse_shaped(symbols: ComplexArray, taps: FloatArray, samples_per_symbol: int) -> ComplexArray:
    """Symbols at one per `samples_per_symbol`, filtered; symbol k peaks at k·sps + sps/2."""
    up = np.zeros(len(symbols) * samples_per_symbol, dtype=np.complex128)
    up[samples_per_symbol // 2 :: samples_per_symbol] = symbols
    return np.asarray(np.convolve(up, taps, mode="same"), dtype=np.complex128)


def unit_power(x: ComplexArray) -> ComplexArray:
    p = float(np.mean(np.abs(x) ** 2))
    return x / math.sqrt(p) if p > 0 else x


def random_qpsk(rng: np.random.Generator, shape: int | tuple[int, ...]) -> ComplexArray:
    bits = rng.integers(0, 2, (2, *np.atleast_1d(shape)))
    return np.asarray(((1 - 2 * bits[0]) + 1j * (1 - 2 * bits[1])) / math.sqrt(2.0))


# ---------------------------------------------------------------- schedules and channel


def burst_gain(rng: np.random.Generator, fading: Fading) -> complex:
    """Per-burst complex gain, unit mean power: a random phase, or Rayleigh."""
    if fading == "rayleigh":
        return complex(rng.standard_normal(), rng.standard_normal()) / math.sqrt(2.0)
    return complex(np.exp(1j * rng.uniform(0.0, TWO_PI)))


def periodic_indices(
    t_from_s: float, t_to_s: float, *, origin_s: float, period_s: float, longest_s: float
) -> Iterator[int]:
    """Indices k ≥ 0 whose burst [origin + k·period, + longest) may overlap [t_from, t_to)."""
    k0 = max(0, math.floor((t_from_s - longest_s - origin_s) / period_s))
    k1 = math.ceil((t_to_s - origin_s) / period_s)
    return iter(range(k0, max(k0, k1 + 1)))


def overlaps(start_s: float, duration_s: float, t_from_s: float, t_to_s: float) -> bool:
    return start_s < t_to_s and start_s + duration_s > t_from_s
