"""Direction of arrival from a microphone array: GCC-PHAT per pair, SRP over a sky grid.

SIGNALS.md §5 (Knapp & Carter 1976; Grondin & Glass 2018): for every microphone pair the
cross-spectrum is averaged over short segments, PHAT-weighted (magnitude discarded, phase
kept) inside a band, optionally only around the rotor comb's harmonics (k·f0 ± a few Hz:
much better against wind and traffic), and inverse-transformed with ×`upsample` zero
padding into a cross-correlation R_ij(τ). A plane wave from unit direction u reaches
microphone i at offset r_i (metres, array frame) (r_i·u)/c earlier than the origin, so
the inverse transform of X_i·X_j* (pair (i, j)) peaks at τ_ij = (r_j − r_i)·u / c. The
steered response power SRP(u) = Σ_pairs R_ij(τ_ij(u)) is evaluated on an azimuth ×
elevation grid and the best cell is refined on a finer grid around it.

Angles: azimuth in degrees clockwise from +y (site north) toward +x (east), 0-360;
elevation in degrees above the horizontal plane of the array. A planar array cannot tell
up from down: elevations are searched from 0 to 90 degrees only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

SPEED_OF_SOUND_M_S = 343.0


@dataclass(frozen=True, slots=True)
class BearingConfig:
    """Settings of `estimate_bearing` (SIGNALS.md §5 defaults).

    segment_s: segment of the averaged cross-spectra (0.1-0.5 s).
    band_hz: PHAT band when no comb is given (150-4 000 Hz).
    comb_half_width_hz / comb_tolerance: half width of the band kept around each harmonic
      k·f0: the larger of the two (absolute, relative), like the comb detector's bands.
    max_harmonics: harmonics of f0 used for comb weighting.
    upsample: zero-padding factor of the inverse transform (×8-16).
    coarse_deg / fine_deg: grid steps of the two-stage search.
    """

    segment_s: float = 0.125
    band_hz: tuple[float, float] = (150.0, 4000.0)
    comb_half_width_hz: float = 6.0
    comb_tolerance: float = 0.03
    max_harmonics: int = 20
    upsample: int = 16
    coarse_deg: float = 3.0
    fine_deg: float = 0.25
    speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S


@dataclass(frozen=True, slots=True)
class Bearing:
    """azimuth_deg clockwise from north, elevation_deg above the array plane; coherence:
    the winning SRP as a fraction of its maximum (every pair's PHAT correlation fully
    coherent at the steered lags): ~1 for one clean plane wave, ~0 for diffuse noise."""

    azimuth_deg: float
    elevation_deg: float
    coherence: float


def _directions(az_deg: F64, el_deg: F64) -> F64:
    """(len(az)·len(el), 3) unit vectors (x east, y north, z up)."""
    az, el = np.meshgrid(np.deg2rad(az_deg), np.deg2rad(el_deg), indexing="ij")
    return np.stack(
        [np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], axis=-1
    ).reshape(-1, 3)


def _weights(freqs: F64, f0_hz: float | None, config: BearingConfig) -> F64:
    lo, hi = config.band_hz
    w = ((freqs >= lo) & (freqs <= hi)).astype(np.float64)
    if f0_hz is not None and f0_hz > 0:
        k = np.arange(1, config.max_harmonics + 1) * f0_hz
        # a rotor harmonic is a cluster ±(2-5 %)·k·f0 wide (4 rotors, RPM jitter)
        half = np.maximum(config.comb_half_width_hz, config.comb_tolerance * k)
        near = np.any(np.abs(freqs[:, None] - k[None, :]) <= half[None, :], axis=1)
        comb = w * near
        if np.count_nonzero(comb) >= 8:
            w = comb
    return w


def _pair_correlations(
    x: F64, pairs: list[tuple[int, int]], w: F64, n_seg: int, upsample: int
) -> tuple[F64, F64]:
    """(pairs, n_seg·upsample) weighted PHAT cross-correlations, lag 0 at index 0
    (circular), and each pair's value if it were fully coherent (its peak at lag 0 when
    every bin's phase agrees)."""
    hop = n_seg // 2
    starts = range(0, x.shape[1] - n_seg + 1, hop)
    window = np.hanning(n_seg)
    spectra = np.stack([np.fft.rfft(x[:, s : s + n_seg] * window, axis=-1) for s in starts])
    auto = np.mean(np.abs(spectra) ** 2, axis=0)  # (m, bins)
    out = np.empty((len(pairs), n_seg * upsample))
    full = np.empty(len(pairs))
    for p, (i, j) in enumerate(pairs):
        cross = np.mean(spectra[:, i, :] * np.conj(spectra[:, j, :]), axis=0)
        mag = np.maximum(np.abs(cross), 1e-30)
        # ML (Hannan-Thomson) weighting on top of PHAT: bins where the pair is coherent
        # (the source dominates) count, bins of independent noise hardly do
        coh2 = np.clip(mag**2 / np.maximum(auto[i] * auto[j], 1e-60), 0.0, 0.99)
        weight = w * coh2 / (1.0 - coh2)
        out[p] = np.fft.irfft(cross / mag * weight, n_seg * upsample)
        full[p] = (2.0 * float(np.sum(weight)) - weight[0] - weight[-1]) / (n_seg * upsample)
    return out, full


