"""A real hub over a SQLite file behind the real app, driven by TestClient.

`TestClient` runs the app (and the hub's background tasks, via the lifespan)
on its own event loop in a helper thread; hub coroutines are called on that
loop with `client.portal.call(...)`.
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.app import create_app
from sensor_hub.codec import encode_header, encode_samples
from sensor_hub.hub import Hub
from sensor_hub.schemas import Detection, FrameHeader
from sensor_hub.settings import Settings
from sensor_hub.store import Store

# Starlette 1.10 wants `httpx2` for its TestClient and warns (an error here) when it
# falls back to `httpx`; the fallback works. Drop this once httpx2 is a dev dependency.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient as TestClient

SITE = "default"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(db_url=f"sqlite:///{tmp_path}/t.db", **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    store = Store.open(settings.db_url)
    yield Hub(settings, store)
    store.close()


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub)) as test_client:
        yield test_client


def iq_header(
    seq: int = 1, *, sensor_id: str = "s1", num_samples: int = 1024, **kw: Any
) -> FrameHeader:
    fields: dict[str, Any] = {
        "site": SITE,
        "sensor_id": sensor_id,
        "seq": seq,
        "boot_id": "boot1",
        "kind": "iq",
        "t0_ns": int(datetime.now(UTC).timestamp() * 1e9),
        "sample_rate_hz": 1e6,
        "datatype": "cf32_le",
        "num_samples": num_samples,
        "center_freq_hz": 2.44e9,
        "full_scale_dbm": -10.0,
    }
    fields.update(kw)
    return FrameHeader(**fields)


def noise(num_samples: int = 1024, seed: int = 1) -> np.ndarray[Any, np.dtype[np.complex64]]:
    rng = np.random.default_rng(seed)
    iq = (rng.normal(size=num_samples) + 1j * rng.normal(size=num_samples)) * 1e-3
    return iq.astype(np.complex64)[np.newaxis, :]


def iq_frame(seq: int = 1, *, sensor_id: str = "s1") -> bytes:
    return encode_samples(iq_header(seq, sensor_id=sensor_id), noise())


def raw_frame(header: dict[str, Any] | bytes, payload: bytes, magic: bytes = b"SHF1") -> bytes:
    """A frame built by hand, so that it can lie."""
    head = header if isinstance(header, bytes) else encode_header_dict(header)
    return magic + struct.pack("<I", len(head)) + head + payload


def encode_header_dict(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode()


def header_dict(seq: int = 1, **kw: Any) -> dict[str, Any]:
    return dict(json.loads(encode_header(iq_header(seq, **kw))))


def detection(
    at: datetime, *, kind: str = "drone", site: str = SITE, sensor_id: str = "s1"
) -> Detection:
    signature = "dji_droneid" if kind == "drone" else "gsm_uplink"
    return Detection(
        site=site,
        sensor_id=sensor_id,
        modality="rf",
        kind=kind,
        signature=signature,
        t_start=at - timedelta(milliseconds=100),
        t_end=at,
        confidence=0.9,
        snr_db=20.0,
        freq_hz=2.44e9,
    )


RaiseAlert = Callable[..., str]


@pytest.fixture
def raise_alert(client: TestClient, hub: Hub) -> RaiseAlert:
    """Feed stage 2 enough detections (3 RF frames within 5 s) to open an alert; its id."""

    def make(*, kind: str = "drone", site: str = SITE, sensor_id: str = "s1") -> str:
        assert client.portal is not None
        now = datetime.now(UTC)
        links: list[tuple[Detection, str | None]] = []
        for i in range(3):
            at = now - timedelta(seconds=0.5 * (2 - i))
            links = client.portal.call(
                hub._fuse, [detection(at, kind=kind, site=site, sensor_id=sensor_id)]
            )
        alert_id = links[0][1]
        assert alert_id is not None, "stage 2 did not open an alert"
        return alert_id

    return make
