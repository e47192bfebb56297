from __future__ import annotations

import base64
import contextlib
import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_hub.codec import (
    Limits,
    decode_frame,
    decode_json_frame,
    encode_frame,
    encode_header,
    encode_samples,
    samples_to_payload,
)
from sensor_hub.errors import FrameError
from sensor_hub.schemas import DATATYPE_SIZE, FrameHeader


def header(**over: Any) -> FrameHeader:
    base: dict[str, Any] = dict(
        site="hmp-a",
        sensor_id="rf-1",
        seq=7,
        boot_id="b1",
        kind="iq",
        t0_ns=1_700_000_000_000_000_000,
        sample_rate_hz=1e6,
        datatype="cf32_le",
        num_samples=16,
        num_channels=1,
        center_freq_hz=2.437e9,
    )
    base.update(over)
    return FrameHeader(**base)


def raw_frame(head: dict[str, Any], payload: bytes) -> bytes:
    h = json.dumps(head).encode()
    return b"SHF1" + struct.pack("<I", len(h)) + h + payload


def reason_of(data: bytes, limits: Limits = Limits()) -> str:
    with pytest.raises(FrameError) as info:
        decode_frame(data, limits)
    return info.value.reason


# ---- round trips, analytic


@pytest.mark.parametrize(
    ("datatype", "tol"), [("cf32_le", 0.0), ("ci16_le", 1 / 32768), ("ci8", 1 / 128)]
)
def test_iq_round_trip_within_quantisation(datatype: str, tol: float) -> None:
    rng = np.random.default_rng(1)
    x = (rng.uniform(-0.9, 0.9, 64) + 1j * rng.uniform(-0.9, 0.9, 64)).astype(np.complex64)
    h = header(datatype=datatype, num_samples=64)
    frame = decode_frame(encode_samples(h, x))
    assert frame.header == h
    assert frame.samples.shape == (1, 64)
    assert frame.samples.dtype == np.complex64
    np.testing.assert_allclose(
        frame.samples[0], x, atol=tol * 0.71 + 1e-7
    )  # |re,im| <= half an LSB each


def test_audio_multichannel_interleaving() -> None:
    n = 10
    x = np.stack([np.linspace(-0.5, 0.5, n), np.linspace(0.5, -0.5, n)]).astype(np.float32)
    h = header(kind="audio", datatype="rf32_le", num_samples=n, num_channels=2, center_freq_hz=None)
    payload = samples_to_payload(x, h)
    # wire order: sample 0 of ch0, sample 0 of ch1, sample 1 of ch0, ...
    wire = np.frombuffer(payload, "<f4")
    assert wire[0] == x[0, 0] and wire[1] == x[1, 0] and wire[2] == x[0, 1]
    frame = decode_frame(encode_frame(h, payload))
    np.testing.assert_array_equal(frame.samples, x)


