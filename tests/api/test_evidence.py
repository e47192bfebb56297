"""GET /v1/alerts/{id}/evidence and .../evidence/{modality}: the list and the media."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.io import wavfile

from sensor_hub.codec import Frame
from sensor_hub.hub import Hub
from sensor_hub.png import png_size
from sensor_hub.schemas import Detection, FrameHeader

from .conftest import SITE, RaiseAlert, TestClient, iq_header, noise

PROBLEM = "application/problem+json"


def audio(seconds: int = 3) -> Frame:
    fs = 16_000
    h = FrameHeader(
        site=SITE, sensor_id="mic-1", seq=1, kind="audio",
        t0_ns=int(datetime.now(UTC).timestamp() * 1e9), sample_rate_hz=fs,
        datatype="rf32_le", num_samples=seconds * fs, full_scale_db_spl=120,
    )  # fmt: skip
    t = np.arange(seconds * fs) / fs
    return Frame(h, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)[np.newaxis, :])


def heard(frame: Frame, snr_db: float) -> Detection:
    h = frame.header
    return Detection(
        site=h.site,
        sensor_id=h.sensor_id,
        modality=h.modality,
        kind="drone",
        signature="dji_droneid" if h.kind == "iq" else "rotor_harmonics",
        t_start=h.t0,
        t_end=h.t0 + timedelta(seconds=h.duration_s),
        confidence=0.9,
        snr_db=snr_db,
    )


def render_evidence(client: TestClient, hub: Hub, alert_id: str) -> None:
    """Offer an RF and an audio frame as the alert's and let the hub render them."""
    rf = Frame(iq_header(num_samples=8192), noise(8192))
    mic = audio()

    async def go() -> None:
        for frame in (rf, mic):
            hub._start_evidence(hub.evidence.offer(frame, [(heard(frame, 14.0), alert_id)]))
        await hub.evidence_settled()

    assert client.portal is not None
    client.portal.call(go)


def test_evidence_lists_both_items_and_serves_png_and_wav(
    client: TestClient, hub: Hub, raise_alert: RaiseAlert
) -> None:
    alert_id = raise_alert()
    render_evidence(client, hub, alert_id)

    listed = client.get(f"/v1/alerts/{alert_id}/evidence")
    assert listed.status_code == 200, listed.text
    items = {i["modality"]: i for i in listed.json()["items"]}
    assert set(items) == {"rf", "acoustic"}
    assert items["rf"]["url"] == f"/v1/alerts/{alert_id}/evidence/rf"
    assert items["rf"]["freq_min_hz"] == 2.44e9 - 0.5e6
    assert items["acoustic"]["duration_s"] == 3.0

    png = client.get(items["rf"]["url"])
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png_size(png.content) == (items["rf"]["width_px"], items["rf"]["height_px"])
    assert len(png.content) == items["rf"]["size_bytes"]
    assert png.headers["cache-control"] == "no-cache" and png.headers["etag"]

    wav = client.get(items["acoustic"]["url"])
    assert wav.status_code == 200
    assert wav.headers["content-type"] == "audio/wav"
    assert f"{alert_id}-acoustic.wav" in wav.headers["content-disposition"]
    rate, pcm = wavfile.read(io.BytesIO(wav.content))
    assert rate == 16_000 and len(pcm) == 3 * 16_000

    detail = client.get(f"/v1/alerts/{alert_id}").json()
    assert [e["modality"] for e in detail["evidence"]] == ["acoustic", "rf"]
    assert all(e["url"].startswith(f"/v1/alerts/{alert_id}/evidence/") for e in detail["evidence"])


def test_missing_alert_or_evidence_is_a_404_problem(
    client: TestClient, raise_alert: RaiseAlert
) -> None:
    alert_id = raise_alert()
    assert client.get(f"/v1/alerts/{alert_id}/evidence").json() == {"items": []}
    assert client.get(f"/v1/alerts/{alert_id}").json()["evidence"] == []
    for path in (
        f"/v1/alerts/{alert_id}/evidence/rf",
        "/v1/alerts/alr_missing/evidence",
        "/v1/alerts/alr_missing/evidence/acoustic",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
    bad = client.get(f"/v1/alerts/{alert_id}/evidence/video")
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
