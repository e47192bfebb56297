"""The per-sensor receiver-shape reference (`detectors.floor_track`): weak wide continuous
emitters against it, and no word from a missing or wrong history."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.floor_track import FloorTrack, FloorTrackConfig, wide_bands
from detectors.rf import detect_rf
from sensor_hub.codec import decode_frame, encode_samples
from sensor_hub.pipeline import detect_frame, rf_floor_tracks
from sensor_hub.schemas import FrameHeader
from sensor_hub.settings import FusionSettings
from tests.detectors.detector_signals import add_at, band_noise_burst, noise

F64 = NDArray[np.float64]
N_BINS = 1024
SIGMA = 0.045  # one bin's floor error over ~500 frames
KEY = (50_000_000, 1024, 5_800_000_000)
FS = 50e6
FC = 5800e6
FRAME = 500_000  # 10 ms


def receiver_shape() -> F64:
    """A passband with ripple and roll-off towards the edges, as a real receiver's."""
    f = np.linspace(-1.0, 1.0, N_BINS)
    return 1.0 + 0.08 * np.cos(9.0 * f) - 0.3 * f**8


def floors(rng: np.random.Generator, shape: F64, gain: float = 1.0) -> F64:
    return gain * shape * (1.0 + SIGMA * rng.standard_normal(N_BINS))


def learnt(rng: np.random.Generator, shape: F64, frames: int = 16) -> FloorTrack:
    track = FloorTrack()
    for _ in range(frames):
        assert track.observe(KEY, floors(rng, shape), SIGMA, np.zeros(N_BINS, bool)) == []
    return track


def test_noise_alone_stays_quiet_against_a_learnt_shape() -> None:
    rng = np.random.default_rng(1)
    shape = receiver_shape()
    track = learnt(rng, shape)
    found = [
        track.observe(KEY, floors(rng, shape), SIGMA, np.zeros(N_BINS, bool)) for _ in range(400)
    ]
    assert sum(len(f) for f in found) <= 1  # Pfa 1e-3 per frame (Bonferroni: less)


def test_a_band_three_per_cent_up_is_found_where_it_is() -> None:
    """390 bins raised by 3 % (in-band SNR -15 dB) on a rippled passband: z ≈ 3 % /
    (4.5 % sqrt(1/390 + 1/634)) ≈ 10 against a limit of about 4.9."""
    rng = np.random.default_rng(2)
    shape = receiver_shape()
    track = learnt(rng, shape)
    hits = 0
    for _ in range(20):
        per_bin = floors(rng, shape, gain=1.2)  # a gain drift under gain_step_db: the rest sets it
        per_bin[300:690] *= 1.03
        bands = track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool))
        if bands and abs(bands[0].lo - 300) <= 40 and abs(bands[0].hi - 690) <= 40:
            hits += 1
    assert hits >= 18


def test_nothing_is_said_before_the_reference_is_learnt() -> None:
    rng = np.random.default_rng(3)
    shape = receiver_shape()
    track = FloorTrack()
    for _ in range(FloorTrackConfig().min_frames):
        per_bin = floors(rng, shape)
        per_bin[300:690] *= 1.5
        assert track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool)) == []


def test_a_gain_step_or_a_retune_starts_the_reference_again() -> None:
    rng = np.random.default_rng(4)
    shape = receiver_shape()
    track = learnt(rng, shape)
    tilted = shape * np.linspace(0.9, 1.1, N_BINS)  # the passband changed with the gain
    for _ in range(FloorTrackConfig().min_frames - 1):
        assert (
            track.observe(KEY, floors(rng, tilted, gain=4.0), SIGMA, np.zeros(N_BINS, bool)) == []
        )
    track = learnt(rng, shape)
    other = (KEY[0], KEY[1], KEY[2] + 20_000_000)
    assert track.observe(other, floors(rng, tilted), SIGMA, np.zeros(N_BINS, bool)) == []
    assert track.frames(other) == 1 and track.frames(KEY) == 16  # each tuning its own


