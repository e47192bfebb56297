"""SHF1 frame codec: the one wire format (DESIGN.md).

    4 bytes  magic b"SHF1"
    4 bytes  header length H, unsigned little-endian
    H bytes  header, UTF-8 JSON (FrameHeader)
    rest     samples, little-endian, interleaved per sample across channels

Decoding untrusted bytes raises only `FrameError`, with a stable `reason`:

    too_short, bad_magic, header_too_long, header_not_json, header_not_object,
    unknown_field, missing_field, invalid_field, payload_too_large,
    payload_length, non_finite, out_of_range, bad_base64

Samples come out with time on the last axis: iq as complex64 and audio as
float32 in (channels, n), full scale = 1.0; psd as float32 (n_spectra, n_bins)
in dBm (`ri16_le` psd values are hundredths of a dB).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from sensor_hub.errors import FrameError
from sensor_hub.schemas import DATATYPE_SIZE, FrameHeader, FrameJSON

MAGIC = b"SHF1"
_PREFIX = struct.Struct("<4sI")

_WIRE_DTYPE: dict[str, np.dtype[Any]] = {
    "ci8": np.dtype("i1"),
    "ci16_le": np.dtype("<i2"),
    "cf32_le": np.dtype("<f4"),
    "ri16_le": np.dtype("<i2"),
    "rf32_le": np.dtype("<f4"),
}
_INT_SCALE = {"ci8": 128.0, "ci16_le": 32768.0, "ri16_le": 32768.0}
_PSD_I16_SCALE = 100.0  # ri16_le psd values are 0.01 dB
#: physically possible power per bin at an antenna port, dBm (kTB of a 1 Hz bin is -174)
PSD_MIN_DBM = -300.0
PSD_MAX_DBM = 100.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits applied before anything is parsed."""

    max_header_bytes: int = 8 * 1024
    max_payload_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Frame:
    """A validated frame. `samples` layout: see the module docstring."""

    header: FrameHeader
    samples: NDArray[Any]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a frame header")


def _validation_error(exc: ValidationError, sensor_id: str | None) -> FrameError:
    errors = exc.errors(include_url=False)
    kinds = {e["type"] for e in errors}
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'header'}: {e['msg']}" for e in errors[:5]]
    detail = "; ".join(parts)
    if "extra_forbidden" in kinds:
        unknown = [
            ".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "extra_forbidden"
        ]
        return FrameError(
            "unknown_field", f"unknown header field(s): {unknown}", sensor_id=sensor_id
        )
    if "missing" in kinds:
        return FrameError("missing_field", detail, sensor_id=sensor_id)
    return FrameError("invalid_field", detail, sensor_id=sensor_id)


def _sensor_hint(raw: dict[str, Any]) -> str | None:
    value = raw.get("sensor_id")
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def parse_header(raw: dict[str, Any]) -> FrameHeader:
    try:
        return FrameHeader.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, _sensor_hint(raw)) from None


