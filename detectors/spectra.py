"""Spectral front end: spectrogram of complex baseband and Welch PSD of real audio.

Single precision throughout (`scipy.fft` on float32/complex64). Time is the first
axis of a spectrogram (one row per frame), frequency the second, so that a row is
one spectrum and `scipy.ndimage` can treat the whole frame as an image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy import signal

F32 = NDArray[np.float32]


def choose_nfft(sample_rate_hz: float, *, max_bin_hz: float = 50e3, min_nfft: int = 16) -> int:
    """Smallest power of two whose bin width sample_rate_hz / nfft is <= max_bin_hz.

    25 MS/s -> 512 (48.8 kHz bins, 20.5 µs frames); 2 MS/s -> 64 (31.3 kHz, 32 µs).
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz=}")
    nfft = 1 << max(0, math.ceil(math.log2(sample_rate_hz / max_bin_hz)))
    return max(nfft, min_nfft)


@lru_cache(maxsize=32)
def _window(name: str, nfft: int) -> F32:
    w = signal.get_window(name, nfft, fftbins=True).astype(np.float32)
    w.flags.writeable = False
    result: F32 = w
    return result


@lru_cache(maxsize=256)
def bin_power_correlation(window: str, nfft: int, lag_bins: int) -> float:
    """Correlation coefficient of the powers of two DFT bins `lag_bins` apart for white
    complex Gaussian input windowed by `window` (periodic, length nfft).

    Hann: 4/9 at lag 1, 1/36 at lag 2, 0 beyond.
    """
    w2 = _window(window, nfft).astype(np.float64) ** 2
    n = np.arange(nfft)
    coef = np.abs(np.sum(w2 * np.exp(-2j * np.pi * n * lag_bins / nfft))) / np.sum(w2)
    return float(coef**2)


@lru_cache(maxsize=4096)
def effective_cells(window: str, nfft: int, frames: int, bins: int) -> float:
    """Effective number of independent exponential cells in a box of `frames` x `bins`
    spectrogram cells (frames do not overlap, neighbouring bins are correlated through
    the window). Matches mean and variance of the box average to a Gamma law."""
    var = float(bins)
    for lag in range(1, bins):
        rho = bin_power_correlation(window, nfft, lag)
        if rho < 1e-6:  # Hann: zero beyond lag 2; other windows decay fast too
            break
        var += 2.0 * (bins - lag) * rho
    return frames * bins * bins / var


