"""Alert evidence media, pure: spectrogram PNGs of RF frames, WAV clips of audio.

No I/O, clock or logging: arrays in, bytes and the image's extent out. The hub decides
which frame is worth keeping (`sensor_hub/evidence_capture.py`) and stores the result.

Spectrogram images have time on the x axis (left to right) and frequency on the y axis,
low at the bottom: for IQ the full band, `center_freq_hz - fs/2` at the bottom row and
`center_freq_hz + fs/2` at the top; for PSD frames `freq_start_hz` to
`freq_start_hz + num_bins * bin_hz`. Colour spans `dynamic_range_db` below the image's
99.9th-percentile level (`top_db`, dB re full scale for IQ, dBm for PSD). No text is
drawn: the extent travels beside the image (`Spectrogram`, and the API's JSON).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.io import wavfile

from detectors.spectra import spectrogram
from detectors.units import power_to_db
from sensor_hub.png import colormap, encode_png

__all__ = [
    "MAX_PNG_BYTES",
    "MAX_WAV_BYTES",
    "Spectrogram",
    "WavClip",
    "iq_spectrogram_png",
    "psd_spectrogram_png",
    "wav_clip",
]

#: size caps of one evidence item: images shrink, clips drop channels, then seconds
MAX_PNG_BYTES = 1024 * 1024
MAX_WAV_BYTES = 2 * 1024 * 1024
#: longest audio clip kept as evidence
MAX_CLIP_S = 10.0

_MIN_COLUMNS = 64  # a frame of few spectra is stretched to a readable width


@dataclass(frozen=True, slots=True)
class Spectrogram:
    """A rendered spectrogram and what its axes and colours mean."""

    png: bytes
    width: int
    height: int
    duration_s: float
    freq_min_hz: float
    freq_max_hz: float
    top_db: float
    dynamic_range_db: float


@dataclass(frozen=True, slots=True)
class WavClip:
    """16-bit PCM WAV bytes and what they hold (`offset_s`: clip start within the input)."""

    wav: bytes
    sample_rate_hz: int
    channels: int
    duration_s: float
    offset_s: float


def _pool_columns(power: NDArray[np.float32], max_width: int) -> NDArray[np.float32]:
    """(h, n) -> (h, <= max_width): mean power over groups of neighbouring columns."""
    n = power.shape[1]
    group = -(-n // max_width)
    if group <= 1:
        return power
    keep = n // group * group
    pooled = power[:, :keep].reshape(power.shape[0], -1, group).mean(axis=2)
    return np.asarray(pooled, dtype=np.float32)


def _pool_rows(power: NDArray[np.float32], max_height: int) -> NDArray[np.float32]:
    return _pool_columns(power.T, max_height).T


#: the colormap sampled at 256 levels: indexing it is much faster than interpolating
_LUT = colormap(np.linspace(0.0, 1.0, 256))


def _image(power: NDArray[np.float32], dynamic_range_db: float) -> tuple[NDArray[np.uint8], float]:
    """(n_freq, n_time) power, low frequency first -> RGB image (low at the bottom), top dB."""
    db = power_to_db(power)
    top = float(np.percentile(db, 99.9))
    scaled = (db - (top - dynamic_range_db)) * (255.0 / dynamic_range_db)
    index = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    img = _LUT[index[::-1]]
    if img.shape[1] < _MIN_COLUMNS:
        img = np.repeat(img, -(-_MIN_COLUMNS // img.shape[1]), axis=1)
    return np.ascontiguousarray(img), top


def _fit_png(
    power: NDArray[np.float32], max_width: int, max_bytes: int, dynamic_range_db: float
) -> tuple[bytes, int, int, float]:
    """Encode, halving the width until the PNG fits `max_bytes` (noise compresses badly).

    zlib level 1: on noisy spectrograms it is as small as level 6 and several times faster.
    """
    width = max_width
    while True:
        img, top = _image(_pool_columns(power, width), dynamic_range_db)
        png = encode_png(img, level=1)
        if len(png) <= max_bytes or img.shape[1] <= _MIN_COLUMNS:
            return png, img.shape[1], img.shape[0], top
        width = max(_MIN_COLUMNS, img.shape[1] // 2)


def iq_spectrogram_png(
    iq: NDArray[np.complexfloating[Any, Any]],
    sample_rate_hz: float,
    center_freq_hz: float,
    *,
    nfft: int = 256,
    max_width: int = 1024,
    dynamic_range_db: float = 60.0,
    max_bytes: int = MAX_PNG_BYTES,
) -> Spectrogram:
    """Spectrogram of one IQ frame.

    iq: (n,) or (channels, n) complex64, full scale 1.0 (channels: power averaged);
    nfft shrinks for short frames so that there are at least 8 columns. The image is
    nfft rows high and at most max_width columns wide (neighbouring FFT frames averaged).
    """
    x = np.asarray(iq)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[1] < 16:
        raise ValueError(f"iq must be (n,) or (channels, n) with n >= 16, got {x.shape=}")
    while nfft > 16 and x.shape[1] < 8 * nfft:
        nfft //= 2
    power: NDArray[np.float32] = spectrogram(x[0], sample_rate_hz, nfft).power
    for channel in x[1:]:  # several antennas: their mean power
        power = power + spectrogram(channel, sample_rate_hz, nfft).power
    power /= np.float32(x.shape[0])
    # (nfft, frames), low frequency first
    png, width, height, top = _fit_png(power.T, max_width, max_bytes, dynamic_range_db)
    return Spectrogram(
        png=png,
        width=width,
        height=height,
        duration_s=x.shape[1] / sample_rate_hz,
        freq_min_hz=center_freq_hz - sample_rate_hz / 2,
        freq_max_hz=center_freq_hz + sample_rate_hz / 2,
        top_db=round(top, 2),
        dynamic_range_db=dynamic_range_db,
    )


def psd_spectrogram_png(
    psd_dbm: NDArray[np.floating[Any]],
    spectra_per_s: float,
    freq_start_hz: float,
    bin_hz: float,
    *,
    max_width: int = 1024,
    max_height: int = 512,
    dynamic_range_db: float = 60.0,
    max_bytes: int = MAX_PNG_BYTES,
) -> Spectrogram:
    """Waterfall of a PSD frame: psd_dbm (n_spectra, n_bins) float32, dBm per bin."""
    levels = np.asarray(psd_dbm, dtype=np.float32)
    if levels.ndim != 2 or levels.size == 0:
        raise ValueError(f"psd_dbm must be (n_spectra, n_bins), got {levels.shape=}")
    n_spectra, n_bins = levels.shape
    # pool in power, not in dB, so that a strong narrow carrier is not averaged away
    power = _pool_rows(np.power(10.0, levels.T / 10.0, dtype=np.float32), max_height)
    png, width, height, top = _fit_png(power, max_width, max_bytes, dynamic_range_db)
    return Spectrogram(
        png=png,
        width=width,
        height=height,
        duration_s=n_spectra / spectra_per_s,
        freq_min_hz=freq_start_hz,
        freq_max_hz=freq_start_hz + n_bins * bin_hz,
        top_db=round(top, 2),
        dynamic_range_db=dynamic_range_db,
    )


def wav_clip(
    audio: NDArray[np.floating[Any]],
    sample_rate_hz: float,
    *,
    max_s: float = MAX_CLIP_S,
    max_bytes: int = MAX_WAV_BYTES,
) -> WavClip:
    """16-bit PCM WAV of the last `max_s` seconds of audio (clipped at full scale).

    audio: (n,) or (channels, n) float32, full scale 1.0. If the clip would exceed
    max_bytes, only the first channel is kept, and then only the last seconds that fit.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"audio must be (n,) or (channels, n) with n >= 1, got {x.shape=}")
    rate = round(sample_rate_hz)
    if rate < 1:
        raise ValueError(f"sample_rate_hz must be at least 1, got {sample_rate_hz=}")
    n_total = x.shape[1]
    n = min(n_total, int(max_s * rate))
    if x.shape[0] * n * 2 + 44 > max_bytes:
        x = x[:1]
    n = min(n, (max_bytes - 44) // 2)
    clip = x[:, n_total - n :]
    pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, np.ascontiguousarray(pcm.T if pcm.shape[0] > 1 else pcm[0]))
    return WavClip(
        wav=buffer.getvalue(),
        sample_rate_hz=rate,
        channels=clip.shape[0],
        duration_s=n / rate,
        offset_s=(n_total - n) / rate,
    )
