from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from api.app import create_app
from sensor_hub.hub import Hub

from .conftest import RaiseAlert, TestClient, detection

pytestmark = pytest.mark.timeout(30)


def read_sse(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """The next `count` SSE messages or comments: {"id", "event", "data"} or {"comment"}."""
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if current:
                messages.append(current)
                current = {}
                if len(messages) == count:
                    return messages
            continue
        if line.startswith(":"):
            current["comment"] = line[1:].strip()
            continue
        field, _, value = line.partition(": ")
        current[field] = json.loads(value) if field == "data" else value
    raise AssertionError(f"the stream ended after {messages}")


def events_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if "event" in m]


def test_sse_resumes_after_last_event_id(client: TestClient, raise_alert: RaiseAlert) -> None:
    first = raise_alert(kind="drone")
    second = raise_alert(kind="handset")
    assert client.post(f"/v1/alerts/{first}/ack", json={"note": "x"}).status_code == 200

    with client.stream("GET", "/v1/events", headers={"Last-Event-ID": "1"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = read_sse(response.iter_lines(), 3)

    assert messages[0] == {"retry": "3000"}
    assert [(m["id"], m["event"]) for m in messages[1:]] == [
        ("2", "alert.created"),
        ("3", "alert.acknowledged"),
    ]
    assert messages[1]["data"]["alert"]["id"] == second
    assert messages[2]["data"]["alert"]["id"] == first
    assert messages[2]["data"]["id"] == 3


def test_last_event_id_wins_over_after(client: TestClient, raise_alert: RaiseAlert) -> None:
    raise_alert(kind="drone")
    raise_alert(kind="handset")

    with client.stream("GET", "/v1/events?after=0", headers={"Last-Event-ID": "1"}) as response:
        messages = events_only(read_sse(response.iter_lines(), 2))

    assert [m["id"] for m in messages] == ["2"]


def test_sse_after_query_and_then_live_events(client: TestClient, raise_alert: RaiseAlert) -> None:
    alert_id = raise_alert()

    with client.stream("GET", "/v1/events", params={"after": 0}) as response:
        lines = response.iter_lines()
        backlog = events_only(read_sse(lines, 2))
        assert [m["event"] for m in backlog] == ["alert.created"]
        # a live event: published after the stream was opened
        assert client.post(f"/v1/alerts/{alert_id}/resolve", json={}).status_code == 200
        live = read_sse(lines, 1)

    assert live[0]["event"] == "alert.resolved"
    assert live[0]["data"]["alert"]["state"] == "resolved"


def test_an_id_from_the_future_is_clamped(client: TestClient, raise_alert: RaiseAlert) -> None:
    """A client holding an id from before a database reset still gets new events."""
    with client.stream("GET", "/v1/events", headers={"Last-Event-ID": "999"}) as response:
        lines = response.iter_lines()
        read_sse(lines, 1)  # retry
        raise_alert()
        live = read_sse(lines, 1)

    assert live[0]["event"] == "alert.created"


def test_a_bad_last_event_id_is_a_400_problem(client: TestClient) -> None:
    response = client.get("/v1/events", headers={"Last-Event-ID": "yesterday"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_keepalive_comment_and_clean_disconnect(hub: Hub) -> None:
    with TestClient(create_app(hub, keepalive_s=0.05)) as client:
        with client.stream("GET", "/v1/events") as response:
            messages = read_sse(response.iter_lines(), 3)
            assert client.get("/metrics").text.count("sensorhub_api_streams_open 1") == 1
        assert messages[1:] == [{"comment": "ping"}, {"comment": "ping"}]

        # the subscription ends with the response
        metrics = client.get("/metrics").text
        assert "sensorhub_api_streams_open 0" in metrics
        assert "sensorhub_stream_subscribers 0" in metrics


def test_closing_the_streams_ends_them_and_refuses_new_ones(client: TestClient) -> None:
    assert client.portal is not None
    app: Any = client.app
    with client.stream("GET", "/v1/events") as response:
        lines = response.iter_lines()
        read_sse(lines, 1)
        client.portal.call(_close, app)
        rest = list(lines)  # the server ended the response

    assert rest == []
    ended = client.get("/v1/events")
    assert ended.status_code == 200
    assert ended.text == "retry: 3000\n\n"


async def _close(app: Any) -> None:
    from api.app import close_live_streams

    close_live_streams(app)


def test_websocket_sends_backlog_then_live_events(hub: Hub) -> None:
    # a real server and a real WebSocket client: TestClient's WebSocket session cancels the
    # app at exit, racing the server's own handling of the disconnect
    from tests.api.live_server import LiveServer

    with LiveServer(create_app(hub)) as server:
        alert_id = server.call(lambda: _open_alert(hub))
        with connect(f"{server.ws_url}/v1/ws?after=0", open_timeout=10) as ws:
            created = json.loads(ws.recv(timeout=10))
            ack = httpx.post(f"{server.url}/v1/alerts/{alert_id}/ack", json={"note": "n"})
            assert ack.status_code == 200
            acked = json.loads(ws.recv(timeout=10))
        assert (created["id"], created["type"]) == (1, "alert.created")
        assert created["alert"]["id"] == alert_id
        assert (acked["id"], acked["type"]) == (2, "alert.acknowledged")
        assert acked["alert"]["note"] == "n"
        # the server notices the disconnect asynchronously: give it a moment
        deadline = time.monotonic() + 5
        while "sensorhub_api_streams_open 0" not in httpx.get(f"{server.url}/metrics").text:
            assert time.monotonic() < deadline, "stream not closed on the server"
            time.sleep(0.05)


async def _open_alert(hub: Hub) -> str:
    now = datetime.now(UTC)
    for i in range(3):
        links = await hub._fuse([detection(now - timedelta(seconds=0.5 * (2 - i)))])
    alert_id = links[0][1]
    assert alert_id is not None
    return alert_id


def test_websocket_is_closed_by_the_server_on_shutdown(client: TestClient) -> None:
    assert client.portal is not None
    app: Any = client.app
    with client.websocket_connect("/v1/ws") as ws:
        client.portal.call(_close, app)
        message = ws.receive()

    assert message == {"type": "websocket.close", "code": 1001, "reason": ""}


def test_stream_errors_are_problems_not_html(client: TestClient) -> None:
    response = client.get("/v1/events", params={"after": -1})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
