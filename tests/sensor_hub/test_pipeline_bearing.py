"""Acoustic arrays: the frame header's `mic_offsets_m` gives drone detections a bearing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_hub.codec import decode_frame, encode_frame, samples_to_payload
from sensor_hub.errors import FrameError
from sensor_hub.pipeline import detect_frame
from sensor_hub.schemas import FrameHeader
from simulator.commands import load_scenario
from simulator.scenario import Scenario
from tests.detectors.test_bearing import FS, _az_error


def _header(**kw: object) -> FrameHeader:
    base: dict[str, object] = dict(
        site="s", sensor_id="array-1", seq=0, kind="audio", t0_ns=0, sample_rate_hz=FS,
        datatype="rf32_le", num_samples=FS, num_channels=4, full_scale_db_spl=120.0,
    )  # fmt: skip
    base.update(kw)
    return FrameHeader.model_validate(base)


@pytest.fixture(scope="module")
def drone_drop() -> Scenario:
    return load_scenario("simulator/scenarios/drone_drop.yaml")


def _true_azimuth(sc: Scenario, sensor: str, t_s: float) -> float:
    src = sc.acoustic_sources[0]
    centre = np.asarray(sc.collector(sensor).spec.position)
    pos = np.asarray(src.position_m(t_s))
    return math.degrees(math.atan2(pos[0] - centre[0], pos[1] - centre[1])) % 360.0


def test_simulated_array_reports_the_drones_bearing(drone_drop: Scenario) -> None:
    """drone_drop's 4-microphone yard array (0.1 m radius) hears the drone hovering 84 m
    away (frames 45-79 s); the bearing rides in the Detection through the wire format.
    Line SNR there is ~5 dB, so single frames may be missed: judged over the hover."""
    frames = range(45, 80)
    found, within, elevations = 0, 0, []
    for k in frames:
        frame = decode_frame(drone_drop.frame_bytes("mic-yard-array", k, start_time_ns=0))
        assert frame.header.mic_offsets_m is not None and len(frame.header.mic_offsets_m) == 4
        dets = detect_frame(frame)
        assert [d.kind for d in dets] in ([], ["drone"])
        if not dets:
            continue
        found += 1
        d = dets[0]
        truth = _true_azimuth(drone_drop, "mic-yard-array", k + 0.5)
        within += int(d.bearing_deg is not None and _az_error(d.bearing_deg, truth) <= 5.0)
        if d.elevation_deg is not None:
            elevations.append(d.elevation_deg)
    assert found >= 0.9 * len(frames)
    assert within >= 0.9 * found
    assert 10.0 <= float(np.median(elevations)) <= 40.0  # 38 m up, 84 m off


def test_no_geometry_no_bearing(drone_drop: Scenario) -> None:
    frame = decode_frame(drone_drop.frame_bytes("mic-yard-array", 58, start_time_ns=0))
    h = frame.header.model_copy(update={"mic_offsets_m": None})
    dets = detect_frame(decode_frame(encode_frame(h, samples_to_payload(frame.samples, h))))
    assert [d.kind for d in dets] == ["drone"] and dets[0].bearing_deg is None


def test_mic_offsets_are_validated() -> None:
    with pytest.raises(ValueError, match="one \\[x, y\\]"):
        _header(mic_offsets_m=[(0.0, 0.0, 0.0)] * 3)
    with pytest.raises(ValueError, match="audio frames only"):
        _header(kind="iq", datatype="cf32_le", num_channels=1, center_freq_hz=1e9,
                mic_offsets_m=[(0.0, 0.0)])  # fmt: skip
    good = _header(mic_offsets_m=[(0.1, 0.0), (0.0, 0.1), (-0.1, 0.0), (0.0, -0.1)])
    wire = encode_frame(good, b"\0" * good.payload_bytes)
    bad = wire.replace(b'"mic_offsets_m":[[0.1', b'"mic_offsets_m":[[1e9', 1)
    with pytest.raises(FrameError) as err:
        decode_frame(bad)
    assert err.value.reason == "invalid_field"
