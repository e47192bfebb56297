"""Spectrogram PNGs without matplotlib: numpy STFT, colour and PNG codec from `sensor_hub.png`.

Images have time on the x axis (left to right) and frequency on the y axis (low at the
bottom; for IQ the full band, −fs/2 at the bottom, +fs/2 at the top). Colour spans
`dynamic_range_db` below the image's 99.9th-percentile level. No text is drawn: the file
name says what the image shows.

`acoustic_emission_pngs(capture_dir)` adds one audio spectrogram per acoustic emission of
a recording (`record --plots` calls it); `python -m simulator.plots SRC_DIR DEST_DIR`
copies PNGs shrunk to at most 800 × 300 (the gallery, simulator/gallery/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sensor_hub.png import colormap, decode_png, encode_png

__all__ = [
    "acoustic_emission_pngs",
    "audio_spectrogram_png",
    "colormap",
    "decode_png",
    "encode_png",
    "fit_png",
    "iq_spectrogram_png",
    "power_png",
    "spectrogram_power",
]


def _shrink_columns(power: NDArray[np.float64], max_width: int) -> NDArray[np.float64]:
    """Average groups of columns so that the image is at most max_width wide."""
    n = power.shape[1]
    group = -(-n // max_width)
    if group <= 1:
        return power
    pad = (-n) % group
    if pad:
        power = np.concatenate([power, power[:, -1:].repeat(pad, axis=1)], axis=1)
    return np.asarray(power.reshape(power.shape[0], -1, group).mean(axis=2), dtype=np.float64)


def spectrogram_power(
    x: NDArray[np.complexfloating] | NDArray[np.floating], nfft: int, hop: int
) -> NDArray[np.float64]:
    """(n_freq, n_time) power, Hann window; complex input -> fftshifted full band."""
    if len(x) < nfft:
        x = np.concatenate([x, np.zeros(nfft - len(x), dtype=x.dtype)])
    n_frames = 1 + (len(x) - nfft) // hop
    idx = np.arange(nfft)[np.newaxis, :] + hop * np.arange(n_frames)[:, np.newaxis]
    segs = x[idx] * np.hanning(nfft)
    if np.iscomplexobj(x):
        spec = np.fft.fftshift(np.fft.fft(segs, axis=1), axes=1)
    else:
        spec = np.fft.rfft(segs, axis=1)
    return np.asarray(np.abs(spec) ** 2, dtype=np.float64).T


def power_png(
    path: Path, power: NDArray[np.float64], *, dynamic_range_db: float = 60.0,
    max_width: int = 1024,
) -> Path:  # fmt: skip
    db = 10.0 * np.log10(_shrink_columns(power, max_width) + 1e-20)
    top = float(np.percentile(db, 99.9))
    img = colormap((db - (top - dynamic_range_db)) / dynamic_range_db)[::-1]  # low f at bottom
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(np.ascontiguousarray(img)))
    return path


def iq_spectrogram_png(
    path: Path, iq: NDArray[np.complexfloating], sample_rate_hz: float, *, nfft: int = 256
) -> Path:
    """Full-band spectrogram of one IQ snapshot (`sample_rate_hz` kept for the signature)."""
    del sample_rate_hz  # the band is always −fs/2 .. +fs/2; no axis labels are drawn
    return power_png(path, spectrogram_power(iq, nfft, nfft // 2))


def audio_spectrogram_png(
    path: Path, audio: NDArray[np.floating], sample_rate_hz: float, *,
    nfft: int = 4096, max_freq_hz: float = 2000.0,
) -> Path:  # fmt: skip
    """0 .. max_freq_hz of a mono signal (rotor combs sit below 2 kHz), ≈4 Hz bins at 16 kHz."""
    power = spectrogram_power(audio.astype(np.float64), nfft, nfft // 4)
    keep = int(np.ceil(max_freq_hz * nfft / sample_rate_hz)) + 1
    return power_png(path, power[:keep], dynamic_range_db=50.0)


def _block_mean(img: NDArray[np.float64], axis: int, limit: int) -> NDArray[np.float64]:
    n = img.shape[axis]
    group = -(-n // limit)
    if group <= 1:
        return img
    keep = (n // group) * group
    img = np.take(img, np.arange(keep), axis=axis)
    shape = list(img.shape)
    shape[axis : axis + 1] = [keep // group, group]
    return np.asarray(img.reshape(shape).mean(axis=axis + 1), dtype=np.float64)


def fit_png(src: Path, dest: Path, *, max_width: int = 800, max_height: int = 300) -> Path:
    """Copy a PNG written by `encode_png`, averaged down to fit max_width × max_height."""
    img = decode_png(src.read_bytes()).astype(np.float64)
    img = _block_mean(_block_mean(img, 1, max_width), 0, max_height)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(encode_png(np.asarray(np.round(img), dtype=np.uint8)))
    return dest


def acoustic_emission_pngs(
    capture_dir: Path, *, max_s: float = 10.0, max_freq_hz: float = 2000.0
) -> list[Path]:
    """One spectrogram per (microphone, acoustic emission) of a recording made by `record`:
    plots/<mic>_<signature>_<emitter_id>.png over the emission's interval (at most max_s)
    delayed by the sound's travel time from its first track point, 0 .. max_freq_hz, ≈600
    columns. Microphones are those with an SNR for the emission."""
    from scipy.io import wavfile

    truth = json.loads((capture_dir / "truth.json").read_text())
    mics = {s["sensor_id"]: s for s in truth["sensors"] if s["modality"] == "acoustic"}
    out: list[Path] = []
    for em in truth["emissions"]:
        for mic in sorted(set(mics) & set(em["snr_db"])):
            src = np.asarray(em["track"][0][1:], dtype=np.float64)
            delay_s = float(np.linalg.norm(src - np.asarray(mics[mic]["position"]))) / 343.0
            side = json.loads((capture_dir / f"{mic}.json").read_text())
            rate, pcm = wavfile.read(capture_dir / f"{mic}.wav")
            mono = (pcm if pcm.ndim == 1 else pcm[:, 0]).astype(np.float64)
            t0 = float(side.get("t0_s", 0.0)) - delay_s
            a = max(0, round((em["start_s"] - t0) * rate))
            b = min(len(mono), round((min(em["end_s"], em["start_s"] + max_s) - t0) * rate))
            nfft = 2048
            if b - a < nfft:
                continue
            hop = max(16, (b - a - nfft) // 600)
            power = spectrogram_power(mono[a:b], nfft, hop)
            keep = int(np.ceil(max_freq_hz * nfft / rate)) + 1
            path = capture_dir / "plots" / f"{mic}_{em['signature']}_{em['emitter_id']}.png"
            out.append(power_png(path, power[:keep], dynamic_range_db=50.0))
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m simulator.plots SRC_DIR DEST_DIR`: every SRC_DIR/*.png fitted to 800 × 300."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m simulator.plots SRC_DIR DEST_DIR", file=sys.stderr)
        return 2
    src, dest = Path(args[0]), Path(args[1])
    for png in sorted(src.glob("*.png")):
        print(fit_png(png, dest / png.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
