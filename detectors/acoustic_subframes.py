"""The comb followed through sub-frames of one frame (SIGNALS.md §4 `voice_music`).

A rotor comb is steady within 1 s: scintillation is ±2-5 dB over seconds, a throttle
change or an approach moves every harmonic together but smoothly, and what varies faster
varies per harmonic (rotor beats at k·Δf, RPM jitter). Voices carry a 4-5 Hz syllabic
AM, 10-30 dB deep, that is common to all their harmonics (one glottal source); plucked or
struck music decays and restarts on the beat, again on all partials of a note at once.

`common_envelope` cuts the frame into 125 ms Hann pieces every 62.5 ms (the envelope
is then sampled at 16 Hz, above twice the syllable rate), follows the comb in each piece
over a ±15 % glide (manoeuvres), reads each harmonic band's level in dB, and splits the
(piece × harmonic) table two-way: the common term (mean over harmonics) minus its linear
trend is the fast common envelope; the residual is the per-harmonic fluctuation. The F
ratio of the two is near 1 for a rotor comb (or for noise) and large for one modulated
source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy import special

from detectors.acoustic_config import F64
from detectors.acoustic_features import (
    DROPOUT_PIECES,
    MAX_GLIDE,
    glide_band_power,
    min_spacing,
)
from detectors.acoustic_spectrum import hann32


@dataclass(frozen=True, slots=True)
class CommonEnvelope:
    """depth_db: std of the detrended common envelope (dB); p_value: chance of an F ratio
    at least as large when the harmonics fluctuate independently."""

    depth_db: float
    p_value: float


#: length of the envelope's pieces (s): 8 per second, so the envelope is sampled at 16 Hz
PIECE_S = 0.125


def _piece_len(x: NDArray[np.float32], sample_rate_hz: float, k: int, piece_s: float) -> int:
    """Samples per envelope piece, or 0 when the frame or the comb is too small for the
    envelope (pieces under 32 samples, fewer than 4 in the frame, fewer than 2 bands)."""
    n = round(piece_s * sample_rate_hz)
    return n if n >= 32 and x.shape[0] >= 4 * n and k >= 2 else 0


def piece_power(x: NDArray[np.float32], n: int, hop: int, m: int) -> F64:
    """(pieces, m) float64 |X|² in the first m bins of the periodic-Hann pieces of n
    samples every hop samples of x (n,) float32 (pieces = 1 + (len(x) - n) // hop), the
    FFT and |X|² in float32 (the detector's precision)."""
    pieces = 1 + (x.shape[0] - n) // hop
    step = x.strides[0]  # the pieces as one read-only strided view of x
    windows = np.lib.stride_tricks.as_strided(
        x, shape=(pieces, n), strides=(hop * step, step), writeable=False
    )
    spec = scipy.fft.rfft(windows * hann32(n), axis=1, overwrite_x=True)[:, :m]
    power: F64 = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float64)
    return power


def frame_pieces(
    x: NDArray[np.float32],
    sample_rate_hz: float,
    centres_hz: F64,
    tolerance: float,
    *,
    piece_s: float = PIECE_S,
    sub_frames: int = DROPOUT_PIECES,
    max_glide: float = MAX_GLIDE,
) -> F64 | None:
    """`piece_power` of the half-overlapping pieces of `common_envelope` when every other
    one is a piece of `acoustic_features.comb_dropouts` (len(x) // sub_frames samples, as
    for 1 s frames), in bins reaching both tests' glided bands (the comb's and those half
    a harmonic up), so that one STFT serves both; else None (each takes its own)."""
    n = _piece_len(x, sample_rate_hz, centres_hz.shape[0], piece_s)
    if not n or n != x.shape[0] // sub_frames or n % 2:
        return None
    df = sample_rate_hz / n
    # the top glided band half a harmonic up, + 2 bins of band edge rounding (and 1 spare)
    top_hz = (centres_hz[-1] + 0.5 * min_spacing(centres_hz)) * (1.0 + max_glide)
    m = min(n // 2 + 1, int(top_hz * (1.0 + tolerance) / df) + 3)
    return piece_power(x, n, n // 2, m)


def common_envelope(
    x: NDArray[np.float32],
    sample_rate_hz: float,
    centres_hz: F64,
    tolerance: float,
    *,
    piece_s: float = PIECE_S,
    max_glide: float = MAX_GLIDE,
    power: F64 | None = None,
) -> CommonEnvelope:
    """Common fast envelope of the comb's harmonic bands (x: (n,) mono; centres_hz: (K,)).

    power: the pieces' `piece_power` when the caller has it (`frame_pieces`), in at
    least the bins the glided bands reach."""
    n = _piece_len(x, sample_rate_hz, centres_hz.shape[0], piece_s)
    if not n:
        return CommonEnvelope(0.0, 1.0)
    hop = n // 2
    df = sample_rate_hz / n
    m = min(n // 2 + 1, int(centres_hz[-1] * (1.0 + max_glide + tolerance) / df) + 3)
    if power is not None and power.shape[1] < m:
        raise ValueError(f"power must reach bin {m - 1}, got {power.shape=}")
    power = piece_power(x, n, hop, m) if power is None else power[:, :m]
    pieces = power.shape[0]
    spacing = min_spacing(centres_hz)

    # 2 % glide steps: each band is ±tolerance (4 %) wide, so a step never loses a line
    on, off = glide_band_power(power, centres_hz, spacing, tolerance, df, max_glide, 0.02)
    best = (on.sum(axis=2) / np.maximum(off.sum(axis=2), 1e-300)).argmax(axis=1)
    level = 10.0 * np.log10(np.maximum(on[np.arange(pieces), best, :], 1e-300))
    k = level.shape[1]
    # means as sum / count: what ndarray.mean computes, without its Python wrapper
    common = level.sum(axis=1) / k
    t = np.arange(pieces) - 0.5 * (pieces - 1)
    detrended = common - common.sum() / pieces - t * float((t * common).sum() / (t * t).sum())
    resid = level - level.sum(axis=0) / pieces - common[:, None] + level.sum() / level.size
    ms_common = k * float((detrended**2).sum()) / (pieces - 2)
    ms_resid = float((resid**2).sum()) / ((pieces - 1) * (k - 1))
    ratio = ms_common / max(ms_resid, 1e-12)
    # pieces overlap by half: count independent ones only in the degrees of freedom
    independent = (pieces + 1) // 2
    p = float(special.fdtrc(independent - 2, (independent - 1) * (k - 1), ratio))
    # np.std's operations, without its wrapper
    centred = detrended - detrended.sum() / pieces
    centred *= centred
    return CommonEnvelope(float(np.sqrt(centred.sum() / pieces)), p)
