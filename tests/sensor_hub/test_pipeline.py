"""Stage 1 never raises on a frame that passed validation, whatever its contents; with an
acoustic modulation history it relabels a voice-like comb of one sensor."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.acoustic_history import HistoryRegistry
from sensor_hub.codec import decode_frame, encode_frame, encode_samples
from sensor_hub.errors import FrameError
from sensor_hub.pipeline import detect_frame
from sensor_hub.schemas import DATATYPE_SIZE, FrameHeader
from tests.detectors.test_acoustic import FS, pink
from tests.detectors.test_acoustic_history import gliding_voice

_KINDS = [("iq", "ci8"), ("iq", "ci16_le"), ("iq", "cf32_le"), ("audio", "ri16_le"),
          ("audio", "rf32_le"), ("psd", "rf32_le"), ("psd", "ri16_le")]  # fmt: skip


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind, datatype = draw(st.sampled_from(_KINDS))
    n = draw(st.sampled_from([1, 2, 3, 17, 256, 1000, 4096]))
    fields: dict[str, Any] = {
        "site": "s", "sensor_id": "x", "seq": 0, "kind": kind, "t0_ns": 0, "datatype": datatype,
        "num_samples": n,
        "sample_rate_hz": draw(st.sampled_from([1.0, 8000.0, 16000.0, 48000.0, 1e6, 2.5e7])),
    }  # fmt: skip
    if kind == "iq":
        fields["center_freq_hz"] = draw(st.sampled_from([0.0, 9e8, 2.437e9, 5.8e9]))
    if kind == "psd":
        bins = draw(st.sampled_from([1, 2, 64]))
        fields.update(num_channels=bins, num_bins=bins, freq_start_hz=2.4e9, bin_hz=1e5)
    if kind == "audio":
        fields["num_channels"] = draw(st.integers(1, 4))
    header = FrameHeader(**fields)
    size = header.payload_bytes
    pattern = draw(st.sampled_from(["zeros", "max", "random", "dc", "alternating"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if datatype.endswith("f32_le"):
        count = size // 4
        values = {
            "zeros": np.zeros(count),
            "max": np.full(count, 3.4e38),
            "random": rng.normal(0, draw(st.sampled_from([1e-30, 1e-3, 1.0, 1e30])), count),
            "dc": np.full(count, 0.5),
            "alternating": np.resize([1.0, -1.0], count),
        }[pattern]
        payload = values.astype("<f4").tobytes()
    else:
        payload = {
            "zeros": bytes(size),
            "max": b"\x7f" * size,
            "random": rng.bytes(size),
            "dc": b"\x10" * size,
            "alternating": bytes([0x7F, 0x80]) * (size // 2),
        }[pattern]
    assert len(payload) == header.num_samples * header.num_channels * DATATYPE_SIZE[datatype]
    return encode_frame(header, payload)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_detect_frame_never_raises_on_valid_frames(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except FrameError as exc:  # the contract may still refuse it (psd outside physical range)
        assert exc.reason == "out_of_range"
        return
    with np.errstate(all="ignore"):
        detections = detect_frame(frame)
        with_history = detect_frame(frame, HistoryRegistry())
    assert isinstance(detections, list)
    assert [d.signature for d in with_history] == [d.signature for d in detections]
    for d in detections:
        assert 0.0 <= d.confidence <= 1.0
        assert np.isfinite(d.snr_db)


def test_detect_frame_relabels_a_voice_comb_through_the_sensor_history() -> None:
    """One sensor's frames of a gliding, syllable-modulated voice: without a history
    stage 1 reports drone combs; with one, most become `voice_music` (kind other)."""
    rng = np.random.default_rng(7)
    history = HistoryRegistry()
    plain: list[str] = []
    kept: list[str] = []
    for seq in range(12):
        x = 0.08 * gliding_voice(120.0, rng) + 0.1 * pink(int(FS), rng)
        header = FrameHeader(
            site="s", sensor_id="mic", seq=seq, kind="audio", t0_ns=seq * 10**9,
            datatype="rf32_le", num_samples=x.shape[0], sample_rate_hz=FS,
        )  # fmt: skip
        frame = decode_frame(encode_samples(header, x.astype(np.float32)))
        plain += [d.kind for d in detect_frame(frame)]
        kept += [d.kind for d in detect_frame(frame, history)]
    assert plain.count("drone") >= 4
    assert kept.count("drone") <= 2 and kept.count("other") >= plain.count("drone") - 2
