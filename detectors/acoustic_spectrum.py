"""Whitened 1 s power spectrum of the rotor-comb detector (SIGNALS.md §6 front end).

one channel (`analysed_channel`) -> 1 s Hann periodogram at the native rate (Welch over
1 s segments when the frame is longer) -> weighted by a 2nd-order Butterworth high-pass response and
cut at 0.45 x the working rate -> noise floor (`log_mean_floor`) -> peak excess
max(P/floor - peak_threshold, 0); everything kept as cumulative sums so that any set of
harmonic bands is integrated in O(1) per band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from detectors.acoustic_config import F64, I64, AcousticConfig
from detectors.acoustic_features import (
    band_peak_z_at_least,
    clipped_bins,
    log_mean_floor,
    range_sums,
)
from detectors.arrays import cumsum0
from detectors.spectra import welch_psd
from detectors.units import a_weighting_db, power_to_db

#: spectral flatness (geometric over arithmetic mean of a frame's power spectrum) above
#: which a channel is taken for a dead microphone's converter or preamplifier noise: white
#: noise gives e^-γ ≈ 0.56, while a live outdoor microphone hears a sloped spectrum
#: (ambience, wind and traffic fall 3-6 dB per octave: pink noise over the band gives
#: under 0.2)
DEAD_FLATNESS = 0.45


def analysed_channel(audio: NDArray[Any]) -> NDArray[np.float32]:
    """The one channel the comb search reads: (n,) as it is; of (n_channels, n), the
    quietest live channel (least power over the frame).

    Not the channel mean: microphones more than a few cm apart hear each source with a
    delay that depends on its direction, and their sum comb-filters it (notches at odd
    multiples of c / 2Δ for a path difference Δ: 214, 643, 1 072 Hz for a source 0.8 m
    nearer one of two microphones 1 m apart), carving combs into confusers' spectra: at
    a two-microphone station of the false-alarm bench, the mean gave 6 alerts in 48 h
    and the quietest channel 2 (BENCHMARKS.md, fifteenth session). Wind and handling
    noise are each microphone's own, so the quietest channel is the one they spoil
    least. A broken microphone must not silence the station, so the quietest is taken
    among the live channels: finite, not silent, and not white (`DEAD_FLATNESS`: a dead
    capsule leaves its converter's flat noise, which can be quieter than a live
    microphone on a still night); when none is live, the quietest finite one."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        if x.shape[0] == 0:
            raise ValueError(f"audio has no channel: {x.shape=}")
        if x.shape[0] == 1:
            only: NDArray[np.float32] = x[0]
            return only
        power = np.einsum("ij,ij->i", x, x)  # no float64 copy of the frame
        usable = np.isfinite(power) & (power > 0.0)
        live = usable & (_flatness(x) < DEAD_FLATNESS)
        pool = live if live.any() else usable
        x = x[int(np.argmin(np.where(pool, power, np.inf)))]
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n_channels, n), got {x.shape=}")
    return x


def _flatness(channels: NDArray[np.float32]) -> NDArray[np.float64]:
    """(n_channels,) spectral flatness of each channel's Hann power spectrum (DC left
    out); 1.0 for a channel whose spectrum cannot be taken (silent or not finite)."""
    n = channels.shape[1]
    if n < 16:
        return np.ones(channels.shape[0])
    with np.errstate(all="ignore"):
        spec = scipy.fft.rfft(channels * hann32(n), axis=1)[:, 1:]
        power = (spec.real.astype(np.float64) ** 2) + spec.imag.astype(np.float64) ** 2
        mean = power.mean(axis=1)
        geo = np.exp(np.log(np.maximum(power, 1e-300)).mean(axis=1))
        flat = geo / mean
    out: NDArray[np.float64] = np.where(np.isfinite(flat) & (mean > 0.0), flat, 1.0)
    return out


@lru_cache(maxsize=16)
def _highpass_power(cutoff_hz: float, df: float, n_bins: int) -> F64:
    """|H(f)|^2 of a 2nd-order Butterworth high-pass on bins k*df (read-only, cached)."""
    f = np.arange(n_bins, dtype=np.float64) * df
    r4 = (f / cutoff_hz) ** 4
    h2: F64 = r4 / (1.0 + r4)
    h2.flags.writeable = False
    return h2


def band_edges(
    centres_hz: F64, df: float, n_bins: int, config: AcousticConfig, tolerance: float | None = None
) -> tuple[I64, I64]:
    tol = config.tolerance if tolerance is None else tolerance
    half = np.maximum(centres_hz * tol / df, config.min_band_bins)
    return clipped_bins(np.floor(centres_hz / df - half), n_bins), clipped_bins(
        np.ceil(centres_hz / df + half), n_bins
    )