def test_ri16_full_scale_sine() -> None:
    t = np.arange(1600) / 16000
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    h = header(
        kind="audio",
        datatype="ri16_le",
        num_samples=1600,
        center_freq_hz=None,
        sample_rate_hz=16000,
    )
    frame = decode_frame(encode_samples(h, x))
    rms = float(np.sqrt(np.mean(frame.samples[0] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)


def test_psd_frame_shape_and_centi_db() -> None:
    spectra = np.array([[-100.0, -90.5, -80.25], [-101.0, -99.0, -50.0]], dtype=np.float32)
    h = header(
        kind="psd",
        datatype="ri16_le",
        num_samples=2,
        num_channels=3,
        num_bins=3,
        freq_start_hz=2.4e9,
        bin_hz=1e6,
        center_freq_hz=None,
        sample_rate_hz=10,
    )
    frame = decode_frame(encode_samples(h, spectra))
    np.testing.assert_allclose(frame.samples, spectra, atol=0.01)


def test_json_form_round_trip() -> None:
    h = header(datatype="ci8", num_samples=4)
    payload = samples_to_payload(np.full(4, 0.5 + 0.25j, np.complex64), h)
    body = {
        **h.model_dump(mode="json", exclude_none=True),
        "samples_b64": base64.b64encode(payload).decode(),
    }
    frame = decode_json_frame(body)
    np.testing.assert_allclose(frame.samples[0], 0.5 + 0.25j, atol=1 / 128)


# ---- every rejection has its precise reason


def test_rejection_reasons() -> None:
    h = header(num_samples=2)
    good = encode_samples(h, np.zeros(2, np.complex64))
    head = h.model_dump(mode="json", exclude_none=True)
    assert decode_frame(good).header == h
    assert reason_of(b"SHF") == "too_short"
    assert reason_of(b"XXXX" + good[4:]) == "bad_magic"
    assert reason_of(b"SHF1" + struct.pack("<I", 100_000) + b"{}") == "header_too_long"
    assert reason_of(b"SHF1" + struct.pack("<I", 50) + b"{}") == "too_short"
    assert reason_of(raw_frame({}, b"")[:8] + b"\xff\xfe") in {"too_short", "header_not_json"}
    assert reason_of(b"SHF1" + struct.pack("<I", 3) + b"{x}") == "header_not_json"
    assert reason_of(b"SHF1" + struct.pack("<I", 2) + b"\xff\xfe") == "header_not_json"
    assert reason_of(raw_frame([1, 2], b"")) == "header_not_object"  # type: ignore[arg-type]
    assert reason_of(raw_frame({**head, "colour": "red"}, b"\0" * 16)) == "unknown_field"
    missing = dict(head)
    del missing["t0_ns"]
    assert reason_of(raw_frame(missing, b"\0" * 16)) == "missing_field"
    assert reason_of(raw_frame({**head, "datatype": "ri16_le"}, b"\0" * 4)) == "invalid_field"
    assert reason_of(raw_frame({**head, "sensor_id": "a/b"}, b"\0" * 16)) == "invalid_field"
    assert reason_of(raw_frame(head, b"\0" * 15)) == "payload_length"
    assert reason_of(raw_frame(head, b"\0" * 17)) == "payload_length"
    nan = np.array([0, np.nan, 0, 0], "<f4").tobytes()
    assert reason_of(raw_frame(head, nan)) == "non_finite"
    inf = np.array([0, 0, np.inf, 0], "<f4").tobytes()
    assert reason_of(raw_frame(head, inf)) == "non_finite"
    big = header(num_samples=1024)
    frame = encode_samples(big, np.zeros(1024, np.complex64))
    assert reason_of(frame, Limits(max_payload_bytes=4096)) == "payload_too_large"
    nan_header = raw_frame(head, b"")[:8]
    text = json.dumps(head).replace('"sample_rate_hz": 1000000.0', '"sample_rate_hz": NaN').encode()
    assert (
        reason_of(b"SHF1" + struct.pack("<I", len(text)) + text + b"\0" * 16) == "header_not_json"
    )
    assert nan_header  # silence unused


def test_psd_values_outside_physical_range_are_rejected() -> None:
    h = header(
        kind="psd", datatype="rf32_le", num_samples=1, num_channels=2, num_bins=2,
        freq_start_hz=2.4e9, bin_hz=1e6, center_freq_hz=None, sample_rate_hz=10,
    )  # fmt: skip
    assert reason_of(encode_samples(h, np.array([[-90.0, 1e30]], np.float32))) == "out_of_range"
    assert reason_of(encode_samples(h, np.array([[-400.0, -90.0]], np.float32))) == "out_of_range"


def test_error_names_the_sensor_when_known() -> None:
    head = header().model_dump(mode="json", exclude_none=True)
    with pytest.raises(FrameError) as info:
        decode_frame(raw_frame(head, b"\0"))
    assert info.value.sensor_id == "rf-1"
    assert "payload is 1 bytes" in str(info.value)


def test_json_form_errors() -> None:
    h = header(num_samples=1)
    body = {**h.model_dump(mode="json", exclude_none=True), "samples_b64": "!!!"}
    with pytest.raises(FrameError) as info:
        decode_json_frame(body)
    assert info.value.reason == "bad_base64"
    with pytest.raises(FrameError) as info:
        decode_json_frame([1])
    assert info.value.reason == "header_not_object"


# ---- property tests: round trip of valid frames; hostile bytes raise only FrameError

_kinds = st.sampled_from(
    [
        ("iq", "ci8"),
        ("iq", "ci16_le"),
        ("iq", "cf32_le"),
        ("audio", "ri16_le"),
        ("audio", "rf32_le"),
    ]
)


@st.composite
def valid_frames(draw: st.DrawFn) -> tuple[FrameHeader, bytes]:
    kind, datatype = draw(_kinds)
    n = draw(st.integers(1, 64))
    ch = draw(st.integers(1, 4))
    h = header(
        kind=kind,
        datatype=datatype,
        num_samples=n,
        num_channels=ch,
        seq=draw(st.integers(0, 2**40)),
        center_freq_hz=draw(st.floats(1e6, 6e9)) if kind == "iq" else None,
        sensor_id=draw(st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)),
    )
    size = n * ch * DATATYPE_SIZE[datatype]
    if datatype.endswith("f32_le"):
        values = draw(st.lists(st.floats(-1, 1, width=32), min_size=size // 4, max_size=size // 4))
        payload = np.array(values, "<f4").tobytes()
    else:
        payload = draw(st.binary(min_size=size, max_size=size))
    return h, payload


@settings(max_examples=200, deadline=None)
@given(valid_frames())
def test_valid_frames_round_trip(case: tuple[FrameHeader, bytes]) -> None:
    h, payload = case
    data = encode_frame(h, payload)
    frame = decode_frame(data)
    assert frame.header == h
    channels_first = frame.samples.shape[0] == h.num_channels
    assert channels_first and frame.samples.shape[-1] == h.num_samples
    # re-encoding the decoded samples gives the same bytes (exact for every datatype)
    if h.datatype in {"cf32_le", "rf32_le"}:
        assert samples_to_payload(frame.samples, h) == payload


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_frame(data)


@settings(max_examples=500, deadline=None)
@given(valid_frames(), st.data())
def test_mutated_frames_raise_only_frame_error(
    case: tuple[FrameHeader, bytes], data: st.DataObject
) -> None:
    h, payload = case
    frame = bytearray(encode_frame(h, payload))
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
        if op == "flip" and frame:
            i = data.draw(st.integers(0, len(frame) - 1))
            frame[i] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            del frame[data.draw(st.integers(0, len(frame))) :]
        else:
            i = data.draw(st.integers(0, len(frame)))
            frame[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    with contextlib.suppress(FrameError):
        decode_frame(bytes(frame))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=12),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=8,
    )
)
def test_hostile_json_headers_raise_only_frame_error(head: dict[str, Any]) -> None:
    try:
        data = raw_frame(head, b"")
    except ValueError:
        return
    with contextlib.suppress(FrameError):
        decode_frame(data)
    with contextlib.suppress(FrameError):
        decode_json_frame({**head, "samples_b64": ""})


def test_header_encoding_is_compact_json() -> None:
    h = header()
    assert json.loads(encode_header(h)) == h.model_dump(mode="json", exclude_none=True)
