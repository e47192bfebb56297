"""Stage 1 throughput: decode an SHF1 frame and run its detector, vs a bare FFT baseline.

    python bench/stage1_throughput.py --repeats 20

Frames: RF iq 2.4 GHz 25 MS/s x 20 ms ci16_le (500k samples) with a few bursts; GSM
2 MS/s x 50 ms ci16_le with a burst train; audio 16 kHz x 1 s ri16_le mono with a rotor
comb. Baseline: scipy.fft windowed FFT + squared magnitude over the same samples.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from detectors.acoustic import detect_rotor
from detectors.rf import detect_rf
from sensor_hub.codec import decode_frame, encode_samples
from sensor_hub.schemas import FrameHeader


def _noise(n: int, rng: np.random.Generator, power: float) -> NDArray[np.complex64]:
    s = np.sqrt(power / 2)
    out: NDArray[np.complex64] = (
        s * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    ).astype(np.complex64)
    return out


def _band_burst(
    x: NDArray[np.complex64],
    start: int,
    length: int,
    offset_hz: float,
    bandwidth_hz: float,
    amplitude: float,
    fs: float,
    rng: np.random.Generator,
) -> None:
    spec = rng.standard_normal(length) + 1j * rng.standard_normal(length)
    f = np.fft.fftfreq(length, 1 / fs)
    spec[np.abs(f) > bandwidth_hz / 2] = 0
    burst = np.fft.ifft(spec)
    burst *= amplitude / np.sqrt(np.mean(np.abs(burst) ** 2))
    n = np.arange(start, start + length)
    x[start : start + length] += (burst * np.exp(2j * np.pi * offset_hz * n / fs)).astype(
        np.complex64
    )


def rf_24_frame(rng: np.random.Generator) -> bytes:
    fs, n = 25e6, 500_000
    x = _noise(n, rng, 1e-4)
    for i in range(8):  # hopping ~0.8 MHz packets, 1.5 ms every 2 ms
        _band_burst(
            x,
            int(i * 2e-3 * fs) + 500,
            int(1.507e-3 * fs),
            (-9.6 + 2 * (i // 4) * 3) * 1e6,
            812.5e3,
            0.01,
            fs,
            rng,
        )
    _band_burst(x, int(17e-3 * fs), int(0.6e-3 * fs), 0.0, 16.6e6, 0.05, fs, rng)  # Wi-Fi
    header = FrameHeader(
        site="bench",
        sensor_id="rf24",
        seq=0,
        kind="iq",
        t0_ns=0,
        sample_rate_hz=fs,
        datatype="ci16_le",
        num_samples=n,
        center_freq_hz=2437e6,
        full_scale_dbm=-10.0,
    )
    return encode_samples(header, x)


def gsm_frame(rng: np.random.Generator) -> bytes:
    fs, n = 2e6, 100_000
    x = _noise(n, rng, 1e-4)
    for i in range(10):
        _band_burst(
            x, int((1e-3 + i * 4.615e-3) * fs), int(577e-6 * fs), 300e3, 250e3, 0.01, fs, rng
        )
    header = FrameHeader(
        site="bench",
        sensor_id="gsm",
        seq=0,
        kind="iq",
        t0_ns=0,
        sample_rate_hz=fs,
        datatype="ci16_le",
        num_samples=n,
        center_freq_hz=897.5e6,
    )
    return encode_samples(header, x)


def audio_frame(rng: np.random.Generator) -> bytes:
    fs = 16_000
    t = np.arange(fs) / fs
    # four rotors a few per cent apart: each harmonic is a cluster of lines, as in flight
    x = sum(
        0.5
        * 10 ** (-max(0, k - 3) * 4 / 20)
        * np.sin(2 * np.pi * 185 * (1 + d) * k * t + k * d * 50)
        for k in range(1, 9)
        for d in (-0.02, -0.007, 0.007, 0.02)
    )
    x = 0.02 * x + 0.02 * rng.standard_normal(fs)
    header = FrameHeader(
        site="bench",
        sensor_id="mic",
        seq=0,
        kind="audio",
        t0_ns=0,
        sample_rate_hz=fs,
        datatype="ri16_le",
        num_samples=fs,
    )
    return encode_samples(header, x[np.newaxis, :].astype(np.float32))


def stage1(data: bytes) -> int:
    frame = decode_frame(data)
    samples, header = frame.samples, frame.header
    if header.kind == "iq":
        assert header.center_freq_hz is not None
        return len(
            detect_rf(
                samples[0],
                header.sample_rate_hz,
                header.center_freq_hz,
                full_scale_dbm=header.full_scale_dbm,
            )
        )
    return len(detect_rotor(samples, header.sample_rate_hz))


def baseline(samples: NDArray[Any], nfft: int) -> float:
    x = samples.reshape(-1)
    frames = x[: (x.shape[0] // nfft) * nfft].reshape(-1, nfft)
    w = np.hanning(nfft).astype(np.float32)
    if np.iscomplexobj(frames):
        spec = scipy.fft.fft(frames * w, axis=1)
    else:
        spec = scipy.fft.rfft(frames * w, axis=1)
    return float((spec.real**2 + spec.imag**2).sum())


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (plans, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = [
        ("rf 2.4 GHz 25 MS/s x 20 ms", rf_24_frame(rng), 512),
        ("gsm 2 MS/s x 50 ms", gsm_frame(rng), 64),
        ("audio 16 kHz x 1 s", audio_frame(rng), 8192),
    ]
    print(
        f"{'frame':28s} {'dets':>4s} {'median ms':>10s} {'frames/s':>9s} {'Msamples/s':>11s} "
        f"{'fft ms':>8s} {'ratio':>6s}"
    )
    for name, data, nfft in cases:
        samples = decode_frame(data).samples
        n = samples.shape[-1]
        dets = stage1(data)
        t_stage = median_time(functools.partial(stage1, data), args.repeats)
        t_fft = median_time(functools.partial(baseline, samples, nfft), args.repeats)
        print(
            f"{name:28s} {dets:4d} {t_stage * 1e3:10.2f} {1 / t_stage:9.1f} "
            f"{n / t_stage / 1e6:11.2f} {t_fft * 1e3:8.2f} {t_stage / t_fft:6.1f}"
        )


if __name__ == "__main__":
    main()