def test_a_wrong_history_says_nothing_and_is_forgotten() -> None:
    """A reference learnt on another receiver (ripple of ±1 dB): the frame does not fit,
    nothing is reported, and the reference is learnt anew."""
    rng = np.random.default_rng(5)
    f = np.linspace(-1.0, 1.0, N_BINS)
    track = learnt(rng, 1.0 + 0.25 * np.cos(23.0 * f))
    flat = np.ones(N_BINS)
    assert track.observe(KEY, floors(rng, flat), SIGMA, np.zeros(N_BINS, bool)) == []
    assert track.frames(KEY) == 1
    quiet = [
        track.observe(KEY, floors(rng, flat), SIGMA, np.zeros(N_BINS, bool)) for _ in range(100)
    ]
    assert sum(len(q) for q in quiet) <= 1


def test_busy_bins_are_neither_reported_nor_learnt() -> None:
    rng = np.random.default_rng(6)
    shape = receiver_shape()
    track = learnt(rng, shape)
    busy = np.zeros(N_BINS, bool)
    busy[500:540] = True
    for _ in range(30):
        per_bin = floors(rng, shape)
        per_bin[500:540] *= 100.0  # a strong carrier the caller found
        assert track.observe(KEY, per_bin, SIGMA, busy) == []
    per_bin = floors(rng, shape)
    per_bin[300:690] *= 1.03
    assert track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool))  # still the old shape


def test_a_shape_wrong_at_the_edges_is_noticed() -> None:
    """A reference learnt with a deep edge roll-off, then a flat receiver: the edges are
    no emitter; the frame does not fit, nothing is said, the shape is learnt anew."""
    rng = np.random.default_rng(9)
    f = np.linspace(-1.0, 1.0, N_BINS)
    for p in (8, 32):
        track = learnt(rng, 1.0 - 0.75 * np.abs(f) ** p)
        flat = np.ones(N_BINS)
        assert track.observe(KEY, floors(rng, flat), SIGMA, np.zeros(N_BINS, bool)) == []
        assert track.frames(KEY) == 1  # learnt anew
        said = [
            track.observe(KEY, floors(rng, flat), SIGMA, np.zeros(N_BINS, bool)) for _ in range(30)
        ]
        assert sum(len(x) for x in said) == 0


def test_a_lone_bin_changing_is_no_wide_band() -> None:
    """The DC spike doubling, or a narrow line coming on: `carriers` and `rf_lines`
    business, not a 16-bin band."""
    rng = np.random.default_rng(10)
    shape = receiver_shape()
    spike = shape.copy()
    spike[512] *= 100.0
    track = learnt(rng, spike)
    for _ in range(50):
        per_bin = floors(rng, spike)
        per_bin[512] *= 2.0
        per_bin[200] *= 1.6  # a new line, 2 dB
        assert track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool)) == []


def test_a_dropout_frame_keeps_the_reference() -> None:
    rng = np.random.default_rng(11)
    shape = receiver_shape()
    track = learnt(rng, shape)
    assert track.observe(KEY, np.zeros(N_BINS), SIGMA, np.zeros(N_BINS, bool)) == []
    assert track.observe(KEY, np.full(N_BINS, np.nan), SIGMA, np.zeros(N_BINS, bool)) == []
    assert track.frames(KEY) == 16
    per_bin = floors(rng, shape)
    per_bin[300:690] *= 1.03
    assert track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool))


def test_an_emitter_coming_on_slowly_is_not_learnt_at_once() -> None:
    """A band rising to 3 % over 40 frames (an approaching video link): still seen."""
    rng = np.random.default_rng(12)
    shape = receiver_shape()
    track = learnt(rng, shape)
    seen = 0
    for k in range(40):
        per_bin = floors(rng, shape)
        per_bin[300:690] *= 1.0 + 0.03 * (k + 1) / 40
        seen += bool(track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool)))
    per_bin = floors(rng, shape)
    per_bin[300:690] *= 1.03
    assert track.observe(KEY, per_bin, SIGMA, np.zeros(N_BINS, bool))
    assert seen >= 10


def test_wide_bands_needs_a_usable_scatter() -> None:
    per_bin = np.ones(N_BINS)
    assert wide_bands(per_bin, 0.0, per_bin, 16, FloorTrackConfig()) == []
    assert wide_bands(per_bin, 1.5, per_bin, 16, FloorTrackConfig()) == []