@dataclass(frozen=True, slots=True)
class Spectrogram:
    """Power spectrogram of complex baseband.

    power: (n_frames, nfft) float32, fftshifted (bin 0 is -fs/2), full-scale power
    units: the bins of one frame sum to the mean |x|^2 of that frame (white noise of power
    1.0 reads 1/nfft per bin; a unit tone on a bin reads 1/ENBW = 2/3 there with Hann and
    1.0 summed over its main lobe). Frames do not overlap (hop = nfft).
    pairs: (n_frames // 2, nfft) float32 sums of frames 2i and 2i + 1, or None: the first
    step of both the noise floor's block sums and the burst scan's ladder, computed once
    (`frame_pairs`) and shared by them.
    flat: (n_frames, nfft) float32, the same frames without a window (rectangular), or
    None. Every sample counts fully and noise bins are independent, so an energy test
    over a box of its cells is the ideal energy detector for a burst filling the box: a
    Hann window without overlap keeps about half the degrees of freedom (1.4 dB lost).
    Its leakage (sidelobes at -13 dB, falling as 1/k^2) is why only the energy scan, the
    measurement of weak regions and the confirming test read it (`bursts`), and the
    rest reads `power`.
    flat_pairs: frame pairs of flat, when both are there.
    """

    power: F32
    sample_rate_hz: float
    nfft: int
    window: str
    pairs: F32 | None = None
    flat: F32 | None = None
    flat_pairs: F32 | None = None

    @property
    def n_frames(self) -> int:
        return int(self.power.shape[0])

    @property
    def bin_hz(self) -> float:
        return self.sample_rate_hz / self.nfft

    @property
    def frame_s(self) -> float:
        """Duration of one frame (= hop) in seconds."""
        return self.nfft / self.sample_rate_hz

    @property
    def freqs_hz(self) -> NDArray[np.float64]:
        """(nfft,) baseband offset of each bin centre, Hz, ascending."""
        return (np.arange(self.nfft) - self.nfft // 2).astype(np.float64) * self.bin_hz

    @property
    def dc_bin(self) -> int:
        return self.nfft // 2

    def frame_centre_s(self, frame: float) -> float:
        """Time of the centre of (possibly fractional) frame index, s from the first sample."""
        return (frame + 0.5) * self.frame_s

    def bin_offset_hz(self, bin_index: float) -> float:
        return (bin_index - self.nfft // 2) * self.bin_hz


@lru_cache(maxsize=32)
def _spectrogram_window(name: str, nfft: int) -> F32:
    """`name` window times sqrt of the power scale of `Spectrogram`, times (-1)^n when
    nfft is even: shifting a frame by half the sample rate moves every bin by nfft/2,
    which is `fftshift`, so the FFT output comes out in ascending frequency order."""
    w = signal.get_window(name, nfft, fftbins=True).astype(np.float64)
    w *= 1.0 / math.sqrt(nfft * float(np.sum(w**2)))
    if nfft % 2 == 0:
        w[1::2] *= -1.0
    out: F32 = w.astype(np.float32)
    out.flags.writeable = False
    return out


#: |2 X[k] - X[k-1] - X[k+1]|^2 / 6 of a rectangular spectrum X is its Hann spectrum (the
#: periodic Hann window is three spectral lines: 1/2, -1/4, -1/4), in `Spectrogram` units
_HANN_POWER_SCALE = np.float32(1.0 / 6.0)


def _squared_magnitude(
    spec: NDArray[np.complex64], scale: np.float32 | None = None, out: F32 | None = None
) -> F32:
    """re^2 + im^2 (times `scale`) of a C-contiguous complex64 array, squaring its floats
    in place; into `out` when given."""
    parts = spec.view(np.float32)
    np.multiply(parts, parts, out=parts)
    power: F32 = np.add(parts[..., 0::2], parts[..., 1::2], out=out)
    if scale is not None:
        power *= scale
    return power


def _hann_of_flat(flat: NDArray[np.complex64]) -> NDArray[np.complex64]:
    """X[k-1] + X[k+1] - 2 X[k] of each row of a rectangular-window spectrum X (circular
    in frequency: also in fftshifted order), whose squared magnitude over 6 is the Hann
    power. On the flat float view, as three contiguous passes; the two ends of each row
    are redone with their circular neighbours."""
    v = flat.reshape(-1).view(np.float32)
    out = np.empty_like(flat)
    o = out.reshape(-1).view(np.float32)
    np.add(v[:-4], v[4:], out=o[2:-2])
    o[2:-2] -= v[2:-2]
    o[2:-2] -= v[2:-2]
    out[:, 0] = flat[:, -1] + flat[:, 1] - 2.0 * flat[:, 0]
    out[:, -1] = flat[:, -2] + flat[:, 0] - 2.0 * flat[:, -1]
    return out


#: bytes of complex64 frames per block of `_flat_and_hann`: a block's frames, FFT and
#: Hann spectrum stay in the core's cache between its passes (a spectrogram of up to 4
#: blocks, a narrowband frame's, is one block: there the loop costs more than it saves)
FLAT_BLOCK_BYTES = 1 << 18


def _flat_and_hann(
    frames: NDArray[np.complex64], w: F32, workers: int, with_pairs: bool
) -> tuple[F32, F32, F32 | None, F32 | None]:
    """(Hann power, flat power, their frame pairs or None) of `frames` (n_frames, nfft)
    times the rectangular window `w` (`_spectrogram_window`, even nfft), a block of an
    even number of frames at a time: each pass (window, FFT, Hann spectrum, squares,
    pairs) reads what the one before left in cache instead of the whole spectrogram from
    memory. The same values as each pass over the whole spectrogram."""
    n_frames, nfft = frames.shape
    rows = max(2, FLAT_BLOCK_BYTES // (8 * nfft) // 2 * 2)
    if n_frames <= 4 * rows:
        rows = n_frames
    power = np.empty((n_frames, nfft), dtype=np.float32)
    flat = np.empty((n_frames, nfft), dtype=np.float32)
    pairs = flat_pairs = None
    if with_pairs:
        pairs = np.empty((n_frames // 2, nfft), dtype=np.float32)
        flat_pairs = np.empty((n_frames // 2, nfft), dtype=np.float32)
    block = np.empty((min(rows, n_frames), nfft), dtype=np.complex64)
    for r0 in range(0, n_frames, rows):
        r1 = min(n_frames, r0 + rows)
        spec = np.multiply(frames[r0:r1], w, out=block[: r1 - r0])
        spec = scipy.fft.fft(spec, axis=1, overwrite_x=True, workers=workers)
        hann = _hann_of_flat(spec)
        _squared_magnitude(spec, out=flat[r0:r1])
        _squared_magnitude(hann, _HANN_POWER_SCALE, out=power[r0:r1])
        if pairs is not None and flat_pairs is not None:
            p0, p1 = r0 // 2, r1 // 2  # a trailing odd frame is in no pair
            end = r0 + 2 * (p1 - p0)
            np.add(power[r0:end:2], power[r0 + 1 : end : 2], out=pairs[p0:p1])
            np.add(flat[r0:end:2], flat[r0 + 1 : end : 2], out=flat_pairs[p0:p1])
    return power, flat, pairs, flat_pairs


def frame_pairs(power: F32) -> F32:
    """(n_frames // 2, n_bins) sums of frames 2i and 2i + 1 of power (n_frames, n_bins)
    (a trailing odd frame is dropped): one pass over the spectrogram."""
    half = power.shape[0] // 2 * 2
    pairs: F32 = np.add(power[0:half:2], power[1:half:2])
    return pairs


def spectrogram(
    iq: NDArray[Any],
    sample_rate_hz: float,
    nfft: int,
    *,
    window: str = "hann",
    workers: int = 1,
    with_pairs: bool = False,
    with_flat: bool = False,
) -> Spectrogram:
    """Non-overlapping windowed FFT power of complex baseband.

    iq: (n,) complex, full scale 1.0; trailing samples that do not fill a frame are dropped.
    workers: FFT threads; one by default, since a frame is a few ms of work and a hub runs
    frames side by side (`scipy.fft` workers=-1 for every core).
    with_pairs: also sum neighbouring frames (`Spectrogram.pairs`).
    with_flat: also the rectangular-window power (`Spectrogram.flat`) from the same FFT:
    the Hann spectrum is taken from it by three-point convolution (window "hann" only).
    Cost: one windowing pass into a new complex64 array, an in-place FFT, an in-place
    square and one addition for the squared magnitude (scale and fftshift are folded into
    the window); with_flat (even nfft) takes these passes a cache-sized block of frames
    at a time (`_flat_and_hann`).
    """
    x = np.asarray(iq)
    if x.ndim != 1:
        raise ValueError(f"iq must be 1-D, got {x.shape=}")
    n_frames = x.shape[0] // nfft
    if n_frames < 1:
        raise ValueError(f"need at least one frame of {nfft=} samples, got {x.shape[0]}")
    if with_flat and window != "hann":
        raise ValueError(f"with_flat needs the hann window, got {window=}")
    w = _spectrogram_window("boxcar" if with_flat else window, nfft)
    frames = x[: n_frames * nfft].astype(np.complex64, copy=False).reshape(n_frames, nfft)
    flat: F32 | None = None
    pairs: F32 | None = None
    flat_pairs: F32 | None = None
    if with_flat and nfft % 2 == 0:  # a block of frames at a time
        power, flat, pairs, flat_pairs = _flat_and_hann(frames, w, workers, with_pairs)
    else:
        spec = np.ascontiguousarray(
            scipy.fft.fft(frames * w, axis=1, overwrite_x=True, workers=workers)
        )
        if with_flat:
            hann = _hann_of_flat(spec)
            flat = _squared_magnitude(spec)
            spec = hann
        # squares in place on the interleaved (re, im) floats, then one strided addition:
        # the same re^2 + im^2, one pass and one temporary fewer than squaring the parts
        # apart
        power = _squared_magnitude(spec, _HANN_POWER_SCALE if with_flat else None)
        if nfft % 2:
            power = np.fft.fftshift(power, axes=1)
            flat = None if flat is None else np.fft.fftshift(flat, axes=1)
        if with_pairs:
            pairs = frame_pairs(power)
            flat_pairs = None if flat is None else frame_pairs(flat)
    return Spectrogram(
        power=power,
        sample_rate_hz=sample_rate_hz,
        nfft=nfft,
        window=window,
        pairs=pairs,
        flat=flat,
        flat_pairs=flat_pairs,
    )


@dataclass(frozen=True, slots=True)
class Psd:
    """One-sided Welch power spectral density of a real signal.

    psd: (n_bins,) float32 in (full scale)^2 / Hz; freqs_hz: (n_bins,) Hz.
    """

    psd: F32
    freqs_hz: NDArray[np.float64]
    segments: int

    @property
    def bin_hz(self) -> float:
        return float(self.freqs_hz[1] - self.freqs_hz[0])


def welch_psd(x: NDArray[Any], sample_rate_hz: float, nperseg: int, *, overlap: float = 0.5) -> Psd:
    """Hann-windowed Welch PSD of a real (n,) signal in single precision.

    If the signal is shorter than nperseg it is zero-padded to one segment.
    """
    data = np.asarray(x, dtype=np.float32)
    if data.ndim != 1:
        raise ValueError(f"x must be 1-D, got {data.shape=}")
    if data.shape[0] < nperseg:
        data = np.pad(data, (0, nperseg - data.shape[0]))
    hop = max(1, round(nperseg * (1.0 - overlap)))
    n_seg = 1 + (data.shape[0] - nperseg) // hop
    idx = np.arange(nperseg)[None, :] + hop * np.arange(n_seg)[:, None]
    w = _window("hann", nperseg)
    segs = data[idx] * w
    spec = scipy.fft.rfft(segs, axis=1, workers=-1)
    power = (spec.real * spec.real + spec.imag * spec.imag).mean(axis=0)
    scale = 1.0 / (sample_rate_hz * float(np.sum(w.astype(np.float64) ** 2)))
    psd = (power * scale).astype(np.float32)
    psd[1:-1] *= 2.0  # one-sided
    freqs = np.arange(psd.shape[0]) * (sample_rate_hz / nperseg)
    return Psd(psd=psd, freqs_hz=freqs, segments=n_seg)
