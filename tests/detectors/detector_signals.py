"""Test-signal synthesis for the detector tests (independent of `simulator/`).

All generators return complex64 baseband at full scale 1.0. Noise is complex white
Gaussian of total power `noise_power` per sample, so a signal of bandwidth B has in-band
SNR = signal power / (noise_power * B / sample_rate_hz).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

C64 = NDArray[np.complex64]

GSM_SYMBOL_RATE_HZ = 270_833.0
GSM_FRAME_S = 4.615e-3


def noise(n: int, rng: np.random.Generator, noise_power: float = 1e-4) -> C64:
    scale = np.sqrt(noise_power / 2.0)
    return (scale * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)


def _scale_to_snr(
    x: NDArray[np.complexfloating],
    snr_db: float,
    bandwidth_hz: float,
    sample_rate_hz: float,
    noise_power: float,
) -> NDArray[np.complex128]:
    in_band_noise = noise_power * bandwidth_hz / sample_rate_hz
    target = in_band_noise * 10.0 ** (snr_db / 10.0)
    return x * np.sqrt(target / np.mean(np.abs(x) ** 2))


def add_at(
    frame: C64,
    burst: NDArray[np.complexfloating],
    start: int,
    offset_hz: float,
    sample_rate_hz: float,
) -> None:
    """Mix `burst` to `offset_hz` and add it into `frame` from sample `start` (in place)."""
    stop = min(frame.shape[0], start + burst.shape[0])
    n = np.arange(start, stop)
    frame[start:stop] += (
        burst[: stop - start] * np.exp(2j * np.pi * offset_hz * n / sample_rate_hz)
    ).astype(np.complex64)


def band_noise_burst(
    duration_s: float,
    bandwidth_hz: float,
    snr_db: float,
    sample_rate_hz: float,
    rng: np.random.Generator,
    noise_power: float = 1e-4,
) -> NDArray[np.complex128]:
    """OFDM-like burst: Gaussian with a flat spectrum `bandwidth_hz` wide, centred at 0."""
    n = round(duration_s * sample_rate_hz)
    spec = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    f = np.fft.fftfreq(n, 1.0 / sample_rate_hz)
    spec[np.abs(f) > bandwidth_hz / 2] = 0.0
    x = np.fft.ifft(spec)
    return _scale_to_snr(x, snr_db, bandwidth_hz, sample_rate_hz, noise_power)


def gmsk_burst(
    duration_s: float,
    snr_db: float,
    sample_rate_hz: float,
    rng: np.random.Generator,
    noise_power: float = 1e-4,
) -> NDArray[np.complex128]:
    """GMSK (BT 0.3, 270.833 kb/s) burst with random bits; SNR over a 250 kHz band."""
    n = round(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    bits = rng.integers(0, 2, int(duration_s * GSM_SYMBOL_RATE_HZ) + 2) * 2 - 1
    nrz = bits[np.floor(t * GSM_SYMBOL_RATE_HZ).astype(int)].astype(float)
    sigma_s = np.sqrt(np.log(2.0)) / (2 * np.pi * 0.3) / GSM_SYMBOL_RATE_HZ
    half = int(np.ceil(3 * sigma_s * sample_rate_hz))
    tk = np.arange(-half, half + 1) / sample_rate_hz
    g = np.exp(-0.5 * (tk / sigma_s) ** 2)
    freq = np.convolve(nrz, g / g.sum(), mode="same") * GSM_SYMBOL_RATE_HZ / 4.0
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate_hz
    return _scale_to_snr(np.exp(1j * phase), snr_db, 250e3, sample_rate_hz, noise_power)


def lora_packet(
    duration_s: float,
    bandwidth_hz: float,
    spreading_factor: int,
    snr_db: float,
    sample_rate_hz: float,
    rng: np.random.Generator,
    noise_power: float = 1e-4,
) -> NDArray[np.complex128]:
    """LoRa-like packet: up-chirps over `bandwidth_hz` with random symbol offsets."""
    n = round(duration_s * sample_rate_hz)
    symbol_s = 2**spreading_factor / bandwidth_hz
    t = np.arange(n) / sample_rate_hz
    sym = np.floor(t / symbol_s).astype(int)
    offsets = rng.integers(0, 2**spreading_factor, sym.max() + 1) / 2**spreading_factor
    u = (t / symbol_s - sym + offsets[sym]) % 1.0  # position in the chirp, 0..1
    inst_freq = (u - 0.5) * bandwidth_hz
    phase = 2 * np.pi * np.cumsum(inst_freq) / sample_rate_hz
    return _scale_to_snr(np.exp(1j * phase), snr_db, bandwidth_hz, sample_rate_hz, noise_power)


def gsm_call(
    n: int,
    sample_rate_hz: float,
    bursts: int,
    snr_db: float,
    offset_hz: float,
    rng: np.random.Generator,
    first_s: float = 1e-3,
    noise_power: float = 1e-4,
) -> C64:
    """Noise plus `bursts` 577 µs GMSK bursts every 4.615 ms at `offset_hz`."""
    frame = noise(n, rng, noise_power)
    for i in range(bursts):
        start = round((first_s + i * GSM_FRAME_S) * sample_rate_hz)
        b = gmsk_burst(577e-6, snr_db, sample_rate_hz, rng, noise_power)
        add_at(frame, b, start, offset_hz, sample_rate_hz)
    return frame
