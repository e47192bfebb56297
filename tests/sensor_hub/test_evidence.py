"""Evidence media: spectrogram PNGs of IQ and PSD frames, WAV clips of audio."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from scipy.io import wavfile

from sensor_hub.evidence import (
    MAX_CLIP_S,
    iq_spectrogram_png,
    psd_spectrogram_png,
    wav_clip,
)
from sensor_hub.png import PNG_SIGNATURE, colormap, decode_png, encode_png, png_size


def tone_in_noise(n: int, fs: float, tone_hz: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    noise = (rng.normal(size=n) + 1j * rng.normal(size=n)) * 1e-4
    return (0.1 * np.exp(2j * np.pi * tone_hz * t) + noise).astype(np.complex64)


def test_png_codec_round_trips_and_checks_its_chunks() -> None:
    rgb = colormap(np.linspace(0, 1, 12).reshape(3, 4))
    data = encode_png(rgb)
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(data) == (4, 3)
    assert np.array_equal(decode_png(data), rgb)
    # every chunk's CRC is right (a viewer would reject the image otherwise)
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        body = data[pos + 4 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(
            body
        )
        pos += 12 + length
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(20))


def test_iq_spectrogram_puts_a_tone_in_its_row_and_states_the_extent() -> None:
    fs, center = 2e6, 898e6
    tone_hz = 500e3  # baseband offset: three quarters of the way up the band
    image = iq_spectrogram_png(tone_in_noise(100_000, fs, tone_hz), fs, center)
    assert png_size(image.png) == (image.width, image.height) == (390, 256)
    assert image.duration_s == pytest.approx(0.05)
    assert (image.freq_min_hz, image.freq_max_hz) == (center - fs / 2, center + fs / 2)
    pixels = decode_png(image.png).astype(float).sum(axis=(1, 2))  # brightness per row
    row_from_top = int(np.argmax(pixels))
    expected = image.height - 1 - round((tone_hz + fs / 2) / fs * image.height)
    assert abs(row_from_top - expected) <= 1
    # the tone is the top of the colour scale: 0.1 amplitude = -20 dBFS, on a bin centre;
    # Hann leaks 1/6 of it into each neighbour (bin weights 1/4, 1/16, 1/16)
    assert image.top_db == pytest.approx(-20.0 + 10 * np.log10(2 / 3), abs=0.05)


def test_iq_spectrogram_of_a_long_frame_is_at_most_1024_wide_and_fits_its_cap() -> None:
    rng = np.random.default_rng(1)
    iq = ((rng.normal(size=500_000) + 1j * rng.normal(size=500_000)) * 0.01).astype(np.complex64)
    image = iq_spectrogram_png(iq, 25e6, 2.437e9)
    assert image.width <= 1024 and image.height == 256
    assert len(image.png) <= 1024 * 1024
    small = iq_spectrogram_png(iq, 25e6, 2.437e9, max_bytes=100_000)
    assert len(small.png) <= 100_000 and small.width < image.width
    assert png_size(small.png) == (small.width, small.height)


def test_iq_spectrogram_of_several_channels_and_a_short_frame() -> None:
    two = np.stack([tone_in_noise(4096, 1e6, 1e5), tone_in_noise(4096, 1e6, 1e5, seed=1)])
    image = iq_spectrogram_png(two, 1e6, 100e6)
    assert image.height == 256 and png_size(image.png)[1] == 256
    short = iq_spectrogram_png(tone_in_noise(200, 1e6, 0.0), 1e6, 100e6)
    assert short.height == 16  # nfft shrinks so that the frame gives several columns
    assert short.width >= 64  # and few columns are stretched to a readable width
    with pytest.raises(ValueError, match=r"x\.shape"):
        iq_spectrogram_png(np.zeros(8, np.complex64), 1e6, 100e6)


def test_psd_waterfall_keeps_a_narrow_carrier_when_bins_are_pooled() -> None:
    psd = np.full((20, 2048), -100.0, dtype=np.float32)
    psd[:, 1500] = -40.0  # one bin carrier
    image = psd_spectrogram_png(psd, 10.0, 2.4e9, 50e3)
    assert image.height == 512 and image.width >= 64
    assert image.duration_s == pytest.approx(2.0)
    assert image.freq_max_hz == pytest.approx(2.4e9 + 2048 * 50e3)
    pixels = decode_png(image.png).astype(float).sum(axis=(1, 2))
    assert int(np.argmax(pixels)) == 511 - 1500 // 4


@pytest.mark.parametrize(
    ("seconds", "channels", "expected_s"),
    [(3.0, 1, 3.0), (14.0, 1, MAX_CLIP_S), (12.0, 4, MAX_CLIP_S)],
)
def test_wav_clip_reads_back_with_rate_length_and_level(
    seconds: float, channels: int, expected_s: float
) -> None:
    fs = 16_000
    t = np.arange(int(seconds * fs)) / fs
    audio = np.stack([0.5 * np.sin(2 * np.pi * (200 + 100 * c) * t) for c in range(channels)])
    clip = wav_clip(audio.astype(np.float32), fs)
    rate, pcm = wavfile.read(io.BytesIO(clip.wav))
    assert rate == fs and clip.sample_rate_hz == fs
    assert pcm.dtype == np.int16
    assert pcm.shape[0] == int(expected_s * fs) and clip.duration_s == pytest.approx(expected_s)
    assert (pcm.shape[1] if pcm.ndim == 2 else 1) == channels == clip.channels
    assert clip.offset_s == pytest.approx(seconds - expected_s)
    # the last samples are kept: the clip ends with the newest audio
    first = pcm if pcm.ndim == 1 else pcm[:, 0]
    assert np.abs(first / 32767.0 - audio[0, -len(first) :]).max() < 1e-4


def test_wav_clip_drops_channels_then_seconds_to_fit_its_cap_and_clips_full_scale() -> None:
    fs = 48_000
    audio = np.full((8, 10 * fs), 2.0, dtype=np.float32)  # beyond full scale
    clip = wav_clip(audio, fs, max_bytes=500_000)
    rate, pcm = wavfile.read(io.BytesIO(clip.wav))
    assert len(clip.wav) <= 500_000
    assert clip.channels == 1 and pcm.ndim == 1 and rate == fs
    assert pcm.shape[0] == (500_000 - 44) // 2
    assert int(pcm.max()) == 32767
    with pytest.raises(ValueError, match=r"x\.shape"):
        wav_clip(np.zeros((1, 0), np.float32), fs)