@dataclass(frozen=True, slots=True)
class WhitenedSpectrum:
    """Whitened 1 s spectrum up to the band limit, bin df Hz, as cumulative sums (m + 1,)
    of power, floor and peak excess max(power / floor - peak_threshold, 0) (0 below the
    high-pass and in masked bins)."""

    power: F64
    floor: F64
    csum_power: F64
    csum_floor: F64
    csum_peaks: F64
    df: float

    def band_z_at_least(
        self, centres_hz: F64, z: float, config: AcousticConfig, tolerance: float | None = None
    ) -> NDArray[np.bool_]:
        """Whether the peak z (`band_peak_z`) of each band centred on `centres_hz` (any
        shape) reaches z (`band_peak_z_at_least`)."""
        lo, hi = band_edges(centres_hz, self.df, self.power.shape[0], config, tolerance)
        return band_peak_z_at_least(
            range_sums(self.csum_peaks, lo, hi), hi - lo + 1, z, config.peak_threshold,
            config.floor_rel_sigma,
        )  # fmt: skip


@lru_cache(maxsize=16)
def _a_weight_power(df: float, n_bins: int) -> F64:
    """A-weighting as a power factor on bins k*df (read-only, cached)."""
    a2: F64 = 10.0 ** (a_weighting_db(np.arange(n_bins, dtype=np.float64) * df) / 10.0)
    a2.flags.writeable = False
    return a2


def a_weighted_level_db(spec: WhitenedSpectrum) -> float:
    """A-weighted level of the analysed band (dB re full scale, the `units` floor for
    silence): what a sound level meter would read less the calibration, but for the
    detector's 60 Hz high-pass (-0.5 dB at 100 Hz) and band limit (0.45 x the working
    rate)."""
    weights = _a_weight_power(spec.df, spec.power.shape[0])
    return power_to_db(float(np.dot(spec.power, weights)) * spec.df)


def whitened_spectrum(
    x: NDArray[np.float32],
    sample_rate_hz: float,
    config: AcousticConfig,
    masked_bins: NDArray[np.bool_] | None = None,
) -> WhitenedSpectrum:
    """masked_bins: bins whose peak excess is set to 0 (lines known to be something else,
    `acoustic_plant`); ignored unless it has one entry per bin of the spectrum."""
    nperseg = min(x.shape[0], round(config.segment_s * sample_rate_hz))
    df = float(sample_rate_hz / nperseg)
    m = min(nperseg // 2 + 1, math.ceil(0.5 * config.working_rate_hz / df) + 1)
    if x.shape[0] < 2 * nperseg:  # one segment: the periodogram (Welch of one)
        power = _periodogram(x[:nperseg], sample_rate_hz, m)
    else:
        power = welch_psd(x, sample_rate_hz, nperseg).psd[:m].astype(np.float64)
    power *= _highpass_power(config.highpass_hz, df, m)
    floor = log_mean_floor(power, max(3, round(config.floor_half_width_hz / df)))
    peaks = np.divide(power, floor)  # then in place: max(power / floor - threshold, 0)
    peaks -= config.peak_threshold
    np.maximum(peaks, 0.0, out=peaks)
    peaks[: math.ceil(config.highpass_hz / df)] = 0.0  # below the high-pass: no comb sought
    if masked_bins is not None and masked_bins.shape == peaks.shape:
        peaks[masked_bins] = 0.0
    return WhitenedSpectrum(power, floor, cumsum0(power), cumsum0(floor), cumsum0(peaks), df)


def _periodogram(x: NDArray[np.float32], sample_rate_hz: float, m: int) -> F64:
    """(m,) float64 one-sided Hann periodogram of x (n,) float32 in its first m bins: the
    FFT and |X|² in float32 (the detector's precision), the scaling in float64; the bins
    above m (beyond the working rate) are never squared."""
    n = x.shape[0]
    spec = scipy.fft.rfft(x * hann32(n), overwrite_x=True)[:m]
    re, im = spec.real, spec.imag
    power32 = re * re
    power32 += im * im
    power: F64 = power32.astype(np.float64)
    power *= 2.0 / (sample_rate_hz * hann_power(n))
    return power


def half_spectra(
    x: NDArray[np.float32], n: int
) -> tuple[NDArray[np.complex64], NDArray[np.complex64]]:
    """Hann spectra of the two halves of the first n samples (phase-stability check)."""
    h = n // 2
    w = hann32(h)
    halves = scipy.fft.rfft(x[: 2 * h].reshape(2, h) * w, axis=1)
    return halves[0], halves[1]


@lru_cache(maxsize=16)
def hann32(n: int) -> NDArray[np.float32]:
    w = np.hanning(n + 1)[:n].astype(np.float32)  # periodic Hann
    w.flags.writeable = False
    return w


@lru_cache(maxsize=16)
def hann_power(n: int) -> float:
    """Σ w² of `hann32(n)` in float64 (the periodogram's normaliser)."""
    return float(np.sum(hann32(n).astype(np.float64) ** 2))
