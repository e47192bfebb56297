from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from api.app import create_app
from sensor_hub.codec import samples_to_payload
from sensor_hub.hub import Hub
from sensor_hub.store import Store

from .conftest import TestClient, header_dict, iq_frame, iq_header, make_settings, noise, raw_frame

OCTET = {"Content-Type": "application/octet-stream"}
PROBLEM = "application/problem+json"


def _nan_payload() -> bytes:
    samples = np.zeros(2 * 1024, dtype="<f4")
    samples[7] = np.nan
    return samples.tobytes()


GARBAGE = [
    pytest.param(b"NOPE" + struct.pack("<I", 2) + b"{}", "bad_magic", id="bad_magic"),
    pytest.param(raw_frame(b"{not json", b""), "header_not_json", id="header_not_json"),
    pytest.param(raw_frame(header_dict(), b"\0" * 100), "payload_length", id="payload_length"),
    pytest.param(
        raw_frame({**header_dict(), "bogus": 1}, b"\0" * 8192), "unknown_field", id="unknown_field"
    ),
    pytest.param(raw_frame(header_dict(), _nan_payload()), "non_finite", id="non_finite"),
    pytest.param(b"SHF", "too_short", id="too_short"),
]


@pytest.mark.parametrize(("body", "reason"), GARBAGE)
def test_garbage_frame_is_a_422_problem_naming_the_reason(
    client: TestClient, body: bytes, reason: str
) -> None:
    response = client.post("/v1/readings", content=body, headers=OCTET)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["reason"] == reason
    assert problem["status"] == 422
    assert problem["title"] == "Frame rejected"
    assert problem["instance"] == "/v1/readings"
    assert problem["detail"]


def test_valid_frame_is_accepted_with_its_detections(client: TestClient) -> None:
    response = client.post("/v1/readings", content=iq_frame(seq=1), headers=OCTET)

    assert response.status_code == 202
    body = response.json()
    assert body["site"] == "default"
    assert body["sensor_id"] == "s1"
    assert body["seq"] == 1
    assert body["duplicate"] is False
    assert isinstance(body["detections"], list)


def test_same_boot_and_seq_is_a_duplicate(client: TestClient) -> None:
    frame = iq_frame(seq=7)
    first = client.post("/v1/readings", content=frame, headers=OCTET)
    second = client.post("/v1/readings", content=frame, headers=OCTET)

    assert first.status_code == second.status_code == 202
    assert first.json()["duplicate"] is False
    assert second.json() == {
        "site": "default",
        "sensor_id": "s1",
        "seq": 7,
        "duplicate": True,
        "detections": [],
    }


def _json_form(seq: int) -> dict[str, object]:
    header = iq_header(seq)
    payload = samples_to_payload(noise(), header)
    return {**header_dict(seq), "samples_b64": base64.b64encode(payload).decode()}


def test_json_form_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/readings", json=_json_form(seq=3))

    assert response.status_code == 202
    assert response.json()["seq"] == 3
    assert response.json()["duplicate"] is False


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{nope", "header_not_json", id="not_json"),
        pytest.param(b'{"seq": NaN}', "header_not_json", id="nan_constant"),
        pytest.param(b"[1, 2]", "header_not_object", id="array"),
    ],
)
def test_json_form_that_is_not_a_json_object_is_rejected(
    client: TestClient, body: bytes, reason: str
) -> None:
    response = client.post(
        "/v1/readings", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["reason"] == reason


def test_json_form_with_bad_base64_is_rejected(client: TestClient) -> None:
    response = client.post(
        "/v1/readings", json={**_json_form(seq=4), "samples_b64": "!!not*base64"}
    )

    assert response.status_code == 422
    assert response.json()["reason"] == "bad_base64"


def test_other_content_types_are_415(client: TestClient) -> None:
    response = client.post("/v1/readings", content=b"hello", headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM
    assert "text/plain" in response.json()["detail"]


def test_missing_content_type_is_415(client: TestClient) -> None:
    response = client.post("/v1/readings", content=b"hello", headers={"Content-Type": ""})

    assert response.status_code == 415


@pytest.fixture
def small_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, max_payload_bytes=1024, max_header_bytes=1024)
    store = Store.open(settings.db_url)
    with TestClient(create_app(Hub(settings, store))) as test_client:
        yield test_client
    store.close()


def test_body_over_the_limit_is_413_before_it_is_read(small_client: TestClient) -> None:
    response = small_client.post("/v1/readings", content=b"\0" * 100_000, headers=OCTET)

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["limit"] < 100_000


def test_chunked_body_over_the_limit_is_413(small_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"\0" * 1000

    response = small_client.post("/v1/readings", content=chunks(), headers=OCTET)

    assert response.status_code == 413


def test_rejects_are_counted_per_sensor_in_sensors_and_metrics(client: TestClient) -> None:
    nan_frame = raw_frame(header_dict(sensor_id="s9"), _nan_payload())
    for _ in range(2):
        assert client.post("/v1/readings", content=nan_frame, headers=OCTET).status_code == 422
    client.post("/v1/readings", content=b"garbage!", headers=OCTET)

    sensors = {s["sensor_id"]: s for s in client.get("/v1/sensors").json()}
    assert sensors["s9"]["rejects_total"] == 2
    assert sensors["s9"]["rejects_by_reason"] == {"non_finite": 2}
    assert sensors["unknown"]["rejects_by_reason"] == {"bad_magic": 1}
    one = client.get("/v1/sensors/s9", params={"site": "default"}).json()
    assert one["rejects_total"] == 2

    metrics = client.get("/metrics").text
    assert 'sensorhub_frames_rejected_total{reason="non_finite",sensor="s9"} 2' in metrics
    assert 'sensorhub_frames_rejected_total{reason="bad_magic",sensor="unknown"} 1' in metrics
