from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from api.app import create_app
from sensor_hub.hub import Hub

from .conftest import TestClient, iq_frame

PROBLEM = "application/problem+json"


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_every_check_is_ok(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"store": "ok"}}


class _DisconnectedBus:
    connected = asyncio.Event()

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        raise ConnectionError("not connected")


def test_readyz_lists_failing_checks_as_a_503_problem(hub: Hub) -> None:
    hub.bus = _DisconnectedBus()
    with TestClient(create_app(hub)) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["checks"] == {"store": "ok", "broker": "not connected"}
    assert problem["detail"] == "broker: not connected"


def test_metrics_in_prometheus_text_format(client: TestClient) -> None:
    client.post(
        "/v1/readings", content=iq_frame(), headers={"Content-Type": "application/octet-stream"}
    )

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'sensorhub_frames_total{kind="iq",sensor="s1"} 1' in text
    assert "# TYPE sensorhub_stream_subscribers gauge" in text
    assert "sensorhub_stream_subscribers 0" in text
    assert "sensorhub_last_event_id 1" in text  # the sensor.online event
    assert text.endswith("\n")


def test_the_page_is_self_contained_html(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<table id="alerts">' in html
    assert 'new EventSource("/v1/events")' in html
    assert "/v1/alerts?state=active&state=acknowledged" in html
    assert "http://" not in html and "https://" not in html  # no CDN: the site may be offline


def test_openapi_documents_both_reading_forms(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert spec["info"]["title"] == "sensor-hub"
    body = spec["paths"]["/v1/readings"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/octet-stream", "application/json"}
    assert "samples_b64" in spec["components"]["schemas"]["FrameJSON"]["properties"]
    assert "Position" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("DELETE", "/v1/alerts", 405), ("GET", "/v1/sensors/ghost", 404)],
)
def test_http_errors_are_problems(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path)

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status
    assert response.json()["instance"] == path


@pytest.fixture
def failing_client(hub: Hub) -> Iterator[TestClient]:
    app = create_app(hub)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_unexpected_errors_are_logged_500_problems(
    failing_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = failing_client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "a bug" not in response.text  # internals stay in the log
    assert any("unexpected error on GET /boom" in r.getMessage() for r in caplog.records)


def test_the_lifespan_starts_and_stops_the_hub(hub: Hub) -> None:
    with TestClient(create_app(hub)):
        assert hub._tasks, "the hub's background tasks run while the app runs"
    assert not hub._tasks