def decode_payload(header: FrameHeader, payload: bytes, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """Check the payload against the header and convert it to arrays."""
    sid = header.sensor_id
    if len(payload) > limits.max_payload_bytes:
        raise FrameError(
            "payload_too_large",
            f"payload is {len(payload)} bytes, limit {limits.max_payload_bytes}",
            sensor_id=sid,
        )
    expected = header.payload_bytes
    if len(payload) != expected:
        raise FrameError(
            "payload_length",
            f"payload is {len(payload)} bytes but num_samples * num_channels * "
            f"size({header.datatype}) = {header.num_samples} * {header.num_channels} * "
            f"{DATATYPE_SIZE[header.datatype]} = {expected}",
            sensor_id=sid,
        )
    raw = np.frombuffer(payload, dtype=_WIRE_DTYPE[header.datatype])
    if header.datatype in ("cf32_le", "rf32_le") and not np.isfinite(raw).all():
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        raise FrameError("non_finite", f"{bad} NaN/Inf value(s) in float samples", sensor_id=sid)
    samples = _to_array(header, raw)
    if header.kind == "psd" and samples.size:
        low, high = float(samples.min()), float(samples.max())
        if low < PSD_MIN_DBM or high > PSD_MAX_DBM:
            raise FrameError(
                "out_of_range",
                f"psd values span {low:g}..{high:g} dBm, outside {PSD_MIN_DBM:g}..{PSD_MAX_DBM:g}",
                sensor_id=sid,
            )
    return Frame(header=header, samples=samples)


def _to_array(header: FrameHeader, raw: NDArray[Any]) -> NDArray[Any]:
    n, ch = header.num_samples, header.num_channels
    if header.kind == "iq":
        values = raw.astype(np.float32)
        if header.datatype in _INT_SCALE:
            values /= _INT_SCALE[header.datatype]
        iq = values.view(np.complex64).reshape(n, ch)
        return np.ascontiguousarray(iq.T)
    values = raw.astype(np.float32)
    if header.kind == "psd":
        if header.datatype == "ri16_le":
            values /= _PSD_I16_SCALE
        return values.reshape(n, ch)
    if header.datatype == "ri16_le":
        values /= _INT_SCALE["ri16_le"]
    return np.ascontiguousarray(values.reshape(n, ch).T)


def decode_frame(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """Decode untrusted SHF1 bytes. Raises only `FrameError`."""
    if len(data) < _PREFIX.size:
        raise FrameError("too_short", f"frame is {len(data)} bytes, shorter than the 8-byte prefix")
    magic, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise FrameError("bad_magic", f"magic is {magic!r}, expected {MAGIC!r}")
    if header_len > limits.max_header_bytes:
        raise FrameError(
            "header_too_long", f"header length {header_len} exceeds {limits.max_header_bytes} bytes"
        )
    end = _PREFIX.size + header_len
    if len(data) < end:
        raise FrameError(
            "too_short", f"header length says {header_len} bytes but only {len(data) - 8} follow"
        )
    try:
        raw = json.loads(
            bytes(data[_PREFIX.size : end]).decode("utf-8"), parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError("header_not_json", f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FrameError(
            "header_not_object", f"header is a JSON {type(raw).__name__}, not an object"
        )
    header = parse_header(raw)
    return decode_payload(header, bytes(data[end:]), limits)


def decode_json_frame(raw: Any, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """Decode the JSON form (header fields plus `samples_b64`). Raises only `FrameError`."""
    if not isinstance(raw, dict):
        raise FrameError("header_not_object", f"body is a JSON {type(raw).__name__}, not an object")
    try:
        form = FrameJSON.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, _sensor_hint(raw)) from None
    b64 = form.samples_b64
    if len(b64) > (limits.max_payload_bytes * 4) // 3 + 8:
        raise FrameError(
            "payload_too_large", "samples_b64 exceeds the payload limit", sensor_id=form.sensor_id
        )
    try:
        payload = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FrameError(
            "bad_base64", f"samples_b64 is not base64: {exc}", sensor_id=form.sensor_id
        ) from None
    header = FrameHeader.model_validate(form.model_dump(exclude={"samples_b64"}))
    return decode_payload(header, payload, limits)


def int_wire(datatype: str) -> tuple[np.dtype[Any], float] | None:
    """(wire dtype, scale of full scale 1.0) of an integer datatype; None for floats."""
    if datatype not in _INT_SCALE:
        return None
    return _WIRE_DTYPE[datatype], _INT_SCALE[datatype]


def samples_to_payload(samples: NDArray[Any], header: FrameHeader) -> bytes:
    """Convert arrays laid out as `Frame.samples` to wire bytes for `header.datatype`.

    Integer datatypes are scaled from full scale 1.0 and clipped, as an ADC would.
    """
    return samples_to_wire(samples, header).tobytes()


def samples_to_wire(
    samples: NDArray[Any], header: FrameHeader, *, overwrite: bool = False
) -> NDArray[Any]:
    """`samples_to_payload` as a flat array of the wire dtype (its bytes are the payload).

    `overwrite` lets a float32/complex64 input serve as the scratch buffer (it is then
    left scaled and rounded).
    """
    dt = header.datatype
    arr = np.asarray(samples)
    if header.kind == "psd":
        values = arr.astype(np.float32).reshape(header.num_samples, header.num_channels)
        if dt == "ri16_le":
            values = np.clip(np.round(values * _PSD_I16_SCALE), -32768, 32767)
        return values.astype(_WIRE_DTYPE[dt]).reshape(-1)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.shape != (header.num_channels, header.num_samples):
        raise ValueError(
            f"samples.shape={arr.shape} does not match "
            f"(num_channels, num_samples)=({header.num_channels}, {header.num_samples})"
        )
    # (n, ch) C order interleaves channels per sample; complex64 is (re, im) float32 pairs
    want = np.complex64 if header.kind == "iq" else np.float32
    inter = np.ascontiguousarray(arr.T, dtype=want)
    flat = inter.reshape(-1).view(np.float32)
    if dt not in _INT_SCALE:
        return flat.astype(_WIRE_DTYPE[dt])
    # one float32 scratch buffer, ops in place: round half to even, clip, one cast
    info = np.iinfo(_WIRE_DTYPE[dt])
    own = overwrite or not np.may_share_memory(inter, arr)  # a converted copy is ours
    scaled = flat if own else np.empty_like(flat)
    np.multiply(flat, np.float32(_INT_SCALE[dt]), out=scaled)
    np.rint(scaled, out=scaled)
    np.clip(scaled, info.min, info.max, out=scaled)
    return scaled.astype(_WIRE_DTYPE[dt])


def encode_header(header: FrameHeader) -> bytes:
    return json.dumps(
        header.model_dump(mode="json", exclude_none=True), separators=(",", ":")
    ).encode()


def encode_frame(header: FrameHeader, payload: bytes) -> bytes:
    """Wrap an already-encoded payload. The caller vouches that it matches the header."""
    head = encode_header(header)
    return _PREFIX.pack(MAGIC, len(head)) + head + payload


def encode_samples(header: FrameHeader, samples: NDArray[Any]) -> bytes:
    """Encode a frame from arrays (see `samples_to_payload`)."""
    return encode_frame(header, samples_to_payload(samples, header))