def _srp(corr: F64, lags: F64, rate: float) -> F64:
    """Sum over pairs of corr at fractional lags (seconds), linear interpolation."""
    n = corr.shape[1]
    pos = np.mod(lags * rate, n)  # (pairs, cells)
    whole = np.floor(pos)
    frac = pos - whole
    i0 = whole.astype(np.intp) % n  # mod of a tiny negative can round up to n itself
    i1 = (i0 + 1) % n
    rows = np.arange(corr.shape[0])[:, None]
    vals = corr[rows, i0] * (1 - frac) + corr[rows, i1] * frac
    return np.asarray(np.sum(vals, axis=0), dtype=np.float64)


def estimate_bearing(
    audio: NDArray[Any],
    sample_rate_hz: float,
    mic_offsets_m: NDArray[Any],
    *,
    f0_hz: float | None = None,
    config: BearingConfig = BearingConfig(),
) -> Bearing | None:
    """Bearing of the dominant source in one multichannel frame.

    audio: (m, n) samples, m >= 2 microphones; mic_offsets_m: (m, 3) (or (m, 2)) positions
    in metres relative to any common point (x east, y north, z up); f0_hz: a rotor comb's
    fundamental, to weight the harmonics only. None when the frame is too short or the
    array has fewer than two distinct microphones.
    """
    x = np.asarray(audio, dtype=np.float64)
    mics = np.asarray(mic_offsets_m, dtype=np.float64)
    if mics.ndim != 2 or mics.shape[1] not in (2, 3):
        raise ValueError(f"mic_offsets_m must be (m, 2) or (m, 3), got {mics.shape}")
    if mics.shape[1] == 2:
        mics = np.column_stack([mics, np.zeros(len(mics))])
    if x.ndim != 2 or x.shape[0] != mics.shape[0]:
        raise ValueError(f"audio must be (m, n) with m = {mics.shape[0]} microphones")
    m = x.shape[0]
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)
             if np.linalg.norm(mics[i] - mics[j]) > 1e-6]  # fmt: skip
    n_seg = 1 << max(6, round(math.log2(max(config.segment_s * sample_rate_hz, 64))))
    if not pairs or x.shape[1] < n_seg:
        return None
    freqs = np.asarray(np.fft.rfftfreq(n_seg, 1.0 / sample_rate_hz), dtype=np.float64)
    w = _weights(freqs, f0_hz, config)
    if not np.any(w):
        return None
    corr, full = _pair_correlations(x - x.mean(axis=1, keepdims=True), pairs, w, n_seg,
                                    config.upsample)  # fmt: skip
    rate = sample_rate_hz * config.upsample
    # X_i X_j* carries exp(+j2πf(r_i - r_j)·u/c), whose inverse transform peaks at -that
    baselines = np.array([mics[j] - mics[i] for i, j in pairs])  # (pairs, 3)
    c = config.speed_of_sound_m_s

    def search(az: F64, el: F64) -> tuple[float, float, F64]:
        u = _directions(az, el)
        power = _srp(corr, baselines @ u.T / c, rate)
        best = int(np.argmax(power))
        return float(az[best // len(el)]), float(el[best % len(el)]), power

    az0, el0, _ = search(
        np.arange(0.0, 360.0, config.coarse_deg), np.arange(0.0, 90.0 + 1e-9, config.coarse_deg)
    )
    span = config.coarse_deg
    az_f = np.arange(az0 - span, az0 + span + 1e-9, config.fine_deg)
    el_f = np.clip(np.arange(el0 - span, el0 + span + 1e-9, config.fine_deg), 0.0, 90.0)
    az1, el1, fine = search(az_f, np.unique(el_f))
    total = float(np.sum(full))
    coherence = float(np.max(fine)) / total if total > 0 else 0.0
    return Bearing(azimuth_deg=az1 % 360.0, elevation_deg=el1, coherence=round(coherence, 3))
