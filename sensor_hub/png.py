"""PNG images without matplotlib or Pillow: a viridis-like colormap and a zlib + struct codec.

Shared by the hub's alert evidence (`sensor_hub/evidence.py`) and the simulator's plots
(`simulator/plots.py`). Only 8-bit truecolour, filter 0 images are written and decoded.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from numpy.typing import NDArray

__all__ = ["PNG_SIGNATURE", "colormap", "decode_png", "encode_png", "png_size"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: viridis sampled at 9 points (perceptually uniform, readable in grey and by most
#: colour-blind viewers); linear interpolation in between
_VIRIDIS = np.array(
    [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ],
    dtype=np.float64,
)  # fmt: skip


def colormap(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    """(h, w) values in [0, 1] -> (h, w, 3) uint8 RGB."""
    v = np.clip(np.nan_to_num(values), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    i = np.minimum(v.astype(np.int64), len(_VIRIDIS) - 2)
    frac = (v - i)[..., np.newaxis]
    rgb = _VIRIDIS[i] * (1.0 - frac) + _VIRIDIS[i + 1] * frac
    return np.asarray(np.round(rgb), dtype=np.uint8)


def encode_png(rgb: NDArray[np.uint8], *, level: int = 6) -> bytes:
    """(h, w, 3) uint8 -> PNG bytes (8-bit truecolour, filter 0, deterministic)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (h, w, 3) uint8, got {rgb.shape=} {rgb.dtype=}")
    h, w, _ = rgb.shape
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)
    raw[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR; ValueError if `data` is not a PNG."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError(f"not a PNG (first bytes {data[:16]!r})")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def decode_png(data: bytes) -> NDArray[np.uint8]:
    """PNG bytes written by `encode_png` (8-bit RGB, filter 0) -> (h, w, 3) uint8."""
    w, h = png_size(data)
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    if np.any(raw[:, 0]):
        raise ValueError("only filter-0 PNGs (as encode_png writes) can be decoded")
    return np.ascontiguousarray(raw[:, 1:].reshape(h, w, 3))