def _video(rng: np.random.Generator, snr_db: float) -> NDArray[np.complex64]:
    x = noise(FRAME, rng)
    add_at(x, band_noise_burst(FRAME / FS, 19e6, snr_db, FS, rng), 0, -8e6, FS)
    return x


def test_detect_rf_finds_faint_video_once_the_sensor_has_run() -> None:
    """A 19 MHz continuous video link of flat spectrum at in-band -16 dB (the ideal energy
    detector over 10 ms x 19 MHz needs about -20 dB at Pfa 1e-3; one bin's floor scatter
    of ~5 % puts z near 7 here, against a limit near 4.9): with 16 noise frames learnt first
    it is `fpv_analog_video` in at least 9 of 10 frames, under the alert cut (a weak lone
    emitter); without a history, never (the frame's own floors show it from about -10 dB)."""
    rng = np.random.default_rng(7)
    track = FloorTrack()
    for _ in range(16):
        assert detect_rf(noise(FRAME, rng), FS, FC, floor_track=track) == []
    cut = FusionSettings().min_confidence
    with_track, without = 0, 0
    for _ in range(10):
        x = _video(rng, -16.0)
        found = detect_rf(x, FS, FC, floor_track=track)
        with_track += any(d.signature == "fpv_analog_video" for d in found)
        assert all(d.confidence < cut for d in found)
        without += any(d.signature == "fpv_analog_video" for d in detect_rf(x, FS, FC))
    assert with_track >= 9
    assert without == 0


def test_the_pipeline_keeps_one_reference_per_sensor() -> None:
    rng = np.random.default_rng(8)
    floors_ = rf_floor_tracks()

    def frame(sensor: str, seq: int, x: NDArray[np.complex64]) -> list[str]:
        header = FrameHeader(
            site="s", sensor_id=sensor, seq=seq, kind="iq", t0_ns=seq * 10**7,
            datatype="cf32_le", num_samples=x.shape[0], sample_rate_hz=FS, center_freq_hz=FC,
        )  # fmt: skip
        return [
            d.signature
            for d in detect_frame(decode_frame(encode_samples(header, x)), None, floors_)
        ]

    for seq in range(12):
        assert frame("a", seq, noise(FRAME, rng)) == []
    video = _video(rng, -16.0)
    assert "fpv_analog_video" in frame("a", 12, video)
    assert frame("b", 0, video) == []  # another sensor: no history yet


def test_a_wrong_history_never_raises_an_alert_in_detect_rf() -> None:
    """A reference learnt with a receiver rolling off 10 dB at its span edges, then a
    flat receiver (same tuning), at 5.8 GHz (video band) and at an LTE uplink: no
    detection at stage 2's alert cut, even one frame before the shape is learnt anew."""
    cut = FusionSettings().min_confidence
    for fc in (FC, 1747.5e6):
        rng = np.random.default_rng(13)
        track = FloorTrack()
        edge = np.abs(np.fft.fftfreq(FRAME, 1.0 / FS)) / (0.5 * FS)
        roll = 10 ** (-1.0 * edge**8)
        for _ in range(16):
            x = np.fft.ifft(np.fft.fft(noise(FRAME, rng)) * np.sqrt(roll)).astype(np.complex64)
            detect_rf(x, FS, fc, floor_track=track)
        for _ in range(6):
            found = detect_rf(noise(FRAME, rng), FS, fc, floor_track=track)
            assert all(d.confidence < cut for d in found), found


def test_a_strong_carrier_coming_on_is_no_wide_band() -> None:
    """A +40 dB tone switching on: its rectangular leakage lifts the flat floor over
    tens of bins, which is its own, not a wide emitter's."""
    rng = np.random.default_rng(14)
    track = FloorTrack()
    for _ in range(16):
        detect_rf(noise(FRAME, rng), FS, FC, floor_track=track)
    t = np.arange(FRAME)
    tone = (0.03 * np.exp(2j * np.pi * 7.31e6 * t / FS)).astype(np.complex64)
    for _ in range(6):
        found = detect_rf(noise(FRAME, rng) + tone, FS, FC, floor_track=track)
        assert not any(d.signature == "fpv_analog_video" for d in found), found
